"""Customer usage pages: charts and tables, DST days, cost so far, insights, downloads, scope."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import Account, Address, User
from apps.accounts.services import customer_create_with_account
from apps.contracts.models import Contract, ContractDiscount
from apps.contracts.selectors import rating_discounts
from apps.metering import espi
from apps.metering.identifiers import make_cups
from apps.metering.ingestion import csv_candidates, ingest_candidates
from apps.metering.models import IntervalReading, Premise, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.tariffs import rating
from apps.tariffs.models import EnergyRate, MarketPrice, PriceVersion, Tariff, TaxRate
from apps.tariffs.selectors import rating_versions, tariffs_with_prices

pytestmark = pytest.mark.django_db
UTC = dt.UTC
MADRID = ZoneInfo("Europe/Madrid")
NOW = dt.datetime(2026, 10, 26, 12, 7, tzinfo=MADRID)  # Monday after the fall-back Sunday
KWH = Decimal("0.001")
_numbers = iter(range(1, 10_000))

# Spanish 2.0TD-like periods: weekdays P1 10-14 and 18-22, P2 8-10, 14-18, 22-24, P3 at night;
# weekends and holidays all P3.
_WEEKDAY = ["P3"] * 8 + ["P2"] * 2 + ["P1"] * 4 + ["P2"] * 4 + ["P1"] * 4 + ["P2"] * 2
_WEEKEND = ["P3"] * 24


@pytest.fixture(autouse=True)
def frozen_now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MADRID)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=MADRID).astimezone(UTC)


def make_supply_point() -> SupplyPoint:
    number = next(_numbers)
    address = Address.objects.create(line1=f"Calle Luna {number}", postcode="28004", city="Madrid")
    return SupplyPoint.objects.create(
        external_id=make_cups(31, 700 + number),
        premise=Premise.objects.create(address=address),
        contracted_power_kw=Decimal("9.2"),
    )


def account_for(user: User, *, billing_day: int = 1) -> Account:
    return customer_create_with_account(
        name=user.email.split("@")[0].title(),
        email=user.email,
        line1="Calle Luna 1",
        postcode="28004",
        city="Madrid",
        billing_day=billing_day,
        owner=user,
        actor=None,
    )


def flat_tariff(code: str = "flat") -> Tariff:
    tariff = Tariff.objects.create(code=code, name=f"Tariff {code}")
    version = PriceVersion.objects.create(
        tariff=tariff,
        valid_from=dt.date(2024, 1, 1),
        energy_kind=PriceVersion.EnergyKind.FLAT,
        standing_charge_per_day=Decimal("0.120000"),
    )
    EnergyRate.objects.create(version=version, period="ALL", rate=Decimal("0.150000"))
    return tariff


def tou_tariff() -> Tariff:
    tariff = Tariff.objects.create(code="tou", name="Time of use")
    version = PriceVersion.objects.create(
        tariff=tariff,
        valid_from=dt.date(2024, 1, 1),
        energy_kind=PriceVersion.EnergyKind.TIME_OF_USE,
        standing_charge_per_day=Decimal("0.104000"),
        weekday_schedule=[_WEEKDAY] * 12,
        weekend_schedule=[_WEEKEND] * 12,
        export_rate=Decimal("0.060000"),
    )
    for period, name, price in (
        ("P1", "Peak", "0.231000"),
        ("P2", "Standard", "0.152000"),
        ("P3", "Off-peak", "0.091000"),
    ):
        EnergyRate.objects.create(
            version=version, period=period, period_name=name, rate=Decimal(price)
        )
    TaxRate.objects.create(
        version=version,
        position=1,
        code="IEE",
        name="Electricity tax",
        rate_percent=Decimal("5.11269632"),
        base=["ENERGY", "STANDING_CHARGE"],
    )
    TaxRate.objects.create(
        version=version,
        position=2,
        code="VAT",
        name="VAT",
        rate_percent=Decimal("21"),
        base=["ENERGY", "STANDING_CHARGE", "EXPORT_CREDIT", "DISCOUNT", "IEE"],
    )
    return tariff


def dynamic_tariff() -> Tariff:
    tariff = Tariff.objects.create(code="dyn", name="Dynamic")
    PriceVersion.objects.create(
        tariff=tariff,
        valid_from=dt.date(2024, 1, 1),
        energy_kind=PriceVersion.EnergyKind.DYNAMIC,
        standing_charge_per_day=Decimal("0.1"),
        dynamic_factor=Decimal("1.1"),
        dynamic_margin=Decimal("0.02"),
    )
    return tariff


def contract_for(
    account: Account,
    supply_point: SupplyPoint,
    tariff: Tariff,
    *,
    start: dt.date = dt.date(2025, 1, 1),
    end: dt.date | None = None,
    status: str = Contract.Status.ACTIVE,
) -> Contract:
    return Contract.objects.create(
        number=f"C{next(_numbers):07d}",
        account=account,
        supply_point=supply_point,
        tariff=tariff,
        start_date=start,
        end_date=end,
        status=status,
    )


def varying(at: dt.datetime) -> Decimal:
    return (Decimal((at.hour * 7 + at.minute + at.day * 3) % 97) + 1) * KWH


def store(
    sp: SupplyPoint,
    start: dt.datetime,
    end: dt.datetime,
    *,
    minutes: int = 15,
    kwh: Callable[[dt.datetime], Decimal] = varying,
    export: Callable[[dt.datetime], Decimal] = lambda at: Decimal(0),
    quality: Callable[[dt.datetime], str] = lambda at: "ACTUAL",
) -> list[IntervalReading]:
    ensure_reading_partitions(first=start.astimezone(UTC).date(), last=end.astimezone(UTC).date())
    rows = []
    at = start.astimezone(UTC)
    while at < end:
        rows.append(
            IntervalReading(
                supply_point=sp,
                interval_start=at,
                duration_minutes=minutes,
                kwh_import=kwh(at),
                kwh_export=export(at),
                quality=quality(at),
                source="test",
                received_at=at,
            )
        )
        at += dt.timedelta(minutes=minutes)
    IntervalReading.objects.bulk_create(rows, batch_size=5000)
    return rows


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def home(customer: User) -> tuple[Account, SupplyPoint, Contract]:
    account = account_for(customer)
    supply_point = make_supply_point()
    return account, supply_point, contract_for(account, supply_point, tou_tariff())


def page(client: Client, supply_point: SupplyPoint, query: str = ""):  # type: ignore[no-untyped-def]
    response = client.get(f"/my/usage/{supply_point.pk}/{query}")
    assert response.status_code == 200, response.content[:500]
    return response


# -- the page ----------------------------------------------------------------------------------


def test_customer_sees_their_supply_points_listed_with_links(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    response = signed_in(customer).get("/my/usage/")
    assert response.status_code == 200
    assert f'href="/my/usage/{supply_point.pk}/"' in response.content.decode()


def test_customer_sees_today_30_days_and_13_months_as_charts_and_tables(
    customer: User,
    home,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    store(supply_point, local(2025, 9, 1), NOW, minutes=60)

    response = page(signed_in(customer), supply_point)

    day, days, months = response.context["series"]
    assert [s.key for s in (day, days, months)] == ["day", "days", "months"]
    assert len(day.rows) == 13  # 00:00 to 12:00, the hours that have started
    assert len(days.rows) == 30
    assert days.rows[-1].label == "Mon 26 Oct 2026"
    assert len(months.rows) == 13
    assert [months.rows[0].label, months.rows[-1].label] == ["October 2025", "October 2026"]
    html = response.content.decode()
    for key in ("day", "days", "months"):
        assert f'data-chart="usage-{key}-data"' in html
        assert f'<script id="usage-{key}-data" type="application/json">' in html
    assert html.count('role="img"') == 3
    assert html.count("<caption>") >= 4
    assert (
        'aria-label="Bar chart of electricity used per day over the last 30 days: 30 days' in html
    )
    assert "vendor/uplot-1.6.32/uPlot.iife.min.js" in html
    assert " style=" not in html  # CSP: no inline styles
    assert "<script>" not in html  # CSP: no inline scripts
    assert "Content-Security-Policy" in response.headers
    october = {row.label: row for row in months.rows}["October 2026"]
    expected = sum(
        (
            r.kwh_import
            for r in IntervalReading.objects.filter(
                supply_point=supply_point, interval_start__gte=local(2026, 10, 1)
            )
        ),
        Decimal(0),
    )
    assert october.kwh_import == expected


def test_spring_forward_day_shows_23_hours_and_the_right_total(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    rows = store(supply_point, local(2026, 3, 29), local(2026, 3, 30))

    response = page(signed_in(customer), supply_point, "?day=2026-03-29")

    day = response.context["series"][0]
    assert len(day.rows) == 23
    assert [row.label for row in day.rows[:3]] == ["00:00", "01:00", "03:00"]
    assert day.total_import == sum((r.kwh_import for r in rows), Decimal(0))
    assert len(day.chart["labels"]) == 23
    assert response.context["can_detail"] is True
    detail = page(signed_in(customer), supply_point, "?day=2026-03-29&resolution=15")
    assert len(detail.context["series"][0].rows) == 92


def test_fall_back_day_shows_25_hours_and_the_right_total(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    rows = store(supply_point, local(2026, 10, 25), local(2026, 10, 26))

    response = page(signed_in(customer), supply_point, "?day=2026-10-25")

    day = response.context["series"][0]
    assert len(day.rows) == 25
    assert [row.label for row in day.rows[1:5]] == ["01:00", "02:00 CEST", "02:00 CET", "03:00"]
    assert day.total_import == sum((r.kwh_import for r in rows), Decimal(0))
    days = {row.label: row for row in response.context["series"][1].rows}
    assert days["Sun 25 Oct 2026"].kwh_import == day.total_import
    html = response.content.decode()
    assert '<th scope="row">02:00 CET</th>' in html


def test_a_future_day_is_refused_with_a_message(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    response = page(signed_in(customer), supply_point, "?day=2026-10-27")
    assert response.context["day"] == dt.date(2026, 10, 26)
    assert "Choose today or an earlier day." in response.content.decode()


def test_estimated_readings_are_flagged_in_the_tables(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    store(
        supply_point,
        local(2026, 10, 26),
        NOW,
        minutes=60,
        quality=lambda at: "ESTIMATED" if at.astimezone(MADRID).hour == 3 else "ACTUAL",
    )
    response = page(signed_in(customer), supply_point)
    day = response.context["series"][0]
    assert [row.estimated for row in day.rows[2:5]] == [0, 1, 0]
    assert "1 estimated" in response.content.decode()


def test_export_is_shown_only_for_solar_customers(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    store(supply_point, local(2026, 10, 20), NOW, minutes=60)
    html = page(signed_in(customer), supply_point).content.decode()
    assert '<th scope="col" class="num">Exported (kWh)</th>' not in html
    assert "Exported (solar)" not in html

    store(
        supply_point,
        local(2026, 9, 1),
        local(2026, 9, 2),
        minutes=60,
        export=lambda at: Decimal("0.400") if 11 <= at.hour < 15 else Decimal(0),
    )
    response = page(signed_in(customer), supply_point)
    assert response.context["solar"] is True
    html = response.content.decode()
    assert '<th scope="col" class="num">Exported (kWh)</th>' in html
    september = {row.label: row for row in response.context["series"][2].rows}["September 2026"]
    assert september.kwh_export == Decimal("1.600")


def test_month_so_far_is_compared_with_the_same_days_last_month_and_last_year(
    customer: User,
    home,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    one = lambda at: Decimal("1.000")  # noqa: E731
    half = lambda at: Decimal("0.500")  # noqa: E731
    store(supply_point, local(2025, 10, 1), local(2025, 11, 1), minutes=60, kwh=half)
    store(supply_point, local(2026, 9, 1), local(2026, 10, 1), minutes=60, kwh=one)
    store(supply_point, local(2026, 10, 1), local(2026, 10, 26, 9), minutes=60, kwh=one)

    rows = page(signed_in(customer), supply_point).context["comparisons"]

    this_month, last_month, last_year = rows
    # 1 Oct 00:00 to 26 Oct 09:00 local: 25 days + 9 hours, plus the repeated hour of 25 Oct.
    assert this_month.kwh == Decimal("610.000")
    assert last_month.kwh == Decimal("609.000")  # 1 Sep to 26 Sep 09:00
    assert last_month.change_kwh == Decimal("1.000")
    assert last_month.change_percent == Decimal("0.2")
    assert last_year.kwh == Decimal("305.000")  # 2025's fall-back night (26 Oct) is inside too
    assert last_year.change_percent == Decimal("100.0")
    assert last_month.label == "1 Sep to 26 Sep 2026, 09:00"


def test_cost_so_far_equals_a_direct_rating_engine_call(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, contract = home
    ContractDiscount.objects.create(
        contract=contract,
        kind=ContractDiscount.Kind.ENERGY_PERCENT,
        value=Decimal("10"),
        valid_from=dt.date(2026, 1, 1),
        label="Welcome",
    )
    rows = store(
        supply_point,
        local(2026, 9, 28),
        NOW,
        export=lambda at: Decimal("0.050") if 10 <= at.hour < 14 else Decimal(0),
    )

    cost = page(signed_in(customer), supply_point).context["cost"]

    tariff = tariffs_with_prices().get(pk=contract.tariff_id)
    expected = rating.rate(
        versions=rating_versions(tariff),
        intervals=[
            rating.Interval(r.interval_start, r.duration_minutes, r.kwh_import, r.kwh_export)
            for r in rows
        ],
        period_start=midnight(dt.date(2026, 10, 1)),
        period_end=midnight(dt.date(2026, 10, 27)),
        tz=MADRID,
        discounts=rating_discounts(contract=contract, tz=MADRID),
    )
    assert (cost.first_day, cost.last_day) == (dt.date(2026, 10, 1), dt.date(2026, 10, 26))
    assert cost.total == expected.total
    assert cost.total > 0
    assert cost.taxes == expected.amount_of(rating.TAX)
    assert cost.kwh_import == expected.kwh_import_total
    assert cost.kwh_export == expected.kwh_export_total
    assert cost.problem == ""
    html = page(signed_in(customer), supply_point).content.decode()
    assert "Estimated cost so far" in html
    assert f"{expected.total} EUR" in html


def test_billing_period_starts_on_the_accounts_billing_day(customer: User) -> None:
    account = account_for(customer, billing_day=28)
    supply_point = make_supply_point()
    contract_for(account, supply_point, flat_tariff())
    rows = store(supply_point, local(2026, 9, 27), NOW, minutes=60, kwh=lambda at: KWH * 100)

    cost = page(signed_in(customer), supply_point).context["cost"]

    assert (cost.first_day, cost.last_day) == (dt.date(2026, 9, 28), dt.date(2026, 10, 26))
    in_period = [r for r in rows if r.interval_start >= midnight(dt.date(2026, 9, 28))]
    assert cost.kwh_import == sum((r.kwh_import for r in in_period), Decimal(0))
    # 29 days of standing charge at 0.12 plus energy at 0.15/kWh, no taxes on this tariff.
    energy = (cost.kwh_import * Decimal("0.15")).quantize(Decimal("0.01"))
    assert cost.total == energy + Decimal("3.48")


def test_dynamic_tariff_without_published_prices_says_the_cost_cannot_be_estimated(
    customer: User,
) -> None:
    account = account_for(customer)
    supply_point = make_supply_point()
    contract_for(account, supply_point, dynamic_tariff())
    store(supply_point, local(2026, 10, 1), NOW, minutes=60)
    MarketPrice.objects.create(starts_at=local(2026, 10, 1), price_per_kwh=Decimal("0.08"))

    response = page(signed_in(customer), supply_point)

    cost = response.context["cost"]
    assert cost.total is None
    assert "can't be estimated yet" in cost.problem
    html = response.content.decode()
    assert "some of those prices are not published yet" in html
    assert "follows the hourly market price, so there are no fixed" in html


def test_dynamic_tariff_with_prices_is_estimated(customer: User) -> None:
    account = account_for(customer)
    supply_point = make_supply_point()
    contract_for(account, supply_point, dynamic_tariff())
    store(
        supply_point,
        local(2026, 10, 26),
        local(2026, 10, 26, 2),
        minutes=60,
        kwh=lambda at: Decimal(1),
    )
    hour = midnight(dt.date(2026, 10, 1))
    MarketPrice.objects.bulk_create(
        MarketPrice(starts_at=hour + dt.timedelta(hours=h), price_per_kwh=Decimal("0.1"))
        for h in range(26 * 24 + 1)
    )
    cost = page(signed_in(customer), supply_point).context["cost"]
    # 26 days x 0.1 standing + 2 kWh x (0.1 x 1.1 + 0.02).
    assert cost.total == Decimal("2.60") + Decimal("0.26")


# -- insights ----------------------------------------------------------------------------------


def test_insights_show_baseload_peak_hours_and_time_of_use_shares(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home

    def kwh(at: dt.datetime) -> Decimal:
        hour = at.astimezone(MADRID).hour
        if 1 <= hour < 5:
            return Decimal("0.150")
        return {19: Decimal("2.000"), 20: Decimal("1.500"), 21: Decimal("1.200")}.get(
            hour, Decimal("0.400")
        )

    rows = store(supply_point, local(2026, 9, 20), NOW, minutes=60, kwh=kwh)

    response = page(signed_in(customer), supply_point)

    insights = response.context["insights"]
    assert (insights.first_day, insights.last_day) == (dt.date(2026, 9, 26), dt.date(2026, 10, 25))
    assert insights.baseload_w == Decimal(150)
    assert [label for label, _kwh in insights.peak_hours] == [
        "19:00–20:00",
        "20:00–21:00",
        "21:00–22:00",
    ]
    window = [
        r
        for r in rows
        if midnight(dt.date(2026, 9, 26)) <= r.interval_start < midnight(dt.date(2026, 10, 26))
    ]
    expected: dict[str, Decimal] = {}
    for r in window:
        moment = r.interval_start.astimezone(MADRID)
        period = _WEEKEND[moment.hour] if moment.weekday() >= 5 else _WEEKDAY[moment.hour]
        expected[period] = expected.get(period, Decimal(0)) + r.kwh_import
    total = sum(expected.values(), Decimal(0))
    shares = {share.name: share for share in insights.tou_shares}
    assert {name: share.kwh for name, share in shares.items()} == {
        "Peak": expected["P1"],
        "Standard": expected["P2"],
        "Off-peak": expected["P3"],
    }
    assert shares["Peak"].percent == (expected["P1"] * 100 / total).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    html = response.content.decode()
    assert "About <strong>150 W</strong> runs all the time" in html


def test_flat_tariff_says_there_are_no_time_of_use_periods(customer: User) -> None:
    account = account_for(customer)
    supply_point = make_supply_point()
    contract_for(account, supply_point, flat_tariff())
    store(supply_point, local(2026, 10, 20), NOW, minutes=60)
    response = page(signed_in(customer), supply_point)
    assert response.context["insights"].tou_shares == []
    assert "same price at every hour" in response.content.decode()


# -- live fragment -----------------------------------------------------------------------------


def test_live_fragment_shows_latest_reading_and_todays_total_and_polls_only_when_visible(
    customer: User,
    home,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    rows = store(supply_point, local(2026, 10, 25, 20), local(2026, 10, 26, 11, 45))

    response = signed_in(customer).get(
        f"/my/usage/{supply_point.pk}/live/", headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 60s, refresh"' in html
    assert "data-poll" in html  # static/js/wattline.js pauses polling while the tab is hidden
    assert "<html" not in html
    today = [r for r in rows if r.interval_start >= midnight(dt.date(2026, 10, 26))]
    assert response.context["today_totals"].kwh_import == sum(
        (r.kwh_import for r in today), Decimal(0)
    )
    latest = response.context["latest"]
    assert latest.start == local(2026, 10, 26, 11, 30).astimezone(UTC)
    assert "26 Oct 2026 11:30" in html
    assert "11:45" in html


# -- downloads ---------------------------------------------------------------------------------


def test_csv_download_round_trips_through_the_importer(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    store(
        supply_point,
        local(2026, 10, 24),
        local(2026, 10, 26),
        export=lambda at: Decimal("0.010") if at.hour == 11 else Decimal(0),
        quality=lambda at: "ESTIMATED" if at.minute == 45 and at.hour == 3 else "ACTUAL",
    )

    response = signed_in(customer).get(
        f"/my/usage/{supply_point.pk}/download.csv?start=2026-10-24&end=2026-10-25"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="usage-{supply_point.external_id}-2026-10-24-2026-10-25.csv"'
    )
    text = b"".join(response.streaming_content).decode()
    lines = text.splitlines()
    assert lines[0] == "supply_point,interval_start,duration_minutes,kwh_import,kwh_export,quality"
    assert len(lines) == 1 + 96 + 100
    assert lines[1].startswith(f"{supply_point.external_id},2026-10-24T00:00:00+02:00,15,")

    fresh = make_supply_point()
    report = ingest_candidates(
        csv_candidates(io.StringIO(text.replace(supply_point.external_id, fresh.external_id))),
        source="CSV",
        strict=True,
    )
    assert (report.inserted, report.invalid) == (196, 0)

    def values(sp: SupplyPoint) -> list[tuple[object, ...]]:
        return list(
            IntervalReading.objects.filter(
                supply_point=sp, interval_start__lt=midnight(dt.date(2026, 10, 26))
            )
            .order_by("interval_start")
            .values_list(
                "interval_start", "duration_minutes", "kwh_import", "kwh_export", "quality"
            )
        )

    assert values(fresh) == values(supply_point)


def test_green_button_download_validates_and_round_trips_through_the_importer(
    customer: User,
    home,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    store(
        supply_point,
        local(2026, 10, 24),
        local(2026, 10, 26),
        export=lambda at: Decimal("0.010") if at.hour == 11 else Decimal(0),
        quality=lambda at: "ESTIMATED" if at.minute == 45 and at.hour == 3 else "ACTUAL",
    )

    response = signed_in(customer).get(
        f"/my/usage/{supply_point.pk}/download.xml?start=2026-10-24&end=2026-10-25"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="greenbutton-{supply_point.external_id}-2026-10-24-2026-10-25.xml"'
    )
    feed = b"".join(response.streaming_content)
    espi.validate_espi_feed(feed)
    fresh = make_supply_point()
    report = espi.espi_import(source=feed, supply_point=fresh.external_id, strict=True)
    assert (report.inserted, report.invalid) == (196, 0)

    def values(sp: SupplyPoint) -> list[tuple[object, ...]]:
        return list(
            IntervalReading.objects.filter(
                supply_point=sp, interval_start__lt=midnight(dt.date(2026, 10, 26))
            )
            .order_by("interval_start")
            .values_list(
                "interval_start", "duration_minutes", "kwh_import", "kwh_export", "quality"
            )
        )

    assert values(fresh) == values(supply_point)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            "start=2026-10-20&end=2026-10-19",
            "end",
            "The last day must be the same as or after the first day.",
        ),
        (
            "start=2024-10-20&end=2026-10-20",
            "end",
            "Choose at most two years at a time: from 20 Oct 2024 the last day can be 19 Oct 2026.",
        ),
        ("start=&end=2026-10-19", "start", "This field is required."),
        ("start=yesterday&end=2026-10-19", "start", "Enter a valid date."),
    ],
)
def test_download_with_bad_dates_explains_what_to_fix(
    customer: User,
    home,
    query: str,
    field: str,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    response = signed_in(customer).get(f"/my/usage/{supply_point.pk}/download.csv?{query}")
    assert response.status_code == 400
    assert response.context["download_form"].errors[field] == [message]
    html = response.content.decode()
    assert f'<label for="id_{field}">' in html
    assert message.replace("'", "&#x27;") in html


def test_two_years_exactly_is_allowed(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    response = signed_in(customer).get(
        f"/my/usage/{supply_point.pk}/download.csv?start=2024-10-20&end=2026-10-19"
    )
    assert response.status_code == 200


# -- scope -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/my/usage/{id}/",
        "/my/usage/{id}/live/",
        "/my/usage/{id}/download.csv?start=2026-10-01&end=2026-10-02",
        "/my/usage/{id}/download.xml?start=2026-10-01&end=2026-10-02",
    ],
)
def test_customer_cannot_read_another_customers_usage(
    other_customer: User,
    home,
    path: str,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    account_for(other_customer)
    store(supply_point, local(2026, 10, 1), local(2026, 10, 2), minutes=60)
    before = IntervalReading.objects.filter(supply_point=supply_point).count()

    response = signed_in(other_customer).get(path.format(id=supply_point.pk))

    assert response.status_code == 404
    assert supply_point.external_id not in response.content.decode()
    assert IntervalReading.objects.filter(supply_point=supply_point).count() == before


def test_unknown_supply_point_is_404_and_anonymous_visitors_sign_in(customer: User, home) -> None:  # type: ignore[no-untyped-def]
    _account, supply_point, _contract = home
    assert signed_in(customer).get("/my/usage/999999/").status_code == 404
    response = Client().get(f"/my/usage/{supply_point.pk}/live/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_new_occupant_does_not_see_the_previous_occupants_readings(
    customer: User, other_customer: User
) -> None:
    supply_point = make_supply_point()
    previous = account_for(other_customer)
    contract_for(
        previous,
        supply_point,
        flat_tariff("old"),
        start=dt.date(2025, 1, 1),
        end=dt.date(2026, 9, 1),
        status=Contract.Status.ENDED,
    )
    mine = account_for(customer)
    contract_for(mine, supply_point, flat_tariff("new"), start=dt.date(2026, 9, 1))
    store(
        supply_point, local(2026, 8, 1), local(2026, 9, 10), minutes=60, kwh=lambda at: Decimal(1)
    )

    response = page(signed_in(customer), supply_point)

    months = {row.label: row for row in response.context["series"][2].rows}
    assert months["August 2026"].kwh_import is None
    assert months["September 2026"].kwh_import == Decimal("216.000")  # 9 days x 24 h
    csv_text = b"".join(
        signed_in(customer)
        .get(f"/my/usage/{supply_point.pk}/download.csv?start=2026-08-01&end=2026-09-01")
        .streaming_content
    ).decode()
    assert len(csv_text.splitlines()) == 1 + 24
    assert "2026-08-31" not in csv_text


def test_usage_page_runs_a_bounded_number_of_queries(
    customer: User,
    home,
    django_assert_max_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    _account, supply_point, _contract = home
    store(supply_point, local(2025, 10, 1), NOW)
    client = signed_in(customer)
    # 5 for the session, user, second-factor devices and unread notifications; 13 for the page.
    with django_assert_max_num_queries(18):
        page(client, supply_point)
    with django_assert_max_num_queries(19):  # plus the day's 15-minute readings
        page(client, supply_point, "?day=2026-10-25&resolution=15")
    with django_assert_max_num_queries(8):  # 5 as above, contracts, latest, today's total
        client.get(f"/my/usage/{supply_point.pk}/live/")


def test_download_of_days_before_the_customers_contract_is_refused(
    customer: User, other_customer: User
) -> None:
    supply_point = make_supply_point()
    contract_for(
        account_for(other_customer),
        supply_point,
        flat_tariff("old"),
        start=dt.date(2025, 1, 1),
        end=dt.date(2026, 9, 1),
        status=Contract.Status.ENDED,
    )
    contract_for(account_for(customer), supply_point, flat_tariff("new"), start=dt.date(2026, 9, 1))
    store(supply_point, local(2026, 8, 1), local(2026, 8, 3), minutes=60)

    for kind in ("csv", "xml"):
        response = signed_in(customer).get(
            f"/my/usage/{supply_point.pk}/download.{kind}?start=2026-08-01&end=2026-08-31"
        )
        assert response.status_code == 400
        assert response.context["download_form"].non_field_errors() == [
            "None of these days is covered by your contracts for this supply point, "
            "so there is nothing to download."
        ]


def test_no_cost_is_estimated_before_the_supply_starts(customer: User) -> None:
    supply_point = make_supply_point()
    contract_for(
        account_for(customer),
        supply_point,
        flat_tariff(),
        start=dt.date(2026, 11, 1),
        status=Contract.Status.PENDING,
    )
    response = page(signed_in(customer), supply_point)
    assert response.context["cost"] is None
    assert "No contract supplies this point today" in response.content.decode()
    assert response.context["series"][0].rows[0].kwh_import is None
