from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.billing.issuing import bill_credit, creditor_reference, creditor_reference_is_valid
from apps.billing.models import Bill, InvoiceSeries, LedgerEntry
from apps.billing.selectors import account_balance
from apps.billing.tests.factories import draft_bill, issued_bill, madrid, make_account

pytestmark = pytest.mark.django_db


def test_creditor_reference_is_iso_11649() -> None:
    # The worked example of ISO 11649: RF18 5390 0754 7034.
    assert creditor_reference("539007547034") == "RF18539007547034"
    assert creditor_reference_is_valid("RF18 5390 0754 7034")
    assert not creditor_reference_is_valid("RF19539007547034")


def test_issue_numbers_references_and_ledger(customer) -> None:
    account = make_account(customer)
    bill = issued_bill(account=account, total=Decimal("61.25"), issued_at=madrid(2026, 11, 2, 9))
    assert bill.status == Bill.Status.ISSUED
    assert bill.invoice_number == "F2026-000001"
    assert creditor_reference_is_valid(bill.payment_reference or "")
    assert bill.due_date == dt.date(2026, 11, 16)
    assert bill.amount_due == Decimal("61.25")
    assert account_balance(account) == Decimal("61.25")
    second = issued_bill(
        account=account,
        total=Decimal("10.00"),
        period_start=dt.date(2026, 11, 1),
        issued_at=madrid(2026, 12, 2, 9),
    )
    assert second.invoice_number == "F2026-000002"
    assert second.previous_balance == Decimal("61.25")
    assert second.amount_due == Decimal("71.25")
    assert InvoiceSeries.objects.get(code="F2026").next_number == 3


def test_credit_note_negates_and_refers_back(customer) -> None:
    account = make_account(customer)
    bill = issued_bill(account=account, total=Decimal("61.25"), tax_total=Decimal("10.63"))
    note = bill_credit(bill=bill, actor=None, reason="wrong reading", now=madrid(2026, 11, 5))
    bill.refresh_from_db()
    assert bill.status == Bill.Status.CREDITED
    assert note.kind == Bill.Kind.CREDIT_NOTE
    assert note.original_id == bill.pk
    assert note.invoice_number == "A2026-000001"
    assert note.total == Decimal("-61.25")
    assert [line.amount for line in note.lines.order_by("position")] == [
        Decimal("-50.62"),
        Decimal("-10.63"),
    ]
    assert account_balance(account) == Decimal("0.00")
    # A corrected bill for the same period may now be issued.
    corrected = issued_bill(account=account, total=Decimal("55.00"))
    assert corrected.invoice_number == "F2026-000002"
    assert LedgerEntry.objects.filter(account=account).count() == 3


def test_second_live_bill_for_the_same_period_is_refused(customer) -> None:
    from django.db import IntegrityError, transaction

    account = make_account(customer)
    draft_bill(account=account, total=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        draft_bill(account=account, total=Decimal("2.00"))
    assert Bill.objects.filter(account=account).count() == 1
