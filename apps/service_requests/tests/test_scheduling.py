"""The pure slot module: wall-clock windows, DST days, busy crews. No database."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.service_requests.scheduling import (
    Shift,
    Slot,
    Window,
    free_slots,
    local_instant,
    postcode_in_area,
    shift_windows,
)

MADRID = ZoneInfo("Europe/Madrid")
TWO_HOURS = dt.timedelta(hours=2)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


def test_a_shift_is_cut_into_two_hour_windows_and_the_remainder_dropped() -> None:
    windows = shift_windows(
        shifts=[Shift(1, dt.time(8), dt.time(13))],  # Tuesday 08:00–13:00
        first_day=dt.date(2026, 3, 9),
        days=7,
        zone=MADRID,
        length=TWO_HOURS,
    )
    assert windows == [
        Window(utc(2026, 3, 10, 7), utc(2026, 3, 10, 9)),
        Window(utc(2026, 3, 10, 9), utc(2026, 3, 10, 11)),
    ]


def test_eight_oclock_stays_eight_oclock_on_both_sides_of_the_spring_change() -> None:
    windows = shift_windows(
        shifts=[Shift(5, dt.time(8), dt.time(10)), Shift(6, dt.time(8), dt.time(10))],
        first_day=dt.date(2026, 3, 28),
        days=2,
        zone=MADRID,
        length=TWO_HOURS,
    )
    assert windows == [
        Window(utc(2026, 3, 28, 7), utc(2026, 3, 28, 9)),  # CET, UTC+1
        Window(utc(2026, 3, 29, 6), utc(2026, 3, 29, 8)),  # CEST, UTC+2
    ]


def test_windows_touching_the_skipped_hour_are_not_offered() -> None:
    windows = shift_windows(
        shifts=[Shift(6, dt.time(0), dt.time(6))],  # Sunday 29 March 2026: 02:00 → 03:00
        first_day=dt.date(2026, 3, 29),
        days=1,
        zone=MADRID,
        length=TWO_HOURS,
    )
    assert windows == [Window(utc(2026, 3, 29, 2), utc(2026, 3, 29, 4))]  # 04:00–06:00 local


def test_the_repeated_autumn_hour_is_read_as_its_first_occurrence() -> None:
    windows = shift_windows(
        shifts=[Shift(6, dt.time(0), dt.time(4))],  # Sunday 25 October 2026: 03:00 → 02:00
        first_day=dt.date(2026, 10, 25),
        days=1,
        zone=MADRID,
        length=TWO_HOURS,
    )
    assert windows == [
        Window(utc(2026, 10, 24, 22), utc(2026, 10, 25, 0)),  # 00:00–02:00 CEST
        Window(utc(2026, 10, 25, 0), utc(2026, 10, 25, 3)),  # 02:00 CEST – 04:00 CET: 3 hours
    ]


def test_local_instant_is_none_for_a_skipped_time() -> None:
    assert local_instant(dt.date(2026, 3, 29), dt.time(2, 30), MADRID) is None
    assert local_instant(dt.date(2026, 3, 29), dt.time(3, 0), MADRID) == utc(2026, 3, 29, 1)


def test_busy_crews_drop_out_and_equal_windows_merge() -> None:
    a = Window(utc(2026, 3, 11, 9), utc(2026, 3, 11, 11))
    b = Window(utc(2026, 3, 11, 11), utc(2026, 3, 11, 13))
    slots = free_slots(
        windows_by_crew={1: [a, b], 2: [a, b]},
        busy_by_crew={1: [(utc(2026, 3, 11, 10), utc(2026, 3, 11, 11))]},  # only overlaps a
        earliest=utc(2026, 3, 11, 9),
    )
    assert slots == [Slot(a.starts_at, a.ends_at, (2,)), Slot(b.starts_at, b.ends_at, (1, 2))]


def test_windows_before_the_earliest_start_are_not_offered() -> None:
    a = Window(utc(2026, 3, 11, 9), utc(2026, 3, 11, 11))
    assert (
        free_slots(windows_by_crew={1: [a]}, busy_by_crew={}, earliest=utc(2026, 3, 11, 9, 1)) == []
    )


def test_invalid_shift_is_refused() -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        shift_windows(
            shifts=[Shift(0, dt.time(10), dt.time(8))],
            first_day=dt.date(2026, 3, 9),
            days=1,
            zone=MADRID,
            length=TWO_HOURS,
        )


@pytest.mark.parametrize(
    ("postcode", "prefixes", "inside"),
    [
        ("28013", ["28"], True),
        ("28 013", ["280"], True),
        ("29013", ["28", "41"], False),
        ("28013", [" "], False),
        ("sw1a 1aa", ["SW1A"], True),
    ],
)
def test_service_area_is_a_list_of_postcode_prefixes(
    postcode: str, prefixes: list[str], inside: bool
) -> None:
    assert postcode_in_area(postcode, prefixes) is inside


@given(
    start_hour=st.integers(min_value=0, max_value=22),
    hours=st.integers(min_value=1, max_value=12),
    first_day=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)),
    weekday=st.integers(min_value=0, max_value=6),
    length_hours=st.integers(min_value=1, max_value=4),
)
def test_windows_lie_within_the_shift_in_wall_clock_and_never_overlap(
    start_hour: int, hours: int, first_day: dt.date, weekday: int, length_hours: int
) -> None:
    end_hour = min(start_hour + hours, 23)
    if end_hour <= start_hour:
        return
    shift = Shift(weekday, dt.time(start_hour), dt.time(end_hour))
    windows = shift_windows(
        shifts=[shift],
        first_day=first_day,
        days=14,
        zone=MADRID,
        length=dt.timedelta(hours=length_hours),
    )
    assert windows == sorted(windows)
    for earlier, later in itertools.pairwise(windows):
        assert earlier.ends_at <= later.starts_at
    for window in windows:
        start, end = window.starts_at.astimezone(MADRID), window.ends_at.astimezone(MADRID)
        assert start.weekday() == weekday
        assert shift.start <= start.time()
        assert end.time() <= shift.end
        assert (start.hour - start_hour) % length_hours == 0
        assert dt.timedelta(hours=length_hours - 1) <= window.ends_at - window.starts_at
        assert window.ends_at - window.starts_at <= dt.timedelta(hours=length_hours + 1)
