"""The status workflow: one transition service, a timeline row and one notification per change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core import mail
from django.test import Client

from apps.accounts.models import User
from apps.core.models import Notification
from apps.service_requests import services
from apps.service_requests.models import (
    Appointment,
    RequestType,
    ServiceRequest,
    ServiceRequestStatusChange,
)
from apps.service_requests.tests.factories import (
    madrid,
    make_account,
    make_crew,
    make_supply_point,
    scheduled,
    submit,
    triaged,
)

pytestmark = pytest.mark.django_db
Status = ServiceRequest.Status
STAFF = ServiceRequestStatusChange.ActorRole.STAFF
NOW = madrid(2026, 3, 10, 10, 0)  # a Tuesday
VISIT = madrid(2026, 3, 11, 12, 0)  # Wednesday 12:00–14:00, 26 hours ahead


@pytest.fixture(autouse=True)
def _frozen() -> object:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def dispatcher(make_user: Callable[..., User]) -> User:
    return make_user("dispatch@staff.example.com", role="field_dispatcher")


def _snapshot(service_request: ServiceRequest) -> tuple[object, ...]:
    service_request.refresh_from_db()
    return (
        service_request.status,
        service_request.closed_at,
        service_request.closing_reason,
        service_request.completion_notes,
        ServiceRequestStatusChange.objects.filter(service_request=service_request).count(),
        list(
            Appointment.objects.filter(service_request=service_request)
            .order_by("id")
            .values_list("id", "status")
        ),
        Notification.objects.count(),
    )


def _move(
    service_request: ServiceRequest, to: str, actor: User | None = None, **extra: str
) -> None:
    services.service_request_transition(
        service_request=service_request,
        to_status=to,
        actor=actor,
        actor_role=STAFF,
        now=NOW,
        **extra,
    )


def test_customer_submits_a_repair_and_every_member_is_told_once(
    customer: User, make_user: Callable[..., User]
) -> None:
    partner = make_user("partner@example.com")
    account = make_account(customer, extra=[partner])
    supply_point = make_supply_point(account)

    service_request = submit(customer, account, supply_point=supply_point, now=NOW)

    assert service_request.number == f"SR-{int(service_request.number[3:]):07d}"
    assert service_request.status == Status.SUBMITTED
    assert service_request.sla_due_at == NOW + dt.timedelta(hours=48)
    change = ServiceRequestStatusChange.objects.get(service_request=service_request)
    assert (change.from_status, change.to_status, change.actor, change.actor_role) == (
        "",
        Status.SUBMITTED,
        customer,
        ServiceRequestStatusChange.ActorRole.CUSTOMER,
    )
    notes = Notification.objects.filter(dedupe_key=f"service-request-status:{change.pk}")
    assert sorted(n.user.email for n in notes) == ["ana@example.com", "partner@example.com"]
    assert {n.url for n in notes} == {f"/my/requests/{service_request.pk}/"}
    assert len(mail.outbox) == 0  # emails go after commit; the test transaction never commits


def test_emails_are_sent_after_commit_once_per_member(
    customer: User, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    account = make_account(customer)
    supply_point = make_supply_point(account)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        service_request = submit(customer, account, supply_point=supply_point, now=NOW)
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    assert mail.outbox[0].subject == f"[Wattline] Request {service_request.number}: submitted"


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((), Status.SCHEDULED),  # SUBMITTED → SCHEDULED skips triage
        ((), Status.IN_PROGRESS),
        ((), Status.COMPLETED),
        ((Status.TRIAGED,), Status.COMPLETED),
        ((Status.TRIAGED,), Status.SCHEDULED),  # no visit booked
        ((Status.TRIAGED, Status.IN_PROGRESS), Status.CANCELLED),
        ((Status.TRIAGED, Status.IN_PROGRESS), Status.REJECTED),
        ((Status.TRIAGED, Status.IN_PROGRESS, Status.COMPLETED), Status.TRIAGED),
        ((Status.REJECTED,), Status.TRIAGED),
        ((Status.CANCELLED,), Status.SUBMITTED),
    ],
)
def test_illegal_transition_is_refused_and_nothing_changes(
    customer: User, dispatcher: User, path: tuple[str, ...], target: str
) -> None:
    account = make_account(customer)
    service_request = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    for step in path:
        _move(
            service_request,
            step,
            dispatcher,
            reason="Duplicate of another request",
            completion_notes="Replaced the socket.",
        )
    before = _snapshot(service_request)

    with pytest.raises(services.IllegalTransition) as refused:
        _move(service_request, target, dispatcher, reason="x", completion_notes="x")

    assert service_request.number in str(refused.value)
    assert _snapshot(service_request) == before


def test_rejecting_needs_a_reason_the_customer_sees(customer: User, dispatcher: User) -> None:
    account = make_account(customer)
    service_request = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    before = _snapshot(service_request)

    with pytest.raises(services.ReasonRequired) as refused:
        _move(service_request, Status.REJECTED, dispatcher, reason="   ")
    assert refused.value.field == "reason"
    assert _snapshot(service_request) == before

    _move(service_request, Status.REJECTED, dispatcher, reason="The supply point is not ours.")
    service_request.refresh_from_db()
    assert service_request.status == Status.REJECTED
    assert service_request.closing_reason == "The supply point is not ours."
    assert service_request.closed_at == NOW
    last = service_request.status_changes.order_by("-id").first()  # type: ignore[attr-defined]
    assert last.public_note == "The supply point is not ours."


def test_completing_needs_completion_notes(customer: User, dispatcher: User) -> None:
    account = make_account(customer)
    service_request = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    _move(service_request, Status.TRIAGED, dispatcher)
    _move(service_request, Status.IN_PROGRESS, dispatcher)
    before = _snapshot(service_request)

    with pytest.raises(services.CompletionNotesRequired):
        _move(service_request, Status.COMPLETED, dispatcher)
    assert _snapshot(service_request) == before

    _move(service_request, Status.COMPLETED, dispatcher, completion_notes="Replaced the socket.")
    service_request.refresh_from_db()
    assert (service_request.status, service_request.completion_notes) == (
        Status.COMPLETED,
        "Replaced the socket.",
    )


def test_every_transition_notifies_once_and_rerunning_the_notifier_sends_nothing(
    customer: User,
    dispatcher: User,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    partner = make_user("partner@example.com")
    account = make_account(customer, extra=[partner])
    supply_point = make_supply_point(account)
    make_crew()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        service_request = triaged(customer, account, supply_point=supply_point, now=NOW)
        services.appointment_book(
            service_request=service_request, starts_at=VISIT, actor=customer, now=NOW
        )
        _move(service_request, Status.IN_PROGRESS, dispatcher)
        _move(service_request, Status.COMPLETED, dispatcher, completion_notes="Fixed.")

    changes = list(service_request.status_changes.order_by("id"))  # type: ignore[attr-defined]
    assert [c.to_status for c in changes] == [
        Status.SUBMITTED,
        Status.TRIAGED,
        Status.SCHEDULED,
        Status.IN_PROGRESS,
        Status.COMPLETED,
    ]
    for change in changes:
        keyed = Notification.objects.filter(dedupe_key=f"service-request-status:{change.pk}")
        assert sorted(keyed.values_list("user__email", flat=True)) == [
            "ana@example.com",
            "partner@example.com",
        ]
    assert Notification.objects.count() == 10
    assert len(mail.outbox) == 10

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        resent = [services.status_change_notify(change=change) for change in changes]

    assert resent == [0, 0, 0, 0, 0]
    assert Notification.objects.count() == 10
    assert len(mail.outbox) == 10


def test_customer_who_opted_out_of_email_gets_only_the_in_app_notice(
    customer: User, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    from apps.accounts.models import CommunicationPreference

    account = make_account(customer)
    CommunicationPreference.objects.create(customer=account.customer, email_notifications=False)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    assert Notification.objects.filter(user=customer).count() == 1
    assert mail.outbox == []


def test_the_status_change_is_audited_with_the_staff_member(
    customer: User, dispatcher: User
) -> None:
    account = make_account(customer)
    service_request = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    _move(service_request, Status.TRIAGED, dispatcher)
    entry = (
        LogEntry.objects.get_for_object(service_request)  # type: ignore[attr-defined]
        .filter(changes__icontains="TRIAGED")
        .get()
    )
    assert entry.actor == dispatcher


def test_sending_a_scheduled_request_back_to_triage_frees_the_crew(
    customer: User, dispatcher: User
) -> None:
    account = make_account(customer)
    make_crew()
    service_request, appointment = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=VISIT, now=NOW
    )
    _move(service_request, Status.TRIAGED, dispatcher, public_note="The crew is ill; sorry.")
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancelled_at) == (Appointment.Status.CANCELLED, NOW)
    slots = services.available_slots(service_request=service_request, now=NOW)
    assert VISIT in [slot.starts_at for slot in slots]


# --- customer cancellations and the cut-off ---------------------------------------------------


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_customer_cancels_a_request_before_the_cut_off(customer: User) -> None:
    account = make_account(customer)
    make_crew()
    service_request, appointment = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=VISIT, now=NOW
    )
    response = _client(customer).post(
        f"/my/requests/{service_request.pk}/cancel/", {"reason": "The fault went away."}
    )
    assert response.status_code == 302
    service_request.refresh_from_db()
    appointment.refresh_from_db()
    assert service_request.status == Status.CANCELLED
    assert service_request.closing_reason == "The fault went away."
    assert appointment.status == Appointment.Status.CANCELLED


def test_cancelling_after_the_cut_off_is_refused_with_the_reason(customer: User) -> None:
    account = make_account(customer)
    make_crew()
    service_request, _ = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=VISIT, now=NOW
    )
    before = _snapshot(service_request)
    late = madrid(2026, 3, 10, 13, 0)  # 23 hours before the visit
    with time_machine.travel(late, tick=False):
        with pytest.raises(services.ChangeTooLate) as refused:
            services.service_request_cancel(
                service_request=service_request, actor=customer, reason="Changed my mind", now=late
            )
        assert "less than 24 hours" in str(refused.value)
        assert _snapshot(service_request) == before

        client = _client(customer)
        response = client.post(
            f"/my/requests/{service_request.pk}/cancel/", {"reason": "Changed my mind"}
        )
        assert response.status_code == 409
        assert "less than 24 hours" in response.content.decode()
        assert _snapshot(service_request) == before

        for url in (
            f"/my/requests/{service_request.pk}/visit/cancel/",
            f"/my/requests/{service_request.pk}/visit/",
        ):
            response = client.post(url, {"slot": madrid(2026, 3, 12, 8, 0).isoformat()})
            assert response.status_code == 409, url
            assert "can no longer be changed or cancelled online" in response.content.decode()
        assert _snapshot(service_request) == before

        detail = client.get(f"/my/requests/{service_request.pk}/").content.decode()
        assert "less than 24 hours" in detail
        assert f"/my/requests/{service_request.pk}/cancel/" not in detail


def test_the_cut_off_applies_to_rescheduling_through_the_service(customer: User) -> None:
    account = make_account(customer)
    make_crew()
    service_request, _appointment = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=VISIT, now=NOW
    )
    late = madrid(2026, 3, 10, 12, 30)
    before = _snapshot(service_request)
    with pytest.raises(services.ChangeTooLate):
        services.appointment_book(
            service_request=service_request,
            starts_at=madrid(2026, 3, 13, 8, 0),
            actor=customer,
            now=late,
        )
    with pytest.raises(services.ChangeTooLate):
        services.appointment_cancel(service_request=service_request, actor=customer, now=late)
    assert _snapshot(service_request) == before


def test_staff_may_still_move_a_visit_inside_the_cut_off(customer: User, dispatcher: User) -> None:
    account = make_account(customer)
    make_crew()
    service_request, old = scheduled(
        customer, account, supply_point=make_supply_point(account), starts_at=VISIT, now=NOW
    )
    late = madrid(2026, 3, 11, 9, 0)
    new = services.appointment_book(
        service_request=service_request,
        starts_at=madrid(2026, 3, 11, 14, 0),
        actor=dispatcher,
        actor_role=STAFF,
        now=late,
    )
    old.refresh_from_db()
    assert old.status == Appointment.Status.CANCELLED
    assert new.starts_at == madrid(2026, 3, 11, 14, 0)


def test_customer_cannot_cancel_once_work_has_started(customer: User, dispatcher: User) -> None:
    account = make_account(customer)
    service_request = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    _move(service_request, Status.TRIAGED, dispatcher)
    _move(service_request, Status.IN_PROGRESS, dispatcher)
    before = _snapshot(service_request)
    with pytest.raises(services.IllegalTransition):
        services.service_request_cancel(
            service_request=service_request, actor=customer, reason="too slow", now=NOW
        )
    response = _client(customer).post(
        f"/my/requests/{service_request.pk}/cancel/", {"reason": "too slow"}
    )
    assert response.status_code == 409
    assert _snapshot(service_request) == before


@pytest.mark.parametrize(
    ("request_type", "hours"),
    [
        (RequestType.RECONNECTION, 24),
        (RequestType.REPAIR, 48),
        (RequestType.DISCONNECTION, 120),
        (RequestType.METER_EXCHANGE, 240),
        (RequestType.MAINTENANCE, 240),
        (RequestType.OTHER, 240),
        (RequestType.NEW_CONNECTION, 720),
    ],
)
def test_sla_due_time_is_fixed_at_submission(request_type: str, hours: int) -> None:
    assert services.sla_due_at(request_type=request_type, submitted_at=NOW) == NOW + dt.timedelta(
        hours=hours
    )
