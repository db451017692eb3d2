"""The customer's outage page: status at their addresses, reports, and nothing of anyone else's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import User
from apps.metering.models import SupplyPoint
from apps.outages import services
from apps.outages.models import Level, Outage, OutageReport
from apps.outages.tests.factories import Net, build_network, lose, restore, supply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)  # 10:00 in Madrid
PAGE = "/outages/"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(at(10), tick=False) as traveller:
        yield traveller


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def net() -> Net:
    return build_network(feeders=2, transformers=2, points=4)


def detect(minutes: float, capture: Callable[..., Any]) -> None:
    with capture(execute=True):
        services.outages_detect(now=at(minutes))


def test_customer_sees_at_once_that_a_known_outage_affects_their_address(
    customer: User,
    make_user: Callable[..., User],
    net: Net,
    frozen: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    home = net.under("S1F1T1")[3]
    supply(customer, home)
    lose(net.under("S1F1T1")[:3], T0)  # the customer's own meter stays silent
    detect(2, django_capture_on_commit_callbacks)
    outage = Outage.objects.get()
    services.outage_post_update(
        outage_id=outage.pk,
        actor=make_user("ops@staff.example.com", role="operations"),
        now=at(5),
        note="A crew is on its way.",
        crew="Crew 7",
        estimated_restoration_at=at(150),  # 12:30 in Madrid
    )

    response = client_for(customer).get(PAGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Yes: a known power cut affects at least one of your addresses." in html
    assert str(home.premise.address) in html
    assert outage.reference in html
    assert "Power cut in progress" in html
    assert "10 Mar 2026 12:30" in html  # the estimate, in local time
    assert "A crew is on its way." in html
    assert "Crew 7" not in html  # crew names are for staff
    assert 'hx-get="/outages/status/"' in html
    assert 'hx-trigger="every 60s, refresh"' in html
    assert "data-poll" in html
    assert "style=" not in html
    assert "<script>" not in html

    fragment = client_for(customer).get("/outages/status/")
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode()
    assert "10 Mar 2026 12:30" in fragment.content.decode()


def test_customer_with_no_outage_is_told_so_and_offered_the_report_form(
    customer: User, net: Net, frozen: Any
) -> None:
    supply(customer, net.under("S1F1T1")[0])
    lose(net.under("S1F2T1"), T0)  # someone else's transformer
    services.outages_detect(now=at(2))

    html = client_for(customer).get(PAGE).content.decode()

    assert "No known power cut affects your addresses." in html
    assert "Report a power cut" in html
    assert Outage.objects.get().reference not in html


def test_customer_is_told_when_power_came_back(
    customer: User, net: Net, frozen: Any, django_capture_on_commit_callbacks: Any
) -> None:
    points = net.under("S1F1T1")
    supply(customer, points[0])
    lose(points, T0)
    restore(points, at(8))
    detect(9, django_capture_on_commit_callbacks)

    html = client_for(customer).get(PAGE).content.decode()

    assert "No known power cut affects your addresses." in html
    assert (
        "Power came back at 10 Mar 2026 10:08 after a cut that began at 10 Mar 2026 10:00." in html
    )


def test_customer_reports_no_power_and_a_suspected_outage_opens(
    customer: User, net: Net, frozen: Any
) -> None:
    home = net.under("S1F1T1")[0]
    supply(customer, home)

    response = client_for(customer).post(
        "/outages/report/", {"supply_point": home.pk, "description": "The whole street is dark."}
    )

    report = OutageReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/outages/reports/{report.pk}/"
    outage = report.outage
    assert (outage.status, outage.level, outage.supply_point_id) == (
        Outage.Status.SUSPECTED,
        Level.SUPPLY_POINT,
        home.pk,
    )
    assert (report.user_id, report.description) == (customer.pk, "The whole street is dark.")
    detail = client_for(customer).get(response["Location"]).content.decode()
    assert "Reported, being checked" in detail
    assert "The whole street is dark." in detail
    page = client_for(customer).get(PAGE).content.decode()
    assert "Yes: a known power cut affects at least one of your addresses." in page
    assert "Our meters have not confirmed it yet" in page


def test_a_report_joins_the_outage_already_known_there(
    customer: User, net: Net, frozen: Any
) -> None:
    points = net.under("S1F1T1")
    supply(customer, points[0])
    lose(points[1:], T0)
    services.outages_detect(now=at(2))
    known = Outage.objects.get()

    client = client_for(customer)
    first = client.post("/outages/report/", {"supply_point": points[0].pk})
    second = client.post("/outages/report/", {"supply_point": points[0].pk})

    assert Outage.objects.count() == 1
    report = OutageReport.objects.get()
    assert report.outage_id == known.pk
    assert first["Location"] == second["Location"] == f"/outages/reports/{report.pk}/"


def test_customer_cannot_report_for_an_address_that_is_not_theirs(
    customer: User, other_customer: User, net: Net, frozen: Any
) -> None:
    supply(customer, net.under("S1F1T1")[0])
    theirs = net.under("S1F2T1")[0]
    supply(other_customer, theirs, name="Bruno")

    response = client_for(customer).post("/outages/report/", {"supply_point": theirs.pk})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert (Outage.objects.count(), OutageReport.objects.count()) == (0, 0)


def test_another_customers_outage_and_report_are_not_found(
    customer: User, other_customer: User, net: Net, frozen: Any
) -> None:
    mine, theirs = net.under("S1F1T1")[0], net.under("S1F2T1")[0]
    my_account = supply(customer, mine)
    their_account = supply(other_customer, theirs, name="Bruno")
    their_report = services.outage_report_create(
        user=other_customer,
        account=their_account,
        supply_point_id=theirs.pk,
        description="x",
        now=at(1),
    )
    my_report = services.outage_report_create(
        user=customer, account=my_account, supply_point_id=mine.pk, description="", now=at(2)
    )
    client = client_for(customer)

    assert client.get(f"/outages/{their_report.outage.pk}/").status_code == 404
    assert client.get(f"/outages/reports/{their_report.report.pk}/").status_code == 404
    assert client.get("/outages/999999/").status_code == 404
    assert client.get(f"/outages/{my_report.outage.pk}/").status_code == 200
    assert client.get(f"/outages/reports/{my_report.report.pk}/").status_code == 200
    html = client.get(PAGE).content.decode()
    assert their_report.outage.reference not in html


def test_customer_sees_an_outage_above_their_address_but_not_one_on_another_feeder(
    customer: User, net: Net, frozen: Any
) -> None:
    home = net.under("S1F1T2")[0]
    supply(customer, home)
    # 5 of feeder 1's 8 points (a feeder outage) and 2 of transformer S1F2T2's 4: 7 of the
    # substation's 16, under half, so the two stay apart.
    lose(net.under("S1F1T1") + net.under("S1F1T2")[1:2], T0)
    lose(net.under("S1F2T2")[:2], T0)
    services.outages_detect(now=at(2))
    feeder_outage = Outage.objects.get(level=Level.FEEDER)
    other = Outage.objects.get(level=Level.TRANSFORMER)

    client = client_for(customer)
    assert client.get(f"/outages/{feeder_outage.pk}/").status_code == 200
    assert client.get(f"/outages/{other.pk}/").status_code == 404


def test_planned_work_is_shown_ahead(
    customer: User, make_user: Callable[..., User], net: Net, frozen: Any
) -> None:
    supply(customer, net.under("S1F1T1")[0])
    services.planned_outage_create(
        level=Level.FEEDER,
        node_id=net.feeders[0].pk,
        starts_at=at(60 * 24 * 2),
        ends_at=at(60 * 24 * 2 + 90),
        description="New cable under Calle Mayor.",
        actor=make_user("ops@staff.example.com", role="operations"),
        now=at(10),
    )

    html = client_for(customer).get(PAGE).content.decode()

    assert "Planned maintenance" in html
    assert "From 12 Mar 2026 10:00 to 12 Mar 2026 11:30: New cable under Calle Mayor." in html


def test_visitors_must_sign_in(client: Client) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_the_page_reads_a_bounded_number_of_queries(
    customer: User,
    net: Net,
    frozen: Any,
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    homes: list[SupplyPoint] = [net.under("S1F1T1")[0], net.under("S1F2T1")[0]]
    from apps.contracts.tests.factories import make_contract

    account = supply(customer, homes[0])
    make_contract(
        account=account,
        supply_point=homes[1],
        tariff=account.contracts.first().tariff,  # type: ignore[union-attr]
        start_date=dt.date(2025, 1, 1),
    )
    lose(net.under("S1F1T1"), T0)
    services.outages_detect(now=at(2))
    client = client_for(customer)

    with django_assert_max_num_queries(30):
        response = client.get(PAGE)
    assert response.content.decode().count("outage-premise ") == 2
