"""Celery doors into the contract services. Thin, idempotent, time-limited."""

from __future__ import annotations

from celery import shared_task

from apps.contracts.services import contracts_apply_scheduled_transitions
from apps.core import clock


@shared_task(name="contracts.apply_scheduled_transitions", time_limit=300, soft_time_limit=270)
def apply_scheduled_transitions() -> dict[str, list[str]]:
    """Activate contracts whose start date has come and end those past their end date.

    Runs hourly from beat (settings.CELERY_BEAT_SCHEDULE); re-running changes nothing.
    """
    result = contracts_apply_scheduled_transitions(now=clock.now())
    return {"activated": result.activated, "ended": result.ended}
