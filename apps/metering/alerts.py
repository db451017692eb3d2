"""Unusual-consumption alerts: readings in, ``ConsumptionAlert`` rows out.

Loads each chunk of supply points' daily and night-hourly kWh with one aggregate
query (grouped by local hour and day in PostgreSQL), runs the pure detectors
of :mod:`apps.metering.anomalies` with each supply point's own preferences, and
stores the findings with ``INSERT … ON CONFLICT DO NOTHING``: the unique key
(supply point, kind, day) makes a re-run store nothing new, and the ids that come
back are exactly the alerts that are new.

Metering does not know who holds a supply point (contracts sit above it): who is
told, and the contract periods ``ZERO_USE`` needs, come from
``apps.portal.alerting``, which calls :func:`alerts_scan`. Decision 0541.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from auditlog.context import auditlog_value, set_actor
from django.db import connection, transaction

from apps.accounts.models import User
from apps.core import clock
from apps.metering import anomalies
from apps.metering.models import AlertPreference, ConsumptionAlert, IntervalReading

DEFAULT_CHUNK_SIZE = 500
NEW_DATA_WINDOW = dt.timedelta(hours=36)
EVALUATE_DAYS = 7  # complete local days re-evaluated by each scan (late readings catch up)

Periods = Mapping[int, Sequence[anomalies.Period]]


class AlertPreferenceError(ValueError):
    """Bad input for an alert preference; ``field`` names the form field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidSensitivity(AlertPreferenceError):
    """The sensitivity is not LOW, NORMAL or HIGH."""


class UnknownAlertKind(AlertPreferenceError):
    """A kind to switch off is not a kind of alert."""


@dataclass(slots=True)
class ScanResult:
    scanned: int = 0
    created: list[int] = field(default_factory=list)  # ids of the new ConsumptionAlert rows


def chunked(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    if size < 1:
        raise ValueError("chunk_size must be at least 1.")
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def evaluation_days(
    *, as_of: dt.datetime, evaluate_days: int = EVALUATE_DAYS
) -> tuple[dt.date, dt.date]:
    """The complete local days a scan at ``as_of`` evaluates: the last ``evaluate_days``."""
    today = as_of.astimezone(clock.local_zone()).date()
    return today - dt.timedelta(days=evaluate_days), today - dt.timedelta(days=1)


def supply_points_with_new_data(
    *,
    as_of: dt.datetime,
    window: dt.timedelta = NEW_DATA_WINDOW,
    evaluate_days: int = EVALUATE_DAYS,
) -> list[int]:
    """Supply points with a reading received in ``window`` before ``as_of`` about a day the
    scan evaluates (or later), in id order.

    The interval-start bound lets PostgreSQL prune the readings table to its latest
    monthly partitions; ``received_at`` has no index of its own (decision 0541).
    """
    first, _ = evaluation_days(as_of=as_of, evaluate_days=evaluate_days)
    rows = (
        IntervalReading.objects.filter(
            interval_start__gte=clock.local_midnight(first),
            interval_start__lt=as_of,
            received_at__gte=as_of - window,
        )
        .values_list("supply_point_id", flat=True)
        .distinct()
        .order_by("supply_point_id")
    )
    return list(rows)


def _day_minutes(day: dt.date, tz: ZoneInfo) -> int:
    start = clock.local_midnight(day, tz)
    end = clock.local_midnight(day + dt.timedelta(days=1), tz)
    return int((end - start).total_seconds() // 60)


# One pass over the chunk's readings: the local time is worked out once per reading (the
# OFFSET 0 keeps PostgreSQL from recomputing it per aggregate), energies are summed as
# integer watt-hours (small aggregate state, exact), each night hour is its own column.
_USAGE_SQL = """
SELECT s.supply_point_id, s.local::date AS day, SUM(s.wh), SUM(s.minutes){night_columns}
FROM (
    SELECT r.supply_point_id,
           r.interval_start AT TIME ZONE %(tz)s AS local,
           date_part('hour', r.interval_start AT TIME ZONE %(tz)s)::integer AS hour,
           (r.kwh_import * 1000)::bigint AS wh,
           r.duration_minutes AS minutes
    FROM {readings} r
    WHERE r.supply_point_id = ANY(%(ids)s)
      AND r.interval_start >= %(start)s AND r.interval_start < %(end)s
    OFFSET 0
) s
GROUP BY 1, 2
ORDER BY 1, 2
"""


def _usage_sql(night_hours: Sequence[int]) -> str:
    columns = "".join(f", SUM(s.wh) FILTER (WHERE s.hour = {int(hour)})" for hour in night_hours)
    table = connection.ops.quote_name(IntervalReading._meta.db_table)
    return _USAGE_SQL.format(readings=table, night_columns=columns)


def _kwh(wh: int) -> Decimal:
    return Decimal(wh).scaleb(-3)


def usage_by_supply_point(
    *,
    supply_point_ids: Sequence[int],
    first_day: dt.date,
    last_day: dt.date,
    tz: ZoneInfo,
    night_hours: Sequence[int],
    active_periods: Periods | None = None,
) -> dict[int, anomalies.Usage]:
    """Daily kWh and night-hour kWh for local days ``first_day``..``last_day``, per supply point.

    One query whatever the number of supply points and days: readings are summed per
    local day, and per local night hour, by PostgreSQL (which does the time-zone
    arithmetic; monthly partitions outside the range are pruned). A day is complete when its
    readings cover all its minutes (1,380 or 1,500 on DST days). On the autumn DST
    night the repeated hour is one local hour holding both.
    """
    params: dict[str, Any] = {
        "tz": str(tz),
        "ids": list(supply_point_ids),
        "start": clock.local_midnight(first_day, tz),
        "end": clock.local_midnight(last_day + dt.timedelta(days=1), tz),
    }
    days: dict[int, dict[dt.date, Decimal]] = {pk: {} for pk in supply_point_ids}
    complete: dict[int, set[dt.date]] = {pk: set() for pk in supply_point_ids}
    hours: dict[int, dict[dt.datetime, Decimal]] = {pk: {} for pk in supply_point_ids}
    minutes_of: dict[dt.date, int] = {}
    night = [int(hour) for hour in night_hours]
    with connection.cursor() as cursor:
        cursor.execute(_usage_sql(night), params)
        for pk, day, wh, minutes, *night_wh in cursor.fetchall():
            days[pk][day] = _kwh(wh)
            if day not in minutes_of:
                minutes_of[day] = _day_minutes(day, tz)
            if minutes >= minutes_of[day]:
                complete[pk].add(day)
            for hour, value in zip(night, night_wh, strict=True):
                if value is not None:
                    hours[pk][dt.datetime.combine(day, dt.time(hour))] = _kwh(value)
    periods = active_periods or {}
    return {
        pk: anomalies.Usage(
            daily=days[pk],
            hourly=hours[pk],
            complete_days=frozenset(complete[pk]),
            active=tuple(periods.get(pk, ())),
        )
        for pk in supply_point_ids
    }


def _preferences(supply_point_ids: Sequence[int]) -> dict[int, tuple[str, frozenset[str]]]:
    rows = AlertPreference.objects.filter(supply_point_id__in=list(supply_point_ids)).values_list(
        "supply_point_id", "sensitivity", "disabled_kinds"
    )
    known = set(anomalies.KINDS)
    return {
        pk: (sensitivity, frozenset(kind for kind in (disabled or []) if kind in known))
        for pk, sensitivity, disabled in rows
    }


def _store(findings: list[tuple[int, anomalies.Finding]], *, detected_at: dt.datetime) -> list[int]:
    """Insert the findings that are not stored yet; return the ids of those inserted."""
    if not findings:
        return []
    table = connection.ops.quote_name(ConsumptionAlert._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s::jsonb)"] * len(findings))
    params: list[Any] = []
    for supply_point_id, finding in findings:
        params += [
            supply_point_id,
            finding.kind,
            finding.day,
            detected_at,
            finding.observed,
            finding.expected,
            json.dumps(dict(finding.details), sort_keys=True),
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} "  # noqa: S608 - table name from the model, values are parameters
            "(supply_point_id, kind, day, detected_at, observed, expected, details) "
            f"VALUES {values} "
            "ON CONFLICT (supply_point_id, kind, day) DO NOTHING RETURNING id",
            params,
        )
        return sorted(row[0] for row in cursor.fetchall())


def alerts_scan(
    *,
    supply_point_ids: Sequence[int],
    as_of: dt.datetime,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    active_periods: Periods | None = None,
    evaluate_days: int = EVALUATE_DAYS,
) -> ScanResult:
    """Run the detectors for ``supply_point_ids`` over the last ``evaluate_days`` complete
    local days before ``as_of`` and store new findings as ``ConsumptionAlert`` rows.

    Each supply point uses its own ``AlertPreference`` (sensitivity, kinds switched
    off; NORMAL and none by default). ``active_periods`` maps a supply point to the
    local-date periods its contract is active; without them ``ZERO_USE`` is never
    raised. Idempotent: re-running stores nothing twice (the unique key decides) and
    returns only the ids stored by this call. One transaction per chunk.

    Raises ``ValueError`` when ``chunk_size`` is below 1.
    """
    tz = clock.local_zone()
    evaluate_from, evaluate_to = evaluation_days(as_of=as_of, evaluate_days=evaluate_days)
    night_hours = sorted({h for t in anomalies.PRESETS.values() for h in t.night_hours})
    lookback = max(t.lookback_days() for t in anomalies.PRESETS.values())
    result = ScanResult()
    for chunk in chunked(sorted(set(supply_point_ids)), chunk_size):
        with transaction.atomic():
            preferences = _preferences(chunk)
            usage = usage_by_supply_point(
                supply_point_ids=chunk,
                first_day=evaluate_from - dt.timedelta(days=lookback),
                last_day=evaluate_to,
                tz=tz,
                night_hours=night_hours,
                active_periods=active_periods,
            )
            findings: list[tuple[int, anomalies.Finding]] = []
            for pk in chunk:
                sensitivity, disabled = preferences.get(pk, (anomalies.NORMAL, frozenset()))
                found = anomalies.detect(
                    usage[pk],
                    evaluate_from=evaluate_from,
                    evaluate_to=evaluate_to,
                    thresholds=anomalies.thresholds_for(sensitivity),
                    disabled=disabled,
                )
                findings += [(pk, finding) for finding in found]
            result.created += _store(findings, detected_at=as_of)
            result.scanned += len(chunk)
    return result


# -- preferences ----------------------------------------------------------------------------


def alert_preference_for(*, supply_point_id: int) -> AlertPreference:
    """The supply point's preference; the defaults (unsaved) when none was stored yet."""
    preference = AlertPreference.objects.filter(supply_point_id=supply_point_id).first()
    return preference or AlertPreference(supply_point_id=supply_point_id)


@contextmanager
def _acting_as(actor: User | None) -> Iterator[None]:
    """Name ``actor`` in the audit entries written inside, then put the previous context back."""
    try:
        previous = auditlog_value.get()
    except LookupError:
        previous = None
    if previous is not None and previous.get("actor") == actor:
        yield
        return
    try:
        with set_actor(actor):
            yield
    finally:
        if previous is not None:
            auditlog_value.set(previous)


def alert_preference_update(
    *,
    supply_point_id: int,
    sensitivity: str,
    disabled_kinds: Sequence[str],
    actor: User | None,
) -> AlertPreference:
    """Set how eager alerts for the supply point are and which kinds are switched off.

    The change is audited with ``actor``. Raises ``InvalidSensitivity`` (field
    ``sensitivity``) or ``UnknownAlertKind`` (field ``disabled_kinds``). The caller
    checks that ``actor`` may act for the supply point.
    """
    if sensitivity not in AlertPreference.Sensitivity.values:
        raise InvalidSensitivity(
            f"sensitivity: “{sensitivity}” is not one of "
            f"{', '.join(AlertPreference.Sensitivity.values)}.",
            field="sensitivity",
        )
    unknown = sorted(set(disabled_kinds) - set(ConsumptionAlert.Kind.values))
    if unknown:
        raise UnknownAlertKind(
            f"disabled_kinds: {', '.join(unknown)} is not a kind of alert.",
            field="disabled_kinds",
        )
    ordered = [kind for kind in ConsumptionAlert.Kind.values if kind in set(disabled_kinds)]
    with transaction.atomic(), _acting_as(actor):
        preference = (
            AlertPreference.objects.select_for_update()
            .filter(supply_point_id=supply_point_id)
            .first()
        )
        if preference is None:
            preference = AlertPreference(supply_point_id=supply_point_id)
        elif preference.sensitivity == sensitivity and preference.disabled_kinds == ordered:
            return preference  # nothing changed: no audit entry
        preference.sensitivity = sensitivity
        preference.disabled_kinds = ordered
        preference.save()
    return preference


def recent_alerts(*, supply_point_ids: Sequence[int], limit: int = 20) -> list[ConsumptionAlert]:
    """The latest alerts of the given supply points, newest day first (customer and staff pages)."""
    return list(
        ConsumptionAlert.objects.filter(supply_point_id__in=list(supply_point_ids))
        .select_related("supply_point")
        .order_by("-day", "-id")[:limit]
    )
