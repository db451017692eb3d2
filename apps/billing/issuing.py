"""Issuing: gapless invoice numbers, payment references, ledger postings, credit notes.

Numbers are allocated under a row lock on the series inside the same transaction that
marks the bills issued, so a rolled-back issue (a killed worker) returns its numbers and
no gap appears; concurrent issuers queue on the lock. Everything for a batch of bills is
set-based: a few statements whatever the batch size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from apps.accounts.models import User
from apps.billing.models import Bill, BillLine, InvoiceSeries, LedgerEntry
from apps.core import clock
from apps.core.audit import acting_as

BILL_SERIES_PREFIX = "F"
CREDIT_SERIES_PREFIX = "A"
NUMBER_WIDTH = 6


class BillNotIssuable(Exception):
    """The bill is not in a state that can be issued or credited (the message says why)."""


@dataclass(frozen=True, slots=True)
class IssueResult:
    issued: int
    first_number: int | None
    series_code: str


def _alnum_value(text: str) -> int:
    """ISO 7064 conversion used by IBAN and ISO 11649: letters A..Z become 10..35."""
    return int("".join(str(int(char, 36)) for char in text))


def creditor_reference(base: str) -> str:
    """An ISO 11649 structured creditor reference ("RF" + 2 check digits + ``base``)."""
    cleaned = "".join(char for char in base.upper() if char.isalnum())
    if not cleaned or len(cleaned) > 21:
        raise ValueError("base: a creditor reference needs 1 to 21 letters or digits.")
    check = 98 - _alnum_value(cleaned + "RF00") % 97
    return f"RF{check:02d}{cleaned}"


def creditor_reference_is_valid(reference: str) -> bool:
    cleaned = "".join(reference.split()).upper()
    if not cleaned.startswith("RF") or len(cleaned) < 5 or not cleaned.isalnum():
        return False
    return _alnum_value(cleaned[4:] + cleaned[:4]) % 97 == 1


def series_code(*, kind: str, year: int) -> tuple[str, str]:
    prefix = BILL_SERIES_PREFIX if kind == Bill.Kind.BILL else CREDIT_SERIES_PREFIX
    return f"{prefix}{year}", f"{prefix}{year}-"


def _lock_series(*, kind: str, year: int) -> InvoiceSeries:
    code, prefix = series_code(kind=kind, year=year)
    InvoiceSeries.objects.get_or_create(code=code, defaults={"prefix": prefix})
    return InvoiceSeries.objects.select_for_update().get(code=code)


def _bulk_audit(bill_ids: Sequence[int], *, actor: User | None, changes: dict[str, list]) -> None:
    """One auditlog entry per bill, written in bulk (issuing runs as set-based SQL)."""
    content_type = ContentType.objects.get_for_model(Bill)
    now = clock.now()
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                content_type=content_type,
                object_pk=str(pk),
                object_id=pk,
                object_repr=f"bill {pk}",
                action=LogEntry.Action.UPDATE,
                changes=changes,
                actor=actor,
                timestamp=now,
            )
            for pk in bill_ids
        ],
        batch_size=5000,
    )


def bills_issue(
    *,
    bill_ids: Sequence[int],
    now: dt.datetime,
    actor: User | None = None,
    actor_label: str = "system:bill-run",
) -> IssueResult:
    """Issue the DRAFT bills among ``bill_ids`` (others are left alone), in one transaction.

    Each gets the next gapless number of its year's series (in account order), a payment
    reference, its due date, the balance brought forward and payments since the last bill,
    and one BILL ledger entry. Returns how many were issued. Safe to call again: bills
    already issued are skipped.
    """
    year = now.astimezone(clock.local_zone()).year
    due_date = now.astimezone(clock.local_zone()).date() + dt.timedelta(
        days=settings.BILLING_DUE_DAYS
    )
    with transaction.atomic():
        ids = list(
            Bill.objects.select_for_update(skip_locked=False)
            .filter(pk__in=list(bill_ids), status=Bill.Status.DRAFT, kind=Bill.Kind.BILL)
            .order_by("account_id", "period_start", "id")
            .values_list("pk", flat=True)
        )
        code, _prefix = series_code(kind=Bill.Kind.BILL, year=year)
        if not ids:
            return IssueResult(0, None, code)
        with connection.cursor() as cursor:
            # Balance brought forward and payments since the account's previous bill.
            cursor.execute(
                """
                WITH prev AS (
                    SELECT b.id, (
                        SELECT max(p.issued_at) FROM billing_bill p
                         WHERE p.account_id = b.account_id AND p.kind = 'BILL'
                           AND p.status IN ('ISSUED', 'CREDITED') AND p.id <> b.id
                           AND p.issued_at < %s
                    ) AS last_issued_at
                    FROM billing_bill b WHERE b.id = ANY(%s)
                ), figures AS (
                    SELECT prev.id,
                           COALESCE((SELECT sum(l.amount) FROM billing_ledgerentry l
                                      WHERE l.account_id = b.account_id), 0) AS balance,
                           COALESCE((SELECT -sum(l.amount) FROM billing_ledgerentry l
                                      WHERE l.account_id = b.account_id
                                        AND l.kind IN ('PAYMENT', 'PAYMENT_RETURNED',
                                                       'REINSTATED', 'REFUND')
                                        AND (prev.last_issued_at IS NULL
                                             OR l.posted_at > prev.last_issued_at)), 0) AS paid
                      FROM prev JOIN billing_bill b ON b.id = prev.id
                )
                UPDATE billing_bill AS b
                   SET previous_balance = f.balance + f.paid, payments_since = f.paid,
                       amount_due = f.balance + b.total
                  FROM figures f WHERE b.id = f.id
                """,
                [now, ids],
            )
        _bulk_audit(
            ids,
            actor=actor,
            changes={"status": ["DRAFT", "ISSUED"], "issued_by": ["", actor_label]},
        )
        series = _lock_series(kind=Bill.Kind.BILL, year=year)
        first = series.next_number
        numbers = list(range(first, first + len(ids)))
        invoices = [f"{series.prefix}{n:0{NUMBER_WIDTH}d}" for n in numbers]
        references = [creditor_reference(invoice) for invoice in invoices]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE billing_bill AS b
                   SET status = 'ISSUED', series_id = %s, number = v.n, invoice_number = v.inv,
                       payment_reference = v.ref, issued_at = %s, due_date = %s
                  FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[]) AS v(id, n, inv, ref)
                 WHERE b.id = v.id
                """,
                [series.pk, now, due_date, ids, numbers, invoices, references],
            )
            cursor.execute(
                """
                INSERT INTO billing_ledgerentry
                       (account_id, kind, amount, posted_at, description, bill_id, actor_id,
                        actor_label)
                SELECT account_id, 'BILL', total, %s, 'Bill ' || invoice_number, id, %s, %s
                  FROM billing_bill WHERE id = ANY(%s) AND total <> 0
                """,
                [now, actor.pk if actor else None, actor_label[:80], ids],
            )
        series.next_number = first + len(ids)
        series.save(update_fields=["next_number"])
    return IssueResult(len(ids), first, code)


def _negated_copy(original: Bill, *, now: dt.datetime) -> Bill:
    fields = {
        field.attname: getattr(original, field.attname)
        for field in Bill._meta.concrete_fields
        if field.attname
        not in {
            "id",
            "series_id",
            "number",
            "invoice_number",
            "payment_reference",
            "issued_at",
            "due_date",
            "pdf",
            "pdf_rendered_at",
            "run_id",
            "original_id",
            "status",
            "kind",
            "previous_kwh",
            "previous_total",
        }
    }
    for name in ("kwh_import", "kwh_export", "subtotal", "tax_total", "total"):
        fields[name] = -fields[name]
    fields.update(
        kind=Bill.Kind.CREDIT_NOTE,
        status=Bill.Status.DRAFT,
        original_id=original.pk,
        computed_at=now,
        previous_balance=0,
        payments_since=0,
        amount_due=0,
    )
    return Bill(**fields)


def bill_credit(*, bill: Bill, actor: User | None, reason: str, now: dt.datetime) -> Bill:
    """Cancel an issued bill with a credit note: a negated copy that refers to it.

    The credit note gets the next number of the credit series and a negative ledger
    entry; the original is marked CREDITED (and is otherwise unchanged), so a corrected
    bill for the same period can then be computed and issued. Raises BillNotIssuable.
    """
    year = now.astimezone(clock.local_zone()).year
    with transaction.atomic(), acting_as(actor):
        original = Bill.objects.select_for_update().get(pk=bill.pk)
        if original.kind != Bill.Kind.BILL or original.status != Bill.Status.ISSUED:
            raise BillNotIssuable(f"status: only an issued bill can be credited ({original}).")
        note = _negated_copy(original, now=now)
        series = _lock_series(kind=Bill.Kind.CREDIT_NOTE, year=year)
        note.status = Bill.Status.ISSUED
        note.series = series
        note.number = series.next_number
        note.invoice_number = f"{series.prefix}{series.next_number:0{NUMBER_WIDTH}d}"
        note.issued_at = now
        note.due_date = now.astimezone(clock.local_zone()).date()
        note.save()
        series.next_number += 1
        series.save(update_fields=["next_number"])
        BillLine.objects.bulk_create(
            [
                BillLine(
                    bill=note,
                    position=line.position,
                    contract_number=line.contract_number,
                    component=line.component,
                    period=line.period,
                    tier=line.tier,
                    version_label=line.version_label,
                    label=line.label,
                    quantity=-line.quantity,
                    unit=line.unit,
                    unit_price=line.unit_price,
                    amount=-line.amount,
                    starts_at=line.starts_at,
                    ends_at=line.ends_at,
                )
                for line in original.lines.order_by("position")
            ]
        )
        original.status = Bill.Status.CREDITED
        original.save(update_fields=["status"])
        if note.total:
            LedgerEntry.objects.create(
                account_id=original.account_id,
                kind=LedgerEntry.Kind.CREDIT_NOTE,
                amount=note.total,
                posted_at=now,
                description=f"Credit note {note.invoice_number} for {original.invoice_number}: "
                f"{reason}"[:200],
                bill=note,
                actor=actor,
                actor_label=(f"staff:{actor.email}" if actor else "system")[:80],
            )
    return note
