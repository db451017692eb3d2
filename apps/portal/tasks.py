"""Celery doors into the portal services. Thin, idempotent, time-limited."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import OperationalError

from apps.core import clock
from apps.metering.alerts import DEFAULT_CHUNK_SIZE
from apps.portal import alerting


@shared_task(name="portal.scan_alerts", time_limit=300, soft_time_limit=270)
def scan_alerts(chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Find the supply points with new readings and queue one scan task per chunk of them.

    Runs daily from beat; every chunk task is idempotent, so a re-run (or two
    dispatchers racing) stores and sends nothing twice. Returns the chunks queued.
    """
    as_of = clock.now()
    chunks = alerting.alerts_scan_chunks(as_of=as_of, chunk_size=chunk_size)
    for ids in chunks:
        scan_alerts_chunk.delay(ids, as_of.isoformat())
    return len(chunks)


@shared_task(
    name="portal.scan_alerts_chunk",
    time_limit=600,
    soft_time_limit=540,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def scan_alerts_chunk(supply_point_ids: list[int], as_of: str) -> dict[str, int]:
    """Scan one chunk of supply points as of the dispatcher's instant; notify new alerts."""
    outcome = alerting.alerts_scan_and_notify(
        supply_point_ids=supply_point_ids, as_of=dt.datetime.fromisoformat(as_of)
    )
    return {
        "scanned": outcome.scanned,
        "alerts": len(outcome.alerts),
        "notifications": outcome.notifications,
    }


@shared_task(name="portal.sum_sales_days", time_limit=1800, soft_time_limit=1740)
def sum_sales_days() -> int:
    """Hourly: sum the operations dashboard's recent finished days again (idempotent)."""
    from apps.portal.ops_dashboard import sales_days_refresh

    now = clock.now()
    return sales_days_refresh(today=now.astimezone(clock.local_zone()).date(), now=now)
