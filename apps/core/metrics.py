"""Prometheus metrics beyond django-prometheus: Celery task counts across processes.

Workers and web processes are separate, so task counts are kept in the shared
cache (Redis in every real deployment) and read by a collector at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, CounterMetricFamily
from prometheus_client.registry import Collector

TASK_STATES = ("started", "succeeded", "failed", "retried")
_KEY = "metrics:celery:{state}"


def record_task(state: str) -> None:
    from django.core.cache import cache

    key = _KEY.format(state=state)
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, 0, timeout=None)
        cache.incr(key)


class CeleryTaskCollector(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        from django.core.cache import cache

        family = CounterMetricFamily(
            "wattline_celery_tasks", "Celery tasks by final or current state", labels=["state"]
        )
        keys = {state: _KEY.format(state=state) for state in TASK_STATES}
        try:
            values = cache.get_many(list(keys.values()))
        except Exception:  # noqa: BLE001 - a scrape must not fail on a cache outage
            values = {}
        for state, key in keys.items():
            family.add_metric([state], float(values.get(key, 0)))
        yield family


_installed = False


def install() -> None:
    """Register the collector and the Celery signal handlers once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    from celery import signals

    REGISTRY.register(CeleryTaskCollector())

    def _started(**_: Any) -> None:
        record_task("started")

    def _succeeded(**_: Any) -> None:
        record_task("succeeded")

    def _failed(**_: Any) -> None:
        record_task("failed")

    def _retried(**_: Any) -> None:
        record_task("retried")

    signals.task_prerun.connect(_started, weak=False)
    signals.task_success.connect(_succeeded, weak=False)
    signals.task_failure.connect(_failed, weak=False)
    signals.task_retry.connect(_retried, weak=False)
