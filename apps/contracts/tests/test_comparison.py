"""Plan comparison on a hand-checked year of readings, and on the standard profile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import Customer, User
from apps.contracts import comparison
from apps.contracts.models import Contract
from apps.contracts.tests.factories import (
    MADRID,
    madrid,
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
)
from apps.metering.models import IntervalReading, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.tariffs.models import MarketPrice, Tariff

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 10)
# The comparison year: local months March 2025 .. February 2026 (365 days, 8760 hours; the
# spring-forward day 2025-03-30 has 23 hours and the fall-back day 2025-10-26 has 25).
YEAR_START = madrid(2025, 3, 1).astimezone(dt.UTC)
YEAR_END = madrid(2026, 3, 1).astimezone(dt.UTC)
HOURS = 8760


def _hours() -> list[dt.datetime]:
    hours = []
    instant = YEAR_START
    while instant < YEAR_END:
        hours.append(instant)
        instant += dt.timedelta(hours=1)
    assert len(hours) == HOURS
    return hours


def _half_kwh_every_hour(point: SupplyPoint) -> None:
    ensure_reading_partitions(first=dt.date(2025, 2, 1), last=dt.date(2026, 3, 31))
    IntervalReading.objects.bulk_create(
        IntervalReading(
            supply_point=point,
            interval_start=hour,
            duration_minutes=60,
            kwh_import=Decimal("0.5"),
            received_at=YEAR_END,
        )
        for hour in _hours()
    )


def _market_price_ten_cents() -> None:
    MarketPrice.objects.bulk_create(
        MarketPrice(series="ES-DA", starts_at=hour, price_per_kwh=Decimal("0.10"))
        for hour in _hours()
    )


def _tariffs() -> dict[str, Tariff]:
    return {
        "A": make_tariff("flat-a", name="Flat A", standing="0.10", rate="0.20"),
        "B": make_tariff("flat-b", name="Flat B", standing="0.20", rate="0.22"),
        "C": make_tariff(
            "tou-c",
            name="Night C",
            standing="0.10",
            tou={"P": "0.30", "O": "0.10"},
            weekday=[["O"] * 8 + ["P"] * 16] * 12,
            weekend=[["O"] * 24] * 12,
        ),
        "D": make_tariff("dyn-d", name="Market D", standing="0.10", dynamic=("1", "0.05")),
        "E": make_tariff(
            "dyn-e", name="Market E", standing="0.10", dynamic=("1", "0"), market_series="XX"
        ),
        "F": make_tariff("sme-f", name="Business F", segment=Tariff.Segment.SME, rate="0.01"),
    }


def _contract_on(tariff: Tariff, *, user: User | None = None, **account: object) -> Contract:
    contract = make_contract(
        account=make_account(user, **account),  # type: ignore[arg-type]
        supply_point=make_supply_point(),
        tariff=tariff,
        start_date=dt.date(2025, 1, 1),
    )
    return Contract.objects.select_related("account__customer", "supply_point", "tariff").get(
        pk=contract.pk
    )


def test_comparison_ranks_tariffs_on_a_hand_checked_year_of_readings() -> None:
    tariffs = _tariffs()
    contract = _contract_on(tariffs["B"])
    _half_kwh_every_hour(contract.supply_point)
    _market_price_ten_cents()

    result = comparison.plan_comparison(contract=contract, today=TODAY)

    assert (result.period_start, result.period_end) == (dt.date(2025, 3, 1), dt.date(2026, 3, 1))
    assert result.source == "READINGS"
    assert result.total_kwh == Decimal("4380.000")
    assert (result.readings_from, result.readings_to) == (YEAR_START, YEAR_END)
    # Hand calculation (365 days; 8760 h × 0.5 kWh = 4380 kWh):
    #  D  market 0.10 × 1 + 0.05 = 0.15/kWh → 0.075 per hour. Every month is exact except
    #     March (743 h → 55.725 → 55.73) and October (745 h → 55.875 → 55.88): 657.01;
    #     standing 365 × 0.10 = 36.50 → 693.51.
    #  C  260 weekdays × 16 peak hours = 4160 h at 0.5 × 0.30, 4600 h at 0.5 × 0.10:
    #     624.00 + 230.00 = 854.00, + 36.50 = 890.50.
    #  A  4380 × 0.20 = 876.00 + 36.50 = 912.50.
    #  B  4380 × 0.22 = 963.60 + 365 × 0.20 = 73.00 → 1036.60 (current).
    #  E  dynamic on a series without prices; F only for businesses.
    assert [(row.tariff.code, row.total) for row in result.rows] == [
        ("dyn-d", Decimal("693.51")),
        ("tou-c", Decimal("890.50")),
        ("flat-a", Decimal("912.50")),
        ("flat-b", Decimal("1036.60")),
        ("dyn-e", None),
    ]
    by_code = {row.tariff.code: row for row in result.rows}
    assert (by_code["dyn-d"].difference, by_code["dyn-d"].difference_percent) == (
        Decimal("-343.09"),
        Decimal("-33.1"),
    )
    assert (by_code["tou-c"].difference, by_code["tou-c"].difference_percent) == (
        Decimal("-146.10"),
        Decimal("-14.1"),
    )
    assert (by_code["flat-a"].difference, by_code["flat-a"].difference_percent) == (
        Decimal("-124.10"),
        Decimal("-12.0"),
    )
    assert (by_code["flat-b"].difference, by_code["flat-b"].is_current) == (Decimal("0"), True)
    assert by_code["dyn-e"].not_priced_reason == "not enough price history"
    assert by_code["dyn-d"].monthly[0] == Decimal("55.73") + Decimal("3.10")  # March
    assert len(by_code["dyn-d"].monthly) == 12


def test_comparison_page_shows_the_ranking_and_the_source(customer: User) -> None:
    tariffs = _tariffs()
    contract = _contract_on(tariffs["B"], user=customer)
    _half_kwh_every_hour(contract.supply_point)
    _market_price_ten_cents()
    client = Client()
    client.force_login(customer)
    with time_machine.travel(madrid(2026, 3, 10, 12, 0), tick=False):
        response = client.get(f"/my/contracts/{contract.pk}/compare/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Based on your meter readings: 4380 kWh" in body
    assert "2025-03-01 to 2026-02-28" in body
    assert body.index("Market D") < body.index("Night C") < body.index("Flat A")
    assert body.index("Flat A") < body.index("Flat B") < body.index("Market E")
    assert "343.09 EUR cheaper (33.1 %)" in body
    assert "not enough price history" in body
    assert "Business F" not in body
    assert "standard household" not in body


def test_comparison_without_readings_uses_the_standard_profile_and_says_so(
    customer: User,
) -> None:
    tariffs = _tariffs()
    contract = _contract_on(tariffs["B"], user=customer)
    result = comparison.plan_comparison(contract=contract, today=TODAY)
    assert result.source == "PROFILE"
    assert result.annual_kwh == Decimal(3500)
    assert result.total_kwh == Decimal("3500.000")
    flat_a = next(row for row in result.rows if row.tariff.code == "flat-a")
    # 36.50 standing + 3500 × 0.20 = 736.50, give or take half a cent of rounding per month.
    assert flat_a.total is not None
    assert abs(flat_a.total - Decimal("736.50")) <= Decimal("0.06")
    codes = [row.tariff.code for row in result.rows]
    assert codes.index("flat-a") < codes.index("flat-b")

    client = Client()
    client.force_login(customer)
    with time_machine.travel(madrid(2026, 3, 10, 12, 0), tick=False):
        page = client.get(f"/my/contracts/{contract.pk}/compare/").content.decode()
        declared = client.get(f"/my/contracts/{contract.pk}/compare/?annual_kwh=2000")
    assert "This is an estimate." in page
    assert "standard household consumption profile scaled to 3500 kWh a year" in page
    assert declared.context["comparison"].total_kwh == Decimal("2000.000")
    assert "scaled to 2000 kWh a year" in declared.content.decode()


def test_profile_uses_the_customers_known_yearly_consumption() -> None:
    contract = _contract_on(make_tariff("flat"), annual_kwh=Decimal("5000"))
    assert contract.account.customer.annual_kwh == Decimal("5000")
    result = comparison.plan_comparison(contract=contract, today=TODAY)
    assert (result.source, result.total_kwh) == ("PROFILE", Decimal("5000.000"))


def test_current_tariff_no_longer_offered_is_still_compared() -> None:
    retired = make_tariff("retired", name="Retired", is_public=False, rate="0.30")
    make_tariff("flat-a", name="Flat A", rate="0.20")
    contract = _contract_on(retired, segment=Customer.Segment.RESIDENTIAL)
    result = comparison.plan_comparison(contract=contract, today=TODAY)
    rows = {row.tariff.code: row for row in result.rows}
    assert set(rows) == {"retired", "flat-a"}
    assert (rows["retired"].is_current, rows["retired"].is_choosable) == (True, False)
    assert rows["flat-a"].is_cheaper


def test_comparison_period_is_the_last_twelve_full_months() -> None:
    assert comparison.comparison_period(dt.date(2026, 1, 1)) == (
        dt.date(2025, 1, 1),
        dt.date(2026, 1, 1),
    )
    assert comparison.comparison_period(dt.date(2024, 2, 29)) == (
        dt.date(2023, 2, 1),
        dt.date(2024, 2, 1),
    )
    assert MADRID.key == "Europe/Madrid"
