"""Thin Celery doors into the outage services. Each is idempotent and safe to retry.

Beat (config/settings.py ``CELERY_BEAT_SCHEDULE``): ``outages.detect`` every minute,
``outages.announce_planned`` every 15 minutes.
"""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core import clock

logger = logging.getLogger(__name__)


@shared_task(name="outages.detect", time_limit=55, soft_time_limit=50, expires=55)
def detect_outages() -> dict[str, object]:
    """One detection run over the last day of meter events (skipped if one is running)."""
    from apps.outages.services import outages_detect

    run = outages_detect(now=clock.now())
    summary: dict[str, object] = {
        "skipped": run.skipped,
        "events": run.events,
        "incidents": run.incidents,
        "created": run.created,
        "extended": run.extended,
        "merged": run.merged,
        "restored": run.restored,
        "points_created": run.points_created,
        "points_closed": run.points_closed,
    }
    logger.info("outage detection run", extra={f"outages_{k}": v for k, v in summary.items()})
    return summary


@shared_task(name="outages.announce_planned", time_limit=300, soft_time_limit=270)
def announce_planned() -> int:
    from apps.outages.services import planned_outages_announce

    return planned_outages_announce(now=clock.now())


@shared_task(
    name="outages.notify",
    time_limit=300,
    soft_time_limit=270,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def notify_outage(outage_id: int) -> int:
    from apps.outages.services import outage_notify

    return outage_notify(outage_id=outage_id)


@shared_task(
    name="outages.notify_estimate",
    time_limit=300,
    soft_time_limit=270,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def notify_estimate(outage_id: int, update_id: int) -> int:
    from apps.outages.services import outage_notify_estimate

    return outage_notify_estimate(outage_id=outage_id, update_id=update_id)


@shared_task(name="outages.notify_planned_cancelled", time_limit=300, soft_time_limit=270)
def notify_planned_cancelled(outage_id: int) -> int:
    from apps.outages.services import planned_outage_notify_cancelled

    return planned_outage_notify_cancelled(outage_id=outage_id)
