"""Who reaches what: customers only their own requests (404 otherwise, nothing changes);
staff per the role matrix in the admin and the staff download."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import User
from apps.core.models import Notification
from apps.service_requests.models import (
    Appointment,
    ServiceDocument,
    ServiceRequest,
    ServiceRequestStatusChange,
)
from apps.service_requests.tests.factories import (
    madrid,
    make_account,
    make_crew,
    make_supply_point,
    png,
    scheduled,
    submit,
)
from conftest import verified_client

pytestmark = pytest.mark.django_db
Status = ServiceRequest.Status
NOW = madrid(2026, 3, 10, 10, 0)
VISIT = madrid(2026, 3, 12, 10, 0)


@pytest.fixture(autouse=True)
def _frozen(settings: object, tmp_path: Path) -> object:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    with time_machine.travel(NOW, tick=False):
        yield


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def theirs(other_customer: User) -> ServiceRequest:
    """Bruno's scheduled repair, with a photo."""
    account = make_account(other_customer, name="Bruno Díaz")
    make_crew()
    service_request, _ = scheduled(
        other_customer,
        account,
        supply_point=make_supply_point(account),
        starts_at=VISIT,
        now=NOW,
        photos=[png()],
    )
    return service_request


def _snapshot() -> tuple[object, ...]:
    return (
        list(ServiceRequest.objects.order_by("id").values_list("id", "status", "closing_reason")),
        list(Appointment.objects.order_by("id").values_list("id", "status", "starts_at")),
        ServiceRequestStatusChange.objects.count(),
        Notification.objects.count(),
    )


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("get", "", {}),
        ("get", "cancel/", {}),
        ("post", "cancel/", {"reason": "not mine"}),
        ("get", "visit/", {}),
        ("post", "visit/", {"slot": "2026-03-12T10:00:00+00:00"}),
        ("get", "visit/cancel/", {}),
        ("post", "visit/cancel/", {}),
        ("get", "documents/{document}/", {}),
    ],
)
def test_another_customers_request_is_not_found_and_nothing_changes(
    customer: User,
    theirs: ServiceRequest,
    method: str,
    suffix: str,
    data: dict[str, str],
) -> None:
    make_account(customer)
    document = ServiceDocument.objects.get(service_request=theirs)
    before = _snapshot()
    url = f"/my/requests/{theirs.pk}/" + suffix.format(document=document.pk)
    response = getattr(_client(customer), method)(url, data)
    assert response.status_code == 404
    assert _snapshot() == before


def test_own_document_id_under_someone_elses_request_is_not_found(
    customer: User, theirs: ServiceRequest
) -> None:
    account = make_account(customer)
    mine = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    document = ServiceDocument.objects.get(service_request=theirs)
    client = _client(customer)
    assert client.get(f"/my/requests/{mine.pk}/documents/{document.pk}/").status_code == 404


def test_owner_reaches_every_page_of_their_request(
    other_customer: User, theirs: ServiceRequest
) -> None:
    client = _client(other_customer)
    document = ServiceDocument.objects.get(service_request=theirs)
    for suffix in ("", "cancel/", "visit/", "visit/cancel/", f"documents/{document.pk}/"):
        assert client.get(f"/my/requests/{theirs.pk}/{suffix}").status_code == 200, suffix


def test_list_shows_only_the_customers_own_requests(customer: User, theirs: ServiceRequest) -> None:
    account = make_account(customer)
    mine = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    body = _client(customer).get("/my/requests/").content.decode()
    assert mine.number in body
    assert theirs.number not in body
    assert theirs.supply_point.external_id not in body  # type: ignore[union-attr]


def test_timeline_names_the_customer_and_hides_staff_identities(
    other_customer: User, theirs: ServiceRequest, make_user: Callable[..., User]
) -> None:
    body = _client(other_customer).get(f"/my/requests/{theirs.pk}/").content.decode()
    assert "Submitted" in body
    assert "Being prepared" in body
    assert "Visit booked" in body
    assert "· You" in body
    assert "· Our team" in body  # the factory triages as staff
    assert "staff.example.com" not in body


def test_request_list_makes_the_same_number_of_queries_for_more_requests(
    customer: User, django_assert_max_num_queries: Callable[..., object]
) -> None:
    account = make_account(customer)
    supply_point = make_supply_point(account)
    client = _client(customer)
    submit(customer, account, supply_point=supply_point, now=NOW)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get("/my/requests/")
    for _ in range(4):
        submit(customer, account, supply_point=supply_point, now=NOW)
    with CaptureQueriesContext(connection) as five:
        client.get("/my/requests/")
    assert len(five.captured_queries) == len(one.captured_queries)


@pytest.mark.parametrize("suffix", ["", "new/", "new/repair/", "1/", "1/visit/", "1/documents/1/"])
def test_anonymous_visitor_is_sent_to_sign_in(suffix: str) -> None:
    response = Client().get(f"/my/requests/{suffix}")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


# --- staff ------------------------------------------------------------------------------------

QUEUE = "/admin/service_requests/servicerequest/"


@pytest.mark.parametrize(
    ("role", "queue", "crews", "process"),
    [
        ("field_dispatcher", 200, 200, 200),
        ("support_agent", 200, 200, 200),  # view_* lets agents look at crews
        ("billing_specialist", 403, 403, 403),
        ("operations", 403, 403, 403),
        ("regulator", 403, 403, 403),
        ("administrator", 200, 200, 200),
    ],
)
def test_staff_role_matrix_for_the_triage_queue(
    role: str,
    queue: int,
    crews: int,
    process: int,
    make_user: Callable[..., User],
    theirs: ServiceRequest,
) -> None:
    client = verified_client(make_user(f"{role}@staff.example.com", role=role))
    assert client.get(QUEUE).status_code == queue
    assert client.get("/admin/service_requests/crew/").status_code == crews
    assert client.get(f"{QUEUE}{theirs.pk}/process/").status_code == process


def test_customer_cannot_open_the_admin_queue(customer: User, theirs: ServiceRequest) -> None:
    client = verified_client(customer)
    for url in (QUEUE, f"{QUEUE}{theirs.pk}/process/", "/admin/service_requests/crew/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/")


def test_field_dispatcher_triages_from_the_queue(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = make_account(customer)
    first = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    second = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    dispatcher = make_user("dispatch@staff.example.com", role="field_dispatcher")
    client = verified_client(dispatcher)
    response = client.post(
        QUEUE,
        {"action": "move_to_triaged", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 request(s) moved to “Being prepared”." in response.content.decode()
    for service_request in (first, second):
        service_request.refresh_from_db()
        assert service_request.status == Status.TRIAGED
        change = service_request.status_changes.order_by("-id").first()  # type: ignore[attr-defined]
        assert (change.actor, change.actor_role) == (dispatcher, "STAFF")


def test_illegal_bulk_move_is_reported_and_changes_nothing(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = make_account(customer)
    submitted = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    client = verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))
    before = _snapshot()
    response = client.post(
        QUEUE, {"action": "move_to_in_progress", "_selected_action": [submitted.pk]}, follow=True
    )
    assert "cannot move to “In progress”" in response.content.decode()
    assert _snapshot() == before


def test_dispatcher_rejects_with_a_reason_on_the_process_page(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = make_account(customer)
    service_request = submit(customer, account, supply_point=make_supply_point(account), now=NOW)
    client = verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))
    url = f"{QUEUE}{service_request.pk}/process/"
    before = _snapshot()
    refused = client.post(url, {"action": "status", "to_status": "REJECTED", "reason": ""})
    assert refused.status_code == 400
    assert "Give the reason for moving the request to “Rejected”" in refused.content.decode()
    assert _snapshot() == before
    done = client.post(
        url, {"action": "status", "to_status": "REJECTED", "reason": "Not our network area."}
    )
    assert done.status_code == 302
    service_request.refresh_from_db()
    assert (service_request.status, service_request.closing_reason) == (
        Status.REJECTED,
        "Not our network area.",
    )


def test_dispatcher_books_a_visit_for_the_customer(
    customer: User, make_user: Callable[..., User]
) -> None:
    from apps.service_requests.tests.factories import triaged

    account = make_account(customer)
    crew = make_crew()
    service_request = triaged(customer, account, supply_point=make_supply_point(account), now=NOW)
    client = verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))
    url = f"{QUEUE}{service_request.pk}/process/"
    page = client.get(url).content.decode()
    soon = madrid(2026, 3, 10, 16, 0)  # staff may book inside the customer's 24-hour lead
    assert soon.astimezone(dt.UTC).isoformat() in page
    response = client.post(url, {"action": "book", "slot": soon.astimezone(dt.UTC).isoformat()})
    assert response.status_code == 302
    appointment = Appointment.objects.get(service_request=service_request)
    assert (appointment.crew, appointment.starts_at) == (crew, soon)


def test_queue_highlights_overdue_requests_and_filters_by_sla(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = make_account(customer)
    supply_point = make_supply_point(account)
    old = submit(customer, account, supply_point=supply_point, now=madrid(2026, 3, 7, 9, 0))
    fresh = submit(customer, account, supply_point=supply_point, now=NOW)
    client = verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))

    body = client.get(QUEUE).content.decode()
    assert body.count("sr-sla-overdue") == 1
    assert "Overdue by 1 d 1 h" in body  # due 9 March 09:00, now 10 March 10:00
    assert "Due in 2 d 0 h" in body

    overdue = client.get(QUEUE, {"sla": "overdue"}).content.decode()
    assert old.number in overdue
    assert fresh.number not in overdue
    on_track = client.get(QUEUE, {"sla": "on_track"}).content.decode()
    assert fresh.number in on_track
    assert old.number not in on_track
    aged = client.get(QUEUE, {"age": "7d"}).content.decode()
    assert old.number in aged
    assert fresh.number not in aged


def test_queue_query_count_does_not_grow_with_rows(
    customer: User, make_user: Callable[..., User]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = make_account(customer)
    supply_point = make_supply_point(account)
    client = verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))
    submit(customer, account, supply_point=supply_point, now=NOW)
    client.get(QUEUE)
    with CaptureQueriesContext(connection) as one:
        client.get(QUEUE)
    make_crew()
    for _ in range(5):
        submit(customer, account, supply_point=supply_point, now=NOW)
    with CaptureQueriesContext(connection) as six:
        client.get(QUEUE)
    assert len(six.captured_queries) <= len(one.captured_queries) + 1  # + the crew filter list


def test_staff_download_of_a_document_needs_the_permission(
    customer: User, theirs: ServiceRequest, make_user: Callable[..., User]
) -> None:
    document = ServiceDocument.objects.get(service_request=theirs)
    url = f"/staff/requests/{theirs.pk}/documents/{document.pk}/"
    dispatcher = verified_client(make_user("dispatch@staff.example.com", role="field_dispatcher"))
    assert dispatcher.get(url).status_code == 200
    billing = verified_client(make_user("billing@staff.example.com", role="billing_specialist"))
    assert billing.get(url).status_code == 403
    assert verified_client(customer).get(url).status_code == 403
    assert (
        dispatcher.get(f"/staff/requests/{theirs.pk + 1}/documents/{document.pk}/").status_code
        == 404
    )
