"""Unusual-consumption detection: plain data in, findings out.

Pure: no Django, no ORM, no clock, no settings. The caller passes a supply point's
daily kWh per local day, its kWh per local hour (only the night hours are read),
the days its contract was active, and which days to evaluate; it gets back
:class:`Finding` objects. Every statistic is robust (median and median absolute
deviation), so one odd day in the history does not move the baseline.

Four detectors (decision 0540 explains the numbers):

``HIGH_DAILY``
    A day's use far above the customer's own baseline: the same weekday over the
    previous 4 to 8 weeks. Flagged when it is above all of ``median + z × spread``,
    ``median × ratio`` and ``median + excess kWh``, where the spread is the scaled
    MAD (with a floor, so a perfectly regular history does not make every wobble
    an anomaly).
``HIGH_BASELOAD``
    The night minimum (lowest hour between 01:00 and 05:00 local time) above
    ``factor ×`` the median night minimum of the previous 60 days, and above an
    absolute floor, for 7 nights in a row.
``STEP_CHANGE``
    A sudden lasting shift: at least 5 of the last 7 days each above (or below)
    the median of the 28 days before by more than a factor and a minimum of kWh
    a day. Days without use do not count as lower: that is ``ZERO_USE``.
``ZERO_USE``
    No consumption for at least 3 whole days in a row while the contract is active.

One anomaly, one finding: a finding is reported on the day its episode starts
(the first unusual day, the first night of the high streak, the first day the
step is visible, the first day without use), and only once, whatever window is
evaluated and however often. Evaluating ``[a, c]`` gives exactly the findings of
``[a, b]`` plus those of ``[b + 1, c]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from apps.core.money import round_energy

HIGH_DAILY = "HIGH_DAILY"
HIGH_BASELOAD = "HIGH_BASELOAD"
STEP_CHANGE = "STEP_CHANGE"
ZERO_USE = "ZERO_USE"
KINDS: tuple[str, ...] = (HIGH_DAILY, HIGH_BASELOAD, STEP_CHANGE, ZERO_USE)

LOW = "LOW"
NORMAL = "NORMAL"
HIGH = "HIGH"

ONE_DAY = dt.timedelta(days=1)
MAD_TO_SIGMA = Decimal("1.4826")  # MAD × this estimates the standard deviation of normal noise
ZERO = Decimal(0)

Period = tuple[dt.date, dt.date | None]  # [start, end) in local dates; end None = open


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every number the detectors use. ``PRESETS`` holds one per sensitivity."""

    # HIGH_DAILY: the same weekday over the previous weeks.
    daily_min_weeks: int = 4
    daily_max_weeks: int = 8
    daily_z: Decimal = Decimal(4)
    daily_min_ratio: Decimal = Decimal("1.5")
    daily_min_excess_kwh: Decimal = Decimal(3)
    daily_spread_floor_ratio: Decimal = Decimal("0.1")  # spread at least 10 % of the median
    daily_spread_floor_kwh: Decimal = Decimal("0.25")
    # HIGH_BASELOAD: night minimum against the customer's own history.
    night_hours: tuple[int, ...] = (1, 2, 3, 4)  # the hours starting 01:00 … 04:00, i.e. 01–05
    night_min_hours: int = 3  # hours with data needed for a night to count (23-hour DST night)
    baseload_nights: int = 7
    baseload_history_days: int = 60
    baseload_min_history_nights: int = 14
    baseload_factor: Decimal = Decimal(2)
    baseload_floor_kwh: Decimal = Decimal("0.15")  # per hour: 150 W running all night
    # STEP_CHANGE: last days against the weeks before.
    step_recent_days: int = 7
    step_previous_days: int = 28
    step_min_recent_days: int = 5
    step_min_previous_days: int = 20
    step_min_days_beyond: int = 5  # of the recent days, each beyond the limit
    step_factor: Decimal = Decimal("1.6")
    step_min_change_kwh: Decimal = Decimal(2)  # per day
    # ZERO_USE
    zero_min_days: int = 3

    def lookback_days(self) -> int:
        """How many days before the first evaluated day the detectors read."""
        return 1 + max(
            7 * self.daily_max_weeks,
            self.baseload_nights + self.baseload_history_days,
            self.step_recent_days + self.step_previous_days,
            self.zero_min_days,
        )


PRESETS: dict[str, Thresholds] = {
    LOW: Thresholds(
        daily_z=Decimal(6),
        daily_min_ratio=Decimal(2),
        daily_min_excess_kwh=Decimal(5),
        baseload_factor=Decimal("2.5"),
        baseload_floor_kwh=Decimal("0.25"),
        step_factor=Decimal(2),
        step_min_change_kwh=Decimal(3),
        zero_min_days=5,
    ),
    NORMAL: Thresholds(),
    HIGH: Thresholds(
        daily_z=Decimal(3),
        daily_min_ratio=Decimal("1.3"),
        daily_min_excess_kwh=Decimal(2),
        baseload_factor=Decimal("1.5"),
        baseload_floor_kwh=Decimal("0.1"),
        step_factor=Decimal("1.35"),
        step_min_change_kwh=Decimal("1.5"),
        zero_min_days=3,
    ),
}


def thresholds_for(sensitivity: str) -> Thresholds:
    """The preset for ``LOW``, ``NORMAL`` or ``HIGH``; ``ValueError`` for anything else."""
    try:
        return PRESETS[sensitivity]
    except KeyError:
        raise ValueError(f"sensitivity must be one of {', '.join(PRESETS)}.") from None


@dataclass(frozen=True, slots=True)
class Usage:
    """What the detectors know about one supply point.

    ``daily``: kWh per local day (days without any reading are absent).
    ``hourly``: kWh per local hour, keyed by the naive local start of the hour;
    only ``Thresholds.night_hours`` are read, so callers may pass just those.
    ``complete_days``: days whose readings cover the whole day (``None``: all of
    ``daily``). Baselines use complete days only and ``ZERO_USE`` needs them.
    ``active``: the half-open periods the contract is active; ``ZERO_USE`` only.
    """

    daily: Mapping[dt.date, Decimal]
    hourly: Mapping[dt.datetime, Decimal] = field(default_factory=dict)
    complete_days: frozenset[dt.date] | None = None
    active: Sequence[Period] = ()
    # Night minima already worked out, per (day, night hours, hours needed): a plain cache.
    _nights: dict[tuple[dt.date, tuple[int, ...], int], Decimal | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def is_complete(self, day: dt.date) -> bool:
        if day not in self.daily:
            return False
        return self.complete_days is None or day in self.complete_days

    def is_active(self, day: dt.date) -> bool:
        return any(start <= day and (end is None or day < end) for start, end in self.active)


@dataclass(frozen=True, slots=True)
class Finding:
    """One anomaly: its kind, the local day its episode starts, what was seen and expected.

    ``observed`` and ``expected`` are kWh (a day's total, or an hour's for baseload),
    rounded to the watt-hour; ``details`` holds JSON-ready facts for the message.
    """

    kind: str
    day: dt.date
    observed: Decimal
    expected: Decimal
    details: Mapping[str, str | int] = field(default_factory=dict)


# -- robust statistics ----------------------------------------------------------------------


def median(values: Sequence[Decimal]) -> Decimal:
    """The median of a non-empty sequence (mean of the middle two for an even count)."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def mad(values: Sequence[Decimal]) -> Decimal:
    """Median absolute deviation from the median."""
    centre = median(values)
    return median([abs(value - centre) for value in values])


def _kwh(value: Decimal) -> Decimal:
    return round_energy(value)


def _text(value: Decimal) -> str:
    return str(round_energy(value))


# -- per-day checks -------------------------------------------------------------------------


def _high_daily(usage: Usage, day: dt.date, t: Thresholds) -> Finding | None:
    observed = usage.daily.get(day)
    if observed is None:
        return None  # a partial day still counts: its total can only grow
    history = [
        usage.daily[past]
        for weeks in range(1, t.daily_max_weeks + 1)
        if usage.is_complete(past := day - dt.timedelta(weeks=weeks))
    ]
    if len(history) < t.daily_min_weeks:
        return None
    centre = median(history)
    spread = max(
        MAD_TO_SIGMA * mad(history),
        centre * t.daily_spread_floor_ratio,
        t.daily_spread_floor_kwh,
    )
    limit = max(
        centre + t.daily_z * spread, centre * t.daily_min_ratio, centre + t.daily_min_excess_kwh
    )
    if observed <= limit:
        return None
    return Finding(
        HIGH_DAILY,
        day,
        _kwh(observed),
        _kwh(centre),
        {"weeks": len(history), "limit": _text(limit), "weekday": day.isoweekday()},
    )


def night_minimum(usage: Usage, day: dt.date, t: Thresholds) -> Decimal | None:
    """The lowest hour of ``day``'s night, or ``None`` when too few night hours have data."""
    key = (day, t.night_hours, t.night_min_hours)
    if key not in usage._nights:
        values = [
            value
            for hour in t.night_hours
            if (value := usage.hourly.get(dt.datetime.combine(day, dt.time(hour)))) is not None
        ]
        enough = len(values) >= min(t.night_min_hours, len(t.night_hours))
        usage._nights[key] = min(values) if enough else None
    return usage._nights[key]


def _high_baseload(usage: Usage, day: dt.date, t: Thresholds) -> Finding | None:
    nights: list[Decimal] = []
    for back in range(t.baseload_nights):
        value = night_minimum(usage, day - dt.timedelta(days=back), t)
        if value is None:
            return None
        nights.append(value)
    first_night = day - dt.timedelta(days=t.baseload_nights - 1)
    history = [
        value
        for back in range(1, t.baseload_history_days + 1)
        if (value := night_minimum(usage, first_night - dt.timedelta(days=back), t)) is not None
    ]
    if len(history) < t.baseload_min_history_nights:
        return None
    usual = median(history)
    limit = max(usual * t.baseload_factor, t.baseload_floor_kwh)
    lowest = min(nights)
    if lowest <= limit:
        return None
    return Finding(
        HIGH_BASELOAD,
        first_night,
        _kwh(lowest),
        _kwh(usual),
        {"nights": t.baseload_nights, "limit": _text(limit), "detected_on": day.isoformat()},
    )


def _days_back(usage: Usage, last: dt.date, count: int) -> list[Decimal]:
    return [
        usage.daily[past]
        for back in range(count)
        if usage.is_complete(past := last - dt.timedelta(days=back))
    ]


def _step_change(usage: Usage, day: dt.date, t: Thresholds) -> Finding | None:
    recent = _days_back(usage, day, t.step_recent_days)
    previous = _days_back(usage, day - dt.timedelta(days=t.step_recent_days), t.step_previous_days)
    if len(recent) < t.step_min_recent_days or len(previous) < t.step_min_previous_days:
        return None
    before = median(previous)
    # Lasting: most recent days, one by one, are beyond the limit (not just their median).
    higher = [
        v for v in recent if v >= before * t.step_factor and v - before >= t.step_min_change_kwh
    ]
    # A day without use is ZERO_USE's business, not a step down.
    lower = [
        v
        for v in recent
        if v > ZERO and v * t.step_factor <= before and before - v >= t.step_min_change_kwh
    ]
    if len(higher) >= t.step_min_days_beyond:
        direction = "UP"
    elif len(lower) >= t.step_min_days_beyond:
        direction = "DOWN"
    else:
        return None
    return Finding(
        STEP_CHANGE,
        day,
        _kwh(median(recent)),
        _kwh(before),
        {
            "direction": direction,
            "recent_days": t.step_recent_days,
            "previous_days": t.step_previous_days,
        },
    )


def _is_zero_day(usage: Usage, day: dt.date) -> bool:
    return usage.is_complete(day) and usage.daily[day] == ZERO and usage.is_active(day)


def _zero_use(usage: Usage, day: dt.date, t: Thresholds) -> Finding | None:
    """A run of ``zero_min_days`` zero days ending on ``day`` (the run may go on)."""
    first = day - dt.timedelta(days=t.zero_min_days - 1)
    if not all(_is_zero_day(usage, first + dt.timedelta(days=n)) for n in range(t.zero_min_days)):
        return None
    while _is_zero_day(usage, first - ONE_DAY):
        first -= ONE_DAY
    before = _days_back(usage, first - ONE_DAY, 28)
    return Finding(
        ZERO_USE,
        first,
        _kwh(ZERO),
        _kwh(median(before)) if before else ZERO,
        {"days": (day - first).days + 1},
    )


_CHECKS = {
    HIGH_DAILY: _high_daily,
    HIGH_BASELOAD: _high_baseload,
    STEP_CHANGE: _step_change,
    ZERO_USE: _zero_use,
}


def check_day(kind: str, usage: Usage, day: dt.date, thresholds: Thresholds) -> Finding | None:
    """Whether ``day`` is unusual for ``kind`` on its own (ignoring episodes already under way).

    For ``ZERO_USE`` the finding's ``day`` is the first day of the zero run ending on ``day``.
    """
    return _CHECKS[kind](usage, day, thresholds)


def _starts_episode(kind: str, usage: Usage, day: dt.date, t: Thresholds) -> Finding | None:
    finding = check_day(kind, usage, day, t)
    if finding is None:
        return None
    if kind == ZERO_USE:
        # Reported on the day the run reaches its minimum length, about its first day.
        return finding if finding.details["days"] == t.zero_min_days else None
    previous = check_day(kind, usage, day - ONE_DAY, t)
    if previous is None:
        return finding
    if kind == STEP_CHANGE and previous.details["direction"] != finding.details["direction"]:
        return finding
    return None  # the episode started earlier and was reported then


def detect(
    usage: Usage,
    *,
    evaluate_from: dt.date,
    evaluate_to: dt.date,
    thresholds: Thresholds | None = None,
    disabled: Collection[str] = (),
) -> list[Finding]:
    """Anomalies whose episode becomes visible on a day in ``[evaluate_from, evaluate_to]``.

    ``thresholds`` defaults to the ``NORMAL`` preset; kinds in ``disabled`` are skipped.
    Findings are ordered by day, then kind. Raises ``ValueError`` for an unknown kind
    in ``disabled``.
    """
    t = thresholds or PRESETS[NORMAL]
    unknown = set(disabled) - set(KINDS)
    if unknown:
        raise ValueError(f"disabled has unknown kinds: {', '.join(sorted(unknown))}.")
    kinds = [kind for kind in KINDS if kind not in disabled]
    findings: dict[tuple[str, dt.date], Finding] = {}
    day = evaluate_from
    while day <= evaluate_to:
        for kind in kinds:
            finding = _starts_episode(kind, usage, day, t)
            if finding is not None:
                findings.setdefault((finding.kind, finding.day), finding)
        day += ONE_DAY
    return sorted(findings.values(), key=lambda f: (f.day, KINDS.index(f.kind)))
