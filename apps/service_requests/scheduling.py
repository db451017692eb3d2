"""Bookable appointment windows from crew working hours. Pure: no Django, no clock, no settings.

Working hours are wall-clock times in the operator's zone (a crew starts at 08:00 whatever
the season). Windows are cut from each shift in wall-clock steps (08:00–10:00, 10:00–12:00,
…) and only then turned into instants, so a window is 08:00–10:00 local on both sides of a
DST change. A window whose start or end does not exist that day (the hour skipped in
spring) is not offered; a repeated hour (autumn) is read as its first occurrence.
See docs/decisions/0602-appointment-slots.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True, order=True)
class Shift:
    """Working hours on one weekday (0 = Monday), local wall-clock, ``start`` < ``end``."""

    weekday: int
    start: dt.time
    end: dt.time


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A bookable time range [starts_at, ends_at), aware (UTC)."""

    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Slot:
    """A window and the crews free for the whole of it (ids, ascending)."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    crew_ids: tuple[int, ...]


def local_instant(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime | None:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``zone``; None if that time is skipped.

    A repeated wall-clock time (the autumn change) gives its first occurrence.
    """
    local = dt.datetime.combine(day, at, tzinfo=zone)
    instant = local.astimezone(dt.UTC)
    back = instant.astimezone(zone)
    if (back.date(), back.time()) != (day, at.replace(tzinfo=None)):
        return None
    return instant


def shift_windows(
    *,
    shifts: Iterable[Shift],
    first_day: dt.date,
    days: int,
    zone: ZoneInfo,
    length: dt.timedelta,
) -> list[Window]:
    """Windows of ``length`` (wall-clock) cut from ``shifts`` over ``days`` days from ``first_day``.

    A shift shorter than ``length``, or its remainder, gives no window. Sorted, no duplicates.
    """
    if length <= dt.timedelta(0):
        raise ValueError("length must be positive")
    by_weekday: dict[int, list[Shift]] = {}
    for shift in shifts:
        if not shift.start < shift.end:
            raise ValueError(f"shift on weekday {shift.weekday} must end after it starts")
        by_weekday.setdefault(shift.weekday, []).append(shift)
    found: set[Window] = set()
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        for shift in by_weekday.get(day.weekday(), ()):
            cursor = dt.datetime.combine(day, shift.start)
            end_of_shift = dt.datetime.combine(day, shift.end)
            while cursor + length <= end_of_shift:
                starts_at = local_instant(day, cursor.time(), zone)
                ends_at = local_instant(day, (cursor + length).time(), zone)
                if starts_at is not None and ends_at is not None and starts_at < ends_at:
                    found.add(Window(starts_at, ends_at))
                cursor += length
    return sorted(found)


def _overlaps(window: Window, busy: Sequence[tuple[dt.datetime, dt.datetime]]) -> bool:
    return any(start < window.ends_at and window.starts_at < end for start, end in busy)


def free_slots(
    *,
    windows_by_crew: Mapping[int, Sequence[Window]],
    busy_by_crew: Mapping[int, Sequence[tuple[dt.datetime, dt.datetime]]],
    earliest: dt.datetime,
) -> list[Slot]:
    """Windows starting at or after ``earliest`` in which at least one crew is free.

    A crew is free for a window when none of its busy ranges [start, end) overlaps it.
    Windows with the same start and end are merged into one slot listing every free crew.
    """
    crews_by_window: dict[Window, list[int]] = {}
    for crew_id, windows in windows_by_crew.items():
        busy = busy_by_crew.get(crew_id, ())
        for window in windows:
            if window.starts_at < earliest or _overlaps(window, busy):
                continue
            crews_by_window.setdefault(window, []).append(crew_id)
    return [
        Slot(window.starts_at, window.ends_at, tuple(sorted(crews)))
        for window, crews in sorted(crews_by_window.items())
    ]


def postcode_in_area(postcode: str, prefixes: Iterable[str]) -> bool:
    """Whether ``postcode`` starts with one of ``prefixes`` (spaces and case ignored)."""
    code = postcode.replace(" ", "").upper()
    return any(code.startswith(p.replace(" ", "").upper()) for p in prefixes if p.strip())
