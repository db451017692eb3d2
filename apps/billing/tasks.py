"""Bill-run tasks: thin doors into apps.billing.run. Each takes an id and is idempotent."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import shared_task

from apps.billing import run, tasks_documents, tasks_dunning  # noqa: F401 - registers their tasks
from apps.core import clock


def _fault_pause(phase: str):
    """Fault injection for the kill-a-worker test, off unless its variables are set.

    With WATTLINE_BILLING_FAULT_PAUSE=<seconds> and WATTLINE_BILLING_FAULT_PHASE=<phase>
    the worker touches WATTLINE_BILLING_FAULT_MARKER and sleeps inside the chunk's open
    transaction, so a test can kill it mid-chunk.
    """
    seconds = float(os.environ.get("WATTLINE_BILLING_FAULT_PAUSE", "0") or 0)
    if not seconds or os.environ.get("WATTLINE_BILLING_FAULT_PHASE") != phase:
        return None

    def pause() -> None:
        marker = os.environ.get("WATTLINE_BILLING_FAULT_MARKER")
        if marker:
            Path(marker).touch()
        time.sleep(seconds)

    return pause


@shared_task(name="billing.preview_chunk", acks_late=True, time_limit=900, soft_time_limit=840)
def preview_chunk(chunk_id: int) -> bool:
    return run.bill_run_preview_chunk(chunk_id=chunk_id, hook=_fault_pause("PREVIEW"))


@shared_task(name="billing.issue_chunk", acks_late=True, time_limit=900, soft_time_limit=840)
def issue_chunk(chunk_id: int) -> bool:
    return run.bill_run_issue_chunk(chunk_id=chunk_id, hook=_fault_pause("ISSUE"))


@shared_task(name="billing.start_scheduled_runs")
def start_scheduled_runs() -> int:
    return len(run.scheduled_runs_start(today=clock.today()))
