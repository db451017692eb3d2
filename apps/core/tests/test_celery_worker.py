"""A task executed by a real Celery worker process thread against Redis (not eager mode)."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from apps.core.tasks import ping
from config.celery import app

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_task_runs_on_a_real_worker_and_health_sees_it(redis_url: str) -> None:
    assert app.conf.task_always_eager is False
    assert app.conf.broker_url == redis_url
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = ping.delay("meter-42")
        assert result.get(timeout=20) == "pong:meter-42"
        health = Client().get("/healthz").json()
        assert health["checks"]["celery"]["ok"] is True, health
    text = Client().get("/metrics").content.decode()
    assert 'wattline_celery_tasks_total{state="succeeded"} 1.0' in text
