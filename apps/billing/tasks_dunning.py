"""Celery door into dunning (decision 0712). Thin, idempotent, time-limited.

Beat entry (settings.CELERY_BEAT_SCHEDULE), daily after the night's bank files:
``"billing-dunning-run": {"task": "billing.dunning_run", "schedule": crontab(minute=0, hour=7)}``.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from apps.billing.dunning import dunning_run
from apps.core import clock


@shared_task(name="billing.dunning_run", time_limit=900, soft_time_limit=840)
def dunning_run_task() -> dict[str, int]:
    """Send today's reminders and staff flags; re-running the same day sends nothing new."""
    return asdict(dunning_run(today=clock.today()))
