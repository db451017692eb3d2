"""The operations dashboard: exact figures on a small month of readings, and who may see it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import Customer, User
from apps.contracts.models import Contract
from apps.contracts.tests.factories import (
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
)
from apps.metering.models import IntervalReading, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.portal.ops_dashboard import SalesRow, ops_figures
from conftest import enable_totp, verified_client

pytestmark = pytest.mark.django_db

D = Decimal
TZ = ZoneInfo("Europe/Madrid")
NOW = dt.datetime(2026, 9, 15, 12, 0, tzinfo=TZ)
PAGE = "/staff/operations/"
FRAGMENT = "/staff/operations/figures/"


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def read(point: SupplyPoint, local: dt.datetime, kwh: str) -> None:
    IntervalReading.objects.create(
        supply_point=point,
        interval_start=local.astimezone(dt.UTC),
        duration_minutes=60,
        kwh_import=D(kwh),
        received_at=NOW,
    )


def at(day: int, hour: int, month: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=TZ)


@pytest.fixture
def month(customer: User) -> dict[str, SupplyPoint]:
    """Four supplied homes and shops, one meter without a contract, a switch on the 10th."""
    ensure_reading_partitions(first=dt.date(2026, 8, 1), last=dt.date(2026, 9, 30))
    flat = make_tariff("flat-24", name="Flat 24", rate="0.150000")
    tou = make_tariff("night", name="Night Saver", tou={"P1": "0.300000", "P2": "0.100000"})
    dynamic = make_tariff("market", name="Market Price", dynamic=("1", "0.010000"))
    home, shop, market, loose, quiet = (make_supply_point() for _ in range(5))
    ana = make_account(customer)
    shop_account = make_account(None, name="Taller SL", segment=Customer.Segment.SME)
    make_contract(account=ana, supply_point=home, tariff=flat, start_date=dt.date(2026, 1, 1))
    make_contract(
        account=shop_account,
        supply_point=shop,
        tariff=flat,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 9, 10),
        status=Contract.Status.ENDED,
    )
    make_contract(
        account=shop_account, supply_point=shop, tariff=tou, start_date=dt.date(2026, 9, 10)
    )
    make_contract(
        account=make_account(None, name="Carlos"),
        supply_point=market,
        tariff=dynamic,
        start_date=dt.date(2026, 1, 1),
    )
    make_contract(
        account=make_account(None, name="Quiet"),
        supply_point=quiet,
        tariff=flat,
        start_date=dt.date(2026, 1, 1),
    )
    make_contract(  # cancelled before it started: never counts
        account=make_account(None, name="Gone"),
        supply_point=loose,
        tariff=tou,
        start_date=dt.date(2026, 9, 1),
        status=Contract.Status.CANCELLED,
    )
    read(home, at(31, 23, month=8), "7.000")  # last month (21:00 UTC): not counted
    read(home, at(3, 10), "10.000")
    read(home, at(15, 0), "1.000")  # today from local midnight (22:00 UTC yesterday)
    read(home, at(15, 9), "1.000")
    read(shop, at(9, 12), "2.000")  # on the flat tariff, before the switch
    read(shop, at(10, 12), "5.000")
    read(shop, at(15, 8), "3.000")
    read(market, at(15, 8), "1.000")
    read(loose, at(15, 8), "0.500")
    read(quiet, at(13, 8), "4.000")  # more than 24 hours ago
    return {"home": home, "shop": shop, "market": market, "loose": loose, "quiet": quiet}


def rows(table: list[SalesRow]) -> list[tuple[str, ...]]:
    return [
        (
            r.label,
            str(r.kwh_today),
            str(r.revenue_today),
            str(r.unpriced_today),
            str(r.kwh_month),
            str(r.revenue_month),
            str(r.unpriced_month),
        )
        for r in table
    ]


def test_dashboard_figures_are_exact_on_a_small_month(month: dict[str, SupplyPoint]) -> None:
    figures = ops_figures(as_of=NOW.astimezone(dt.UTC))
    assert (figures.today, figures.month_start) == (dt.date(2026, 9, 15), dt.date(2026, 9, 1))
    no_contract = "No contract that day"
    assert rows(figures.by_tariff.rows) == [
        # label, kWh today, revenue today, unpriced today, kWh month, revenue month, unpriced
        ("Flat 24", "2.000", "0.30", "0.000", "18.000", "2.70", "0.000"),
        ("Market Price", "1.000", "0.00", "1.000", "1.000", "0.00", "1.000"),
        ("Night Saver", "3.000", "0.60", "0.000", "8.000", "1.60", "0.000"),
        (no_contract, "0.500", "0.00", "0.500", "0.500", "0.00", "0.500"),
    ]
    assert rows([figures.by_tariff.total]) == [
        ("", "6.500", "0.90", "1.500", "27.500", "4.30", "1.500")
    ]
    assert rows(figures.by_segment.rows) == [
        ("Residential", "3.000", "0.30", "1.000", "17.000", "2.40", "1.000"),
        ("Small business", "3.000", "0.60", "0.000", "10.000", "1.90", "0.000"),
        (no_contract, "0.500", "0.00", "0.500", "0.500", "0.00", "0.500"),
    ]
    assert rows([figures.by_segment.total]) == [
        ("", "6.500", "0.90", "1.500", "27.500", "4.30", "1.500")
    ]
    assert (figures.supplied, figures.reporting, figures.silent) == (4, 3, 1)
    assert figures.silent_sample == [month["quiet"].external_id]


def test_operations_staff_see_the_dashboard_and_its_refresh_fragment(
    month: dict[str, SupplyPoint], make_user: Callable[..., User], frozen: None
) -> None:
    client = verified_client(make_user("ops@staff.example.com", role="operations"))
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'hx-get="/staff/operations/figures/"' in html
    assert "data-poll" in html
    assert 'hx-trigger="every 60s, refresh"' in html
    assert "plain average of the energy rates" in html  # the estimate says what it is
    assert "<caption>Energy delivered and estimated revenue by tariff</caption>" in html
    assert '<th scope="row">Night Saver</th>' in html
    assert '<td class="num">27.500</td>' in html
    assert '<td class="num">4.30' in html
    assert month["quiet"].external_id in html
    fragment = client.get(FRAGMENT)
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode()
    assert '<th scope="row">Night Saver</th>' in fragment.content.decode()


@pytest.mark.parametrize("role", ["support_agent", "billing_specialist", "field_dispatcher"])
def test_other_staff_with_metering_view_permission_see_the_dashboard(
    role: str, make_user: Callable[..., User], frozen: None
) -> None:
    client = verified_client(make_user(f"{role}@staff.example.com", role=role))
    assert client.get(PAGE).status_code == 200


@pytest.mark.parametrize("path", [PAGE, FRAGMENT])
def test_customer_is_refused_the_dashboard(
    customer: User, other_customer: User, path: str, frozen: None
) -> None:
    assert verified_client(customer).get(path).status_code == 403
    without_second_factor = Client()
    without_second_factor.force_login(other_customer)
    assert without_second_factor.get(path).status_code == 403


@pytest.mark.parametrize("path", [PAGE, FRAGMENT])
def test_staff_without_a_second_factor_are_sent_to_set_one_up(
    make_user: Callable[..., User], path: str, frozen: None
) -> None:
    client = Client()
    client.force_login(make_user("ops@staff.example.com", role="operations"))
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/setup/?next=")


def test_staff_whose_session_has_not_given_the_code_are_asked_for_it(
    make_user: Callable[..., User], frozen: None
) -> None:
    user = make_user("ops@staff.example.com", role="operations")
    enable_totp(user)
    client = Client()
    client.force_login(user)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/verify/")


def test_staff_without_metering_permission_are_refused(
    make_user: Callable[..., User], frozen: None
) -> None:
    client = verified_client(make_user("reg@staff.example.com", role="regulator"))
    assert client.get(PAGE).status_code == 403


def test_visitors_are_sent_to_sign_in() -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


# -- the daily roll-up ------------------------------------------------------------------------


def _stored() -> list[tuple[object, ...]]:
    from apps.portal.models import SalesDay

    return list(
        SalesDay.objects.order_by("day", "tariff_name", "segment").values_list(
            "day", "tariff_name", "segment", "kwh", "revenue", "unpriced_kwh"
        )
    )


def test_finished_days_are_summed_once_and_then_read_from_the_roll_up(
    month: dict[str, SupplyPoint],
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.portal.models import SalesDayComputed

    as_of = NOW.astimezone(dt.UTC)
    first = ops_figures(as_of=as_of)
    # Every finished day of the month is summed, also the days without readings.
    assert list(SalesDayComputed.objects.order_by("day").values_list("day", flat=True)) == [
        dt.date(2026, 9, day) for day in range(1, 15)
    ]
    assert _stored() == [
        (dt.date(2026, 9, 3), "Flat 24", "RESIDENTIAL", D("10.000"), D("1.5"), D("0.000")),
        (dt.date(2026, 9, 9), "Flat 24", "SME", D("2.000"), D("0.3"), D("0.000")),
        (dt.date(2026, 9, 10), "Night Saver", "SME", D("5.000"), D("1.0"), D("0.000")),
        (dt.date(2026, 9, 13), "Flat 24", "RESIDENTIAL", D("4.000"), D("0.6"), D("0.000")),
    ]
    with CaptureQueriesContext(connection) as queries:
        again = ops_figures(as_of=as_of + dt.timedelta(minutes=1))
    read_readings = [q["sql"] for q in queries if "metering_intervalreading" in q["sql"]]
    # Only today's figures and the reporting count read the readings now (once a minute).
    assert len(read_readings) == 2
    assert rows(again.by_tariff.rows) == rows(first.by_tariff.rows)
    assert rows([again.by_segment.total]) == rows([first.by_segment.total])


def test_recent_days_take_in_late_readings_and_older_days_need_the_command(
    month: dict[str, SupplyPoint],
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from apps.portal.ops_dashboard import sales_days_refresh

    as_of = NOW.astimezone(dt.UTC)
    ops_figures(as_of=as_of)
    read(month["home"], at(14, 9), "2.000")  # yesterday: within the recent days
    read(month["home"], at(2, 9), "3.000")  # two weeks ago: settled
    assert sales_days_refresh(today=dt.date(2026, 9, 15), now=as_of) == 3
    figures = ops_figures(as_of=as_of)
    assert rows([figures.by_tariff.total]) == [
        ("", "6.500", "0.90", "1.500", "29.500", "4.60", "1.500")
    ]
    out = StringIO()
    call_command("sum_sales_days", "--from", "2026-09-01", "--to", "2026-09-02", stdout=out)
    assert out.getvalue().strip() == "Summed 2 days, 2026-09-01 to 2026-09-02."
    figures = ops_figures(as_of=as_of)
    assert rows([figures.by_tariff.total]) == [
        ("", "6.500", "0.90", "1.500", "32.500", "5.05", "1.500")
    ]
    before = _stored()
    call_command("sum_sales_days", "--from", "2026-09-01", "--to", "2026-09-14", stdout=out)
    assert _stored() == before  # summing again with the same readings changes nothing


def test_the_command_refuses_days_that_are_not_finished(frozen: None) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="only finished days"):
        call_command("sum_sales_days", "--from", "2026-09-14", "--to", "2026-09-15")
    with pytest.raises(CommandError, match="before the first"):
        call_command("sum_sales_days", "--from", "2026-09-10", "--to", "2026-09-09")
    with pytest.raises(CommandError, match="is not a date"):
        call_command("sum_sales_days", "--from", "14/09/2026")


def test_a_look_sums_only_the_days_still_missing(month: dict[str, SupplyPoint]) -> None:
    from apps.portal.models import SalesDayComputed
    from apps.portal.ops_dashboard import sales_days_sum

    as_of = NOW.astimezone(dt.UTC)
    ops_figures(as_of=as_of)
    SalesDayComputed.objects.filter(day=dt.date(2026, 9, 3)).delete()
    read(month["quiet"], at(13, 9), "1.000")  # day 13 stays as summed: it is not missing
    stored = _stored()

    assert (
        sales_days_sum(
            first=dt.date(2026, 9, 1), end=dt.date(2026, 9, 15), now=as_of, missing_only=True
        )
        == 1
    )
    assert _stored() == stored
    assert SalesDayComputed.objects.filter(day=dt.date(2026, 9, 3)).exists()
    assert (
        sales_days_sum(
            first=dt.date(2026, 9, 1), end=dt.date(2026, 9, 15), now=as_of, missing_only=True
        )
        == 0
    )
