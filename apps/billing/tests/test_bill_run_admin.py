"""Staff run bills from the admin (preview, progress, issue); beat starts runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.billing import run as runs
from apps.billing.models import Bill, BillRun
from apps.billing.tests.test_bill_run import NOV, OCT, _customer_on, _readings
from apps.contracts.tests.factories import make_tariff

pytestmark = pytest.mark.django_db


def test_billing_specialist_previews_follows_and_issues_a_run(
    staff_client_for, django_capture_on_commit_callbacks
) -> None:
    tariff = make_tariff("FLATA", rate="0.150000", standing="0.000000")
    account, point, _ = _customer_on(tariff)
    _readings(point, OCT, NOV)
    client = staff_client_for("billing_specialist")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:billing_billrun_add"),
            {"billing_day": 1, "period_start": "2026-10-01"},
        )
    run = BillRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:billing_billrun_change", args=[run.pk])
    assert run.status == BillRun.Status.PREVIEWED
    fragment = client.get(reverse("admin:billing_billrun_progress", args=[run.pk]))
    text = fragment.content.decode()
    assert 'value="100"' in text
    assert "111.75" in text  # the previewed total
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:billing_billrun_changelist"),
            {"action": "issue_runs", "_selected_action": [run.pk]},
        )
    run.refresh_from_db()
    assert run.status == BillRun.Status.ISSUED
    assert Bill.objects.get(account=account).invoice_number == "F2026-000001"


def test_admin_refuses_a_start_date_off_the_billing_day(staff_client_for) -> None:
    client = staff_client_for("billing_specialist")
    response = client.post(
        reverse("admin:billing_billrun_add"), {"billing_day": 5, "period_start": "2026-10-01"}
    )
    assert response.status_code == 200
    assert "The period starts on the billing day of the month." in response.content.decode()
    assert not BillRun.objects.exists()


def test_support_agent_cannot_start_a_run(staff_client_for) -> None:
    client = staff_client_for("support_agent")
    response = client.post(
        reverse("admin:billing_billrun_add"), {"billing_day": 1, "period_start": "2026-10-01"}
    )
    assert response.status_code == 403
    assert not BillRun.objects.exists()


def test_beat_previews_the_period_that_ended_yesterday_once(
    django_capture_on_commit_callbacks,
) -> None:
    tariff = make_tariff("FLATB", rate="0.100000", standing="0.000000")
    account, point, _ = _customer_on(tariff)
    _readings(point, OCT, NOV)
    with django_capture_on_commit_callbacks(execute=True):
        started = runs.scheduled_runs_start(today=dt.date(2026, 11, 1))
    assert [(r.billing_day, r.period_start) for r in started] == [(1, OCT)]
    assert runs.scheduled_runs_start(today=dt.date(2026, 11, 1)) == []
    assert runs.scheduled_runs_start(today=dt.date(2026, 11, 30)) == []  # no day 30 billing
    assert Bill.objects.get(account=account).total == Decimal("74.50")
    assert BillRun.objects.count() == 1
