"""Properties of the rating engine that must hold for any tariff and any readings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

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
    PriceVersion,
    RatingResult,
    Tax,
    Tier,
    rate,
    repeat_monthly,
)

D = Decimal
UTC = dt.UTC
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=UTC)
ZONES = [ZoneInfo("Europe/Madrid"), ZoneInfo("America/Chicago"), ZoneInfo("Asia/Kolkata")]
FAST = settings(max_examples=60, deadline=None)

# -- strategies ------------------------------------------------------------------------------

rates = st.integers(0, 400_000).map(lambda n: D(n).scaleb(-6))  # 0 .. 0.4 EUR/kWh, 6 places
kwh_values = st.integers(0, 5_000).map(lambda n: D(n).scaleb(-3))  # 0 .. 5 kWh, Wh resolution
quarterable_kwh = st.integers(0, 1_250).map(lambda n: D(4 * n).scaleb(-3))  # divisible by 4


@st.composite
def tier_lists(draw: st.DrawFn) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, 150), max_size=2)))
    tiers = [Tier(D(bound), draw(rates)) for bound in bounds]
    return [*tiers, Tier(None, draw(rates))]


@st.composite
def energy_charges(draw: st.DrawFn) -> EnergyStructure | DynamicEnergy:
    kind = draw(st.sampled_from(["flat", "tiered", "tou", "dynamic"]))
    if kind == "flat":
        return EnergyStructure.flat(draw(rates))
    if kind == "tiered":
        return EnergyStructure.tiered(draw(tier_lists()))
    if kind == "dynamic":
        floor = draw(st.none() | st.just(D(0)))
        cap = draw(st.none() | st.just(D("0.35")))
        return DynamicEnergy(D("1.1"), draw(rates), floor, cap)
    keys = ["P1", "P2", "P3"]
    periods = {key: draw(tier_lists()) for key in keys}
    weekday = draw(st.lists(st.sampled_from(keys), min_size=24, max_size=24))
    weekend = draw(st.lists(st.sampled_from(keys), min_size=24, max_size=24))
    holiday = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 364)))
    return EnergyStructure.time_of_use(
        periods, repeat_monthly(weekday), repeat_monthly(weekend), holidays={holiday}
    )


@st.composite
def periods(draw: st.DrawFn) -> tuple[ZoneInfo, dt.datetime, dt.datetime]:
    """1-3 local days starting at a local midnight of 2026 (DST days included)."""
    tz = draw(st.sampled_from(ZONES))
    first = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 362)))
    days = draw(st.integers(1, 3))
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time(), tzinfo=tz)
    return tz, start, end.astimezone(UTC)


def market_prices(start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, Decimal]:
    """A deterministic price for every UTC hour around the period (some negative)."""
    first = start.replace(minute=0) - dt.timedelta(hours=1)
    hours = int((end - first) / dt.timedelta(hours=1)) + 2
    return {first + dt.timedelta(hours=h): D((h * 37) % 90 - 10).scaleb(-3) for h in range(hours)}


def hours_in(start: dt.datetime, end: dt.datetime) -> int:
    return int((end - start) / dt.timedelta(hours=1))


def rate_simple(
    versions: list[PriceVersion],
    intervals: list[Interval],
    period: tuple[ZoneInfo, dt.datetime, dt.datetime],
    discounts: list[Discount] | None = None,
) -> RatingResult:
    tz, start, end = period
    return rate(
        versions=versions,
        intervals=intervals,
        period_start=start,
        period_end=end,
        tz=tz,
        market_prices=market_prices(start, end),
        discounts=discounts or [],
    )


def one_version(energy: EnergyStructure | DynamicEnergy, **extra: object) -> list[PriceVersion]:
    return [PriceVersion(LONG_AGO, None, D("0.131871"), energy, **extra)]  # type: ignore[arg-type]


# -- properties ------------------------------------------------------------------------------


@FAST
@given(energy=energy_charges(), period=periods(), data=st.data())
def test_energy_quantities_add_up_to_the_imported_energy(
    energy: EnergyStructure | DynamicEnergy,
    period: tuple[ZoneInfo, dt.datetime, dt.datetime],
    data: st.DataObject,
) -> None:
    """Tier and TOU allocation never creates or loses energy, to the last digit."""
    _tz, start, end = period
    readings = data.draw(
        st.lists(kwh_values, min_size=hours_in(start, end), max_size=hours_in(start, end))
    )
    intervals = [Interval(start + dt.timedelta(hours=h), 60, kwh) for h, kwh in enumerate(readings)]
    result = rate_simple(one_version(energy), intervals, period)
    energy_quantity = sum(
        (ln.quantity for ln in result.lines if ln.component in (ENERGY, DYNAMIC_ENERGY)), D(0)
    )
    assert energy_quantity == result.kwh_import_total == sum(readings, D(0))


@FAST
@given(energy=energy_charges(), period=periods(), data=st.data())
def test_splitting_readings_into_quarter_hours_changes_nothing(
    energy: EnergyStructure | DynamicEnergy,
    period: tuple[ZoneInfo, dt.datetime, dt.datetime],
    data: st.DataObject,
) -> None:
    """Each 60-min reading of E kWh replaced by four 15-min readings of E/4 (exact): same bill."""
    _tz, start, end = period
    count = hours_in(start, end)
    readings = data.draw(st.lists(quarterable_kwh, min_size=count, max_size=count))
    hourly = [Interval(start + dt.timedelta(hours=h), 60, kwh) for h, kwh in enumerate(readings)]
    quarters = [
        Interval(start + dt.timedelta(hours=h, minutes=15 * q), 15, kwh / 4)
        for h, kwh in enumerate(readings)
        for q in range(4)
    ]
    versions = one_version(energy, export_rate=D("0.05"), fixed_monthly_charge=D("3.1"))
    assert rate_simple(versions, quarters, period) == rate_simple(versions, hourly, period)


@FAST
@given(period=periods(), data=st.data())
def test_price_change_at_any_instant_splits_lines_there(
    period: tuple[ZoneInfo, dt.datetime, dt.datetime], data: st.DataObject
) -> None:
    """Flat 0.10 until the change, 0.20 after, the change at any second of the period.

    The old version's energy is exactly the metered energy before the change (a reading that
    straddles it is split pro rata by time); both quantities add up to the whole.
    """
    tz, start, end = period
    count = hours_in(start, end)
    readings = data.draw(st.lists(kwh_values, min_size=count, max_size=count))
    seconds = data.draw(st.integers(1, count * 3600 - 1))
    change = start + dt.timedelta(seconds=seconds)
    versions = [
        PriceVersion(LONG_AGO, change, D("0.2"), EnergyStructure.flat(D("0.10")), label="old"),
        PriceVersion(change, None, D("0.3"), EnergyStructure.flat(D("0.20")), label="new"),
    ]
    intervals = [Interval(start + dt.timedelta(hours=h), 60, kwh) for h, kwh in enumerate(readings)]
    result = rate_simple(versions, intervals, period)
    energy = {ln.version_label: ln for ln in result.lines if ln.component == ENERGY}
    expected_old = sum(
        (
            Fraction(kwh) * min(Fraction(max(seconds - 3600 * h, 0), 3600), Fraction(1))
            for h, kwh in enumerate(readings)
        ),
        Fraction(0),
    )
    old_quantity = energy["old"].quantity if "old" in energy else D(0)
    new_quantity = energy["new"].quantity if "new" in energy else D(0)
    # the one reading that straddles the change is cut on the 1e-9 kWh grid
    assert abs(Fraction(old_quantity) - expected_old) <= Fraction(1, 2 * 10**9)
    assert old_quantity + new_quantity == sum(readings, D(0))
    if "old" in energy:
        assert (energy["old"].starts_at, energy["old"].ends_at) == (start, change)
    if "new" in energy:
        assert (energy["new"].starts_at, energy["new"].ends_at) == (change, end)
    standing = {
        ln.version_label: ln.quantity for ln in result.lines if ln.component == STANDING_CHARGE
    }
    days_before_change = sum(
        1
        for day in range(hours_in(start, end) // 23 + 1)
        if (midnight := dt.datetime.combine(start.astimezone(tz).date() + dt.timedelta(days=day),
                                            dt.time(), tzinfo=tz)) < change
        and midnight < end
    )  # fmt: skip
    assert standing.get("old", 0) == days_before_change
    assert sum(standing.values()) == round((end - start) / dt.timedelta(days=1))


@FAST
@given(energy=energy_charges(), period=periods(), data=st.data())
def test_every_amount_is_cents_and_the_total_is_the_sum_of_lines(
    energy: EnergyStructure | DynamicEnergy,
    period: tuple[ZoneInfo, dt.datetime, dt.datetime],
    data: st.DataObject,
) -> None:
    """With every feature on: lines are rounded to exactly 2 places, totals add up."""
    _tz, start, end = period
    count = hours_in(start, end)
    readings = data.draw(st.lists(kwh_values, min_size=count, max_size=count))
    exports = data.draw(st.lists(kwh_values, min_size=count, max_size=count))
    intervals = [
        Interval(start + dt.timedelta(hours=h), 60, kwh, export)
        for h, (kwh, export) in enumerate(zip(readings, exports, strict=True))
    ]
    taxes = (
        Tax("IEE", "Electricity tax", D("5.11269632"), frozenset({STANDING_CHARGE, ENERGY})),
        Tax(
            "VAT",
            "VAT",
            D(21),
            frozenset({STANDING_CHARGE, FIXED_CHARGE, ENERGY, DYNAMIC_ENERGY, EXPORT_CREDIT,
                       DISCOUNT, MINIMUM_CHARGE, "IEE"}),
        ),
    )  # fmt: skip
    versions = one_version(
        energy,
        export_rate=data.draw(rates),
        fixed_monthly_charge=D("4.5"),
        minimum_monthly_charge=data.draw(st.none() | st.just(D(30))),
        taxes=taxes,
    )
    middle = start + (end - start) / 2
    discounts = [
        Discount("ENERGY_PERCENT", data.draw(st.integers(0, 100).map(D)), middle, None),
        Discount("DAILY_CREDIT", D("0.33"), LONG_AGO, None),
    ]
    result = rate_simple(versions, intervals, period, discounts)
    for line in result.lines:
        assert line.amount.as_tuple().exponent == -2, line
    assert result.total == sum((ln.amount for ln in result.lines), D(0))
    assert result.subtotal_before_tax == sum(
        (ln.amount for ln in result.lines if ln.component != TAX), D(0)
    )


@FAST
@given(cents=st.integers(0, 100_000))
def test_half_a_cent_rounds_up_and_half_a_cent_credit_rounds_away_from_zero(cents: int) -> None:
    """1 kWh at k cents + 0.5 cent costs k + 1 cents (ROUND_HALF_UP, e.g. 0.005 -> 0.01);
    1 kWh exported at the same rate credits -(k + 1) cents."""
    unit = D(cents).scaleb(-2) + D("0.005")
    start = dt.datetime(2026, 4, 1, 10, tzinfo=UTC)
    tariff = [PriceVersion(LONG_AGO, None, D(0), EnergyStructure.flat(unit), export_rate=unit)]
    result = rate(
        versions=tariff,
        intervals=[Interval(start, 60, D(1), D(1))],
        period_start=start,
        period_end=start + dt.timedelta(hours=1),
        tz=ZONES[0],
    )
    expected = D(cents + 1).scaleb(-2)
    assert [(ln.component, ln.amount) for ln in result.lines] == [
        (ENERGY, expected),
        (EXPORT_CREDIT, -expected),
    ]
    assert result.total == 0
