"""Rating engine: one test per tariff feature, each checked against a hand calculation.

Unless a test says otherwise the tariff zone is Europe/Madrid and the period is April 2026
(30 local days, no DST change: 2026-03-31T22:00Z .. 2026-04-30T22:00Z, 720 hours).

Benchmark note (not a timed test): a year of hourly intervals (8,760) rated month by month
under six tariffs (flat, tiered, TOU, dynamic, TOU->flat price change, TOU with fixed and
minimum charges; two chained taxes each) takes ~0.3 s on a laptop-class CPU (72 calls).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.tariffs.rating import (
    DISCOUNT,
    DYNAMIC_ENERGY,
    ENERGY,
    EXPORT_CREDIT,
    FIXED_CHARGE,
    MINIMUM_CHARGE,
    STANDING_CHARGE,
    TAX,
    Discount,
    DynamicEnergy,
    EnergyStructure,
    Interval,
    MissingMarketPrice,
    NoPriceInForce,
    PricedLine,
    PriceVersion,
    RatingResult,
    Tax,
    Tier,
    month_bounds,
    rate,
    repeat_monthly,
)

MADRID = ZoneInfo("Europe/Madrid")
UTC = dt.UTC
D = Decimal
ZERO = Decimal(0)
APRIL_START, APRIL_END = month_bounds(2026, 4, MADRID)
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=UTC)

# Spanish 2.0TD-like: P1 peak 10-14 & 18-22, P2 flat 8-10, 14-18, 22-24, P3 valley 0-8;
# weekends and holidays all P3.
WEEKDAY_20TD = ("P3",) * 8 + ("P2",) * 2 + ("P1",) * 4 + ("P2",) * 4 + ("P1",) * 4 + ("P2",) * 2
RATES_20TD = {"P1": D("0.183468"), "P2": D("0.110328"), "P3": D("0.075921")}

ELECTRICITY_TAX = Tax(
    "IEE", "Impuesto especial sobre la electricidad", D("5.11269632"),
    frozenset({STANDING_CHARGE, ENERGY}),
)  # fmt: skip
VAT = Tax(
    "VAT", "IVA", D("21"),
    frozenset({STANDING_CHARGE, FIXED_CHARGE, ENERGY, DYNAMIC_ENERGY, EXPORT_CREDIT, DISCOUNT,
               MINIMUM_CHARGE, "IEE"}),
)  # fmt: skip


def hourly(start: dt.datetime, hours: int, kwh: Decimal, export: Decimal = ZERO) -> list[Interval]:
    return [Interval(start + dt.timedelta(hours=h), 60, kwh, export) for h in range(hours)]


def version(
    energy: EnergyStructure | DynamicEnergy,
    *,
    standing: Decimal = ZERO,
    valid_from: dt.datetime = LONG_AGO,
    valid_to: dt.datetime | None = None,
    label: str = "v1",
    **extra: object,
) -> PriceVersion:
    return PriceVersion(
        valid_from=valid_from,
        valid_to=valid_to,
        standing_charge_per_day=standing,
        energy=energy,
        label=label,
        **extra,  # type: ignore[arg-type]
    )


def rate_april(
    versions: list[PriceVersion], intervals: list[Interval], **kwargs: object
) -> RatingResult:
    return rate(
        versions=versions,
        intervals=intervals,
        period_start=APRIL_START,
        period_end=APRIL_END,
        tz=MADRID,
        **kwargs,  # type: ignore[arg-type]
    )


def summary(result: RatingResult) -> list[tuple[str, str, int | None, Decimal, Decimal]]:
    return [(ln.component, ln.period, ln.tier, ln.quantity, ln.amount) for ln in result.lines]


def assert_consistent(result: RatingResult) -> None:
    assert result.total == sum((line.amount for line in result.lines), D(0))
    for line in result.lines:
        assert line.amount.as_tuple().exponent == -2, line


def test_flat_tariff_prices_energy_and_standing_charge() -> None:
    """0.5 kWh every hour of April = 720 h x 0.5 = 360 kWh.

    standing 30 days x 0.131871 = 3.95613 -> 3.96; energy 360 x 0.152311 = 54.83196 -> 54.83;
    total 58.79.
    """
    result = rate_april(
        [version(EnergyStructure.flat(D("0.152311")), standing=D("0.131871"))],
        hourly(APRIL_START, 720, D("0.5")),
    )
    assert summary(result) == [
        (STANDING_CHARGE, "", None, D(30), D("3.96")),
        (ENERGY, "ALL", None, D(360), D("54.83")),
    ]
    assert result.total == D("58.79")
    assert result.subtotal_before_tax == D("58.79")
    assert result.kwh_import_total == D(360)
    energy = result.lines[1]
    assert (energy.unit, energy.unit_price, energy.version_label) == ("kWh", D("0.152311"), "v1")
    assert (energy.starts_at, energy.ends_at) == (APRIL_START, APRIL_END)
    assert result.lines[0].starts_at == APRIL_START
    assert result.lines[0].ends_at == APRIL_END


def test_tiered_tariff_fills_blocks_of_the_monthly_total() -> None:
    """360 kWh over blocks 0-100 @0.10, 100-300 @0.15, 300+ @0.20.

    tier 1: 100 x 0.10 = 10.00; tier 2: 200 x 0.15 = 30.00; tier 3: 60 x 0.20 = 12.00;
    total 52.00. No standing line because the standing charge is zero.
    """
    tiers = [Tier(D(100), D("0.10")), Tier(D(300), D("0.15")), Tier(None, D("0.20"))]
    result = rate_april(
        [version(EnergyStructure.tiered(tiers))], hourly(APRIL_START, 720, D("0.5"))
    )
    assert summary(result) == [
        (ENERGY, "ALL", 1, D(100), D("10.00")),
        (ENERGY, "ALL", 2, D(200), D("30.00")),
        (ENERGY, "ALL", 3, D(60), D("12.00")),
    ]
    assert result.total == D("52.00")


def test_time_of_use_uses_weekend_schedule_on_weekends_and_holidays() -> None:
    """Wed 2026-04-01 .. Sun 2026-04-05 local, 1 kWh every hour, Good Friday 04-03 a holiday.

    Wed + Thu: 8 h each of P1, P2, P3. Fri (holiday), Sat, Sun: 72 h of P3.
    P1 16 x 0.183468 = 2.935488 -> 2.94; P2 16 x 0.110328 = 1.765248 -> 1.77;
    P3 88 x 0.075921 = 6.681048 -> 6.68; total 11.39.
    """
    structure = EnergyStructure.time_of_use(
        RATES_20TD,
        repeat_monthly(WEEKDAY_20TD),
        repeat_monthly(("P3",) * 24),
        holidays={dt.date(2026, 4, 3)},
    )
    end = dt.datetime(2026, 4, 6, tzinfo=MADRID)
    result = rate(
        versions=[version(structure)],
        intervals=hourly(APRIL_START, 24 * 5, D(1)),
        period_start=APRIL_START,
        period_end=end,
        tz=MADRID,
    )
    assert summary(result) == [
        (ENERGY, "P1", None, D(16), D("2.94")),
        (ENERGY, "P2", None, D(16), D("1.77")),
        (ENERGY, "P3", None, D(88), D("6.68")),
    ]
    assert result.total == D("11.39")


def test_dynamic_price_is_clamped_between_floor_and_cap() -> None:
    """Unit price = clamp(market x 1.1 + 0.01, floor 0, cap 0.30), three UTC hours.

    hour 1: 0.05 x 1.1 + 0.01 = 0.065, 2 kWh -> 0.130
    hour 2: -0.02 x 1.1 + 0.01 = -0.012 -> floor 0, 3 kWh -> 0
    hour 3: 0.40 x 1.1 + 0.01 = 0.45 -> cap 0.30, 1 kWh -> 0.30
    one line: 6 kWh, 0.43 (rounded once); unit price is the weighted average 0.43 / 6.
    The third price is keyed in local time: keys are instants, any zone matches.
    """
    start = dt.datetime(2026, 4, 1, tzinfo=UTC)
    hours = [start + dt.timedelta(hours=h) for h in range(3)]
    prices = {hours[0]: D("0.05"), hours[1]: D("-0.02"), hours[2].astimezone(MADRID): D("0.40")}
    intervals = [Interval(hours[0], 60, D(2)), Interval(hours[1], 60, D(3))]
    intervals += [
        Interval(hours[2] + dt.timedelta(minutes=m), 15, D("0.25")) for m in range(0, 60, 15)
    ]
    result = rate(
        versions=[version(DynamicEnergy(D("1.1"), D("0.01"), floor=D(0), cap=D("0.30")))],
        intervals=intervals,
        period_start=start,
        period_end=start + dt.timedelta(hours=3),
        tz=MADRID,
        market_prices=prices,
    )
    assert summary(result) == [(DYNAMIC_ENERGY, "", None, D(6), D("0.43"))]
    assert result.lines[0].unit_price.quantize(D("1e-12")) == D("0.071666666667")


def test_missing_market_price_is_named() -> None:
    """The second hour has consumption but no price: MissingMarketPrice names that hour."""
    start = dt.datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(MissingMarketPrice) as caught:
        rate(
            versions=[version(DynamicEnergy(D(1), D(0)))],
            intervals=hourly(start, 2, D(1)),
            period_start=start,
            period_end=start + dt.timedelta(hours=2),
            tz=MADRID,
            market_prices={start: D("0.1")},
        )
    assert caught.value.hour == start + dt.timedelta(hours=1)
    assert "2026-04-01T01:00:00+00:00" in str(caught.value)


def test_export_is_credited_as_negative_line() -> None:
    """10 h of 1 kWh import and 0.7 kWh export; flat 0.15, export 0.05.

    energy 10 x 0.15 = 1.50; export credit 7 x -0.05 = -0.35; total 1.15.
    """
    start = dt.datetime(2026, 4, 1, 8, tzinfo=UTC)
    result = rate(
        versions=[version(EnergyStructure.flat(D("0.15")), export_rate=D("0.05"))],
        intervals=hourly(start, 10, D(1), D("0.7")),
        period_start=start,
        period_end=start + dt.timedelta(hours=10),
        tz=MADRID,
    )
    assert summary(result) == [
        (ENERGY, "ALL", None, D(10), D("1.50")),
        (EXPORT_CREDIT, "", None, D("7.0"), D("-0.35")),
    ]
    assert result.lines[1].unit_price == D("-0.05")
    assert result.kwh_export_total == D(7)
    assert result.total == D("1.15")


def test_no_export_line_without_export_rate() -> None:
    start = dt.datetime(2026, 4, 1, 8, tzinfo=UTC)
    result = rate(
        versions=[version(EnergyStructure.flat(D("0.15")))],
        intervals=hourly(start, 2, D(1), D(1)),
        period_start=start,
        period_end=start + dt.timedelta(hours=2),
        tz=MADRID,
    )
    assert [line.component for line in result.lines] == [ENERGY]
    assert result.kwh_export_total == D(2)


def test_discounts_percent_of_energy_and_daily_credit() -> None:
    """April, 1 kWh/h flat 0.10, standing 0.131871/day.

    ENERGY_PERCENT 10 % from 2026-04-16 local (open): the energy line splits there, 360 kWh
    before (36.00) and 360 after (36.00); discount -10 % x 36.00 = -3.60.
    DAILY_CREDIT 0.25/day over local days 21..25 (5 days) = -1.25.
    standing 30 x 0.131871 = 3.95613 -> 3.96. total 3.96 + 72.00 - 3.60 - 1.25 = 71.11.
    """
    split = dt.datetime(2026, 4, 16, tzinfo=MADRID)
    discounts = [
        Discount("ENERGY_PERCENT", D(10), split, None, label="Welcome 10 %"),
        Discount(
            "DAILY_CREDIT",
            D("0.25"),
            dt.datetime(2026, 4, 21, tzinfo=MADRID),
            dt.datetime(2026, 4, 26, tzinfo=MADRID),
            label="Loyalty",
        ),
    ]
    result = rate_april(
        [version(EnergyStructure.flat(D("0.10")), standing=D("0.131871"))],
        hourly(APRIL_START, 720, D(1)),
        discounts=discounts,
    )
    assert summary(result) == [
        (STANDING_CHARGE, "", None, D(30), D("3.96")),
        (ENERGY, "ALL", None, D(360), D("36.00")),
        (ENERGY, "ALL", None, D(360), D("36.00")),
        (DISCOUNT, "ALL", None, D(-10), D("-3.60")),
        (DISCOUNT, "", None, D(5), D("-1.25")),
    ]
    energy_before, energy_after = result.lines[1], result.lines[2]
    assert energy_before.ends_at == split == energy_after.starts_at
    percent, daily = result.lines[3], result.lines[4]
    assert (percent.unit, percent.unit_price, percent.label) == ("%", D("36.00"), "Welcome 10 %")
    assert percent.starts_at == split
    assert (daily.unit, daily.unit_price, daily.label) == ("day", D("-0.25"), "Loyalty")
    assert daily.starts_at == dt.datetime(2026, 4, 21, tzinfo=MADRID)
    assert result.total == D("71.11")


def test_fixed_monthly_charge_is_prorated_by_local_days() -> None:
    """Fixed 10.00/month over 2026-04-21 .. 2026-05-11 local.

    April: 10 of 30 days -> 10 x 10/30 = 3.333.. -> 3.33; May: 10 of 31 days -> 3.2258.. -> 3.23.
    A full month is exactly 10.00.
    """
    tariff = [version(EnergyStructure.flat(D("0.1")), fixed_monthly_charge=D(10))]
    result = rate(
        versions=tariff,
        intervals=[],
        period_start=dt.datetime(2026, 4, 21, tzinfo=MADRID),
        period_end=dt.datetime(2026, 5, 11, tzinfo=MADRID),
        tz=MADRID,
    )
    assert [(ln.component, ln.amount) for ln in result.lines] == [
        (FIXED_CHARGE, D("3.33")),
        (FIXED_CHARGE, D("3.23")),
    ]
    assert result.lines[0].quantity.quantize(D("1e-12")) == D("0.333333333333")
    assert result.lines[0].unit == "month"
    full = rate_april(tariff, [])
    assert summary(full) == [(FIXED_CHARGE, "", None, D(1), D("10.00"))]


def test_minimum_charge_tops_up_the_pretax_subtotal() -> None:
    """Minimum 20.00/month. 50 kWh x 0.15 = 7.50, standing 30 x 0.10 = 3.00: subtotal 10.50.

    MINIMUM_CHARGE 20.00 - 10.50 = 9.50; VAT 21 % on 20.00 = 4.20; total 24.20.
    With 200 kWh (30.00 + 3.00 = 33.00 >= 20.00) no minimum line.
    """
    tariff = [
        version(
            EnergyStructure.flat(D("0.15")),
            standing=D("0.10"),
            minimum_monthly_charge=D(20),
            taxes=(Tax("VAT", "IVA", D(21), frozenset({STANDING_CHARGE, ENERGY, MINIMUM_CHARGE})),),
        )
    ]
    low = rate_april(tariff, hourly(APRIL_START, 50, D(1)))
    assert summary(low) == [
        (STANDING_CHARGE, "", None, D(30), D("3.00")),
        (ENERGY, "ALL", None, D(50), D("7.50")),
        (MINIMUM_CHARGE, "", None, D(1), D("9.50")),
        (TAX, "VAT", None, D(21), D("4.20")),
    ]
    assert low.subtotal_before_tax == D("20.00")
    assert low.total == D("24.20")
    high = rate_april(tariff, hourly(APRIL_START, 200, D(1)))
    assert MINIMUM_CHARGE not in [line.component for line in high.lines]


def test_taxes_chain_electricity_tax_then_vat() -> None:
    """Spanish-style: IEE 5.11269632 % on standing + energy, then VAT 21 % on all incl. IEE.

    standing 30 x 0.131871 -> 3.96; energy 360 x 0.152311 -> 54.83;
    IEE base 58.79 x 5.11269632 % = 3.005754.. -> 3.01;
    VAT base 3.96 + 54.83 + 3.01 = 61.80 x 21 % = 12.978 -> 12.98; total 74.78.
    """
    tariff = [
        version(
            EnergyStructure.flat(D("0.152311")),
            standing=D("0.131871"),
            taxes=(ELECTRICITY_TAX, VAT),
        )
    ]
    result = rate_april(tariff, hourly(APRIL_START, 720, D("0.5")))
    taxes = [line for line in result.lines if line.component == TAX]
    assert [(t.period, t.quantity, t.unit_price, t.amount, t.label) for t in taxes] == [
        ("IEE", D("5.11269632"), D("58.79"), D("3.01"), "Impuesto especial sobre la electricidad"),
        ("VAT", D(21), D("61.80"), D("12.98"), "IVA"),
    ]
    assert result.subtotal_before_tax == D("58.79")
    assert result.total == D("74.78")


def test_price_change_mid_period_splits_every_line_at_the_change() -> None:
    """v1 0.10/kWh + 0.20/day until 2026-04-16 local, v2 0.12/kWh + 0.25/day from then on.

    1 kWh/h: v1 15 days = 360 kWh -> 36.00, standing 15 x 0.20 = 3.00;
    v2 15 days = 360 kWh -> 43.20, standing 15 x 0.25 = 3.75. VAT 21 % applies to both
    (same tax regime: one VAT line) on 85.95 -> 18.0495 -> 18.05. Total 104.00.
    """
    change = dt.datetime(2026, 4, 16, tzinfo=MADRID)
    taxes = (Tax("VAT", "IVA", D(21), frozenset({STANDING_CHARGE, ENERGY})),)
    versions = [
        version(EnergyStructure.flat(D("0.10")), standing=D("0.20"), valid_to=change, taxes=taxes),
        version(
            EnergyStructure.flat(D("0.12")),
            standing=D("0.25"),
            valid_from=change,
            label="v2",
            taxes=taxes,
        ),
    ]
    result = rate_april(versions, hourly(APRIL_START, 720, D(1)))
    assert [(ln.component, ln.version_label, ln.quantity, ln.amount) for ln in result.lines] == [
        (STANDING_CHARGE, "v1", D(15), D("3.00")),
        (STANDING_CHARGE, "v2", D(15), D("3.75")),
        (ENERGY, "v1", D(360), D("36.00")),
        (ENERGY, "v2", D(360), D("43.20")),
        (TAX, "v1, v2", D(21), D("18.05")),
    ]
    assert result.lines[2].ends_at == change == result.lines[3].starts_at
    assert result.total == D("104.00")


def test_tax_rate_change_mid_period_gives_one_tax_line_per_regime() -> None:
    """VAT 21 % until 2026-04-16 local, 10 % after; 1 kWh/h flat 0.10 (36.00 per half).

    21 % x 36.00 = 7.56; 10 % x 36.00 = 3.60.
    """
    change = dt.datetime(2026, 4, 16, tzinfo=MADRID)
    versions = [
        version(
            EnergyStructure.flat(D("0.10")),
            valid_to=change,
            taxes=(Tax("VAT", "IVA", D(21), frozenset({ENERGY})),),
        ),
        version(
            EnergyStructure.flat(D("0.10")),
            valid_from=change,
            label="v2",
            taxes=(Tax("VAT", "IVA", D(10), frozenset({ENERGY})),),
        ),
    ]
    result = rate_april(versions, hourly(APRIL_START, 720, D(1)))
    taxes = [
        (ln.version_label, ln.amount, ln.starts_at) for ln in result.lines if ln.component == TAX
    ]
    assert taxes == [("v1", D("7.56"), APRIL_START), ("v2", D("3.60"), change)]


def test_intervals_outside_the_period_are_ignored_and_edges_prorated() -> None:
    """Period [10:00, 11:00) UTC; a 60-min reading from 09:30 (2 kWh) counts half (1 kWh),
    a reading from 11:00 counts nothing; 1 kWh x 0.10 = 0.10."""
    start = dt.datetime(2026, 4, 1, 10, tzinfo=UTC)
    result = rate(
        versions=[version(EnergyStructure.flat(D("0.10")))],
        intervals=[
            Interval(start - dt.timedelta(minutes=30), 60, D(2)),
            Interval(start + dt.timedelta(hours=1), 60, D(5)),
        ],
        period_start=start,
        period_end=start + dt.timedelta(hours=1),
        tz=MADRID,
    )
    assert summary(result) == [(ENERGY, "ALL", None, D(1), D("0.10"))]


def test_naive_datetimes_are_rejected() -> None:
    naive = dt.datetime(2026, 4, 1)
    with pytest.raises(ValueError, match=r"Interval\.start must be timezone-aware"):
        Interval(naive, 60, D(1))
    with pytest.raises(ValueError, match="valid_from must be timezone-aware"):
        version(EnergyStructure.flat(D(1)), valid_from=naive)
    with pytest.raises(ValueError, match="period_start must be timezone-aware"):
        rate(
            versions=[version(EnergyStructure.flat(D(1)))],
            intervals=[],
            period_start=naive,
            period_end=APRIL_END,
            tz=MADRID,
        )


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Interval\.kwh_import must be a Decimal"):
        Interval(APRIL_START, 60, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Tier\.rate"):
        Tier(None, 0.1)  # type: ignore[arg-type]


def test_no_price_in_force_names_the_first_uncovered_instant() -> None:
    """v1 ends 2026-04-10 local, v2 starts 2026-04-12 local: the gap starts at v1's end."""
    gap_start = dt.datetime(2026, 4, 10, tzinfo=MADRID)
    versions = [
        version(EnergyStructure.flat(D(1)), valid_to=gap_start),
        version(EnergyStructure.flat(D(1)), valid_from=dt.datetime(2026, 4, 12, tzinfo=MADRID)),
    ]
    with pytest.raises(NoPriceInForce) as caught:
        rate_april(versions, hourly(APRIL_START, 720, D(1)))
    assert caught.value.at == gap_start
    late = [version(EnergyStructure.flat(D(1)), valid_from=dt.datetime(2026, 4, 2, tzinfo=UTC))]
    with pytest.raises(NoPriceInForce) as caught:
        rate_april(late, [])
    assert caught.value.at == APRIL_START


def test_overlapping_versions_are_refused() -> None:
    versions = [
        version(EnergyStructure.flat(D(1)), valid_to=dt.datetime(2026, 4, 10, tzinfo=UTC)),
        version(EnergyStructure.flat(D(1)), valid_from=dt.datetime(2026, 4, 9, tzinfo=UTC)),
    ]
    with pytest.raises(ValueError, match="overlap"):
        rate_april(versions, [])


def test_structure_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="must have 12 rows"):
        EnergyStructure.time_of_use({"P1": D(1)}, [("P1",) * 24] * 11)
    with pytest.raises(ValueError, match="month 2 must have 24 hours"):
        EnergyStructure.time_of_use({"P1": D(1)}, [("P1",) * 24] + [("P1",) * 23] * 11)
    row = ("P1",) * 5 + ("P9",) + ("P1",) * 18
    with pytest.raises(ValueError, match=r"month 1 hour 5 names period 'P9'"):
        EnergyStructure.time_of_use({"P1": D(1)}, repeat_monthly(row))
    with pytest.raises(ValueError, match="last tier must be unlimited"):
        EnergyStructure.tiered([Tier(D(100), D(1))])
    with pytest.raises(ValueError, match="tier bounds must increase"):
        EnergyStructure.tiered([Tier(D(100), D(1)), Tier(D(50), D(1)), Tier(None, D(1))])
    vat_on_unknown_tax = Tax("VAT", "IVA", D(21), frozenset({"IEE"}))
    with pytest.raises(ValueError, match="neither line components"):
        version(EnergyStructure.flat(D(1)), taxes=(vat_on_unknown_tax,))


def test_lines_are_ordered_by_component_then_start_then_period_and_tier() -> None:
    """Export before discount before tax, whatever order they were computed in."""
    change = dt.datetime(2026, 4, 16, tzinfo=MADRID)
    structure = EnergyStructure.time_of_use(
        {"P1": [Tier(D(100), D("0.2")), Tier(None, D("0.3"))], "P3": D("0.1")},
        repeat_monthly(("P3",) * 8 + ("P1",) * 16),
    )
    versions = [
        version(structure, standing=D("0.1"), valid_to=change, export_rate=D("0.05"),
                taxes=(ELECTRICITY_TAX, VAT)),
        version(structure, standing=D("0.1"), valid_from=change, label="v2",
                export_rate=D("0.05"), taxes=(ELECTRICITY_TAX, VAT)),
    ]  # fmt: skip
    discounts = [Discount("ENERGY_PERCENT", D(5), LONG_AGO, None)]
    result = rate_april(versions, hourly(APRIL_START, 720, D(1), D("0.1")), discounts=discounts)
    keys = [(ln.component, ln.starts_at, ln.period, ln.tier) for ln in result.lines]
    order = [
        "STANDING_CHARGE", "FIXED_CHARGE", "ENERGY", "DYNAMIC_ENERGY", "EXPORT_CREDIT",
        "DISCOUNT", "MINIMUM_CHARGE", "TAX",
    ]  # fmt: skip
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1], k[2], k[3] or 0))
    assert [k[:4] for k in keys if k[0] == ENERGY] == [
        (ENERGY, APRIL_START, "P1", 1),
        (ENERGY, APRIL_START, "P1", 2),
        (ENERGY, APRIL_START, "P3", None),
        (ENERGY, change, "P1", 1),
        (ENERGY, change, "P1", 2),
        (ENERGY, change, "P3", None),
    ]
    assert_consistent(result)
    again = rate_april(versions, hourly(APRIL_START, 720, D(1), D("0.1")), discounts=discounts)
    assert again == result


def test_quantity_display_rounds_energy_to_watt_hours() -> None:
    line = PricedLine(
        ENERGY, "ALL", None, "", D("1.23456"), "kWh", D("0.1"), D("0.12"), APRIL_START, APRIL_END
    )
    assert line.quantity_display == D("1.235")
