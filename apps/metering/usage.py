"""Aggregated reads of interval readings for usage pages, insights and cost estimates.

Every function here aggregates in PostgreSQL and returns a few plain rows; none of them loads
a supply point's readings into Python (the raw rows of one day are the exception, at most 100).
Local days and months are cut with ``date_trunc(... interval_start AT TIME ZONE <zone>)``, so
a spring-forward day has 23 hours, a fall-back day 25, and a month starts at local midnight.

Local *hours* are not cut with ``date_trunc('hour', local time)``: on a fall-back day that
would merge the two 02:00 hours into one. A reading's local hour is instead the instant
``interval_start - <minutes past the local hour>``, which keeps the repeated hour apart and
works in zones whose offset is not a whole number of hours.

Callers pass aware instants (``start`` inclusive, ``end`` exclusive) and the zone to read
local time in. See docs/decisions/0520-usage-aggregation.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.db import connection

from apps.metering.models import IntervalReading

ZERO = Decimal(0)
ESTIMATED = "ESTIMATED"
NIGHT_HOURS = (1, 2, 3, 4)  # local 01:00-05:00
BASELOAD_PERCENTILE = Decimal("0.10")

# The local hour a reading falls in, as an instant (see the module docstring).
_LOCAL_HOUR = (
    "(r.interval_start - make_interval("
    "mins => extract(minute FROM r.interval_start AT TIME ZONE %(tz)s)::int))"
)
_TOTALS = (
    "coalesce(sum(r.kwh_import), 0), coalesce(sum(r.kwh_export), 0), count(*), "
    "count(*) FILTER (WHERE r.quality = 'ESTIMATED'), coalesce(sum(r.duration_minutes), 0), "
    "min(r.duration_minutes)"
)
_RANGE = (
    "r.supply_point_id = %(sp)s AND r.interval_start >= %(start)s AND r.interval_start < %(end)s"
)


class Totals(NamedTuple):
    """Energy and reading counts of a group of readings."""

    kwh_import: Decimal
    kwh_export: Decimal
    readings: int
    estimated: int  # readings of quality ESTIMATED
    minutes: int  # minutes covered by readings
    shortest_minutes: int | None  # the finest reading resolution in the group


EMPTY = Totals(ZERO, ZERO, 0, 0, 0, None)


class TimeBucket(NamedTuple):
    """Totals of the readings starting in [start, start + its span); start is UTC."""

    start: dt.datetime
    totals: Totals


class DateBucket(NamedTuple):
    """Totals of a local day or month (``day`` is the first day of a month bucket)."""

    day: dt.date
    totals: Totals


class Slot(NamedTuple):
    """Energy inside one rating-engine slot: fixed UTC hour and local hour."""

    start: dt.datetime
    minutes: int
    kwh_import: Decimal
    kwh_export: Decimal


class HourAverage(NamedTuple):
    hour: int  # local hour of day, 0..23
    average_kwh: Decimal


def _totals(row: Sequence[Any]) -> Totals:
    return Totals(row[0], row[1], int(row[2]), int(row[3]), int(row[4]), row[5])


def _params(supply_point_id: int, start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> dict:  # type: ignore[type-arg]
    return {"sp": supply_point_id, "start": start, "end": end, "tz": tz.key}


def _fetch(sql: str, params: dict) -> list[tuple]:  # type: ignore[type-arg]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def local_hour_buckets(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[TimeBucket]:
    """Totals per local hour (hours with readings only), in time order.

    A spring-forward day yields at most 23 buckets and a fall-back day 25: the two 02:00
    hours of a fall-back night are distinct instants.
    """
    rows = _fetch(
        f"SELECT {_LOCAL_HOUR} AS bucket, {_TOTALS} "  # noqa: S608 - fixed fragments only
        f"FROM metering_intervalreading r WHERE {_RANGE} GROUP BY bucket ORDER BY bucket",
        _params(supply_point_id, start, end, tz),
    )
    return [TimeBucket(row[0].astimezone(dt.UTC), _totals(row[1:])) for row in rows]


def daily_totals(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[DateBucket]:
    """Totals per local day of the readings starting in [start, end), in date order."""
    rows = _fetch(
        "SELECT date_trunc('day', r.interval_start AT TIME ZONE %(tz)s)::date AS day, "  # noqa: S608
        f"{_TOTALS} FROM metering_intervalreading r WHERE {_RANGE} GROUP BY day ORDER BY day",
        _params(supply_point_id, start, end, tz),
    )
    return [DateBucket(row[0], _totals(row[1:])) for row in rows]


def _month_ranges(
    start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> tuple[list[dt.date], list[dt.datetime], list[dt.datetime]]:
    """Local calendar months meeting [start, end): first days, and their bounds cut to it."""
    months: list[dt.date] = []
    lows: list[dt.datetime] = []
    highs: list[dt.datetime] = []
    month = start.astimezone(tz).date().replace(day=1)
    while True:
        low = dt.datetime.combine(month, dt.time.min, tzinfo=tz)
        if low >= end:
            break
        following = (month + dt.timedelta(days=32)).replace(day=1)
        high = dt.datetime.combine(following, dt.time.min, tzinfo=tz)
        if high > start:
            months.append(month)
            lows.append(max(low, start).astimezone(dt.UTC))
            highs.append(min(high, end).astimezone(dt.UTC))
        month = following
    return months, lows, highs


class MonthBucket(NamedTuple):
    """Totals of a local month, and of its readings before the month's ``cut`` instant."""

    day: dt.date  # the first day of the month
    totals: Totals
    so_far_kwh_import: Decimal
    so_far_readings: int


def monthly_totals(
    *,
    supply_point_id: int,
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
    cuts: Mapping[dt.date, dt.datetime] | None = None,
) -> list[MonthBucket]:
    """Totals per local calendar month (keyed by its first day), in date order.

    ``cuts`` maps a month's first day to an instant: the month's ``so_far_*`` figures count
    only its readings before it (month-to-date comparisons, in the same pass); without a
    cut they equal the month's totals. A month's ``totals.minutes`` is 0 and its
    ``shortest_minutes`` None (not computed).

    Same grouping as ``date_trunc('month', interval_start AT TIME ZONE tz)``, but each month
    is an index range [local midnight of the 1st, next 1st): converting every one of a
    year's ~35,000 quarter-hours to local time cost more than the rest of the query
    (docs/decisions/0520-usage-aggregation.md).
    """
    if start >= end:
        return []
    months, lows, highs = _month_ranges(start, end, tz)
    wanted = cuts or {}
    # Minutes and resolution are left out (0 and None): a month's bar does not need them,
    # and every aggregate costs time over ~35,000 rows.
    rows = _fetch(
        "SELECT m.month, coalesce(sum(r.kwh_import), 0), coalesce(sum(r.kwh_export), 0), "
        "  count(*), count(*) FILTER (WHERE r.quality = 'ESTIMATED'), 0, NULL, "
        "  coalesce(sum(r.kwh_import) FILTER (WHERE r.interval_start < m.cut), 0), "
        "  count(*) FILTER (WHERE r.interval_start < m.cut) "
        "FROM unnest(%(months)s::date[], %(lows)s::timestamptz[], %(highs)s::timestamptz[], "
        "            %(cuts)s::timestamptz[]) AS m(month, low, high, cut) "
        "JOIN metering_intervalreading r ON r.supply_point_id = %(sp)s "
        " AND r.interval_start >= m.low AND r.interval_start < m.high "
        "GROUP BY m.month ORDER BY m.month",
        {
            "sp": supply_point_id,
            "months": months,
            "lows": lows,
            "highs": highs,
            "cuts": [wanted.get(month, high) for month, high in zip(months, highs, strict=True)],
        },
    )
    return [MonthBucket(row[0], _totals(row[1:7]), row[7], int(row[8])) for row in rows]


def totals_in_ranges(
    *, supply_point_id: int, ranges: Sequence[tuple[dt.datetime, dt.datetime]]
) -> list[Totals]:
    """Totals of each [start, end) in ``ranges``, in one query (period-over-period, today)."""
    if not ranges:
        return []
    params: dict[str, object] = {"sp": supply_point_id}
    columns, wheres = [], []
    for index, (start, end) in enumerate(ranges):
        params[f"s{index}"], params[f"e{index}"] = start, end
        where = f"(r.interval_start >= %(s{index})s AND r.interval_start < %(e{index})s)"
        wheres.append(where)
        columns.append(
            f"coalesce(sum(r.kwh_import) FILTER (WHERE {where}), 0), "
            f"coalesce(sum(r.kwh_export) FILTER (WHERE {where}), 0), "
            f"count(*) FILTER (WHERE {where}), "
            f"count(*) FILTER (WHERE {where} AND r.quality = 'ESTIMATED'), "
            f"coalesce(sum(r.duration_minutes) FILTER (WHERE {where}), 0), "
            f"min(r.duration_minutes) FILTER (WHERE {where})"
        )
    sql = (
        f"SELECT {', '.join(columns)} FROM metering_intervalreading r "  # noqa: S608
        f"WHERE r.supply_point_id = %(sp)s AND ({' OR '.join(wheres)})"
    )
    (row,) = _fetch(sql, params)
    return [_totals(row[6 * index : 6 * index + 6]) for index in range(len(ranges))]


class LatestReading(NamedTuple):
    start: dt.datetime
    minutes: int
    kwh_import: Decimal
    kwh_export: Decimal
    quality: str

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.minutes)


def latest_reading(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime
) -> LatestReading | None:
    """The most recent reading starting in [start, end), or None."""
    rows = _fetch(
        "SELECT r.interval_start, r.duration_minutes, r.kwh_import, r.kwh_export, r.quality "  # noqa: S608
        f"FROM metering_intervalreading r WHERE {_RANGE} "
        "ORDER BY r.interval_start DESC LIMIT 1",
        {"sp": supply_point_id, "start": start, "end": end},
    )
    if not rows:
        return None
    at, minutes, kwh_import, kwh_export, quality = rows[0]
    return LatestReading(at.astimezone(dt.UTC), minutes, kwh_import, kwh_export, quality)


def rating_slots(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[Slot]:
    """Energy per (UTC hour x local hour) cell: what the rating engine needs, pre-summed.

    The engine cuts a period at every UTC-hour and local-hour start and prices each slot as a
    whole, so summing the readings of a slot first gives the same bill as rating every
    reading (aligned readings never straddle a slot). Over a month of 15-minute data this
    hands the engine ~744 intervals instead of ~2,976.
    """
    rows = _fetch(
        "SELECT greatest(utc_hour, local_hour), "  # noqa: S608 - fixed fragments only
        "       extract(epoch FROM least(utc_hour, local_hour) + interval '1 hour' "
        "                          - greatest(utc_hour, local_hour))::int / 60, "
        "       kwh_import, kwh_export FROM ("
        "  SELECT date_trunc('hour', r.interval_start) AS utc_hour, "
        f"        {_LOCAL_HOUR} AS local_hour, "
        "         sum(r.kwh_import) AS kwh_import, sum(r.kwh_export) AS kwh_export "
        f"  FROM metering_intervalreading r WHERE {_RANGE} GROUP BY utc_hour, local_hour"
        ") cells ORDER BY 1",
        _params(supply_point_id, start, end, tz),
    )
    return [Slot(at.astimezone(dt.UTC), minutes, imp, exp) for at, minutes, imp, exp in rows]


class HourUse(NamedTuple):
    day: dt.date  # local date
    hour: int  # local hour, 0..23 (a fall-back night has two rows for hour 2)
    kwh_import: Decimal


class InsightFigures(NamedTuple):
    baseload_w: Decimal | None  # None: no complete night hour
    peak_hours: list[HourAverage]  # highest average first
    hours: list[HourUse]  # every local hour with readings (only when asked for)


_INSIGHTS = f"""
WITH hours AS MATERIALIZED (
    SELECT {_LOCAL_HOUR} AS bucket,
           min(r.interval_start AT TIME ZONE %(tz)s) AS local_start,
           sum(r.kwh_import) AS kwh,
           sum(r.duration_minutes) AS minutes
    FROM metering_intervalreading r WHERE {_RANGE}
    GROUP BY bucket
)
SELECT 'B', NULL::int, NULL::date, percentile_disc(%(p)s) WITHIN GROUP (ORDER BY kwh)
FROM hours WHERE minutes = 60 AND extract(hour FROM local_start)::int = ANY(%(night)s)
UNION ALL
SELECT 'P', hour, NULL::date, average FROM (
    SELECT extract(hour FROM local_start)::int AS hour, avg(kwh) AS average
    FROM hours WHERE minutes = 60
    GROUP BY 1 ORDER BY average DESC, hour LIMIT %(count)s
) peaks
UNION ALL
SELECT 'H', extract(hour FROM local_start)::int, local_start::date, kwh
FROM hours WHERE %(with_hours)s
"""  # noqa: S608 - fixed fragments only


def insight_figures(
    *,
    supply_point_id: int,
    start: dt.datetime,
    end: dt.datetime,
    tz: ZoneInfo,
    with_hours: bool = False,
    peak_count: int = 3,
    percentile: Decimal = BASELOAD_PERCENTILE,
) -> InsightFigures:
    """Baseload, peak hours and (optionally) use per local hour, from one pass over [start, end).

    - baseload: always-on use in watts, a low percentile (``percentile_disc``: an actual hour,
      exact numeric) of the complete local night hours 01:00-05:00; each complete hour's kWh
      is its average power in kW.
    - peak hours: the ``peak_count`` local hours of day with the highest average use over
      complete hours (an hour still being read would drag its mean down); ties to the earlier.
    - hours: kWh per local hour, for splitting use into time-of-use periods.
    """
    rows = _fetch(
        _INSIGHTS,
        {
            **_params(supply_point_id, start, end, tz),
            "p": percentile,
            "night": list(NIGHT_HOURS),
            "count": peak_count,
            "with_hours": with_hours,
        },
    )
    baseload: Decimal | None = None
    peaks: list[HourAverage] = []
    hours: list[HourUse] = []
    for kind, hour, day, value in rows:
        if kind == "B":
            baseload = None if value is None else value * 1000
        elif kind == "P":
            peaks.append(HourAverage(hour, value))
        else:
            hours.append(HourUse(day, hour, value))
    peaks.sort(key=lambda peak: (-peak.average_kwh, peak.hour))
    return InsightFigures(baseload, peaks, hours)


def readings_for_download(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime, chunk_size: int = 5000
) -> Iterator[tuple[dt.datetime, int, Decimal, Decimal, str]]:
    """Stream (start, minutes, kWh import, kWh export, quality) of [start, end) in time order.

    Uses a server-side cursor, so two years of 15-minute data never sit in memory at once.
    """
    return (
        IntervalReading.objects.filter(
            supply_point_id=supply_point_id, interval_start__gte=start, interval_start__lt=end
        )
        .order_by("interval_start")
        .values_list("interval_start", "duration_minutes", "kwh_import", "kwh_export", "quality")
        .iterator(chunk_size=chunk_size)
    )
