"""IEEE 1366 indices on a worked example computed by hand (pure: no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.outages.reliability import (
    CustomerInterruption,
    MajorEventDay,
    daily_saidi,
    indices,
    major_event_threshold,
    reliability_report,
    rounded,
)

D = Decimal
MADRID = ZoneInfo("Europe/Madrid")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MADRID)  # type: ignore[misc]


def out(customer: int, start: dt.datetime, minutes: float) -> CustomerInterruption:
    return CustomerInterruption(customer, start, start + dt.timedelta(minutes=minutes))


# Ten customers (N_T = 10). History: the five years before 1 March 2026.
HISTORY = [
    out(1, local(2023, 5, 10, 9, 0), 10),  # 2023-05-10: 10 min  → SAIDI/day 1
    out(2, local(2024, 2, 14, 18, 0), 20),  # 2024-02-14: 2 × 20 → SAIDI/day 4
    out(3, local(2024, 2, 14, 18, 5), 20),
    out(4, local(2025, 7, 1, 12, 0), 20),  # 2025-07-01: 20 min → SAIDI/day 2
    out(5, local(2025, 7, 2, 12, 0), 3),  # momentary: not in SAIDI, not a history day
    out(6, local(2021, 2, 28, 12, 0), 600),  # more than five years before: ignored
]
PERIOD = [
    # 1 March: one sustained hour and two momentary blinks (2 min, 4 min 59 s).
    out(1, local(2026, 3, 1, 8, 0), 60),
    out(2, local(2026, 3, 1, 9, 0), 2),
    CustomerInterruption(3, local(2026, 3, 1, 10, 0), local(2026, 3, 1, 10, 4, 59)),
    # 2 March (a storm): six customers out 25 minutes each.
    *[out(c, local(2026, 3, 2, 14, 0), 25) for c in (4, 5, 6, 7, 8, 9)],
    # 3 March: exactly 5 minutes (sustained), 15 minutes, and 40 minutes from 23:50 that
    # runs into 4 March but counts on the day it began.
    out(10, local(2026, 3, 3, 7, 0), 5),
    out(1, local(2026, 3, 3, 12, 0), 15),
    out(2, local(2026, 3, 3, 23, 50), 40),
    # 4 March is after the period.
    out(3, local(2026, 3, 4, 10, 0), 100),
]


def test_indices_and_major_event_days_match_the_hand_computation() -> None:
    """The worked example, by hand.

    Major event threshold, from the daily SAIDI of the five years before the period
    (days with SAIDI 0 and momentary interruptions left out; the 2021 interruption is
    more than five years back):
        days: 1 (10 min / 10), 4 (40 min / 10), 2 (20 min / 10)
        ln:   0, 1.386294, 0.693147                → α = mean = 0.693147 (= ln 2)
        deviations −ln 2, +ln 2, 0 → Σ² = 2 (ln 2)² → sample variance (n − 1 = 2) = (ln 2)²
                                                     → β = 0.693147 (= ln 2)
        T_MED = exp(α + 2.5 β) = exp(3.5 ln 2) = 2^3.5 = 11.3137 minutes.

    Daily SAIDI of the period (N_T = 10):
        1 March: 60 min               → 6.0   (the 2 min and 4 min 59 s cuts are momentary)
        2 March: 6 × 25 = 150 min     → 15.0  > 11.3137: a major event day
        3 March: 5 + 15 + 40 = 60 min → 6.0   (the 23:50 cut counts on 3 March)

    All days: 10 sustained customer interruptions, 270 customer-minutes, 2 momentary:
        SAIDI = 270 / 10 = 27.0, SAIFI = 10 / 10 = 1.0, CAIDI = 270 / 10 = 27.0,
        MAIFI = 2 / 10 = 0.2.
    Without the major event day: 4 interruptions, 120 minutes:
        SAIDI = 12.0, SAIFI = 0.4, CAIDI = 120 / 4 = 30.0, MAIFI = 0.2.
    The major event day alone: 6 interruptions, 150 minutes:
        SAIDI = 15.0, SAIFI = 0.6, CAIDI = 25.0, MAIFI = 0.
    """
    report = reliability_report(
        HISTORY + PERIOD,
        customers_served=10,
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 4),
        tz=MADRID,
    )

    assert report.history_start == dt.date(2021, 3, 1)
    assert report.threshold is not None
    assert report.threshold.days_used == 3
    assert rounded(report.threshold.alpha) == D("0.6931")
    assert rounded(report.threshold.beta) == D("0.6931")
    assert rounded(report.threshold.t_med) == D("11.3137")
    assert report.major_event_days == (MajorEventDay(dt.date(2026, 3, 2), D("15.0000")),)

    everything = report.all_days
    assert (everything.customer_interruptions, everything.momentary_interruptions) == (10, 2)
    assert everything.customer_minutes == D("270.0000")
    assert (everything.saidi, everything.saifi, everything.caidi, everything.maifi) == (
        D("27.0000"),
        D("1.0000"),
        D("27.0000"),
        D("0.2000"),
    )
    normal = report.normal_days
    assert (normal.saidi, normal.saifi, normal.caidi, normal.maifi) == (
        D("12.0000"),
        D("0.4000"),
        D("30.0000"),
        D("0.2000"),
    )
    major = report.major_events
    assert (major.saidi, major.saifi, major.caidi, major.maifi) == (
        D("15.0000"),
        D("0.6000"),
        D("25.0000"),
        D("0.0000"),
    )


def test_without_history_no_day_is_a_major_event_day() -> None:
    report = reliability_report(
        PERIOD,
        customers_served=10,
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 4),
        tz=MADRID,
    )
    assert report.threshold is None
    assert report.major_event_days == ()
    assert report.normal_days == report.all_days


def test_caidi_is_undefined_without_sustained_interruptions() -> None:
    result = indices([out(1, local(2026, 3, 1, 8, 0), 1)], customers_served=4)
    assert (result.saidi, result.saifi, result.caidi, result.maifi) == (
        D("0.0000"),
        D("0.0000"),
        None,
        D("0.2500"),
    )


def test_an_interruption_counts_on_the_local_day_it_began_across_the_dst_change() -> None:
    # 00:30 local on 29 March 2026 is still 28 March in UTC (23:30Z).
    start = dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC)
    daily = daily_saidi(
        [CustomerInterruption(1, start, start + dt.timedelta(hours=3))],
        customers_served=2,
        tz=MADRID,
        first_day=dt.date(2026, 3, 28),
        end_day=dt.date(2026, 3, 30),
    )
    assert daily == {dt.date(2026, 3, 28): D(0), dt.date(2026, 3, 29): D(90)}


def test_threshold_needs_two_days_with_interruptions() -> None:
    assert major_event_threshold([D(0), D(3)]) is None


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="customers_served"):
        indices([], customers_served=0)
    with pytest.raises(ValueError, match="end before"):
        indices([CustomerInterruption(1, local(2026, 1, 2), local(2026, 1, 1))], customers_served=1)
    with pytest.raises(ValueError, match="period_end"):
        reliability_report(
            [],
            customers_served=1,
            period_start=dt.date(2026, 1, 2),
            period_end=dt.date(2026, 1, 2),
            tz=MADRID,
        )
