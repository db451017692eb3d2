"""Booking visits: slots from crew capacity, no double booking, races, rescheduling, reminders."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test import Client

from apps.accounts.models import User
from apps.core.models import Notification
from apps.service_requests import services
from apps.service_requests.models import Appointment, RequestType, ServiceRequest
from apps.service_requests.tasks import send_appointment_reminders
from apps.service_requests.tests.factories import (
    madrid,
    make_account,
    make_crew,
    make_supply_point,
    scheduled,
    triaged,
)

Status = ServiceRequest.Status
NOW = madrid(2026, 3, 10, 10, 0)  # a Tuesday
WEDNESDAY_8 = madrid(2026, 3, 11, 8, 0)
ONLY_SLOT = madrid(2026, 3, 11, 10, 0)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def frozen() -> object:
    with time_machine.travel(NOW, tick=False):
        yield


# --- slots --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_slots_come_from_the_crews_hours_skills_and_area(customer: User) -> None:
    account = make_account(customer)
    service_request = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    north = make_crew("North", shifts=[(2, dt.time(8), dt.time(12))])  # Wednesdays 08–12
    make_crew("South", prefixes=["41"], shifts=[(2, dt.time(14), dt.time(16))])  # other area
    make_crew("Meters", skills=[RequestType.METER_EXCHANGE], shifts=[(3, dt.time(8), dt.time(10))])
    make_crew("Idle", is_active=False, shifts=[(4, dt.time(8), dt.time(10))])

    slots = services.available_slots(service_request=service_request, now=NOW)

    assert [(s.starts_at, s.ends_at, s.crew_ids) for s in slots] == [
        (madrid(2026, 3, 11, 10, 0), madrid(2026, 3, 11, 12, 0), (north.pk,)),
        (madrid(2026, 3, 18, 8, 0), madrid(2026, 3, 18, 10, 0), (north.pk,)),
        (madrid(2026, 3, 18, 10, 0), madrid(2026, 3, 18, 12, 0), (north.pk,)),
    ]  # 11 March 08:00 is less than 24 hours away; the horizon ends with 24 March.


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_assigned_crew_is_the_only_one_offered(customer: User) -> None:
    account = make_account(customer)
    service_request = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    make_crew("North", shifts=[(2, dt.time(8), dt.time(12))])
    west = make_crew("West", shifts=[(2, dt.time(14), dt.time(16))])
    services.service_request_assign_crew(
        service_request=service_request, crew=west, actor=customer, now=NOW
    )
    slots = services.available_slots(service_request=service_request, now=NOW)
    assert {s.crew_ids for s in slots} == {(west.pk,)}


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_slots_keep_local_wall_clock_times_across_the_spring_dst_change(customer: User) -> None:
    account = make_account(customer)
    service_request = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    make_crew("Weekend", shifts=[(5, dt.time(8), dt.time(10)), (6, dt.time(8), dt.time(10))])
    later = madrid(2026, 3, 26, 9, 0)
    slots = services.available_slots(service_request=service_request, now=later)
    by_day = {s.starts_at.astimezone(dt.UTC): s for s in slots[:2]}
    assert list(by_day) == [
        dt.datetime(2026, 3, 28, 7, 0, tzinfo=dt.UTC),  # Saturday 08:00 CET
        dt.datetime(2026, 3, 29, 6, 0, tzinfo=dt.UTC),  # Sunday 08:00 CEST
    ]
    assert all(s.ends_at - s.starts_at == dt.timedelta(hours=2) for s in slots)


# --- booking ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_customer_books_a_visit_on_the_calendar_page(customer: User) -> None:
    account = make_account(customer)
    service_request = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    crew = make_crew("North", shifts=[(2, dt.time(8), dt.time(12)), (3, dt.time(8), dt.time(10))])
    client = _client(customer)

    page = client.get(f"/my/requests/{service_request.pk}/visit/")
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('type="radio"') == 5  # 11th 10–12; 12th 08–10; 18th 08–12 ×2; 19th 08–10
    assert "Wednesday <span" in body
    assert "No free times" in body
    assert 'for="slot-1-1"' in body
    assert 'id="slot-1-1"' in body

    response = client.post(
        f"/my/requests/{service_request.pk}/visit/", {"slot": ONLY_SLOT.isoformat()}
    )
    assert response.status_code == 302
    appointment = Appointment.objects.get(service_request=service_request)
    assert (appointment.crew, appointment.starts_at, appointment.ends_at, appointment.status) == (
        crew,
        ONLY_SLOT,
        madrid(2026, 3, 11, 12, 0),
        Appointment.Status.BOOKED,
    )
    service_request.refresh_from_db()
    assert service_request.status == Status.SCHEDULED
    detail = client.get(f"/my/requests/{service_request.pk}/").content.decode()
    assert "Visit on Wednesday 11 March 2026, 10:00." in detail
    assert "Choose another time" in detail


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_a_time_outside_the_offer_is_refused(customer: User) -> None:
    account = make_account(customer)
    service_request = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    make_crew("North", shifts=[(2, dt.time(8), dt.time(12))])
    for starts_at in (
        WEDNESDAY_8,  # within 24 hours
        madrid(2026, 3, 11, 9, 0),  # not on the two-hour grid
        madrid(2026, 3, 12, 10, 0),  # the crew does not work on Thursdays
    ):
        with pytest.raises(services.SlotNotOffered):
            services.appointment_book(
                service_request=service_request, starts_at=starts_at, actor=customer, now=NOW
            )
    assert not Appointment.objects.exists()
    service_request.refresh_from_db()
    assert service_request.status == Status.TRIAGED


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_second_customer_gets_another_free_crew_for_the_same_window(
    customer: User, other_customer: User
) -> None:
    hours = [(2, dt.time(10), dt.time(12))]
    first_crew, second_crew = make_crew("A", shifts=hours), make_crew("B", shifts=hours)
    mine = make_account(customer)
    theirs = make_account(other_customer, name="Bruno")
    a = triaged(customer, mine, supply_point=make_supply_point(mine), now=NOW)
    b = triaged(other_customer, theirs, supply_point=make_supply_point(theirs), now=NOW)
    one = services.appointment_book(service_request=a, starts_at=ONLY_SLOT, actor=customer, now=NOW)
    two = services.appointment_book(
        service_request=b, starts_at=ONLY_SLOT, actor=other_customer, now=NOW
    )
    assert {one.crew_id, two.crew_id} == {first_crew.pk, second_crew.pk}
    offered = [s.starts_at for s in services.available_slots(service_request=a, now=NOW)]
    assert offered == [madrid(2026, 3, 18, 10, 0)]


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_losing_customer_is_told_the_slot_was_just_taken_and_sees_fresh_slots(
    customer: User, other_customer: User
) -> None:
    make_crew("North", shifts=[(2, dt.time(10), dt.time(14))])  # 10–12 and 12–14
    mine = make_account(customer)
    theirs = make_account(other_customer, name="Bruno")
    a = triaged(customer, mine, supply_point=make_supply_point(mine), now=NOW)
    b = triaged(other_customer, theirs, supply_point=make_supply_point(theirs), now=NOW)
    client = _client(other_customer)
    assert (
        ONLY_SLOT.astimezone(dt.UTC).isoformat()
        in client.get(f"/my/requests/{b.pk}/visit/").content.decode()
    )
    services.appointment_book(service_request=a, starts_at=ONLY_SLOT, actor=customer, now=NOW)

    response = client.post(
        f"/my/requests/{b.pk}/visit/", {"slot": ONLY_SLOT.astimezone(dt.UTC).isoformat()}
    )

    body = response.content.decode()
    assert response.status_code == 409
    assert "was just taken by someone else" in body
    assert ONLY_SLOT.astimezone(dt.UTC).isoformat() not in body  # fresh slots only
    assert madrid(2026, 3, 11, 12, 0).astimezone(dt.UTC).isoformat() in body
    assert body.count(" checked") == 0
    b.refresh_from_db()
    assert b.status == Status.TRIAGED
    assert not Appointment.objects.filter(service_request=b).exists()


@pytest.mark.django_db(transaction=True)
def test_two_customers_racing_for_the_last_slot_get_exactly_one_booking(
    make_user: Callable[..., User],
) -> None:
    """Both threads pass the barrier and insert at once; PostgreSQL's exclusion constraint
    lets the first commit win and the other gets SlotTaken."""
    with time_machine.travel(NOW, tick=False):
        crew = make_crew("North", shifts=[(2, dt.time(10), dt.time(12))])  # Wednesdays 10–12
        early = make_user("early@example.com")
        early_account = make_account(early, name="Early")
        scheduled(  # the crew's other slot in the next 14 days is taken: 11 March is the last
            early,
            early_account,
            supply_point=make_supply_point(early_account),
            starts_at=madrid(2026, 3, 18, 10, 0),
            now=NOW,
        )
        requests = []
        for email in ("ana@example.com", "bruno@example.com"):
            user = make_user(email)
            account = make_account(user, name=email)
            requests.append(
                (user, triaged(user, account, supply_point=make_supply_point(account), now=NOW))
            )

    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def book(user: User, service_request: ServiceRequest) -> None:
        try:
            barrier.wait(timeout=10)
            appointment = services.appointment_book(
                service_request=service_request, starts_at=ONLY_SLOT, actor=user, now=NOW
            )
            outcomes[user.email] = appointment.pk
        except services.SlotTaken as exc:
            outcomes[user.email] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=pair) for pair in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert services.available_slots(service_request=requests[0][1], now=NOW) == []
    booked = [v for v in outcomes.values() if isinstance(v, int)]
    refused = [v for v in outcomes.values() if isinstance(v, services.SlotTaken)]
    assert len(outcomes) == 2
    assert len(booked) == 1
    assert len(refused) == 1
    assert "was just taken by someone else" in str(refused[0])
    racers = [service_request.pk for _, service_request in requests]
    assert list(
        Appointment.objects.filter(service_request__in=racers).values_list(
            "crew_id", "starts_at", "status"
        )
    ) == [(crew.pk, ONLY_SLOT, Appointment.Status.BOOKED)]
    statuses = sorted(ServiceRequest.objects.filter(pk__in=racers).values_list("status", flat=True))
    assert statuses == [Status.SCHEDULED, Status.TRIAGED]


@pytest.mark.django_db
def test_the_database_refuses_a_double_booked_crew(customer: User) -> None:
    account = make_account(customer)
    crew = make_crew()
    first = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    second = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)

    def visit(service_request: ServiceRequest, start: dt.datetime, end: dt.datetime) -> Appointment:
        return Appointment.objects.create(
            service_request=service_request, crew=crew, starts_at=start, ends_at=end, booked_at=NOW
        )

    kept = visit(first, madrid(2026, 3, 11, 10), madrid(2026, 3, 11, 12))
    with pytest.raises(IntegrityError), transaction.atomic():
        visit(second, madrid(2026, 3, 11, 11), madrid(2026, 3, 11, 13))
    back_to_back = visit(second, madrid(2026, 3, 11, 12), madrid(2026, 3, 11, 14))
    back_to_back.delete()
    Appointment.objects.filter(pk=kept.pk).update(status="CANCELLED", cancelled_at=NOW)
    assert visit(second, madrid(2026, 3, 11, 10), madrid(2026, 3, 11, 12)).pk


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_customer_moves_the_visit_and_the_old_time_frees_up(customer: User) -> None:
    account = make_account(customer)
    make_crew("North", shifts=[(2, dt.time(10), dt.time(14))])
    service_request, old = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=ONLY_SLOT, now=NOW
    )
    later = madrid(2026, 3, 11, 12, 0)
    response = _client(customer).post(
        f"/my/requests/{service_request.pk}/visit/", {"slot": later.isoformat()}
    )
    assert response.status_code == 302
    old.refresh_from_db()
    assert (old.status, old.cancel_reason) == (
        Appointment.Status.CANCELLED,
        "Moved to Wednesday 11 March 2026, 12:00",
    )
    new = Appointment.objects.get(service_request=service_request, status="BOOKED")
    assert new.starts_at == later
    service_request.refresh_from_db()
    assert service_request.status == Status.SCHEDULED
    moved = Notification.objects.get(dedupe_key=f"service-request-visit-moved:{new.pk}")
    assert moved.body == "Your visit is now on Wednesday 11 March 2026, 12:00."


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_moving_to_a_taken_slot_keeps_the_current_visit(
    customer: User, other_customer: User
) -> None:
    make_crew("North", shifts=[(2, dt.time(10), dt.time(14))])
    mine = make_account(customer)
    theirs = make_account(other_customer, name="Bruno")
    service_request, current = scheduled(
        customer, mine, supply_point=make_supply_point(mine), starts_at=ONLY_SLOT, now=NOW
    )
    scheduled(
        other_customer,
        theirs,
        supply_point=make_supply_point(theirs),
        starts_at=madrid(2026, 3, 11, 12, 0),
        now=NOW,
    )
    with pytest.raises(services.SlotTaken):
        services.appointment_book(
            service_request=service_request,
            starts_at=madrid(2026, 3, 11, 12, 0),
            actor=customer,
            now=NOW,
        )
    current.refresh_from_db()
    assert current.status == Appointment.Status.BOOKED
    assert Appointment.objects.filter(service_request=service_request).count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_customer_cancels_the_visit_and_can_book_again(customer: User) -> None:
    account = make_account(customer)
    make_crew("North", shifts=[(2, dt.time(10), dt.time(12))])
    service_request, appointment = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=ONLY_SLOT, now=NOW
    )
    client = _client(customer)
    assert client.get(f"/my/requests/{service_request.pk}/visit/cancel/").status_code == 200
    response = client.post(f"/my/requests/{service_request.pk}/visit/cancel/")
    assert response.status_code == 302
    appointment.refresh_from_db()
    service_request.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert service_request.status == Status.TRIAGED
    offered = [
        s.starts_at for s in services.available_slots(service_request=service_request, now=NOW)
    ]
    assert offered == [ONLY_SLOT, madrid(2026, 3, 18, 10, 0)]


# --- staff assignment ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen")
def test_dispatcher_moves_a_booked_visit_to_another_crew(
    customer: User, make_user: Callable[..., User]
) -> None:
    dispatcher = make_user("d@staff.example.com", role="field_dispatcher")
    account = make_account(customer)
    north = make_crew("North", shifts=[(2, dt.time(10), dt.time(12))])
    west = make_crew("West", shifts=[(2, dt.time(10), dt.time(12))])
    meters = make_crew("Meters", skills=[RequestType.METER_EXCHANGE])
    service_request, appointment = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=ONLY_SLOT, now=NOW
    )
    assert appointment.crew == north  # equally loaded crews: the first one
    with pytest.raises(services.CrewCannotTakeRequest, match="does not do “Repair” work"):
        services.service_request_assign_crew(
            service_request=service_request, crew=meters, actor=dispatcher, now=NOW
        )

    services.service_request_assign_crew(
        service_request=service_request, crew=west, actor=dispatcher, now=NOW
    )
    appointment.refresh_from_db()
    service_request.refresh_from_db()
    assert (appointment.crew, service_request.assigned_crew) == (west, west)

    other = make_account(customer, name="Third")
    blocker = triaged(customer, other, supply_point=make_supply_point(other), now=NOW)
    services.appointment_book(
        service_request=blocker, starts_at=ONLY_SLOT, actor=dispatcher, actor_role="STAFF", now=NOW
    )
    assert Appointment.objects.get(service_request=blocker).crew == north
    with pytest.raises(services.CrewBusy, match="North already has a visit"):
        services.service_request_assign_crew(
            service_request=service_request, crew=north, actor=dispatcher, now=NOW
        )
    appointment.refresh_from_db()
    service_request.refresh_from_db()
    assert (appointment.crew, service_request.assigned_crew) == (west, west)


# --- reminders ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reminder_goes_out_the_day_before_once(
    customer: User,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    partner = make_user("partner@example.com")
    account = make_account(customer, extra=[partner])
    make_crew("North", shifts=[(2, dt.time(10), dt.time(12)), (3, dt.time(10), dt.time(12))])
    with time_machine.travel(NOW, tick=False):
        _, tomorrow = scheduled(
            customer, account, supply_point=make_supply_point(account), starts_at=ONLY_SLOT, now=NOW
        )
        scheduled(
            customer,
            account,
            supply_point=make_supply_point(account),
            starts_at=madrid(2026, 3, 12, 10, 0),
            now=NOW,
        )
    before = Notification.objects.count()

    with time_machine.travel(madrid(2026, 3, 10, 8, 30), tick=False):
        assert send_appointment_reminders.apply().get() == 0  # too early in the day

    with (
        time_machine.travel(madrid(2026, 3, 10, 9, 5), tick=False),
        django_capture_on_commit_callbacks(execute=True),  # type: ignore[operator]
    ):
        assert send_appointment_reminders.apply().get() == 2
        assert send_appointment_reminders.apply().get() == 0

    with time_machine.travel(madrid(2026, 3, 10, 22, 5), tick=False):
        assert send_appointment_reminders.apply().get() == 0

    reminders = Notification.objects.filter(
        dedupe_key=f"service-request-visit-reminder:{tomorrow.pk}"
    )
    assert sorted(reminders.values_list("user__email", flat=True)) == [
        "ana@example.com",
        "partner@example.com",
    ]
    assert Notification.objects.count() == before + 2
    assert sorted(m.to[0] for m in mail.outbox if "Reminder" in m.subject) == [
        "ana@example.com",
        "partner@example.com",
    ]
    assert reminders.first().body.startswith(  # type: ignore[union-attr]
        "Our crew visits you on Wednesday 11 March 2026, 10:00"
    )
