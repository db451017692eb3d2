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
