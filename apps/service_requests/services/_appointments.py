"""Visits: slots from crew capacity, booking under the exclusion constraint, reminders, crews."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.selectors import membership_role
from apps.core import clock
from apps.service_requests import scheduling, selectors
from apps.service_requests.models import (
    Appointment,
    Crew,
    CrewShift,
    RequestType,
    ServiceRequest,
    ServiceRequestStatusChange,
)
from apps.service_requests.services._common import (
    acting_as,
    change_refusal,
    constraint_of,
    lock_request,
    when_text,
)
from apps.service_requests.services._errors import (
    BookingNotAllowed,
    ChangeTooLate,
    CrewBusy,
    CrewCannotTakeRequest,
    IllegalTransition,
    NotAMember,
    SlotNotOffered,
    SlotTaken,
)
from apps.service_requests.services._rules import (
    BOOKING_HORIZON_DAYS,
    BOOKING_LEAD,
    EXCLUSION_CONSTRAINT,
    REMINDER_FROM,
    SLOT_LENGTH,
)
from apps.service_requests.services._workflow import (
    cancel_booked_visit,
    notify_members,
    transition_locked,
)

Status = ServiceRequest.Status
ActorRole = ServiceRequestStatusChange.ActorRole

# --------------------------------------------------------------------------------------------
# Appointments
# --------------------------------------------------------------------------------------------


def available_slots(
    *, service_request: ServiceRequest, now: dt.datetime, earliest: dt.datetime | None = None
) -> list[scheduling.Slot]:
    """Free slots for ``service_request`` over the booking horizon, from ``now`` + lead time.

    Only active crews with the request type as a skill and the request's postcode in their
    area (or the assigned crew alone) are considered.
    """
    zone = clock.local_zone()
    windows_by_crew = selectors.crew_windows(
        service_request=service_request,
        first_day=now.astimezone(zone).date(),
        days=BOOKING_HORIZON_DAYS + 1,
        length=SLOT_LENGTH,
        zone=zone,
    )
    start = earliest or now + BOOKING_LEAD
    horizon_end = clock.local_midnight(
        now.astimezone(zone).date() + dt.timedelta(days=BOOKING_HORIZON_DAYS + 1), zone
    )
    busy = selectors.busy_ranges(crew_ids=list(windows_by_crew), start=start, end=horizon_end)
    return scheduling.free_slots(windows_by_crew=windows_by_crew, busy_by_crew=busy, earliest=start)


def _candidate_crews(
    *,
    service_request: ServiceRequest,
    starts_at: dt.datetime,
    now: dt.datetime,
    earliest: dt.datetime,
) -> tuple[dt.datetime, list[int]]:
    """The window's end and the crews whose capacity offers a window starting at ``starts_at``.

    Raises SlotNotOffered when no crew's working hours give that window in the horizon.
    """
    zone = clock.local_zone()
    windows_by_crew = selectors.crew_windows(
        service_request=service_request,
        first_day=now.astimezone(zone).date(),
        days=BOOKING_HORIZON_DAYS + 1,
        length=SLOT_LENGTH,
        zone=zone,
    )
    ends_at = None
    crews = []
    for crew_id, windows in windows_by_crew.items():
        for window in windows:
            if window.starts_at == starts_at:
                ends_at = window.ends_at
                crews.append(crew_id)
    if ends_at is None or starts_at < earliest:
        raise SlotNotOffered(
            _("That time is not one of the slots on offer. Choose one from the list.")
        )
    day = starts_at.astimezone(zone).date()
    load = dict(  # visits each crew already has that local day: the least busy goes first
        Appointment.objects.filter(
            crew_id__in=crews,
            status=Appointment.Status.BOOKED,
            starts_at__gte=clock.local_midnight(day, zone),
            starts_at__lt=clock.local_midnight(day + dt.timedelta(days=1), zone),
        )
        .values("crew_id")
        .annotate(n=Count("id"))
        .order_by("crew_id")
        .values_list("crew_id", "n")
    )
    return ends_at, sorted(crews, key=lambda crew_id: (load.get(crew_id, 0), crew_id))


def _insert_appointment(
    *,
    service_request: ServiceRequest,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    crew_ids: list[int],
    actor: User | None,
    now: dt.datetime,
) -> Appointment:
    """Book the first crew of ``crew_ids`` the database accepts; SlotTaken if none does."""
    for crew_id in crew_ids:
        try:
            with transaction.atomic():
                return Appointment.objects.create(
                    service_request=service_request,
                    crew_id=crew_id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    booked_at=now,
                    booked_by=actor,
                )
        except IntegrityError as exc:
            if constraint_of(exc) != EXCLUSION_CONSTRAINT:
                raise
    raise SlotTaken(
        _(
            "Sorry, the slot on %(when)s was just taken by someone else. Please choose "
            "another time: the list below is up to date."
        )
        % {"when": when_text(starts_at)}
    )


def appointment_book(
    *,
    service_request: ServiceRequest,
    starts_at: dt.datetime,
    actor: User,
    actor_role: str = ActorRole.CUSTOMER,
    now: dt.datetime,
) -> Appointment:
    """Book the visit for ``service_request`` at the slot starting ``starts_at``.

    A triaged request moves to SCHEDULED; a scheduled one is rescheduled (its current visit
    is cancelled in the same transaction, so a failure leaves it booked). The database's
    exclusion constraint decides races: the crew goes to whoever commits first and the
    other caller gets ``SlotTaken`` (another free crew for the same window is tried first).

    Raises:
        NotAMember: a customer ``actor`` does not act for the request's account.
        BookingNotAllowed: the request is not waiting for a visit or has one to change.
        ChangeTooLate: a customer reschedules within the cut-off.
        SlotNotOffered: ``starts_at`` is not a slot of the request's crews in the horizon.
        SlotTaken: every crew for that slot is already booked.
    Nothing is changed when it raises.
    """
    starts_at = clock.require_aware(starts_at, field="slot")
    is_customer = actor_role == ActorRole.CUSTOMER
    with transaction.atomic(), acting_as(actor):
        locked = lock_request(service_request)
        if is_customer and membership_role(actor, locked.account) is None:
            raise NotAMember(_("You cannot book visits for this account."))
        if locked.status not in (Status.TRIAGED, Status.SCHEDULED):
            raise BookingNotAllowed(
                _("Request %(number)s is “%(status)s”: a visit cannot be booked now.")
                % {"number": locked.number, "status": Status(locked.status).label}
            )
        current = selectors.booked_appointment(locked, for_update=True)
        if current is not None and is_customer:
            refusal = change_refusal(current, now=now)
            if refusal:
                raise ChangeTooLate(refusal)
        if current is not None and current.starts_at == starts_at:
            return current
        earliest = now + BOOKING_LEAD if is_customer else now
        ends_at, crew_ids = _candidate_crews(
            service_request=locked, starts_at=starts_at, now=now, earliest=earliest
        )
        if current is not None:
            cancel_booked_visit(
                locked, now=now, reason=_("Moved to %(when)s") % {"when": when_text(starts_at)}
            )
        appointment = _insert_appointment(
            service_request=locked,
            starts_at=starts_at,
            ends_at=ends_at,
            crew_ids=crew_ids,
            actor=actor,
            now=now,
        )
        if current is None:
            transition_locked(
                service_request=locked,
                to_status=Status.SCHEDULED,
                actor=actor,
                actor_role=actor_role,
                public_note=_("Visit on %(when)s.") % {"when": when_text(starts_at)},
                now=now,
            )
        else:
            number = locked.number
            notify_members(
                service_request=locked,
                dedupe_key=f"service-request-visit-moved:{appointment.pk}",
                message=lambda: (
                    _("Request %(number)s: visit moved") % {"number": number},
                    _("Your visit is now on %(when)s.") % {"when": when_text(starts_at)},
                ),
            )
    service_request.status = locked.status
    return appointment


def appointment_cancel(
    *,
    service_request: ServiceRequest,
    actor: User,
    actor_role: str = ActorRole.CUSTOMER,
    now: dt.datetime,
) -> ServiceRequestStatusChange:
    """Cancel the booked visit; the request goes back to TRIAGED to pick another time.

    Raises:
        NotAMember: a customer ``actor`` does not act for the request's account.
        BookingNotAllowed: there is no booked visit to cancel.
        ChangeTooLate: a customer cancels within the cut-off (the message says so).
    Nothing is changed when it raises.
    """
    is_customer = actor_role == ActorRole.CUSTOMER
    with transaction.atomic(), acting_as(actor):
        locked = lock_request(service_request)
        if is_customer and membership_role(actor, locked.account) is None:
            raise NotAMember(_("You cannot change visits of this account."))
        current = selectors.booked_appointment(locked, for_update=True)
        if current is None or locked.status != Status.SCHEDULED:
            raise BookingNotAllowed(
                _("Request %(number)s has no booked visit to cancel.") % {"number": locked.number}
            )
        if is_customer:
            refusal = change_refusal(current, now=now)
            if refusal:
                raise ChangeTooLate(refusal)
        change = transition_locked(
            service_request=locked,
            to_status=Status.TRIAGED,
            actor=actor,
            actor_role=actor_role,
            public_note=_(
                "The visit on %(when)s was cancelled. Choose a new time when it suits you."
            )
            % {"when": when_text(current.starts_at)},
            now=now,
        )
    service_request.status = locked.status
    return change


def _reminder_message(appointment: Appointment) -> tuple[str, str]:
    title = _("Reminder: visit tomorrow for request %(number)s") % {
        "number": appointment.service_request.number
    }
    body = _(
        "Our crew visits you on %(when)s (a two-hour window). Please make sure someone is "
        "there to let them in."
    ) % {"when": when_text(appointment.starts_at)}
    return title, body


def appointments_send_reminders(*, now: dt.datetime) -> int:
    """Remind the members of each account with a visit tomorrow (local), once per visit.

    Sends nothing before ``REMINDER_FROM`` local time, so reminders arrive in the day. The
    notification's dedupe key is the appointment, so re-running (hourly from beat) sends
    nothing new. Returns how many notifications were created. Raises nothing of its own.
    """
    zone = clock.local_zone()
    local_now = now.astimezone(zone)
    if local_now.time() < REMINDER_FROM:
        return 0
    tomorrow = local_now.date() + dt.timedelta(days=1)
    created = 0
    for appointment in selectors.appointments_between(
        start=clock.local_midnight(tomorrow, zone),
        end=clock.local_midnight(tomorrow + dt.timedelta(days=1), zone),
    ):
        created += notify_members(
            service_request=appointment.service_request,
            dedupe_key=f"service-request-visit-reminder:{appointment.pk}",
            message=partial(_reminder_message, appointment),
        )
    return created


# --------------------------------------------------------------------------------------------
# Staff: crew assignment
# --------------------------------------------------------------------------------------------


def crew_refusal(*, crew: Crew, service_request: ServiceRequest) -> str | None:
    """Why ``crew`` cannot take ``service_request`` (inactive, no skill, outside area)."""
    if not crew.is_active:
        return _("Crew %(crew)s is not active.") % {"crew": crew.name}
    if service_request.request_type not in crew.skills:
        return _("Crew %(crew)s does not do “%(type)s” work.") % {
            "crew": crew.name,
            "type": RequestType(service_request.request_type).label,
        }
    postcode = service_request.postcode
    if postcode and not scheduling.postcode_in_area(postcode, crew.postcode_prefixes):
        return _("Crew %(crew)s does not cover postcode %(postcode)s.") % {
            "crew": crew.name,
            "postcode": postcode,
        }
    return None


def service_request_assign_crew(
    *, service_request: ServiceRequest, crew: Crew | None, actor: User, now: dt.datetime
) -> ServiceRequest:
    """Assign ``crew`` to the request (None: any suitable crew); a booked visit moves with it.

    Raises:
        IllegalTransition: the request is closed.
        CrewCannotTakeRequest: the crew is inactive, lacks the skill or the area.
        CrewBusy: the crew already has another visit at the booked time.
    Nothing is changed when it raises.
    """
    with transaction.atomic(), acting_as(actor):
        locked = lock_request(service_request)
        if not locked.is_open:
            raise IllegalTransition(
                _("Request %(number)s is closed; its crew cannot change.")
                % {"number": locked.number}
            )
        if crew is not None:
            refusal = crew_refusal(crew=crew, service_request=locked)
            if refusal:
                raise CrewCannotTakeRequest(refusal)
            booked = selectors.booked_appointment(locked, for_update=True)
            if booked is not None and booked.crew_id != crew.pk:
                try:
                    with transaction.atomic():
                        booked.crew = crew
                        booked.save(update_fields=["crew"])
                except IntegrityError as exc:
                    if constraint_of(exc) != EXCLUSION_CONSTRAINT:
                        raise
                    raise CrewBusy(
                        _(
                            "Crew %(crew)s already has a visit on %(when)s. Choose another "
                            "crew or move the visit first."
                        )
                        % {"crew": crew.name, "when": when_text(booked.starts_at)}
                    ) from None
        locked.assigned_crew = crew
        locked.save(update_fields=["assigned_crew", "updated_at"])
    service_request.assigned_crew = crew
    return locked


def crew_ensure(
    *,
    name: str,
    skills: Sequence[str],
    postcode_prefixes: Sequence[str],
    hours: Sequence[tuple[int, dt.time, dt.time]],
    actor: User | None = None,
) -> tuple[Crew, bool]:
    """The crew called ``name``, created with its skills, area and weekly ``hours`` if missing.

    For set-up scripts and demo data; an existing crew is returned unchanged. Idempotent.
    Raises ``ValueError`` for an unknown skill or hours that do not end after they start.
    """
    unknown = sorted(set(skills) - set(RequestType.values))
    if unknown:
        raise ValueError(f"skills: unknown request types {unknown}")
    if any(start >= end for _, start, end in hours):
        raise ValueError("hours: working hours must end after they start")
    with transaction.atomic(), acting_as(actor):
        crew, created = Crew.objects.get_or_create(
            name=name,
            defaults={"skills": list(skills), "postcode_prefixes": list(postcode_prefixes)},
        )
        if created:
            for weekday, start, end in hours:
                CrewShift.objects.create(crew=crew, weekday=weekday, start_time=start, end_time=end)
    return crew, created
