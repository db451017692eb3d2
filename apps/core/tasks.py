from __future__ import annotations

from celery import shared_task


@shared_task(name="core.ping", time_limit=10, soft_time_limit=8)
def ping(payload: str) -> str:
    """A task for health checks and tests: echoes the payload back."""
    return f"pong:{payload}"
