"""Time helpers for the rating engine: instants as integer microseconds, local-hour grids.

Everything here is pure and deterministic; the two grid builders are memoised because plan
comparison rates the same period in the same zone for several tariffs in a row.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_US = dt.timedelta(microseconds=1)
MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000
#: Stands for "open ended" (valid_to None) in microsecond arithmetic.
FOREVER_US = 2**62


def require_aware(value: dt.datetime, *, field: str) -> dt.datetime:
    """Refuse naive datetimes with a ValueError naming the field."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{field} must be a datetime, not {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware (got naive {value.isoformat()}).")
    return value


def to_us(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    return (value - EPOCH) // ONE_US


def from_us(us: int) -> dt.datetime:
    """The UTC datetime ``us`` microseconds after the Unix epoch."""
    return EPOCH + dt.timedelta(microseconds=us)


def day_start_us(day: dt.date, tz: ZoneInfo) -> int:
    """The instant the local calendar ``day`` begins (first existing wall-clock instant)."""
    return to_us(dt.datetime.combine(day, dt.time.min, tzinfo=tz))


def days_in_month(year: int, month: int) -> int:
    """Number of days in a calendar month (leap years included)."""
    if month == 12:
        return 31
    return (dt.date(year, month + 1, 1) - dt.date(year, month, 1)).days


class SlotAttrs(NamedTuple):
    """Local wall-clock facts that are constant inside one local hour."""

    local_date: dt.date
    month: int  # 1..12
    hour: int  # 0..23
    weekday: int  # Monday 0 .. Sunday 6


class LocalGrid(NamedTuple):
    """Sorted slot boundaries (first = period start, last = period end) and per-slot attrs.

    Boundaries are every local-hour start and every UTC-hour start inside the period, plus
    any UTC-offset transition; so inside one slot the local hour and the UTC hour are fixed.
    """

    bounds: tuple[int, ...]
    attrs: tuple[SlotAttrs, ...]


def _offset_us(us: int, tz: ZoneInfo) -> int:
    offset = from_us(us).astimezone(tz).utcoffset()
    assert offset is not None  # ZoneInfo always answers for aware datetimes
    return offset // ONE_US


def _transition_us(low: int, high: int, tz: ZoneInfo) -> int:
    """First instant in (low, high] (minute resolution) whose offset equals that of ``high``."""
    target = _offset_us(high, tz)
    lo, hi = low // MINUTE_US, high // MINUTE_US  # lo has the old offset, hi the new one
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_us(mid * MINUTE_US, tz) == target:
            hi = mid
        else:
            lo = mid
    return hi * MINUTE_US


@lru_cache(maxsize=32)  # a year-long grid is ~1 MB; monthly grids are ~100 kB
def local_grid(tz: ZoneInfo, start_us: int, end_us: int) -> LocalGrid:
    """Slot boundaries and local attributes for [start_us, end_us) in ``tz``."""
    points = {start_us, end_us}

    def add(point: int) -> None:
        if start_us < point < end_us:
            points.add(point)

    hour = start_us - start_us % HOUR_US
    offset = _offset_us(hour, tz)
    while hour < end_us:
        add(hour)
        within = (hour + offset) % HOUR_US  # local minutes past the hour at ``hour``
        following = hour + HOUR_US
        next_offset = _offset_us(following, tz)
        if next_offset == offset:
            if within:
                add(hour + HOUR_US - within)
        else:
            change = _transition_us(hour, following, tz)
            add(change)
            if within and hour + HOUR_US - within < change:
                add(hour + HOUR_US - within)
            after = (change + next_offset) % HOUR_US
            if after and change + HOUR_US - after < following:
                add(change + HOUR_US - after)
        hour, offset = following, next_offset
    bounds = tuple(sorted(points))
    attrs = []
    for bound in bounds[:-1]:
        local = from_us(bound).astimezone(tz)
        attrs.append(SlotAttrs(local.date(), local.month, local.hour, local.weekday()))
    return LocalGrid(bounds, tuple(attrs))


@lru_cache(maxsize=256)
def local_days(tz: ZoneInfo, start_us: int, end_us: int) -> tuple[tuple[dt.date, int, int], ...]:
    """Local calendar days whose start (local midnight) lies in [start_us, end_us).

    Each item is (date, start_us, end_us of that local day). A period that does not begin at
    a local midnight therefore counts from the next day: adjacent periods never share a day.
    """
    day = from_us(start_us).astimezone(tz).date()
    begin = day_start_us(day, tz)
    if begin < start_us:
        day += dt.timedelta(days=1)
        begin = day_start_us(day, tz)
    days = []
    while begin < end_us:
        following = day + dt.timedelta(days=1)
        end = day_start_us(following, tz)
        days.append((day, begin, end))
        day, begin = following, end
    return tuple(days)


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The local calendar month [first midnight, next month's first midnight) as UTC instants."""
    following = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return (
        from_us(day_start_us(dt.date(year, month, 1), tz)),
        from_us(day_start_us(following, tz)),
    )
