"""Local wall-clock time: DST days (23 and 25 hours), leap day, tiers inside TOU periods.

Europe/Madrid: 2026-03-29 clocks jump 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 they fall
back 03:00 CEST -> 02:00 CET (01:00Z), so local 02:xx happens twice. Both are Sundays.
Readings are 1 kWh per UTC hour unless a test says otherwise.

Rates (2.0TD-like): P1 0.183468, P2 0.110328, P3 0.075921 EUR/kWh. P1 10-14 & 18-22,
P2 8-10, 14-18, 22-24, P3 0-8; the "2.0TD" structure puts weekends and holidays all in P3,
the "every day" structure uses the weekday hours on all days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.tariffs.rating import (
    ENERGY,
    FIXED_CHARGE,
    STANDING_CHARGE,
    EnergyStructure,
    Interval,
    PriceVersion,
    RatingResult,
    Tier,
    month_bounds,
    rate,
    repeat_monthly,
)

D = Decimal
ONE = Decimal(1)
UTC = dt.UTC
MADRID = ZoneInfo("Europe/Madrid")
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=UTC)
WEEKDAY = ("P3",) * 8 + ("P2",) * 2 + ("P1",) * 4 + ("P2",) * 4 + ("P1",) * 4 + ("P2",) * 2
RATES = {"P1": D("0.183468"), "P2": D("0.110328"), "P3": D("0.075921")}
TD20 = EnergyStructure.time_of_use(RATES, repeat_monthly(WEEKDAY), repeat_monthly(("P3",) * 24))
EVERY_DAY = EnergyStructure.time_of_use(RATES, repeat_monthly(WEEKDAY))


def local_day(year: int, month: int, day: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, day, tzinfo=MADRID)
    end = dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(), tzinfo=MADRID)
    return start.astimezone(UTC), end.astimezone(UTC)


def hourly_between(start: dt.datetime, end: dt.datetime, kwh: Decimal = ONE) -> list[Interval]:
    hours = int((end - start) / dt.timedelta(hours=1))
    return [Interval(start + dt.timedelta(hours=h), 60, kwh) for h in range(hours)]


def rate_day(
    structure: EnergyStructure,
    day: tuple[dt.datetime, dt.datetime],
    intervals: list[Interval] | None = None,
    **extra: Decimal,
) -> RatingResult:
    start, end = day
    tariff = PriceVersion(
        valid_from=LONG_AGO,
        valid_to=None,
        standing_charge_per_day=D("0.131871"),
        energy=structure,
        **extra,  # type: ignore[arg-type]
    )
    return rate(
        versions=[tariff],
        intervals=hourly_between(start, end) if intervals is None else intervals,
        period_start=start,
        period_end=end,
        tz=MADRID,
    )


def energy(result: RatingResult) -> list[tuple[str, int | None, Decimal, Decimal]]:
    return [
        (ln.period, ln.tier, ln.quantity, ln.amount)
        for ln in result.lines
        if ln.component == ENERGY
    ]


def test_spring_forward_day_has_23_hours_and_no_local_2am() -> None:
    """2026-03-29 local = 2026-03-28T23:00Z .. 2026-03-29T22:00Z: 23 readings.

    Local hours 0, 1, 3..7 are P3 (7 kWh; 02:00 does not exist), P2 8 kWh, P1 8 kWh.
    P1 8 x 0.183468 = 1.467744 -> 1.47; P2 8 x 0.110328 = 0.882624 -> 0.88;
    P3 7 x 0.075921 = 0.531447 -> 0.53. Standing 1 day x 0.131871 -> 0.13. Total 3.01.
    """
    day = local_day(2026, 3, 29)
    assert day == (
        dt.datetime(2026, 3, 28, 23, tzinfo=UTC),
        dt.datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    result = rate_day(EVERY_DAY, day)
    assert result.kwh_import_total == D(23)
    assert energy(result) == [
        ("P1", None, D(8), D("1.47")),
        ("P2", None, D(8), D("0.88")),
        ("P3", None, D(7), D("0.53")),
    ]
    standing = [ln for ln in result.lines if ln.component == STANDING_CHARGE]
    assert [(ln.quantity, ln.amount) for ln in standing] == [(D(1), D("0.13"))]
    assert result.total == D("3.01")


def test_spring_forward_sunday_is_all_valley_under_weekend_rule() -> None:
    """Same day under 2.0TD: Sunday, so 23 kWh of P3 x 0.075921 = 1.746183 -> 1.75."""
    result = rate_day(TD20, local_day(2026, 3, 29))
    assert energy(result) == [("P3", None, D(23), D("1.75"))]


def test_fall_back_day_has_25_hours_and_two_local_2am() -> None:
    """2026-10-25 local = 2026-10-24T22:00Z .. 2026-10-25T23:00Z: 25 readings.

    Local 02:xx twice, so P3 (0-8) has 9 kWh; P2 8, P1 8.
    P3 9 x 0.075921 = 0.683289 -> 0.68; P1 1.47; P2 0.88; standing 0.13. Total 3.16.
    """
    day = local_day(2026, 10, 25)
    assert day == (
        dt.datetime(2026, 10, 24, 22, tzinfo=UTC),
        dt.datetime(2026, 10, 25, 23, tzinfo=UTC),
    )
    result = rate_day(EVERY_DAY, day)
    assert result.kwh_import_total == D(25)
    assert energy(result) == [
        ("P1", None, D(8), D("1.47")),
        ("P2", None, D(8), D("0.88")),
        ("P3", None, D(9), D("0.68")),
    ]
    assert result.total == D("3.16")


@pytest.mark.parametrize(
    ("utc_hour", "period"),
    [
        # spring: 08:00Z is 10:00 CEST (P1); with the winter offset it would be 09:00 (P2)
        (dt.datetime(2026, 3, 29, 8, tzinfo=UTC), "P1"),
        (dt.datetime(2026, 3, 29, 7, tzinfo=UTC), "P2"),  # 09:00 CEST
        (dt.datetime(2026, 3, 29, 1, tzinfo=UTC), "P3"),  # 03:00 CEST, first hour after the jump
        # autumn: both 02:00 local hours are valley; 09:00Z is 10:00 CET (P1), 08:00Z 09:00 (P2)
        (dt.datetime(2026, 10, 25, 0, tzinfo=UTC), "P3"),  # 02:00 CEST
        (dt.datetime(2026, 10, 25, 1, tzinfo=UTC), "P3"),  # 02:00 CET
        (dt.datetime(2026, 10, 25, 9, tzinfo=UTC), "P1"),
        (dt.datetime(2026, 10, 25, 8, tzinfo=UTC), "P2"),
        (dt.datetime(2026, 10, 25, 21, tzinfo=UTC), "P2"),  # 22:00 CET
    ],
)
def test_each_utc_hour_maps_to_the_local_period(utc_hour: dt.datetime, period: str) -> None:
    day = local_day(utc_hour.year, utc_hour.month, utc_hour.day)
    result = rate_day(EVERY_DAY, day, [Interval(utc_hour, 60, D(1))])
    assert [(p, q) for p, _tier, q, _amount in energy(result)] == [(period, D(1))]


def test_dst_months_have_743_and_745_hours() -> None:
    march = month_bounds(2026, 3, MADRID)
    october = month_bounds(2026, 10, MADRID)
    assert (march[1] - march[0]) / dt.timedelta(hours=1) == 743
    assert (october[1] - october[0]) / dt.timedelta(hours=1) == 745
    result = rate_day(EVERY_DAY, march)
    assert result.kwh_import_total == D(743)
    assert sum((ln.quantity for ln in result.lines if ln.component == STANDING_CHARGE), D(0)) == 31


def test_leap_day_is_a_weekday_and_a_twenty_ninth_of_february() -> None:
    """2028-02-29 is a Tuesday: 8 kWh each of P1, P2, P3 under 2.0TD.

    P1 1.47; P2 0.88; P3 8 x 0.075921 = 0.607368 -> 0.61. Fixed 10.00/month x 1/29
    = 0.3448.. -> 0.34. Whole February 2028: 29 standing days, fixed exactly 10.00.
    """
    assert dt.date(2028, 2, 29).weekday() == 1
    day = local_day(2028, 2, 29)
    result = rate_day(TD20, day, fixed_monthly_charge=D(10))
    assert energy(result) == [
        ("P1", None, D(8), D("1.47")),
        ("P2", None, D(8), D("0.88")),
        ("P3", None, D(8), D("0.61")),
    ]
    fixed = [ln for ln in result.lines if ln.component == FIXED_CHARGE]
    assert [ln.amount for ln in fixed] == [D("0.34")]
    february = rate_day(TD20, month_bounds(2028, 2, MADRID), [], fixed_monthly_charge=D(10))
    assert [(ln.component, ln.quantity, ln.amount) for ln in february.lines] == [
        (STANDING_CHARGE, D(29), D("3.82")),  # 29 x 0.131871 = 3.824259
        (FIXED_CHARGE, D(1), D("10.00")),
    ]


def test_tier_boundary_crossed_inside_time_of_use_periods() -> None:
    """Fall-back day, every-day TOU, each period with a block of 10 kWh (day total 25 kWh).

    Tier 1 takes 10 of 25 kWh = 40 % of every period's energy, tier 2 the other 60 %:
    P1 8 -> 3.2 @0.20 = 0.64 and 4.8 @0.30 = 1.44
    P2 8 -> 3.2 @0.12 = 0.384 -> 0.38 and 4.8 @0.18 = 0.864 -> 0.86
    P3 9 -> 3.6 @0.08 = 0.288 -> 0.29 and 5.4 @0.10 = 0.54
    energy total 4.15; tier-1 quantities sum to the block (10), all quantities to 25.
    """
    structure = EnergyStructure.time_of_use(
        {
            "P1": [Tier(D(10), D("0.20")), Tier(None, D("0.30"))],
            "P2": [Tier(D(10), D("0.12")), Tier(None, D("0.18"))],
            "P3": [Tier(D(10), D("0.08")), Tier(None, D("0.10"))],
        },
        repeat_monthly(WEEKDAY),
    )
    result = rate_day(structure, local_day(2026, 10, 25))
    assert energy(result) == [
        ("P1", 1, D("3.2"), D("0.64")),
        ("P1", 2, D("4.8"), D("1.44")),
        ("P2", 1, D("3.2"), D("0.38")),
        ("P2", 2, D("4.8"), D("0.86")),
        ("P3", 1, D("3.6"), D("0.29")),
        ("P3", 2, D("5.4"), D("0.54")),
    ]
    lines = energy(result)
    assert sum((q for _p, tier, q, _a in lines if tier == 1), D(0)) == 10
    assert sum((q for _p, _t, q, _a in lines), D(0)) == 25
    assert sum((a for _p, _t, _q, a in lines), D(0)) == D("4.15")


@pytest.mark.parametrize(
    ("zone", "odd_hours"),
    [
        ("Europe/Madrid", {}),  # whole-hour offset: DST days lose/gain whole local hours 2
        ("Asia/Kolkata", {}),  # +05:30, no DST: UTC hours straddle local hours, split in halves
        ("America/St_Johns", {"H01": D(366), "H02": D(364)}),  # -03:30, DST at local 02:00
        ("Australia/Lord_Howe", {"H01": D("365.5"), "H02": D("364.5")}),  # 30-minute DST shift
    ],
)
def test_a_year_of_local_hours_in_odd_zones(zone: str, odd_hours: dict[str, Decimal]) -> None:
    """24 periods, one per local hour; 1 kWh per UTC hour through local year 2025 (8,760 h).

    Each local hour gets 365 kWh except where DST removes or repeats wall-clock time:
    St John's loses local 02:00 in March and repeats 01:00 in November (364 / 366); Lord Howe
    shifts by 30 minutes, so 02:00-02:30 is skipped in October and 01:30-02:00 repeated in
    April (364.5 / 365.5). Half-hour offsets split each UTC reading across two local hours.
    """
    tz = ZoneInfo(zone)
    start, _ = month_bounds(2025, 1, tz)
    _, end = month_bounds(2025, 12, tz)
    keys = [f"H{hour:02d}" for hour in range(24)]
    structure = EnergyStructure.time_of_use(dict.fromkeys(keys, D(1)), repeat_monthly(keys))
    tariff = PriceVersion(LONG_AGO, None, D(0), structure)
    result = rate(
        versions=[tariff],
        intervals=hourly_between(start, end),
        period_start=start,
        period_end=end,
        tz=tz,
    )
    assert result.kwh_import_total == 8760
    per_hour = {line.period: line.quantity for line in result.lines}
    assert per_hour == {key: odd_hours.get(key, D(365)) for key in keys}
