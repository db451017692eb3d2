"""The status workflow: one locked transition core, the timeline row and the notifications."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.selectors import communication_preference_for, membership_role
from apps.core.notifications import notification_send
from apps.service_requests import selectors
from apps.service_requests.models import (
    Appointment,
    ServiceRequest,
    ServiceRequestStatusChange,
)
from apps.service_requests.services._common import (
    acting_as,
    change_refusal,
    detail_url,
    lock_request,
)
from apps.service_requests.services._errors import (
    ChangeTooLate,
    CompletionNotesRequired,
    IllegalTransition,
    NotAMember,
    ReasonRequired,
)
from apps.service_requests.services._rules import (
    CUSTOMER_CANCELLABLE,
    NOTIFICATION_KIND,
    REASON_REQUIRED,
    TRANSITIONS,
)

Status = ServiceRequest.Status
ActorRole = ServiceRequestStatusChange.ActorRole

# --------------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------------


def _status_dedupe_key(change: ServiceRequestStatusChange) -> str:
    return f"service-request-status:{change.pk}"


def _status_message(change: ServiceRequestStatusChange) -> tuple[str, str]:
    service_request = change.service_request
    label = Status(change.to_status).label
    title = _("Request %(number)s: %(status)s") % {
        "number": service_request.number,
        "status": str(label).lower(),
    }
    lines = {
        Status.SUBMITTED: _("We have received your request and will look at it shortly."),
        Status.TRIAGED: _("We have looked at your request and are preparing the work."),
        Status.SCHEDULED: _("Your visit is booked."),
        Status.IN_PROGRESS: _("Work on your request has started."),
        Status.COMPLETED: _("The work is done."),
        Status.CANCELLED: _("Your request has been cancelled."),
        Status.REJECTED: _("We cannot carry out your request."),
    }
    parts = [str(lines[Status(change.to_status)])]
    if change.to_status == Status.TRIAGED:
        parts.append(_("You can now choose a time for the visit."))
    if change.public_note:
        parts.append(change.public_note)
    return title, "\n\n".join(parts)


def notify_members(
    *, service_request: ServiceRequest, dedupe_key: str, message: Callable[[], tuple[str, str]]
) -> int:
    """Notify every member of the request's account once per ``dedupe_key``, in their language.

    Email follows the customer's communication preference. Returns how many were created.
    """
    created = 0
    email = bool(communication_preference_for(service_request.account.customer).email_notifications)
    for user in selectors.account_member_users(service_request.account):
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            title, body = message()
        sent = notification_send(
            user=user,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            url=detail_url(service_request),
            dedupe_key=dedupe_key,
            email=email,
        )
        created += int(sent.created)
    return created


def status_change_notify(*, change: ServiceRequestStatusChange) -> int:
    """Tell every member of the request's account about ``change`` (in-app and email).

    Idempotent: the dedupe key is the status-change row, so calling it again for the same
    change sends nothing. Returns how many notifications were created. Raises nothing of
    its own.
    """
    return notify_members(
        service_request=change.service_request,
        dedupe_key=_status_dedupe_key(change),
        message=lambda: _status_message(change),
    )


# --------------------------------------------------------------------------------------------
# The transition core
# --------------------------------------------------------------------------------------------


def cancel_booked_visit(
    service_request: ServiceRequest, *, now: dt.datetime, reason: str
) -> Appointment | None:
    appointment = selectors.booked_appointment(service_request, for_update=True)
    if appointment is None:
        return None
    appointment.status = Appointment.Status.CANCELLED
    appointment.cancelled_at = now
    appointment.cancel_reason = reason[:200]
    appointment.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    return appointment


def transition_locked(
    *,
    service_request: ServiceRequest,
    to_status: str,
    actor: User | None,
    actor_role: str,
    public_note: str = "",
    reason: str = "",
    completion_notes: str = "",
    now: dt.datetime,
) -> ServiceRequestStatusChange:
    """Move a request whose row the caller has locked. See :func:`service_request_transition`."""
    current = Status(service_request.status)
    target = Status(to_status)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            _("Request %(number)s is “%(current)s”; it cannot move to “%(target)s”.")
            % {"number": service_request.number, "current": current.label, "target": target.label}
        )
    reason = reason.strip()
    public_note = public_note.strip()
    completion_notes = completion_notes.strip()
    if target in REASON_REQUIRED and not reason:
        raise ReasonRequired(
            _("Give the reason for moving the request to “%(target)s”; the customer sees it.")
            % {"target": target.label}
        )
    if target == Status.COMPLETED and not completion_notes:
        raise CompletionNotesRequired(
            _("Write what was done in the completion notes before completing the request.")
        )
    booked = selectors.booked_appointment(service_request)
    if target == Status.SCHEDULED and booked is None:
        raise IllegalTransition(
            _("Request %(number)s has no booked visit; book one to schedule it.")
            % {"number": service_request.number}
        )
    if target in (Status.CANCELLED, Status.REJECTED, Status.TRIAGED) and booked is not None:
        cancel_booked_visit(
            service_request, now=now, reason=reason or public_note or str(target.label)
        )
    update = ["status", "updated_at"]
    service_request.status = target
    if target in ServiceRequest.CLOSED_STATUSES:
        service_request.closed_at = now
        update.append("closed_at")
    if target in REASON_REQUIRED:
        service_request.closing_reason = reason
        update.append("closing_reason")
        public_note = public_note or reason
    if target == Status.COMPLETED:
        service_request.completion_notes = completion_notes
        update.append("completion_notes")
    service_request.save(update_fields=update)
    change = ServiceRequestStatusChange.objects.create(
        service_request=service_request,
        from_status=current,
        to_status=target,
        changed_at=now,
        actor=actor,
        actor_role=actor_role,
        public_note=public_note,
    )
    status_change_notify(change=change)
    return change


def service_request_transition(
    *,
    service_request: ServiceRequest,
    to_status: str,
    actor: User | None,
    actor_role: str = ActorRole.STAFF,
    public_note: str = "",
    reason: str = "",
    completion_notes: str = "",
    now: dt.datetime,
) -> ServiceRequestStatusChange:
    """Move ``service_request`` to ``to_status`` if the transition table allows it.

    Locks the row (``SELECT … FOR UPDATE``) and re-reads its status; writes the status
    change (who, when, public note) in the same transaction; notifies the account's members
    once. Cancelling, rejecting or sending back to triage frees the booked visit. A reason
    is required to cancel or reject (it is shown to the customer), completion notes to
    complete.

    Raises:
        IllegalTransition: the table does not allow the move (or SCHEDULED without a visit).
        ReasonRequired: CANCELLED or REJECTED without a reason.
        CompletionNotesRequired: COMPLETED without completion notes.
    Nothing is changed when it raises.
    """
    with transaction.atomic(), acting_as(actor):
        locked = lock_request(service_request)
        change = transition_locked(
            service_request=locked,
            to_status=to_status,
            actor=actor,
            actor_role=actor_role,
            public_note=public_note,
            reason=reason,
            completion_notes=completion_notes,
            now=now,
        )
    service_request.status = locked.status
    return change


def service_request_cancel(
    *, service_request: ServiceRequest, actor: User, reason: str, now: dt.datetime
) -> ServiceRequestStatusChange:
    """The customer withdraws their request (before work starts, and before the cut-off).

    Raises:
        NotAMember: ``actor`` does not act for the request's account.
        IllegalTransition: work has started or the request is closed.
        ChangeTooLate: the booked visit starts within the cut-off (the message says so).
        ReasonRequired: no reason given.
    Nothing is changed when it raises.
    """
    with transaction.atomic(), acting_as(actor):
        locked = lock_request(service_request)
        if membership_role(actor, locked.account) is None:
            raise NotAMember(_("You cannot change requests of this account."))
        if locked.status not in CUSTOMER_CANCELLABLE:
            raise IllegalTransition(
                _("Request %(number)s is “%(status)s” and can no longer be cancelled online.")
                % {"number": locked.number, "status": Status(locked.status).label}
            )
        refusal = change_refusal(selectors.booked_appointment(locked), now=now)
        if refusal:
            raise ChangeTooLate(refusal)
        change = transition_locked(
            service_request=locked,
            to_status=Status.CANCELLED,
            actor=actor,
            actor_role=ActorRole.CUSTOMER,
            reason=reason,
            now=now,
        )
    service_request.status = locked.status
    return change
