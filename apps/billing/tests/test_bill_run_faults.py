"""Bill runs against real workers: a worker killed mid-chunk, and concurrent issuers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.billing import run as runs
from apps.billing.issuing import bills_issue
from apps.billing.models import Bill, BillRun, BillRunChunk, LedgerEntry
from apps.billing.tests.factories import draft_bill
from apps.billing.tests.test_bill_run import NOV, OCT, _customer_on, _readings
from apps.contracts.tests.factories import make_account, make_tariff
from apps.core import clock

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(settings.BASE_DIR)


def _start_worker(tmp_path: Path, redis_url: str, **fault: str) -> subprocess.Popen[bytes]:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}"
        ),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WATTLINE_ENV": "test",
        "WATTLINE_BILLING_RENDER_PDFS": "false",
        **fault,
    }
    log = (tmp_path / f"worker-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    worker.wait(timeout=30)


@pytest.mark.parametrize("phase", ["PREVIEW", "ISSUE"])
def test_worker_killed_mid_chunk_then_resumed_bills_each_account_once(
    phase: str, tmp_path: Path, redis_url: str
) -> None:
    tariff = make_tariff("FLATK", rate="0.150000")
    accounts = []
    for _ in range(6):
        account, point, _c = _customer_on(tariff)
        _readings(point, OCT, NOV)
        accounts.append(account)
    marker = tmp_path / "paused"
    worker = _start_worker(
        tmp_path,
        redis_url,
        WATTLINE_BILLING_FAULT_PAUSE="120",
        WATTLINE_BILLING_FAULT_PHASE=phase,
        WATTLINE_BILLING_FAULT_MARKER=str(marker),
    )
    try:
        if phase == "PREVIEW":
            run = runs.bill_run_create(billing_day=1, period_start=OCT, actor=None, chunk_size=2)
        else:
            run = runs.bill_run_create(billing_day=1, period_start=OCT, actor=None, chunk_size=2)
            for chunk in run.chunks.all():  # preview on this side: only issuing is at risk
                runs.bill_run_preview_chunk(chunk_id=chunk.pk)
            run.refresh_from_db()
            assert run.status == BillRun.Status.PREVIEWED
            runs.bill_run_issue(run=run, actor=None)
        _wait(marker.exists, timeout=60, what="the worker to pause inside a chunk")
        _stop(worker, signal.SIGKILL)  # killed with the chunk's transaction open
    finally:
        _stop(worker, signal.SIGKILL)
    done = BillRunChunk.objects.filter(run=run, phase=phase, done_at__isnull=False).count()
    assert done == 0
    issued = Bill.objects.filter(run=run, status=Bill.Status.ISSUED).count()
    assert issued == 0
    if phase == "PREVIEW":
        assert Bill.objects.filter(run=run).count() == 0
    worker = _start_worker(tmp_path, redis_url)
    try:
        assert runs.bill_run_resume(run=BillRun.objects.get(pk=run.pk)) == 3
        if phase == "PREVIEW":
            _wait(
                lambda: BillRun.objects.get(pk=run.pk).status == BillRun.Status.PREVIEWED,
                timeout=90,
                what="the preview to finish",
            )
            runs.bill_run_issue(run=BillRun.objects.get(pk=run.pk), actor=None)
        _wait(
            lambda: BillRun.objects.get(pk=run.pk).status == BillRun.Status.ISSUED,
            timeout=90,
            what="the run to be issued",
        )
    finally:
        _stop(worker)
    bills = list(Bill.objects.filter(run=run).order_by("number"))
    assert sorted(b.account_id for b in bills) == sorted(a.pk for a in accounts)
    assert [b.number for b in bills] == [1, 2, 3, 4, 5, 6]
    assert LedgerEntry.objects.filter(bill__run=run).count() == 6
    assert {b.total for b in bills} == {Decimal("114.85")}


def test_concurrent_issuers_allocate_gapless_numbers() -> None:
    drafts = []
    for _ in range(4):
        account = make_account(None)
        drafts.append(
            [
                draft_bill(
                    account=account,
                    total=Decimal("10.00"),
                    period_start=dt.date(2026, month, 1),
                ).pk
                for month in range(1, 6)
            ]
        )
    barrier = threading.Barrier(len(drafts))
    errors: list[BaseException] = []

    def issue(ids: list[int]) -> None:
        try:
            barrier.wait(timeout=10)
            bills_issue(bill_ids=ids, now=clock.now())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(ids,)) for ids in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    numbers = sorted(Bill.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 21))
    for ids in drafts:  # each issuer's bills got one contiguous block
        block = sorted(Bill.objects.filter(pk__in=ids).values_list("number", flat=True))
        assert block == list(range(block[0], block[0] + 5))
