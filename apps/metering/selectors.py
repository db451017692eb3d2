"""Reads of supply points and readings shared by several callers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from django.db.models import QuerySet

from apps.metering.models import IntervalReading, SupplyPoint


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
