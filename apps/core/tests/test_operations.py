"""/healthz, /metrics, request ids, JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


@override_settings(REDIS_URL="redis://127.0.0.1:1/0", CELERY_TASK_ALWAYS_EAGER=False)
def test_healthz_is_503_naming_redis_when_redis_is_unreachable() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["redis", "celery"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["detail"] == "ConnectionError"


def test_healthz_reports_each_part() -> None:
    response = Client().get("/healthz")
    body = response.json()
    assert set(body["checks"]) == {"database", "redis", "celery"}
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}


def test_metrics_expose_request_counts() -> None:
    client = Client()
    client.get("/healthz")
    client.get("/healthz")
    text = client.get("/metrics").content.decode()
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total")
        and 'view="healthz"' in line
    ]
    assert lines, text[:2000]
    assert float(lines[0].rsplit(" ", 1)[1]) >= 2
    assert "wattline_celery_tasks_total" in text


def test_request_id_is_returned_and_kept_from_a_sane_header() -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="abc12345-req")
    assert response["X-Request-ID"] == "abc12345-req"
    generated = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(generated["X-Request-ID"]) == 32


def test_logs_are_json_lines_with_the_request_id() -> None:
    from django.conf import settings

    from apps.core.logging import RequestIdFilter, request_id_var

    formatter = logging.config.dictConfigClass(settings.LOGGING).configure_formatter(  # type: ignore[attr-defined]
        settings.LOGGING["formatters"]["json"]
    )
    record = logging.LogRecord("wattline", logging.INFO, __file__, 1, "bill issued", None, None)
    token = request_id_var.set("req-123456")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["message"] == "bill issued"
    assert line["request_id"] == "req-123456"
    assert line["level"] == "INFO"


def test_security_headers_and_csp_without_inline_scripts() -> None:
    response = Client().get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
