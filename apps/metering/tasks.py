from __future__ import annotations

import datetime as dt

from celery import shared_task

from apps.core import clock
from apps.metering.partitions import ensure_reading_partitions


@shared_task(name="metering.ensure_partitions", time_limit=120, soft_time_limit=100)
def ensure_partitions(months_ahead: int = 3) -> list[str]:
    """Create reading partitions from last month to ``months_ahead`` months ahead. Idempotent."""
    today = clock.now().date()
    return ensure_reading_partitions(
        first=today - dt.timedelta(days=31), last=today + dt.timedelta(days=31 * months_ahead)
    )


GAP_CHUNK = 500


@shared_task(name="metering.fill_gaps", time_limit=1800, soft_time_limit=1700)
def fill_gaps(days_back: int = 8, settle_hours: int = 48) -> int:
    """Fan out gap filling over supply points that reported in the last four weeks."""
    from apps.metering.models import IntervalReading

    now = clock.now().replace(minute=0, second=0, microsecond=0)
    end = now - dt.timedelta(hours=settle_hours)
    start = end - dt.timedelta(days=days_back)
    ids = sorted(
        IntervalReading.objects.filter(interval_start__gte=now - dt.timedelta(weeks=4))
        .values_list("supply_point_id", flat=True)
        .distinct()
    )
    for offset in range(0, len(ids), GAP_CHUNK):
        fill_gaps_chunk.delay(ids[offset : offset + GAP_CHUNK], start.isoformat(), end.isoformat())
    return len(ids)


@shared_task(name="metering.fill_gaps_chunk", time_limit=1800, soft_time_limit=1700)
def fill_gaps_chunk(supply_point_ids: list[int], start: str, end: str) -> int:
    from apps.metering.gaps import readings_fill_gaps

    report = readings_fill_gaps(
        supply_point_ids=supply_point_ids,
        start=dt.datetime.fromisoformat(start),
        end=dt.datetime.fromisoformat(end),
    )
    return report.estimated


@shared_task(
    name="metering.import_reading_file",
    time_limit=3600,
    soft_time_limit=3500,
    acks_late=True,
)
def import_reading_file(batch_id: int, path: str) -> None:
    """Import an uploaded reading file into its batch (idempotent: a done batch is skipped)."""
    from apps.metering.uploads import readings_import_file

    readings_import_file(batch_id=batch_id, path=path)
