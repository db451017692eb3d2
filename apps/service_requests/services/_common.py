"""Helpers shared by the service modules: audit actor, locking, time wording."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from auditlog.context import auditlog_value, set_actor
from django.db import IntegrityError, connection
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core import clock
from apps.service_requests.models import (
    Appointment,
    ServiceRequest,
)
from apps.service_requests.services._rules import (
    CHANGE_CUTOFF,
    SLA_TARGETS,
)

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@contextmanager
def acting_as(actor: User | None) -> Iterator[None]:
    """Attribute the audit entries written inside to ``actor`` (staff, a job), then restore."""
    try:
        previous = auditlog_value.get()
    except LookupError:
        previous = None
    if actor is None or (previous is not None and previous.get("actor") == actor):
        yield
        return
    remote_addr = previous.get("remote_addr") if previous else None
    try:
        with set_actor(actor, remote_addr=remote_addr):
            yield
    finally:
        if previous is not None:
            auditlog_value.set(previous)


def constraint_of(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def next_number() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('service_requests_number_seq')")
        (value,) = cursor.fetchone()
    return f"SR-{value:07d}"


def when_text(value: dt.datetime) -> str:
    """A visit time as the customer reads it: ``Tuesday 10 March 2026, 10:00``."""
    local = value.astimezone(clock.local_zone())
    return f"{date_format(local, 'l j F Y')}, {local:%H:%M}"


def sla_due_at(*, request_type: str, submitted_at: dt.datetime) -> dt.datetime:
    """When a request of ``request_type`` submitted at ``submitted_at`` should be completed."""
    return submitted_at + SLA_TARGETS[request_type]


def change_refusal(appointment: Appointment | None, *, now: dt.datetime) -> str | None:
    """Why the customer can no longer change ``appointment`` online, or None if they can."""
    if appointment is None:
        return None
    if appointment.starts_at - now < CHANGE_CUTOFF:
        hours = int(CHANGE_CUTOFF.total_seconds() // 3600)
        return _(
            "Your visit on %(when)s starts in less than %(hours)d hours, so it can no longer "
            "be changed or cancelled online. Please call us and we will help."
        ) % {"when": when_text(appointment.starts_at), "hours": hours}
    return None


def lock_request(service_request: ServiceRequest) -> ServiceRequest:
    return (
        ServiceRequest.objects.select_for_update(of=("self",))
        .select_related("account__customer", "supply_point__premise__address", "address")
        .get(pk=service_request.pk)
    )


def detail_url(service_request: ServiceRequest) -> str:
    return reverse("service_requests:detail", args=[service_request.pk])
