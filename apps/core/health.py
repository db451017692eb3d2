"""Checks behind ``/healthz``: database, Redis and Celery, each with a short timeout."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return CheckResult("database", False, type(exc).__name__)
    return CheckResult("database", True, "ok")


def check_redis() -> CheckResult:
    url = settings.REDIS_URL
    if not url:
        return CheckResult("redis", True, "not configured (development)")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except redis.RedisError as exc:
        return CheckResult("redis", False, type(exc).__name__)
    finally:
        if "client" in locals():
            client.close()
    return CheckResult("redis", True, "ok")


def check_celery() -> CheckResult:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return CheckResult("celery", True, "eager (no broker configured)")
    from config.celery import app

    try:
        replies = app.control.ping(timeout=settings.WATTLINE_HEALTH_CELERY_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - broker errors of any kind
        return CheckResult("celery", False, type(exc).__name__)
    if not replies:
        return CheckResult("celery", False, "no worker answered")
    return CheckResult("celery", True, f"{len(replies)} worker(s)")


def run_checks() -> list[CheckResult]:
    redis_result = check_redis()
    celery_result = (
        check_celery() if redis_result.ok else CheckResult("celery", False, "broker unreachable")
    )
    return [check_database(), redis_result, celery_result]
