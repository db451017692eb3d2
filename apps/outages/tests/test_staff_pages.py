"""Operations pages: who may see and act (the role matrix), the dashboard, updates, reliability."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import User
from apps.metering.models import IntervalReading
from apps.metering.partitions import ensure_reading_partitions
from apps.outages import services
from apps.outages.models import Level, Outage, OutagePoint, OutageUpdate
from apps.outages.tests.factories import build_network, lose, make_point, restore, supply
from conftest import enable_totp, verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)  # 10:00 in Madrid
NOW = T0 + dt.timedelta(minutes=90)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def outage(frozen: None) -> Outage:
    net = build_network(feeders=1, transformers=2, points=4)
    lose(net.under("S1F1T1"), T0)
    services.outages_detect(now=at(2))
    return Outage.objects.get()


def pages(outage_id: int) -> dict[str, str]:
    return {
        "dashboard": "/staff/outages/",
        "fragment": "/staff/outages/current/",
        "detail": f"/staff/outages/{outage_id}/",
        "reliability": "/staff/outages/reliability/",
        "csv": "/staff/outages/reliability.csv",
    }


ALL_GETS = ("dashboard", "fragment", "detail", "reliability", "csv")


@pytest.mark.parametrize(
    ("role", "can_view", "can_change"),
    [
        ("operations", True, True),
        ("field_dispatcher", True, True),
        ("administrator", True, True),
        ("support_agent", True, False),
        ("billing_specialist", False, False),
        ("regulator", False, False),
    ],
)
def test_staff_roles_per_the_role_matrix(
    staff_client_for: Callable[[str], Client],
    outage: Outage,
    role: str,
    can_view: bool,
    can_change: bool,
) -> None:
    client = staff_client_for(role)
    for name, url in pages(outage.pk).items():
        assert client.get(url).status_code == (200 if can_view else 403), name
    assert client.get("/staff/outages/planned/new/").status_code == (200 if can_change else 403)
    updates = OutageUpdate.objects.count()

    response = client.post(f"/staff/outages/{outage.pk}/update/", {"note": "On site."})

    assert response.status_code == (302 if can_change else 403)
    assert OutageUpdate.objects.count() == updates + (1 if can_change else 0)


def test_customers_are_refused_and_unverified_staff_sent_to_the_second_factor(
    customer: User, make_user: Callable[..., User], outage: Outage
) -> None:
    as_customer = verified_client(customer)
    for url in pages(outage.pk).values():
        assert as_customer.get(url).status_code == 403
    assert as_customer.post(f"/staff/outages/{outage.pk}/restore/", {}).status_code == 403

    staff = make_user("ops@staff.example.com", role="operations")
    enable_totp(staff)
    unverified = Client()
    unverified.force_login(staff)
    response = unverified.get("/staff/outages/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/verify/")
    anonymous = Client().get("/staff/outages/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/account/login/")
    assert Outage.objects.get().status == Outage.Status.ACTIVE


def test_dashboard_shows_current_outages_and_silent_supply_points(
    staff_client_for: Callable[[str], Client], frozen: None
) -> None:
    net = build_network(feeders=1, transformers=2, points=4)
    a, b, c, _d = net.under("S1F1T1")
    supply(None, a)
    supply(None, b)  # two of the four have a customer
    lose([a, b, c], T0)
    services.outages_detect(now=at(2))
    outage = Outage.objects.get()
    Outage.objects.filter(pk=outage.pk).update(estimated_restoration_at=at(150), crew="Crew 7")
    ensure_reading_partitions(first=dt.date(2026, 3, 1), last=dt.date(2026, 3, 31))
    quiet, talking = net.under("S1F1T2")[:2]
    for point, hours_ago in ((quiet, 30), (talking, 2)):
        IntervalReading.objects.create(
            supply_point=point,
            interval_start=NOW - dt.timedelta(hours=hours_ago),
            duration_minutes=60,
            kwh_import=Decimal("0.400"),
            received_at=NOW,
        )

    html = staff_client_for("operations").get("/staff/outages/").content.decode()

    assert outage.reference in html
    assert "Transformer: S1F1T1" in html
    assert '<td class="num">2</td>' in html  # customers without supply
    assert '<td class="num">4 / 4</td>' in html  # supply points off / in the outage
    assert "1\xa0hour, 30\xa0minutes" in html  # age
    assert "10 Mar 12:30" in html  # estimate, local time
    assert "75%" in html  # confidence
    assert "Crew 7" in html
    assert "1 supply point sent readings in the last 30 days but none in the last 24 hours" in html
    assert quiet.external_id in html
    assert talking.external_id not in html
    assert "data-poll" in html


def test_dashboard_queries_do_not_grow_with_outages(
    staff_client_for: Callable[[str], Client],
    frozen: None,
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    net = build_network(feeders=3, transformers=3, points=4)
    for code in ("S1F1T1", "S1F2T1", "S1F3T1"):
        lose(net.under(code), T0)
    services.outages_detect(now=at(2))
    client = staff_client_for("operations")

    with django_assert_max_num_queries(12):
        response = client.get("/staff/outages/current/")
    assert response.content.decode().count("outage-badge-active") == 3


def test_staff_post_an_update_with_an_estimate_from_the_page(
    staff_client_for: Callable[[str], Client], outage: Outage
) -> None:
    client = staff_client_for("field_dispatcher")

    response = client.post(
        f"/staff/outages/{outage.pk}/update/",
        {
            "note": "Cable fault found.",
            "cause": "EQUIPMENT_FAILURE",
            "crew": "Crew 3",
            "estimated_restoration_at": "2026-03-10T13:15",  # Madrid time
        },
    )

    assert response.status_code == 302
    outage.refresh_from_db()
    assert outage.estimated_restoration_at == dt.datetime(2026, 3, 10, 12, 15, tzinfo=dt.UTC)
    assert (outage.cause, outage.crew) == ("EQUIPMENT_FAILURE", "Crew 3")
    entry = outage.updates.order_by("-id").first()
    assert entry is not None
    assert (entry.kind, entry.note, entry.actor_label) == (
        OutageUpdate.Kind.NOTE,
        "Cable fault found.",
        "staff:field_dispatcher@staff.example.com",
    )


def test_an_estimate_in_the_past_is_refused_with_the_field_named(
    staff_client_for: Callable[[str], Client], outage: Outage
) -> None:
    before = OutageUpdate.objects.count()

    response = staff_client_for("operations").post(
        f"/staff/outages/{outage.pk}/update/", {"estimated_restoration_at": "2026-03-10T09:00"}
    )

    assert response.status_code == 400
    assert "The estimated restoration must be in the future." in response.content.decode()
    assert OutageUpdate.objects.count() == before
    outage.refresh_from_db()
    assert outage.estimated_restoration_at is None


def test_staff_mark_an_outage_restored_from_the_page(
    staff_client_for: Callable[[str], Client], outage: Outage
) -> None:
    response = staff_client_for("operations").post(
        f"/staff/outages/{outage.pk}/restore/", {"at": "2026-03-10T11:00", "note": "All back."}
    )

    assert response.status_code == 302
    outage.refresh_from_db()
    assert (outage.status, outage.ended_at) == (
        Outage.Status.RESTORED,
        dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC),
    )
    assert not OutagePoint.objects.filter(restored_at__isnull=True).exists()


def test_staff_schedule_planned_work_from_the_page(
    staff_client_for: Callable[[str], Client], frozen: None
) -> None:
    net = build_network(feeders=1, transformers=1, points=2)

    response = staff_client_for("operations").post(
        "/staff/outages/planned/new/",
        {
            "node": f"TRANSFORMER:{net.transformers[0].pk}",
            "starts_at": "2026-03-12T09:00",
            "ends_at": "2026-03-12T11:00",
            "description": "Transformer maintenance.",
        },
    )

    planned = Outage.objects.get()
    assert response.status_code == 302
    assert (planned.kind, planned.status, planned.level) == (
        Outage.Kind.PLANNED,
        Outage.Status.SCHEDULED,
        Level.TRANSFORMER,
    )
    assert planned.started_at == dt.datetime(2026, 3, 12, 8, 0, tzinfo=dt.UTC)
    assert planned.planned_end_at == dt.datetime(2026, 3, 12, 10, 0, tzinfo=dt.UTC)


def test_reliability_page_and_csv_give_the_indices_of_the_stored_interruptions(
    staff_client_for: Callable[[str], Client], frozen: None
) -> None:
    """Ten connected supply points; on 10 March four meters of a five-point transformer
    report a loss: two are back after 30 minutes, one after 60 and one after 2 (momentary).
    The fifth, silent meter is inferred and closes with the last one (60 minutes).
    Sustained: 30 + 30 + 60 + 60 = 180 customer-minutes in 4 interruptions; 1 momentary.
    SAIDI = 180 / 10 = 18, SAIFI = 4 / 10 = 0.4, CAIDI = 180 / 4 = 45, MAIFI = 1 / 10 = 0.1.
    """
    net = build_network(feeders=1, transformers=2, points=5)
    a, b, c, d, _e = net.under("S1F1T1")
    lose([a, b, c, d], T0, step_s=0)
    restore([d], at(2))
    restore([a, b], at(30))
    restore([c], at(60))
    services.outages_detect(now=at(61))
    assert Outage.objects.get().status == Outage.Status.RESTORED
    make_point()  # a supply point not on the network map is not a customer of any area
    query = "start=2026-03-01&end=2026-03-31&area=all&include_planned=on"
    client = staff_client_for("operations")

    html = client.get(f"/staff/outages/reliability/?{query}").content.decode()
    assert "10 customers served" in html
    assert '<td class="num">18.0000</td>' in html

    response = client.get(f"/staff/outages/reliability.csv?{query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1] == [
        "Whole network",
        "2026-03-01",
        "2026-03-31",
        "all_days",
        "10",
        "4",
        "180.0000",
        "1",
        "18.0000",
        "0.4000",
        "45.0000",
        "0.1000",
    ]
    area = f"feeder:{net.feeders[0].pk}"
    by_feeder = client.get(f"/staff/outages/reliability.csv?{query.replace('all', area)}")
    assert list(csv.reader(io.StringIO(by_feeder.content.decode())))[1][8] == "18.0000"


def test_reliability_with_bad_dates_names_the_field(
    staff_client_for: Callable[[str], Client], frozen: None
) -> None:
    response = staff_client_for("operations").get(
        "/staff/outages/reliability.csv?start=2026-03-10&end=2026-03-01&area=all"
    )
    assert response.status_code == 400
    assert "end: The last day must not be before the first day." in response.content.decode()


def test_staff_confirm_or_cancel_a_suspected_outage_from_the_page(
    staff_client_for: Callable[[str], Client], customer: User, frozen: None
) -> None:
    net = build_network(feeders=1, transformers=1, points=2)
    home, neighbour = net.under("S1F1T1")
    account = supply(customer, home)
    reported = services.outage_report_create(
        user=customer, account=account, supply_point_id=home.pk, description="", now=at(1)
    ).outage
    client = staff_client_for("field_dispatcher")
    page = client.get(f"/staff/outages/{reported.pk}/").content.decode()
    assert "Confirm the outage" in page
    assert "Mark power restored" not in page

    response = client.post(
        f"/staff/outages/{reported.pk}/status/", {"to_status": "ACTIVE", "note": "Seen on site."}
    )

    assert response.status_code == 302
    reported.refresh_from_db()
    assert reported.status == Outage.Status.ACTIVE
    assert list(reported.points.values_list("supply_point_id", "lost_at", "source")) == [
        (home.pk, at(1), OutagePoint.Source.STAFF)
    ]
    again = client.post(f"/staff/outages/{reported.pk}/status/", {"to_status": "CANCELLED"})
    assert again.status_code == 400
    assert "cannot be set to cancelled by hand" in again.content.decode()
    reported.refresh_from_db()
    assert reported.status == Outage.Status.ACTIVE
    assert neighbour.pk not in set(reported.points.values_list("supply_point_id", flat=True))
