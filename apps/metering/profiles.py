"""A standard household load profile: how a year's kWh spread over the hours.

Pure module: no Django, no database, no clock. Used when a supply point has no interval
readings (plan comparison, estimates) to turn an annual consumption into hourly intervals.

The shape is a synthetic profile modelled on the published initial profiles for Spanish
household supplies (2.0TD): more energy in winter, a summer air-conditioning bump, a small
morning peak and the main peak in the evening; weekends and public holidays start later.
It is a documented approximation, not the official coefficients (decision 0304).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

#: Relative consumption per day, January..December.
MONTH_WEIGHTS: tuple[int, ...] = (118, 106, 100, 88, 84, 88, 103, 104, 90, 90, 102, 117)
#: Relative consumption per local hour 0..23 on working days.
WEEKDAY_HOUR_WEIGHTS: tuple[int, ...] = (
    55, 45, 40, 38, 38, 40, 50, 70, 85, 80, 75, 75,
    78, 85, 95, 85, 75, 75, 85, 100, 120, 130, 115, 85,
)  # fmt: skip
#: Relative consumption per local hour 0..23 on Saturdays, Sundays and public holidays.
WEEKEND_HOUR_WEIGHTS: tuple[int, ...] = (
    60, 50, 44, 40, 38, 38, 40, 48, 65, 85, 95, 95,
    95, 105, 110, 95, 85, 80, 85, 100, 115, 120, 110, 85,
)  # fmt: skip

HOUR = dt.timedelta(hours=1)
_KWH = Decimal("0.001")


class ProfileInterval(NamedTuple):
    """One hour of profiled consumption: [start, start + minutes), start in UTC."""

    start: dt.datetime
    minutes: int
    kwh: Decimal


def _local_midnight_utc(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


def hour_weight(local: dt.datetime, *, holidays: frozenset[dt.date] = frozenset()) -> int:
    """The profile's relative weight of the local hour starting at ``local`` (aware, local)."""
    day = local.date()
    hours = WEEKEND_HOUR_WEIGHTS if day.weekday() >= 5 or day in holidays else WEEKDAY_HOUR_WEIGHTS
    return MONTH_WEIGHTS[local.month - 1] * hours[local.hour]


def profile_intervals(
    *,
    start_date: dt.date,
    end_date: dt.date,
    tz: ZoneInfo,
    total_kwh: Decimal,
    holidays: Iterable[dt.date] = (),
) -> list[ProfileInterval]:
    """Hourly intervals covering local dates [start_date, end_date) that sum to ``total_kwh``.

    Each real hour is included once, so the spring-forward day has 23 intervals and the
    fall-back day 25. Energy is shared in proportion to :func:`hour_weight` and rounded to
    the watt-hour on the running total, so the intervals add up to ``total_kwh`` exactly
    (rounded to 3 places) and none is negative.

    Raises:
        ValueError: ``end_date`` is not after ``start_date``, or ``total_kwh`` is negative.
    """
    if end_date <= start_date:
        raise ValueError(
            f"end_date ({end_date.isoformat()}) must be after start_date "
            f"({start_date.isoformat()})."
        )
    if not isinstance(total_kwh, Decimal):
        raise TypeError(f"total_kwh must be a Decimal, got {type(total_kwh).__name__}.")
    if total_kwh < 0:
        raise ValueError(f"total_kwh must not be negative, got {total_kwh}.")
    holiday_dates = frozenset(holidays)
    first = _local_midnight_utc(start_date, tz)
    last = _local_midnight_utc(end_date, tz)
    starts: list[dt.datetime] = []
    weights: list[int] = []
    instant = first
    while instant < last:
        starts.append(instant)
        weights.append(hour_weight(instant.astimezone(tz), holidays=holiday_dates))
        instant += HOUR
    total_weight = sum(weights)
    intervals: list[ProfileInterval] = []
    running = 0
    allocated = Decimal(0)
    for start, weight in zip(starts, weights, strict=True):
        running += weight
        reached = (total_kwh * running / total_weight).quantize(_KWH, rounding=ROUND_HALF_UP)
        intervals.append(ProfileInterval(start, 60, reached - allocated))
        allocated = reached
    return intervals
