"""Reads of supply points and readings shared by several callers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from django.db.models import QuerySet

from apps.metering.models import IntervalReading, ReadingRevision, SupplyPoint


class ReadingRow(NamedTuple):
    start: dt.datetime
    minutes: int
    kwh_import: Decimal
    kwh_export: Decimal
    quality: str


def interval_rows(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime
) -> list[ReadingRow]:
    """Interval readings of one supply point in [start, end), in time order."""
    rows = (
        IntervalReading.objects.filter(
            supply_point_id=supply_point_id, interval_start__gte=start, interval_start__lt=end
        )
        .order_by("interval_start")
        .values_list("interval_start", "duration_minutes", "kwh_import", "kwh_export", "quality")
    )
    return [ReadingRow(*row) for row in rows]


def interval_rows_as_of(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime, as_of: dt.datetime
) -> list[ReadingRow]:
    """Interval readings of one supply point in [start, end) as they stood at ``as_of``.

    A reading replaced since then shows the values it had, taken from the first revision
    after ``as_of`` in its trail (its duration is today's: revisions do not keep it). A
    reading first received since then, with no such revision, is left out. A reading that
    was first received after ``as_of`` and then corrected cannot be told apart from one
    corrected after ``as_of`` (revisions do not keep when the old value arrived), and shows
    its first value; ingestion and bill runs are hours apart, so this does not arise.
    """
    rows = list(
        IntervalReading.objects.filter(
            supply_point_id=supply_point_id, interval_start__gte=start, interval_start__lt=end
        )
        .order_by("interval_start")
        .values_list(
            "interval_start",
            "duration_minutes",
            "kwh_import",
            "kwh_export",
            "quality",
            "received_at",
        )
    )
    if all(received_at <= as_of for *_rest, received_at in rows):
        return [ReadingRow(*row[:5]) for row in rows]
    earlier: dict[dt.datetime, tuple[Decimal, Decimal, str]] = {}
    for interval_start, kwh_import, kwh_export, quality in (
        ReadingRevision.objects.filter(
            supply_point_id=supply_point_id,
            interval_start__gte=start,
            interval_start__lt=end,
            replaced_at__gt=as_of,
        )
        .order_by("interval_start", "replaced_at", "id")
        .values_list("interval_start", "old_kwh_import", "old_kwh_export", "old_quality")
    ):
        earlier.setdefault(interval_start, (kwh_import, kwh_export, quality))
    result = []
    for interval_start, minutes, kwh_import, kwh_export, quality, received_at in rows:
        if received_at <= as_of:
            result.append(ReadingRow(interval_start, minutes, kwh_import, kwh_export, quality))
        elif interval_start in earlier:
            result.append(ReadingRow(interval_start, minutes, *earlier[interval_start]))
    return result


def total_import_kwh(
    *, supply_point_ids: list[int], start: dt.datetime, end: dt.datetime
) -> Decimal:
    from django.db.models import Sum

    total = IntervalReading.objects.filter(
        supply_point_id__in=supply_point_ids, interval_start__gte=start, interval_start__lt=end
    ).aggregate(total=Sum("kwh_import"))["total"]
    return total or Decimal(0)


def has_export(
    *, supply_point_ids: list[int], since: dt.datetime, until: dt.datetime | None = None
) -> bool:
    """Whether any of these supply points exported energy in [since, until)."""
    rows = IntervalReading.objects.filter(
        supply_point_id__in=supply_point_ids, interval_start__gte=since, kwh_export__gt=0
    )
    if until is not None:
        rows = rows.filter(interval_start__lt=until)
    return rows.exists()


def supply_point_by_cups(cups: str) -> SupplyPoint | None:
    return SupplyPoint.objects.filter(external_id=cups).select_related("premise__address").first()


def supply_points_with_premise() -> QuerySet[SupplyPoint]:
    return SupplyPoint.objects.select_related("premise__address").order_by("external_id", "id")
