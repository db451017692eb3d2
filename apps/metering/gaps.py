"""Find missing intervals and fill them with estimates, through the normal ingestion path.

A supply point's resolution is the shortest interval it reported in the last
four weeks. A slot is missing when no reading covers it. Its estimate is the
average of the same local weekday and time in the four previous weeks
(measured values only); slots without such history stay empty. Estimates go
through ``ingest_candidates`` as ESTIMATED, so they never replace a measured
value and a late measured reading replaces them with a trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from apps.metering.ingestion import CandidateRow, IngestReport, ingest_candidates

HISTORY_WEEKS = 4

_MISSING_WITH_ESTIMATES = """
WITH resolution AS (
    SELECT supply_point_id, min(duration_minutes) AS minutes
    FROM metering_intervalreading
    WHERE supply_point_id = ANY(%(ids)s)
      AND interval_start >= %(history_start)s AND interval_start < %(end)s
    GROUP BY supply_point_id
),
slots AS (
    SELECT r.supply_point_id, r.minutes, g AS interval_start
    FROM resolution r,
         generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 second',
                         make_interval(mins => r.minutes)) AS g
),
missing AS (
    SELECT s.* FROM slots s
    WHERE NOT EXISTS (
        SELECT 1 FROM metering_intervalreading x
        WHERE x.supply_point_id = s.supply_point_id
          AND x.interval_start <= s.interval_start
          AND x.interval_start > s.interval_start - interval '60 minutes'
          AND x.interval_start + make_interval(mins => x.duration_minutes) > s.interval_start
    )
),
history AS (
    SELECT m.supply_point_id, m.interval_start, m.minutes,
           avg(h.kwh_import * m.minutes / h.duration_minutes) AS kwh_import,
           avg(h.kwh_export * m.minutes / h.duration_minutes) AS kwh_export,
           count(h.*) AS samples
    FROM missing m
    CROSS JOIN generate_series(1, %(weeks)s) AS w(k)
    JOIN metering_intervalreading h
      ON h.supply_point_id = m.supply_point_id
     AND h.interval_start = ((m.interval_start AT TIME ZONE %(tz)s)
                             - make_interval(days => 7 * w.k)) AT TIME ZONE %(tz)s
     AND h.quality <> 'ESTIMATED'
    GROUP BY m.supply_point_id, m.interval_start, m.minutes
)
SELECT sp.external_id, h.interval_start, h.minutes,
       round(h.kwh_import, 3), round(h.kwh_export, 3), h.samples
FROM history h JOIN metering_supplypoint sp ON sp.id = h.supply_point_id
ORDER BY sp.external_id, h.interval_start
"""

_MISSING_COUNT = """
SELECT count(*) FROM (
  SELECT 1 FROM (
    SELECT r.supply_point_id, g AS interval_start
    FROM (SELECT supply_point_id, min(duration_minutes) AS minutes
          FROM metering_intervalreading
          WHERE supply_point_id = ANY(%(ids)s)
            AND interval_start >= %(history_start)s AND interval_start < %(end)s
          GROUP BY supply_point_id) r,
         generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 second',
                         make_interval(mins => r.minutes)) AS g
  ) s
  WHERE NOT EXISTS (
      SELECT 1 FROM metering_intervalreading x
      WHERE x.supply_point_id = s.supply_point_id
        AND x.interval_start <= s.interval_start
        AND x.interval_start > s.interval_start - interval '60 minutes'
        AND x.interval_start + make_interval(mins => x.duration_minutes) > s.interval_start
  )
) missing
"""


@dataclass
class GapReport:
    missing: int
    estimated: int
    without_history: int
    ingest: IngestReport | None


def readings_fill_gaps(
    *, supply_point_ids: list[int], start: dt.datetime, end: dt.datetime
) -> GapReport:
    """Estimate the missing intervals of these supply points in [start, end). Idempotent.

    ``start`` must be on an hour boundary (UTC) so every resolution's slots align.
    """
    if start.minute or start.second or start.microsecond:
        raise ValueError("start: must be on an hour boundary.")
    params: dict[str, Any] = {
        "ids": supply_point_ids,
        "start": start,
        "end": end,
        "history_start": start - dt.timedelta(weeks=HISTORY_WEEKS),
        "weeks": HISTORY_WEEKS,
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_MISSING_COUNT, params)
        missing = int(cursor.fetchone()[0])
        if not missing:
            return GapReport(0, 0, 0, None)
        cursor.execute(_MISSING_WITH_ESTIMATES, params)
        rows = cursor.fetchall()
    candidates = [
        CandidateRow(
            number,
            cups,
            interval_start.isoformat(),
            str(minutes),
            str(kwh_import),
            str(kwh_export),
            "ESTIMATED",
        )
        for number, (cups, interval_start, minutes, kwh_import, kwh_export, _) in enumerate(
            rows, start=1
        )
    ]
    report = ingest_candidates(
        candidates, source="ESTIMATION", filename="gap-fill", actor_label="system:gap-fill"
    )
    return GapReport(
        missing=missing,
        estimated=report.inserted,
        without_history=missing - len(rows),
        ingest=report,
    )
