"""Reads of service requests, visits and crew capacity shared by pages, admin, services and tasks.

Customer lookups are scoped to the accounts the user is a member of (``Http404`` otherwise,
so someone else's request looks like no request).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from apps.accounts.models import Account, User
from apps.accounts.selectors import accounts_for_user
from apps.service_requests import scheduling
from apps.service_requests.models import (
    Appointment,
    Crew,
    CrewShift,
    ServiceDocument,
    ServiceRequest,
    ServiceRequestStatusChange,
)

OPEN_STATUSES = (
    ServiceRequest.Status.SUBMITTED,
    ServiceRequest.Status.TRIAGED,
    ServiceRequest.Status.SCHEDULED,
    ServiceRequest.Status.IN_PROGRESS,
)


def _with_relations(queryset: QuerySet[ServiceRequest]) -> QuerySet[ServiceRequest]:
    return queryset.select_related(
        "account__customer", "supply_point__premise__address", "address", "assigned_crew"
    )


def _booked_prefetch() -> Prefetch:  # type: ignore[type-arg]
    return Prefetch(
        "appointments",
        queryset=Appointment.objects.filter(status=Appointment.Status.BOOKED).order_by("id"),
        to_attr="booked_appointments",
    )


def service_requests_for_account(account: Account) -> list[ServiceRequest]:
    """The account's requests, newest first, each with ``booked_appointments`` loaded."""
    return list(
        _with_relations(ServiceRequest.objects.filter(account=account))
        .prefetch_related(_booked_prefetch())
        .order_by("-submitted_at", "-id")
    )


def service_request_for_user(user: User, request_id: int | str) -> ServiceRequest:
    """The request ``request_id`` if it belongs to an account ``user`` is a member of.

    Raises ``Http404`` otherwise.
    """
    try:
        pk = int(request_id)
    except (TypeError, ValueError):
        raise Http404("No such request") from None
    found = (
        _with_relations(
            ServiceRequest.objects.filter(pk=pk, account__in=accounts_for_user(user).values("pk"))
        )
        .order_by("id")
        .first()
    )
    if found is None:
        raise Http404("No such request")
    return found


def document_for_user(user: User, request_id: int | str, document_id: int | str) -> ServiceDocument:
    """A document of a request ``user`` may see; ``Http404`` otherwise."""
    service_request = service_request_for_user(user, request_id)
    try:
        return ServiceDocument.objects.get(pk=int(document_id), service_request=service_request)
    except (ServiceDocument.DoesNotExist, TypeError, ValueError):
        raise Http404("No such document") from None


def timeline(service_request: ServiceRequest) -> list[ServiceRequestStatusChange]:
    """The request's status changes, oldest first, with who made them."""
    return list(
        ServiceRequestStatusChange.objects.filter(service_request=service_request)
        .select_related("actor")
        .order_by("changed_at", "id")
    )


def documents_of(service_request: ServiceRequest) -> list[ServiceDocument]:
    return list(
        ServiceDocument.objects.filter(service_request=service_request).order_by(
            "uploaded_at", "id"
        )
    )


def appointments_of(service_request: ServiceRequest) -> list[Appointment]:
    """Every visit of the request (booked and cancelled), soonest first."""
    return list(
        Appointment.objects.filter(service_request=service_request)
        .select_related("crew")
        .order_by("starts_at", "id")
    )


def booked_appointment(
    service_request: ServiceRequest, *, for_update: bool = False
) -> Appointment | None:
    """The request's booked visit, if any (there is at most one)."""
    queryset = Appointment.objects.filter(
        service_request=service_request, status=Appointment.Status.BOOKED
    )
    if for_update:
        queryset = queryset.select_for_update()
    return queryset.order_by("id").first()


def account_member_users(account: Account) -> list[User]:
    """The people who act for ``account`` (they get its notifications)."""
    return list(User.objects.filter(memberships__account=account, is_active=True).order_by("id"))


def appointments_between(*, start: dt.datetime, end: dt.datetime) -> list[Appointment]:
    """Booked visits of open requests starting in [start, end), with request and account."""
    return list(
        Appointment.objects.filter(
            status=Appointment.Status.BOOKED,
            starts_at__gte=start,
            starts_at__lt=end,
            service_request__status__in=OPEN_STATUSES,
        )
        .select_related("service_request__account__customer", "crew")
        .order_by("starts_at", "id")
    )


# --- capacity ---------------------------------------------------------------------------------


def eligible_crews(service_request: ServiceRequest) -> list[Crew]:
    """Active crews that can take the request: the assigned crew, or any with the skill
    and the request's postcode in their area."""
    crews = Crew.objects.filter(is_active=True, skills__contains=[service_request.request_type])
    if service_request.assigned_crew_id is not None:
        crews = crews.filter(pk=service_request.assigned_crew_id)
    postcode = service_request.postcode
    found = list(
        crews.prefetch_related(
            Prefetch("shifts", queryset=CrewShift.objects.order_by("id"))
        ).order_by("id")
    )
    if service_request.assigned_crew_id is not None:
        return found
    return [crew for crew in found if scheduling.postcode_in_area(postcode, crew.postcode_prefixes)]


def crew_windows(
    *,
    service_request: ServiceRequest,
    first_day: dt.date,
    days: int,
    length: dt.timedelta,
    zone: ZoneInfo,
) -> dict[int, list[scheduling.Window]]:
    """Each eligible crew's windows (from its working hours) over ``days`` from ``first_day``."""
    return {
        crew.pk: scheduling.shift_windows(
            shifts=[
                scheduling.Shift(shift.weekday, shift.start_time, shift.end_time)
                for shift in crew.shifts.all()
            ],
            first_day=first_day,
            days=days,
            zone=zone,
            length=length,
        )
        for crew in eligible_crews(service_request)
    }


def busy_ranges(
    *, crew_ids: list[int], start: dt.datetime, end: dt.datetime
) -> dict[int, list[tuple[dt.datetime, dt.datetime]]]:
    """Booked [starts_at, ends_at) ranges of the crews that meet [start, end)."""
    busy: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    rows = (
        Appointment.objects.filter(
            crew_id__in=crew_ids,
            status=Appointment.Status.BOOKED,
            starts_at__lt=end,
            ends_at__gt=start,
        )
        .order_by("crew_id", "starts_at", "id")
        .values_list("crew_id", "starts_at", "ends_at")
    )
    for crew_id, starts_at, ends_at in rows:
        busy[crew_id].append((starts_at, ends_at))
    return dict(busy)


@dataclass(frozen=True, slots=True)
class SlotChoice:
    value: str
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SlotDay:
    day: dt.date
    slots: list[SlotChoice]


def slot_value(starts_at: dt.datetime) -> str:
    """How a slot is posted back: its UTC start, ``2026-03-12T09:00:00+00:00``."""
    return starts_at.astimezone(dt.UTC).isoformat()


def slots_by_day(
    slots: list[scheduling.Slot],
    zone: ZoneInfo,
    *,
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
) -> list[SlotDay]:
    """Slots grouped by local day, in time order (for the booking page).

    With ``first_day`` and ``last_day`` every day in between is listed, empty ones too, so
    the page reads like a calendar.
    """
    days: dict[dt.date, list[SlotChoice]] = {}
    if first_day is not None and last_day is not None:
        for offset in range((last_day - first_day).days + 1):
            days[first_day + dt.timedelta(days=offset)] = []
    for slot in slots:
        local = slot.starts_at.astimezone(zone)
        days.setdefault(local.date(), []).append(
            SlotChoice(slot_value(slot.starts_at), local, slot.ends_at.astimezone(zone))
        )
    return [SlotDay(day, choices) for day, choices in sorted(days.items())]


# --- staff queue ------------------------------------------------------------------------------


def overdue_filter(now: dt.datetime) -> Q:
    """Open requests past their SLA due time."""
    return Q(status__in=OPEN_STATUSES, sla_due_at__lt=now)
