"""Bill runs: create, preview in chunks, review, issue in chunks, resume.

A run's accounts are split into chunks when it is created. Every chunk of a phase is a
Celery task that any worker can take; a chunk does all of its work in one transaction
and marks itself done in that transaction, so a worker killed mid-chunk leaves nothing
behind and the chunk simply runs again (``bill_run_resume``). Chunks already done are
never redone, and the one-live-bill-per-account-and-period constraint makes a second
bill impossible whatever happens.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Abs

from apps.accounts.models import Account, User
from apps.billing.compute import BILLABLE_STATUSES, ComputedBill, compute_bills
from apps.billing.issuing import bills_issue
from apps.billing.models import Bill, BillIssue, BillRun, BillRunChunk
from apps.contracts.models import Contract
from apps.contracts.services import add_months
from apps.core import clock
from apps.core.audit import acting_as


class BillRunError(Exception):
    """The run cannot do what was asked in its current state (the message says why)."""


def billable_account_ids(
    *, billing_day: int, period_start: dt.date, period_end: dt.date
) -> list[int]:
    """Accounts with this billing day and a contract that supplied during the period."""
    return list(
        Account.objects.filter(billing_day=billing_day)
        .filter(
            pk__in=Contract.objects.filter(status__in=BILLABLE_STATUSES, start_date__lt=period_end)
            .filter(Q(end_date__isnull=True) | Q(end_date__gt=period_start))
            .values("account_id")
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _enqueue(task_name: str, chunk_ids: list[int]) -> None:
    from apps.billing import tasks

    task = {"preview": tasks.preview_chunk, "issue": tasks.issue_chunk}[task_name]
    for chunk_id in chunk_ids:
        task.delay(chunk_id)


def bill_run_create(
    *,
    billing_day: int,
    period_start: dt.date,
    actor: User | None,
    chunk_size: int | None = None,
) -> BillRun:
    """Create a run for the accounts with ``billing_day`` and start its preview.

    The period is [period_start, period_start + 1 month). Raises BillRunError when the
    start date's day is not the billing day or a run for the period already exists.
    """
    if period_start.day != billing_day:
        raise BillRunError(
            f"period_start: a run for billing day {billing_day} starts on that day of the month."
        )
    period_end = add_months(period_start, 1)
    size = chunk_size or settings.BILLING_CHUNK_SIZE
    with transaction.atomic(), acting_as(actor):
        if (
            BillRun.objects.filter(billing_day=billing_day, period_start=period_start)
            .exclude(status=BillRun.Status.CANCELLED)
            .exists()
        ):
            raise BillRunError(
                f"period_start: there is already a run for {period_start} (billing day "
                f"{billing_day})."
            )
        ids = billable_account_ids(
            billing_day=billing_day, period_start=period_start, period_end=period_end
        )
        run = BillRun.objects.create(
            billing_day=billing_day,
            period_start=period_start,
            period_end=period_end,
            chunk_size=size,
            accounts_total=len(ids),
            created_at=clock.now(),
            created_by=actor,
            stats={"created": time.time()},
        )
        chunks = BillRunChunk.objects.bulk_create(
            [
                BillRunChunk(
                    run=run,
                    phase=BillRunChunk.Phase.PREVIEW,
                    number=number,
                    account_ids=ids[offset : offset + size],
                )
                for number, offset in enumerate(range(0, len(ids), size), start=1)
            ]
        )
        if not chunks:
            run.status = BillRun.Status.PREVIEWED
            run.preview_finished_at = clock.now()
            run.save(update_fields=["status", "preview_finished_at"])
        chunk_ids = [chunk.pk for chunk in chunks]
        transaction.on_commit(lambda: _enqueue("preview", chunk_ids))
    return run


def _copy_rows(table: str, columns: list[str], rows: list[tuple]) -> None:
    """Bulk-insert with COPY on the current connection (inside the caller's transaction)."""
    if not rows:
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor behind Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


LINE_COLUMNS = [
    "bill_id",
    "position",
    "contract_number",
    "component",
    "period",
    "tier",
    "version_label",
    "label",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "starts_at",
    "ends_at",
]


def _store(run: BillRun | None, computed: list[ComputedBill]) -> None:
    bills = [item.bill for item in computed]
    if not bills:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('billing_bill', 'id')) "
            "FROM generate_series(1, %s)",
            [len(bills)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    fields = Bill._meta.concrete_fields
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    file_fields = {f.attname for f in fields if isinstance(f, models.FileField)}
    names = [f.attname for f in fields]
    rows = []
    for bill, pk in zip(bills, ids, strict=True):
        bill.pk = pk
        bill.run_id = run.pk if run is not None else None
        values = bill.__dict__
        row = [values[name] for name in names]
        for position, name in enumerate(names):
            if name in json_fields:
                row[position] = json.dumps(row[position])
            elif name in file_fields:
                row[position] = getattr(bill, name).name or ""
        rows.append(tuple(row))
    # COPY, not bulk_create: a chunk writes hundreds of wide rows (see ADR 0714).
    _copy_rows("billing_bill", [f.column for f in fields], rows)
    line_rows = []
    issue_rows = []
    for item in computed:
        bill_id = item.bill.pk
        for line in item.lines:
            line_rows.append((bill_id, *(line[name] for name in LINE_COLUMNS[1:])))
        for code, message in item.issues:
            issue_rows.append((bill_id, code, message))
    _copy_rows("billing_billline", LINE_COLUMNS, line_rows)
    if issue_rows:
        BillIssue.objects.bulk_create(
            [BillIssue(bill_id=b, code=c, message=m) for b, c, m in issue_rows],
            ignore_conflicts=True,  # two contracts may give the same reason once per bill
        )


def _lock_chunk(chunk_id: int, phase: str) -> BillRunChunk | None:
    """The chunk, row-locked, if it still needs doing (None if done or being done)."""
    chunk = (
        BillRunChunk.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("run")
        .filter(pk=chunk_id, phase=phase)
        .first()
    )
    if chunk is None or chunk.done_at is not None:
        return None
    return chunk


def _finish_phase_if_done(run_id: int, phase: str) -> None:
    """Move the run on when its last chunk of ``phase`` is done (exactly once)."""
    now = clock.now()
    if BillRunChunk.objects.filter(run_id=run_id, phase=phase, done_at__isnull=True).exists():
        return
    if phase == BillRunChunk.Phase.PREVIEW:
        BillRun.objects.filter(pk=run_id, status=BillRun.Status.PREVIEWING).update(
            status=BillRun.Status.PREVIEWED, preview_finished_at=now
        )
    else:
        BillRun.objects.filter(pk=run_id, status=BillRun.Status.ISSUING).update(
            status=BillRun.Status.ISSUED, issued_at=now
        )


def bill_run_preview_chunk(*, chunk_id: int, hook: Callable[[], None] | None = None) -> bool:
    """Compute and store the draft (or held) bills of one chunk. False if already done.

    ``hook`` runs inside the chunk's transaction after computing (fault tests use it).
    """
    started = time.perf_counter()
    with transaction.atomic():
        chunk = _lock_chunk(chunk_id, BillRunChunk.Phase.PREVIEW)
        if chunk is None:
            return False
        run = chunk.run
        BillRunChunk.objects.filter(pk=chunk.pk).update(attempts=chunk.attempts + 1)
        computed, skipped = compute_bills(
            account_ids=chunk.account_ids,
            period_start=run.period_start,
            period_end=run.period_end,
            now=clock.now(),
        )
        computed_at = time.perf_counter()
        if hook is not None:
            hook()
        _store(run, computed)
        held = sum(1 for item in computed if item.issues)
        BillRunChunk.objects.filter(pk=chunk.pk).update(
            done_at=clock.now(),
            accounts_done=len(computed),
            accounts_held=held,
            accounts_skipped=len(skipped),
            amount_total=sum((item.bill.total for item in computed), Decimal(0)),
            seconds={
                "compute": round(computed_at - started, 3),
                "store": round(time.perf_counter() - computed_at, 3),
            },
        )
        transaction.on_commit(lambda: _finish_phase_if_done(run.pk, BillRunChunk.Phase.PREVIEW))
    return True


def bill_run_issue(*, run: BillRun, actor: User | None) -> BillRun:
    """Issue a previewed run's DRAFT bills in chunks (HELD bills wait for review).

    Raises BillRunError unless the run's preview is complete.
    """
    with transaction.atomic(), acting_as(actor):
        locked = BillRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != BillRun.Status.PREVIEWED:
            raise BillRunError(
                f"status: only a run whose preview is ready can be issued (it is {locked.status})."
            )
        ids = list(
            Bill.objects.filter(run=locked, status=Bill.Status.DRAFT)
            .order_by("account_id")
            .values_list("account_id", flat=True)
        )
        size = locked.chunk_size
        chunks = BillRunChunk.objects.bulk_create(
            [
                BillRunChunk(
                    run=locked,
                    phase=BillRunChunk.Phase.ISSUE,
                    number=number,
                    account_ids=ids[offset : offset + size],
                )
                for number, offset in enumerate(
                    range(0, len(ids), size),
                    start=1
                    + BillRunChunk.objects.filter(
                        run=locked, phase=BillRunChunk.Phase.ISSUE
                    ).count(),
                )
            ]
        )
        locked.status = BillRun.Status.ISSUING if chunks else BillRun.Status.ISSUED
        locked.issue_started_at = clock.now()
        locked.issued_by = actor
        if not chunks:
            locked.issued_at = clock.now()
        locked.stats = {**locked.stats, "issue_started": time.time()}
        locked.save(update_fields=["status", "issue_started_at", "issued_by", "issued_at", "stats"])
        chunk_ids = [chunk.pk for chunk in chunks]
        transaction.on_commit(lambda: _enqueue("issue", chunk_ids))
    return locked


def bill_run_issue_chunk(*, chunk_id: int, hook: Callable[[], None] | None = None) -> bool:
    """Issue the DRAFT bills of one chunk (numbers, ledger). False if already done."""
    started = time.perf_counter()
    with transaction.atomic():
        chunk = _lock_chunk(chunk_id, BillRunChunk.Phase.ISSUE)
        if chunk is None:
            return False
        run = chunk.run
        BillRunChunk.objects.filter(pk=chunk.pk).update(attempts=chunk.attempts + 1)
        bill_ids = list(
            Bill.objects.filter(
                run=run, account_id__in=chunk.account_ids, status=Bill.Status.DRAFT
            ).values_list("pk", flat=True)
        )
        if hook is not None:
            hook()
        result = bills_issue(
            bill_ids=bill_ids, now=clock.now(), actor=run.issued_by, actor_label="system:bill-run"
        )
        total = Bill.objects.filter(pk__in=bill_ids, status=Bill.Status.ISSUED).aggregate(
            total=Sum("total")
        )["total"]
        BillRunChunk.objects.filter(pk=chunk.pk).update(
            done_at=clock.now(),
            accounts_done=len(chunk.account_ids),
            bills_issued=result.issued,
            amount_total=total or 0,
            seconds={"issue": round(time.perf_counter() - started, 3)},
        )
        transaction.on_commit(lambda: _finish_phase_if_done(run.pk, BillRunChunk.Phase.ISSUE))
        if settings.BILLING_RENDER_PDFS:
            transaction.on_commit(lambda: _enqueue_documents(bill_ids))
    return True


def _enqueue_documents(bill_ids: list[int]) -> None:
    from apps.billing import tasks_documents

    for bill_id in bill_ids:
        tasks_documents.render_bill_pdf.delay(bill_id)


def bill_run_resume(*, run: BillRun) -> int:
    """Queue again the chunks of the run's current phase that are not done. Returns how many."""
    phase = (
        BillRunChunk.Phase.ISSUE
        if run.status in (BillRun.Status.ISSUING, BillRun.Status.ISSUED)
        else BillRunChunk.Phase.PREVIEW
    )
    chunk_ids = list(
        BillRunChunk.objects.filter(run=run, phase=phase, done_at__isnull=True)
        .order_by("number")
        .values_list("pk", flat=True)
    )
    _enqueue("issue" if phase == BillRunChunk.Phase.ISSUE else "preview", chunk_ids)
    if not chunk_ids:
        _finish_phase_if_done(run.pk, phase)
    return len(chunk_ids)


def bill_run_progress(run: BillRun) -> dict[str, object]:
    """Counters for the admin's progress bar, summed from the chunks (no hot run row)."""
    rows = {
        row["phase"]: row
        for row in BillRunChunk.objects.filter(run=run)
        .values("phase")
        .annotate(
            chunks=Count("id"),
            done=Count("id", filter=Q(done_at__isnull=False)),
            accounts_done=Sum("accounts_done"),
            held=Sum("accounts_held"),
            skipped=Sum("accounts_skipped"),
            issued=Sum("bills_issued"),
            amount=Sum("amount_total"),
        )
    }
    preview = rows.get(BillRunChunk.Phase.PREVIEW, {})
    issue = rows.get(BillRunChunk.Phase.ISSUE, {})
    phase_row = issue if run.status in (BillRun.Status.ISSUING, BillRun.Status.ISSUED) else preview
    chunks = phase_row.get("chunks") or 0
    done = phase_row.get("done") or 0
    return {
        "accounts_total": run.accounts_total,
        "accounts_done": preview.get("accounts_done") or 0,
        "accounts_held": preview.get("held") or 0,
        "accounts_skipped": preview.get("skipped") or 0,
        "bills_issued": issue.get("issued") or 0,
        "amount_previewed": preview.get("amount") or Decimal(0),
        "amount_issued": issue.get("amount") or Decimal(0),
        "chunks": chunks,
        "chunks_done": done,
        "percent": int(done * 100 / chunks) if chunks else 100,
    }


def largest_changes(run: BillRun, *, limit: int = 20) -> list[Bill]:
    """The run's bills whose amount moved most against the account's previous bill."""
    return list(
        Bill.objects.filter(run=run, previous_total__isnull=False)
        .exclude(status=Bill.Status.EXCLUDED)
        .annotate(change=Abs(F("total") - F("previous_total")))
        .order_by("-change", "id")[:limit]
    )


def bill_release(*, bill: Bill, actor: User) -> Bill:
    """A held bill, reviewed by staff, goes back to DRAFT so the run can issue it."""
    with transaction.atomic(), acting_as(actor):
        locked = Bill.objects.select_for_update().get(pk=bill.pk)
        if locked.status != Bill.Status.HELD:
            raise BillRunError(f"status: only a held bill can be released (it is {locked.status}).")
        if locked.issues.filter(
            code__in=[BillIssue.Code.NO_PRICE, BillIssue.Code.RATING_FAILED]
        ).exists():
            raise BillRunError("status: a bill that could not be priced cannot be released.")
        locked.status = Bill.Status.DRAFT
        locked.save(update_fields=["status"])
        locked.issues.update(released_at=clock.now(), released_by=actor)
    return locked


def bill_exclude(*, bill: Bill, actor: User) -> Bill:
    """Leave a held or draft bill out of the run (the account is not billed by this run)."""
    with transaction.atomic(), acting_as(actor):
        locked = Bill.objects.select_for_update().get(pk=bill.pk)
        if locked.status not in (Bill.Status.HELD, Bill.Status.DRAFT):
            raise BillRunError(
                f"status: only a held or draft bill can be excluded ({locked.status})."
            )
        locked.status = Bill.Status.EXCLUDED
        locked.save(update_fields=["status"])
    return locked


def bill_issue_released(*, run: BillRun, actor: User | None) -> int:
    """Issue the run's DRAFT bills released after the run was issued. Returns how many."""
    ids = list(Bill.objects.filter(run=run, status=Bill.Status.DRAFT).values_list("pk", flat=True))
    return bills_issue(bill_ids=ids, now=clock.now(), actor=actor).issued


def scheduled_runs_start(*, today: dt.date) -> list[BillRun]:
    """Beat: start the preview of the run whose period ended yesterday, for today's billing day.

    Billing days are 1 to 28, so every day of the month from 1 to 28 starts at most one run.
    Idempotent: a run that exists is left alone.
    """
    if today.day > 28:
        return []
    period_start = add_months(today, -1)
    if (
        BillRun.objects.filter(billing_day=today.day, period_start=period_start)
        .exclude(status=BillRun.Status.CANCELLED)
        .exists()
    ):
        return []
    try:
        return [bill_run_create(billing_day=today.day, period_start=period_start, actor=None)]
    except BillRunError:
        return []


def bill_correct(*, bill: Bill, actor: User | None, reason: str) -> tuple[Bill, Bill | None]:
    """Correct an issued bill: a credit note cancels it and a new bill is computed and issued.

    The new bill is priced from the readings and prices stored now (after the correction
    that prompted this). Returns (credit note, new bill); the new bill is None when the
    account no longer has a billable contract in the period, and it stays HELD (not issued)
    when the pre-issue checks find a problem. Raises issuing.BillNotIssuable.
    """
    from apps.billing.compute import compute_bills
    from apps.billing.issuing import bill_credit

    with transaction.atomic(), acting_as(actor):
        note = bill_credit(bill=bill, actor=actor, reason=reason, now=clock.now())
        computed, _skipped = compute_bills(
            account_ids=[bill.account_id],
            period_start=bill.period_start,
            period_end=bill.period_end,
            now=clock.now(),
        )
        if not computed:
            return note, None
        run = BillRun.objects.get(pk=bill.run_id) if bill.run_id else None
        _store(run, computed)
        new_bill = Bill.objects.get(pk=computed[0].bill.pk)
        if new_bill.status == Bill.Status.DRAFT:
            bills_issue(bill_ids=[new_bill.pk], now=clock.now(), actor=actor)
            new_bill.refresh_from_db()
    return note, new_bill
