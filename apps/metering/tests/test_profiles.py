"""The standard household load profile: exact totals, real hours, a plausible shape."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from apps.metering.profiles import ProfileInterval, hour_weight, profile_intervals

MADRID = ZoneInfo("Europe/Madrid")


def _year() -> list[ProfileInterval]:
    return profile_intervals(
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2026, 1, 1),
        tz=MADRID,
        total_kwh=Decimal("3500"),
    )


def test_a_year_of_profile_sums_exactly_to_the_annual_consumption() -> None:
    year = _year()
    assert len(year) == 8760
    assert sum((item.kwh for item in year), Decimal(0)) == Decimal("3500.000")
    assert all(item.kwh >= 0 for item in year)
    assert all(item.minutes == 60 for item in year)
    assert year[0].start == dt.datetime(2024, 12, 31, 23, tzinfo=dt.UTC)
    assert all(b.start - a.start == dt.timedelta(hours=1) for a, b in pairwise(year))


def test_dst_days_have_23_and_25_hours() -> None:
    def hours_on(day: dt.date) -> int:
        return len(
            profile_intervals(
                start_date=day,
                end_date=day + dt.timedelta(days=1),
                tz=MADRID,
                total_kwh=Decimal("10"),
            )
        )

    assert hours_on(dt.date(2025, 3, 30)) == 23
    assert hours_on(dt.date(2025, 10, 26)) == 25
    assert hours_on(dt.date(2025, 6, 1)) == 24


def test_shape_evening_peak_winter_heavier_weekends_later() -> None:
    wednesday_9pm = dt.datetime(2025, 1, 15, 21, tzinfo=MADRID)
    wednesday_4am = dt.datetime(2025, 1, 15, 4, tzinfo=MADRID)
    assert hour_weight(wednesday_9pm) > 3 * hour_weight(wednesday_4am)
    january = dt.datetime(2025, 1, 15, 12, tzinfo=MADRID)
    may = dt.datetime(2025, 5, 14, 12, tzinfo=MADRID)
    assert hour_weight(january) > hour_weight(may)
    saturday_11am = dt.datetime(2025, 1, 18, 11, tzinfo=MADRID)
    wednesday_11am = dt.datetime(2025, 1, 15, 11, tzinfo=MADRID)
    assert hour_weight(saturday_11am) > hour_weight(wednesday_11am)
    holiday = dt.date(2025, 1, 15)
    assert hour_weight(wednesday_11am, holidays=frozenset({holiday})) == hour_weight(
        dt.datetime(2025, 1, 18, 11, tzinfo=MADRID)
    )


def test_scaling_is_proportional() -> None:
    small = profile_intervals(
        start_date=dt.date(2025, 2, 1),
        end_date=dt.date(2025, 3, 1),
        tz=MADRID,
        total_kwh=Decimal("100"),
    )
    large = profile_intervals(
        start_date=dt.date(2025, 2, 1),
        end_date=dt.date(2025, 3, 1),
        tz=MADRID,
        total_kwh=Decimal("1000"),
    )
    assert sum(item.kwh for item in small) == Decimal("100.000")
    assert sum(item.kwh for item in large) == Decimal("1000.000")
    peak = max(range(len(large)), key=lambda i: large[i].kwh)
    assert abs(large[peak].kwh - 10 * small[peak].kwh) <= Decimal("0.010")


def test_bad_arguments_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="end_date"):
        profile_intervals(
            start_date=dt.date(2025, 2, 1),
            end_date=dt.date(2025, 2, 1),
            tz=MADRID,
            total_kwh=Decimal("1"),
        )
    with pytest.raises(ValueError, match="must not be negative"):
        profile_intervals(
            start_date=dt.date(2025, 2, 1),
            end_date=dt.date(2025, 2, 2),
            tz=MADRID,
            total_kwh=Decimal("-1"),
        )
    with pytest.raises(TypeError, match="Decimal"):
        profile_intervals(
            start_date=dt.date(2025, 2, 1),
            end_date=dt.date(2025, 2, 2),
            tz=MADRID,
            total_kwh=3500.0,  # type: ignore[arg-type]
        )
