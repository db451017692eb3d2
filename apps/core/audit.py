"""Who made a change: attribute django-auditlog entries to the right actor.

Inside a request the auditlog middleware names the signed-in user. Services
that act for someone else (staff on a customer's behalf, a job) wrap their
writes in :func:`acting_as`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from auditlog.context import auditlog_value, set_actor
from django.db.models.signals import pre_save

# An inert context: no actor, and a signal uid no receiver is connected under.
_NO_AUDIT_CONTEXT: Final = {"actor": None, "signal_duid": ("wattline:no-context", 0.0)}


def _is_live(context: dict[str, Any]) -> bool:
    """Whether the receiver of an auditlog context is still connected.

    django-auditlog leaves its context variable set after a ``set_actor`` block ends
    but disconnects the block's receiver, so a stale context names an actor that no
    longer reaches any log entry.
    """
    duid = context.get("signal_duid")
    return duid is not None and any(key[0] == duid for key, *_ in pre_save.receivers)


@contextmanager
def acting_as(actor: Any, *, remote_addr: str | None = None) -> Iterator[None]:
    """Attribute the audit entries written inside to ``actor``, then restore the context.

    With ``actor=None`` (the caller names nobody) a live surrounding block stands: the
    request's user, or the job's own block. A live block for the same actor is reused.
    Otherwise a new ``set_actor`` block is opened (a stale context left behind by an
    ended block is never trusted). The request's remote address is kept, and the
    previous context is put back afterwards so the rest of the request is attributed.
    """
    try:
        previous = auditlog_value.get()
    except LookupError:
        previous = None
    if previous is not None and _is_live(previous) and actor in (None, previous.get("actor")):
        # The surrounding block already attributes writes to this actor (or the caller
        # names nobody): nesting another block would, under a frozen clock, reuse its
        # receiver key and disconnect it on the way out.
        yield
        return
    if remote_addr is None and previous is not None:
        remote_addr = previous.get("remote_addr")
    try:
        with set_actor(actor, remote_addr=remote_addr):
            yield
    finally:
        auditlog_value.set(previous if previous is not None else dict(_NO_AUDIT_CONTEXT))
