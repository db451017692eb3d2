"""Distribution reliability indices per IEEE 1366: pure, no Django, no clock.

Input is one row per customer interruption (a supply point losing supply from
``started_at`` to ``ended_at``) and the number of customers served ``N_T``.

* An interruption shorter than ``momentary_limit`` (5 minutes) is *momentary*:
  it counts in MAIFI only. Anything longer is *sustained*.
* ``SAIFI = Σ N_i / N_T`` — sustained customer interruptions per customer served.
* ``SAIDI = Σ r_i N_i / N_T`` — sustained customer-minutes per customer served.
* ``CAIDI = SAIDI / SAIFI`` — average minutes per sustained interruption.
* ``MAIFI = Σ IM_i N_mi / N_T`` — momentary customer interruptions per customer served.

Major event days (the 2.5 beta method): take the daily SAIDI of the five years
before the period, drop days with SAIDI = 0, ``α`` = mean and ``β`` = sample
standard deviation of ``ln(SAIDI/day)``; ``T_MED = exp(α + 2.5 β)``. A day of the
period whose SAIDI is above ``T_MED`` is a major event day; indices are reported
for all days, without major event days, and for the major event days alone.
An interruption belongs to the local day on which it began (IEEE 1366 accrues a
multi-day event to its first day). Decimal arithmetic throughout; results are
rounded half-up to 4 decimal places.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo

MOMENTARY_LIMIT = dt.timedelta(minutes=5)
HISTORY_YEARS = 5
BETA_MULTIPLIER = Decimal("2.5")
PLACES = Decimal("0.0001")
ZERO = Decimal(0)


def rounded(value: Decimal) -> Decimal:
    """``value`` half-up to 4 decimal places, as every index is reported."""
    return _q(value)


def _q(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class CustomerInterruption:
    customer_id: int
    started_at: dt.datetime
    ended_at: dt.datetime  # an ongoing interruption is passed with the report's as-of instant

    @property
    def minutes(self) -> Decimal:
        seconds = Decimal((self.ended_at - self.started_at).total_seconds())
        return seconds / Decimal(60)


@dataclass(frozen=True, slots=True)
class Indices:
    customers_served: int
    customer_interruptions: int  # sustained
    customer_minutes: Decimal  # sustained
    momentary_interruptions: int
    saidi: Decimal
    saifi: Decimal
    caidi: Decimal | None  # None when there was no sustained interruption
    maifi: Decimal


def indices(
    interruptions: Iterable[CustomerInterruption],
    *,
    customers_served: int,
    momentary_limit: dt.timedelta = MOMENTARY_LIMIT,
) -> Indices:
    """SAIDI, SAIFI, CAIDI and MAIFI of ``interruptions`` for ``customers_served`` customers."""
    if customers_served <= 0:
        raise ValueError("customers_served must be positive.")
    sustained = 0
    momentary = 0
    minutes = ZERO
    for item in interruptions:
        if item.ended_at < item.started_at:
            raise ValueError("An interruption cannot end before it starts.")
        if item.ended_at - item.started_at < momentary_limit:
            momentary += 1
        else:
            sustained += 1
            minutes += item.minutes
    served = Decimal(customers_served)
    return Indices(
        customers_served=customers_served,
        customer_interruptions=sustained,
        customer_minutes=_q(minutes),
        momentary_interruptions=momentary,
        saidi=_q(minutes / served),
        saifi=_q(Decimal(sustained) / served),
        caidi=_q(minutes / Decimal(sustained)) if sustained else None,
        maifi=_q(Decimal(momentary) / served),
    )


def local_day(instant: dt.datetime, tz: ZoneInfo) -> dt.date:
    return instant.astimezone(tz).date()


def daily_saidi(
    interruptions: Iterable[CustomerInterruption],
    *,
    customers_served: int,
    tz: ZoneInfo,
    first_day: dt.date,
    end_day: dt.date,
    momentary_limit: dt.timedelta = MOMENTARY_LIMIT,
) -> dict[dt.date, Decimal]:
    """SAIDI of each local day in ``[first_day, end_day)`` (unrounded; days without are 0)."""
    if customers_served <= 0:
        raise ValueError("customers_served must be positive.")
    minutes: dict[dt.date, Decimal] = defaultdict(Decimal)
    for item in interruptions:
        day = local_day(item.started_at, tz)
        if first_day <= day < end_day and item.ended_at - item.started_at >= momentary_limit:
            minutes[day] += item.minutes
    served = Decimal(customers_served)
    result: dict[dt.date, Decimal] = {}
    day = first_day
    while day < end_day:
        result[day] = minutes.get(day, ZERO) / served
        day += dt.timedelta(days=1)
    return result


@dataclass(frozen=True, slots=True)
class MajorEventThreshold:
    """Unrounded (34 significant digits); round for display with :func:`rounded`."""

    alpha: Decimal
    beta: Decimal
    t_med: Decimal  # minutes of SAIDI in one day
    days_used: int  # history days with SAIDI above zero


def major_event_threshold(daily: Iterable[Decimal]) -> MajorEventThreshold | None:
    """``T_MED`` from daily SAIDI values (2.5 beta); None with fewer than two positive days."""
    with localcontext() as context:
        context.prec = 34
        logs = [value.ln() for value in daily if value > 0]
        if len(logs) < 2:
            return None
        count = Decimal(len(logs))
        alpha = sum(logs, ZERO) / count
        variance = sum(((value - alpha) ** 2 for value in logs), ZERO) / (count - 1)
        beta = variance.sqrt()
        t_med = (alpha + BETA_MULTIPLIER * beta).exp()
    return MajorEventThreshold(alpha=alpha, beta=beta, t_med=t_med, days_used=len(logs))


@dataclass(frozen=True, slots=True)
class MajorEventDay:
    day: dt.date
    saidi: Decimal


@dataclass(frozen=True, slots=True)
class ReliabilityReport:
    period_start: dt.date
    period_end: dt.date  # exclusive
    history_start: dt.date
    customers_served: int
    all_days: Indices
    normal_days: Indices  # major event days left out
    major_event_days: tuple[MajorEventDay, ...]
    major_events: Indices  # the major event days alone
    threshold: MajorEventThreshold | None


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def reliability_report(
    interruptions: Sequence[CustomerInterruption],
    *,
    customers_served: int,
    period_start: dt.date,
    period_end: dt.date,
    tz: ZoneInfo,
    history_years: int = HISTORY_YEARS,
    momentary_limit: dt.timedelta = MOMENTARY_LIMIT,
) -> ReliabilityReport:
    """Indices for the local days ``[period_start, period_end)`` with major event days apart.

    ``interruptions`` may include the ``history_years`` before ``period_start``
    (used for ``T_MED`` only); interruptions outside history and period are ignored.
    """
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start.")
    history_start = years_before(period_start, history_years)
    history = daily_saidi(
        interruptions,
        customers_served=customers_served,
        tz=tz,
        first_day=history_start,
        end_day=period_start,
        momentary_limit=momentary_limit,
    )
    threshold = major_event_threshold(history.values())
    in_period = [
        item
        for item in interruptions
        if period_start <= local_day(item.started_at, tz) < period_end
    ]
    period_daily = daily_saidi(
        in_period,
        customers_served=customers_served,
        tz=tz,
        first_day=period_start,
        end_day=period_end,
        momentary_limit=momentary_limit,
    )
    med_days: list[MajorEventDay] = []
    if threshold is not None:
        med_days = [
            MajorEventDay(day=day, saidi=_q(value))
            for day, value in sorted(period_daily.items())
            if value > threshold.t_med
        ]
    med_set = {item.day for item in med_days}
    normal = [item for item in in_period if local_day(item.started_at, tz) not in med_set]
    major = [item for item in in_period if local_day(item.started_at, tz) in med_set]

    def _indices(rows: Iterable[CustomerInterruption]) -> Indices:
        return indices(rows, customers_served=customers_served, momentary_limit=momentary_limit)

    return ReliabilityReport(
        period_start=period_start,
        period_end=period_end,
        history_start=history_start,
        customers_served=customers_served,
        all_days=_indices(in_period),
        normal_days=_indices(normal),
        major_event_days=tuple(med_days),
        major_events=_indices(major),
        threshold=threshold,
    )
