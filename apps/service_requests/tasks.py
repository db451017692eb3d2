"""Celery doors into the service-request services. Thin, idempotent, time-limited."""

from __future__ import annotations

from celery import shared_task

from apps.core import clock
from apps.service_requests.services import appointments_send_reminders


@shared_task(
    name="service_requests.send_appointment_reminders", time_limit=300, soft_time_limit=270
)
def send_appointment_reminders() -> int:
    """Remind customers of tomorrow's visits. Hourly from beat; re-running sends nothing new.

    Returns how many notifications were created.
    """
    return appointments_send_reminders(now=clock.now())
