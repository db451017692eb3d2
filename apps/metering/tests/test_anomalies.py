"""Unusual-consumption detection on generated households: injected anomalies are found,
normal noise is not, sensitivity and switched-off kinds behave. No database."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.metering.anomalies import (
    HIGH,
    HIGH_BASELOAD,
    HIGH_DAILY,
    KINDS,
    LOW,
    NORMAL,
    PRESETS,
    STEP_CHANGE,
    ZERO_USE,
    Finding,
    Usage,
    check_day,
    detect,
    mad,
    median,
    thresholds_for,
)

D = Decimal
START = dt.date(2026, 1, 5)  # a Monday
DAYS = 150
LAST = START + dt.timedelta(days=DAYS - 1)
FAST = settings(max_examples=60, deadline=None)

# A household's share of the day per local hour: low at night, peaks morning and evening.
PROFILE = [
    0.022, 0.018, 0.017, 0.017, 0.017, 0.02, 0.035, 0.05, 0.048, 0.04, 0.038, 0.04,
    0.045, 0.045, 0.04, 0.038, 0.04, 0.05, 0.065, 0.075, 0.072, 0.06, 0.045, 0.03,
]  # fmt: skip

Hours = dict[dt.datetime, Decimal]


def household(
    seed: int, *, days: int = DAYS, kwh_per_day: float = 10.0, noise: float = 0.12
) -> Hours:
    """Hourly kWh of an ordinary home: weekly rhythm (more at weekends) and random noise."""
    rng = random.Random(seed)
    total = sum(PROFILE)
    hours: Hours = {}
    for n in range(days):
        day = START + dt.timedelta(days=n)
        level = kwh_per_day * (1.2 if day.weekday() >= 5 else 1.0) * rng.gauss(1, noise / 2)
        for hour, share in enumerate(PROFILE):
            value = max(0.0, level * share / total * rng.gauss(1, noise))
            hours[dt.datetime.combine(day, dt.time(hour))] = D(str(round(value, 3)))
    return hours


def usage_of(hours: Hours, *, active_until: dt.date | None = None, **extra: object) -> Usage:
    daily: dict[dt.date, Decimal] = {}
    for start, kwh in hours.items():
        daily[start.date()] = daily.get(start.date(), D(0)) + kwh
    return Usage(daily=daily, hourly=hours, active=((START, active_until),), **extra)  # type: ignore[arg-type]


def change(hours: Hours, days: range, rule: Callable[[int, Decimal], Decimal]) -> Hours:
    """A copy of ``hours`` with ``rule(hour, kWh)`` applied on the days at ``days`` offsets."""
    changed = dict(hours)
    for n in days:
        day = START + dt.timedelta(days=n)
        for hour in range(24):
            key = dt.datetime.combine(day, dt.time(hour))
            changed[key] = rule(hour, changed[key]).quantize(D("0.001"))
    return changed


def scan(
    usage: Usage, *, sensitivity: str = NORMAL, disabled: tuple[str, ...] = ()
) -> list[Finding]:
    """What a daily scan over the last 60 days would have found."""
    return detect(
        usage,
        evaluate_from=LAST - dt.timedelta(days=59),
        evaluate_to=LAST,
        thresholds=thresholds_for(sensitivity),
        disabled=disabled,
    )


def day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


# -- normal life is not an anomaly ----------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("sensitivity", [LOW, NORMAL])
def test_ordinary_household_noise_raises_nothing(seed: int, sensitivity: str) -> None:
    assert scan(usage_of(household(seed)), sensitivity=sensitivity) == []


@pytest.mark.parametrize("seed", range(10))
def test_ordinary_household_noise_raises_nothing_for_a_big_consumer(seed: int) -> None:
    assert scan(usage_of(household(seed, kwh_per_day=40, noise=0.2))) == []


# -- each injected anomaly is found ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_day_of_triple_use_is_found_as_high_daily(seed: int) -> None:
    hours = change(household(seed), range(120, 121), lambda h, kwh: kwh * 3)
    findings = scan(usage_of(hours))
    assert [(f.kind, f.day) for f in findings] == [(HIGH_DAILY, day(120))]
    finding = findings[0]
    assert finding.observed > 2 * finding.expected
    assert finding.details["weeks"] == 8
    assert finding.details["weekday"] == day(120).isoweekday()


def test_two_high_days_in_a_row_are_one_alert_about_the_first() -> None:
    hours = change(household(3), range(120, 122), lambda h, kwh: kwh * 3)
    assert [(f.kind, f.day) for f in scan(usage_of(hours))] == [(HIGH_DAILY, day(120))]


@pytest.mark.parametrize("seed", range(5))
def test_a_device_left_on_at_night_is_found_as_high_baseload(seed: int) -> None:
    # From day 110 on, 600 W more between 01:00 and 05:00 (2.4 kWh a day: not a high day).
    hours = change(
        household(seed), range(110, DAYS), lambda h, kwh: kwh + D("0.6") if 1 <= h <= 4 else kwh
    )
    findings = scan(usage_of(hours))
    assert [(f.kind, f.day) for f in findings] == [(HIGH_BASELOAD, day(110))]
    finding = findings[0]
    assert finding.details["detected_on"] == day(116).isoformat()
    assert finding.details["nights"] == 7
    assert finding.observed > D("0.6")
    assert D("0.1") < finding.expected < D("0.2")


def test_six_high_nights_are_not_yet_a_high_baseload() -> None:
    hours = change(
        household(1), range(140, 146), lambda h, kwh: kwh + D("0.6") if 1 <= h <= 4 else kwh
    )
    assert scan(usage_of(hours)) == []


@pytest.mark.parametrize("seed", range(5))
def test_use_falling_to_a_third_for_good_is_found_as_a_step_down(seed: int) -> None:
    hours = change(household(seed), range(120, DAYS), lambda h, kwh: kwh * D("0.35"))
    findings = scan(usage_of(hours))
    assert [f.kind for f in findings] == [STEP_CHANGE]
    finding = findings[0]
    assert finding.details["direction"] == "DOWN"
    assert day(121) <= finding.day <= day(124)  # once most of the last 7 days are lower
    assert finding.observed < finding.expected / 2


@pytest.mark.parametrize("seed", range(5))
def test_use_doubling_for_good_is_found_as_a_step_up(seed: int) -> None:
    hours = change(household(seed), range(120, DAYS), lambda h, kwh: kwh * D("2.2"))
    findings = scan(usage_of(hours))
    steps = [f for f in findings if f.kind == STEP_CHANGE]
    assert len(steps) == 1
    assert steps[0].details["direction"] == "UP"
    assert day(121) <= steps[0].day <= day(124)
    # The first doubled day is also far above its weekday: reported once, as the start.
    assert (HIGH_DAILY, day(120)) in [(f.kind, f.day) for f in findings]


@pytest.mark.parametrize("seed", range(5))
def test_five_days_without_use_are_one_zero_use_alert_about_the_first(seed: int) -> None:
    hours = change(household(seed), range(130, 135), lambda h, kwh: D(0))
    findings = scan(usage_of(hours))
    assert findings == [
        Finding(
            ZERO_USE,
            day(130),
            D("0.000"),
            findings[0].expected,
            {"days": 3},
        )
    ]
    assert D(8) < findings[0].expected < D(14)


def test_two_days_without_use_are_not_an_alert() -> None:
    hours = change(household(2), range(130, 132), lambda h, kwh: D(0))
    assert scan(usage_of(hours)) == []


def test_no_use_after_the_contract_ended_is_not_an_alert() -> None:
    hours = change(household(2), range(130, DAYS), lambda h, kwh: D(0))
    assert scan(usage_of(hours, active_until=day(130))) == []
    assert [f.kind for f in scan(usage_of(hours, active_until=day(131)))] == []
    assert [(f.kind, f.day) for f in scan(usage_of(hours, active_until=day(133)))] == [
        (ZERO_USE, day(130))
    ]


def test_days_without_readings_are_not_days_without_use() -> None:
    hours = {k: v for k, v in household(4).items() if not day(130) <= k.date() <= day(134)}
    assert scan(usage_of(hours)) == []


def test_zero_days_with_incomplete_readings_are_not_whole_days_without_use() -> None:
    hours = change(household(4), range(130, 135), lambda h, kwh: D(0))
    usage = usage_of(hours)
    partial = usage_of(hours, complete_days=frozenset(d for d in usage.daily if d != day(132)))
    assert scan(partial) == []


# -- sensitivity and switched-off kinds -----------------------------------------------------


def test_sensitivity_decides_whether_a_moderately_high_day_is_an_alert() -> None:
    hours = change(household(7, noise=0.04), range(120, 121), lambda h, kwh: kwh * D("1.42"))
    usage = usage_of(hours)
    assert scan(usage, sensitivity=LOW) == []
    assert scan(usage, sensitivity=NORMAL) == []
    assert [(f.kind, f.day) for f in scan(usage, sensitivity=HIGH)] == [(HIGH_DAILY, day(120))]


def test_sensitivity_decides_how_many_days_without_use_make_an_alert() -> None:
    hours = change(household(5), range(130, 134), lambda h, kwh: D(0))  # four days
    usage = usage_of(hours)
    assert scan(usage, sensitivity=LOW) == []
    assert [(f.kind, f.day) for f in scan(usage, sensitivity=NORMAL)] == [(ZERO_USE, day(130))]
    hours = change(household(5), range(130, 136), lambda h, kwh: D(0))  # six days
    found = scan(usage_of(hours), sensitivity=LOW)
    assert [(f.kind, f.day, f.details["days"]) for f in found] == [(ZERO_USE, day(130), 5)]


def test_a_switched_off_kind_is_not_raised() -> None:
    hours = change(household(0), range(130, 135), lambda h, kwh: D(0))
    hours = change(hours, range(120, 121), lambda h, kwh: kwh * 3)
    usage = usage_of(hours)
    assert [f.kind for f in scan(usage)] == [HIGH_DAILY, ZERO_USE]
    assert [f.kind for f in scan(usage, disabled=(ZERO_USE,))] == [HIGH_DAILY]
    assert [f.kind for f in scan(usage, disabled=(HIGH_DAILY,))] == [ZERO_USE]
    assert scan(usage, disabled=KINDS) == []


def test_unknown_sensitivity_or_kind_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="sensitivity must be one of LOW, NORMAL, HIGH"):
        thresholds_for("EXTREME")
    with pytest.raises(ValueError, match="disabled has unknown kinds: NOISE"):
        detect(usage_of({}), evaluate_from=START, evaluate_to=START, disabled=("NOISE",))


def test_too_little_history_raises_nothing() -> None:
    hours = change(household(1, days=20), range(19, 20), lambda h, kwh: kwh * 5)
    usage = usage_of(hours)
    assert detect(usage, evaluate_from=START, evaluate_to=START + dt.timedelta(days=19)) == []


def test_one_wild_week_in_the_history_does_not_hide_a_high_day() -> None:
    """Median and MAD: a single huge value in the baseline barely moves it."""
    hours = change(
        household(6), range(106, 107), lambda h, kwh: kwh * 20
    )  # same weekday, 2 weeks back
    hours = change(hours, range(120, 121), lambda h, kwh: kwh * 3)
    found = detect(
        usage_of(hours), evaluate_from=day(115), evaluate_to=day(125), disabled=(STEP_CHANGE,)
    )
    assert [(f.kind, f.day) for f in found] == [(HIGH_DAILY, day(120))]


# -- properties -----------------------------------------------------------------------------


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    """Random supply points: a level, ordinary days, spikes, drops, zeros and gaps."""
    level = draw(st.integers(1, 40))
    days = 100
    daily: dict[dt.date, Decimal] = {}
    hourly: dict[dt.datetime, Decimal] = {}
    kinds = draw(st.lists(st.integers(0, 11), min_size=days, max_size=days))
    night_extra = draw(st.sampled_from([0, 0, 200, 900]))  # Wh from some day on
    night_from = draw(st.integers(0, days))
    for n, kind in enumerate(kinds):
        current = START + dt.timedelta(days=n)
        if kind == 11:
            continue  # no readings that day
        factor = {8: 0, 9: 3, 10: D("0.3")}.get(kind, 1)
        kwh = (D(level) * factor * D(90 + kind) / 100).quantize(D("0.001"))
        daily[current] = kwh
        night = kwh / 40 + (D(night_extra) / 1000 if n >= night_from else 0)
        for hour in (1, 2, 3, 4):
            hourly[dt.datetime.combine(current, dt.time(hour))] = night.quantize(D("0.001"))
    start_active = START + dt.timedelta(days=draw(st.integers(0, 50)))
    return Usage(daily=daily, hourly=hourly, active=((start_active, None),))


@FAST
@given(usage=usages(), split=st.integers(0, 59), disabled=st.sets(st.sampled_from(KINDS)))
def test_findings_do_not_depend_on_how_the_days_are_split_into_scans(
    usage: Usage, split: int, disabled: set[str]
) -> None:
    first, last = START + dt.timedelta(days=40), START + dt.timedelta(days=99)
    middle = first + dt.timedelta(days=split)
    whole = detect(usage, evaluate_from=first, evaluate_to=last, disabled=disabled)
    parts = detect(usage, evaluate_from=first, evaluate_to=middle, disabled=disabled) + detect(
        usage, evaluate_from=middle + dt.timedelta(days=1), evaluate_to=last, disabled=disabled
    )
    assert whole == sorted(whole, key=lambda f: (f.day, KINDS.index(f.kind)))
    assert sorted(parts, key=lambda f: (f.day, KINDS.index(f.kind))) == whole
    assert len({(f.kind, f.day) for f in whole}) == len(whole)  # one finding per kind and day
    assert not {f.kind for f in whole} & disabled
    assert all(f.day <= last and f.observed == f.observed.quantize(D("0.001")) for f in whole)


@FAST
@given(usage=usages(), offset=st.integers(40, 99), kind=st.sampled_from(KINDS))
def test_what_a_less_sensitive_setting_finds_a_more_sensitive_one_finds_too(
    usage: Usage, offset: int, kind: str
) -> None:
    current = START + dt.timedelta(days=offset)
    low, normal, high = (check_day(kind, usage, current, PRESETS[s]) for s in (LOW, NORMAL, HIGH))
    if low is not None:
        assert normal is not None
    if normal is not None:
        assert high is not None


@FAST
@given(level=st.integers(1, 100_000), days=st.integers(70, 120))
def test_perfectly_steady_use_is_never_unusual(level: int, days: int) -> None:
    kwh = D(level).scaleb(-3) * 24
    daily = {START + dt.timedelta(days=n): kwh for n in range(days)}
    hourly = {dt.datetime.combine(d, dt.time(hour)): kwh / 24 for d in daily for hour in range(24)}
    usage = Usage(daily=daily, hourly=hourly, active=((START, None),))
    last = START + dt.timedelta(days=days - 1)
    assert detect(usage, evaluate_from=START, evaluate_to=last, thresholds=PRESETS[HIGH]) == []


@FAST
@given(st.lists(st.integers(0, 10**6).map(lambda n: D(n).scaleb(-3)), min_size=1, max_size=60))
def test_median_and_mad_are_order_free_and_within_the_values(values: list[Decimal]) -> None:
    shuffled = sorted(values, reverse=True)
    assert median(values) == median(shuffled)
    assert min(values) <= median(values) <= max(values)
    assert 0 <= mad(values) <= max(values) - min(values)
