"""Bank transfers: camt.053 import, automatic matching, the review queue and its admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from apps.billing.bank_statements import (
    BankEntryNotAssignable,
    BankEntryNotOpen,
    BankStatementRefused,
    bank_entry_assign,
    bank_entry_assign_to_account,
    bank_entry_ignore,
    bank_statement_import,
    references_in_text,
)
from apps.billing.camt053 import Camt053Invalid, camt053_read
from apps.billing.models import BankStatement, BankStatementEntry, Bill, LedgerEntry, Payment
from apps.billing.selectors import account_balance, bill_open_amount
from apps.billing.tests.factories import camt053_debits, issued_bill, madrid, make_account
from apps.core import clock
from conftest import verified_client

DATA = Path(__file__).resolve().parent / "data"
STATEMENT = (DATA / "camt053-2026-11-20.xml").read_bytes()
FILE_NAME = "camt053-2026-11-20.xml"
Status = BankStatementEntry.Status


def _with_extra_credit(content: bytes = STATEMENT) -> bytes:
    """The same statement exported again with one more credit: another file, another hash."""
    extra = b"""<Ntry>
        <NtryRef>E010</NtryRef>
        <Amt Ccy="EUR">5.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
      </Ntry>
    </Stmt>"""
    return content.replace(b"</Stmt>", extra, 1)


def _stored() -> dict[str, Any]:
    """Everything an import could have written, to prove a refusal wrote nothing."""
    return {
        "statements": list(BankStatement.objects.order_by("id").values_list("id", "sha256")),
        "entries": list(
            BankStatementEntry.objects.order_by("id").values_list("id", "status", "bill_id")
        ),
        "payments": list(Payment.objects.order_by("id").values_list("id", "amount", "status")),
        "ledger": list(LedgerEntry.objects.order_by("id").values_list("id", "kind", "amount")),
    }


class Bills:
    """Five issued bills on five accounts, numbered F2026-000001..5 in this order."""

    def __init__(self) -> None:
        issued_at = madrid(2026, 11, 2, 9)
        totals = ["61.25", "40.00", "100.00", "50.00", "61.25"]
        names = ["Ana Garcia", "Bruno Diaz", "Carmen Ruiz", "David Moreno", "Frank Miller"]
        self.bills: list[Bill] = []
        for name, total in zip(names, totals, strict=True):
            account = make_account(None, name=name)
            self.bills.append(
                issued_bill(account=account, total=Decimal(total), issued_at=issued_at)
            )
        # The statement file names these references (see the comment in the file).
        assert [b.payment_reference for b in self.bills] == [
            "RF82F2026000001",
            "RF55F2026000002",
            "RF28F2026000003",
            "RF98F2026000004",
            "RF71F2026000005",
        ]
        assert self.bills[2].invoice_number == "F2026-000003"

    def __getitem__(self, index: int) -> Bill:
        return self.bills[index]

    def balances(self) -> list[Decimal]:
        return [account_balance(bill.account) for bill in self.bills]


@pytest.fixture
def bills(db: None) -> Bills:
    return Bills()


@pytest.fixture
def specialist(make_user: Callable[..., Any]) -> Any:
    return make_user("reconciler@staff.example.com", role="billing_specialist")


def _entry(reference: str) -> BankStatementEntry:
    return BankStatementEntry.objects.get(entry_reference=reference)


# ---------------------------------------------------------------------------------------
# Import and matching
# ---------------------------------------------------------------------------------------


def test_statement_credits_are_matched_booked_or_queued(bills: Bills, specialist: Any) -> None:
    summary = bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)

    statement = summary.statement
    assert (statement.statement_id, statement.iban, statement.file_name) == (
        "ES91-2026-11-20",
        "ES9121000418450200051332",
        FILE_NAME,
    )
    assert statement.imported_by == specialist
    assert (summary.credits, summary.matched, summary.partial, summary.overpaid) == (7, 2, 1, 1)
    assert (summary.unmatched, summary.debits_ignored, summary.not_booked_ignored) == (3, 1, 1)
    assert summary.amount_booked == Decimal("206.75")  # 61.25 + 40.00 + 30.00 + 75.50
    assert summary.amount_unmatched == Decimal("142.50")  # 20.00 + 61.25 USD + 61.25

    rows = list(
        BankStatementEntry.objects.filter(statement=statement)
        .order_by("id")
        .values_list("entry_reference", "amount", "currency", "status", "bill_id")
    )
    assert rows == [
        ("E001", Decimal("61.25"), "EUR", Status.MATCHED, bills[0].pk),
        ("E002", Decimal("40.00"), "EUR", Status.MATCHED, bills[1].pk),
        ("E003", Decimal("30.00"), "EUR", Status.PARTIAL, bills[2].pk),
        ("2026112000004", Decimal("75.50"), "EUR", Status.OVERPAID, bills[3].pk),
        ("E005", Decimal("20.00"), "EUR", Status.UNMATCHED, None),
        ("E007", Decimal("61.25"), "USD", Status.UNMATCHED, bills[4].pk),
        ("E008", Decimal("61.25"), "EUR", Status.UNMATCHED, bills[0].pk),
    ]
    assert _entry("E005").note == "No issued bill has this reference."
    assert _entry("E007").note == "Paid in USD: only euro payments are booked automatically."
    assert _entry("E008").note == "Bill F2026-000001 has nothing left to pay."
    assert _entry("E003").note == "70.00 left to pay on the bill."
    assert _entry("2026112000004").note == "25.50 more than the bill; kept as account credit."

    first = _entry("E001")
    assert (first.booking_date, first.value_date) == (dt.date(2026, 11, 20), dt.date(2026, 11, 19))
    assert (first.debtor_name, first.debtor_iban, first.remittance) == (
        "Ana Garcia Lopez",
        "ES7620770024003102575766",
        "RF82F2026000001",
    )
    assert _entry("E005").remittance == "RF17F2026000007 | Invoice F2026-000099"
    assert _entry("E005").details == {
        "creditor_reference": "RF17F2026000007",
        "remittance": "Invoice F2026-000099",
        "indicator": "CRDT",
        "status": "BOOK",
        "reversal": False,
    }

    payments = list(
        Payment.objects.order_by("id").values_list(
            "account_id", "bill_id", "amount", "method", "status", "bank_entry__entry_reference"
        )
    )
    assert payments == [
        (bills[0].account_id, bills[0].pk, Decimal("61.25"), "BANK_TRANSFER", "SUCCEEDED", "E001"),
        (bills[1].account_id, bills[1].pk, Decimal("40.00"), "BANK_TRANSFER", "SUCCEEDED", "E002"),
        (bills[2].account_id, bills[2].pk, Decimal("30.00"), "BANK_TRANSFER", "SUCCEEDED", "E003"),
        (
            bills[3].account_id,
            bills[3].pk,
            Decimal("75.50"),
            "BANK_TRANSFER",
            "SUCCEEDED",
            "2026112000004",
        ),
    ]
    paid = Payment.objects.get(bank_entry=first)
    assert paid.received_at == clock.local_midnight(dt.date(2026, 11, 19))  # the value date
    assert paid.details == {
        "statement_id": "ES91-2026-11-20",
        "bank_reference": "E001",
        "debtor_name": "Ana Garcia Lopez",
        "debtor_iban": "ES7620770024003102575766",
        "creditor_reference": "RF82F2026000001",
        "end_to_end_id": "ANA-20261119-1",
    }
    payment_entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).order_by("id")
    assert [(e.account_id, e.amount, e.actor_id) for e in payment_entries] == [
        (bills[0].account_id, Decimal("-61.25"), specialist.pk),
        (bills[1].account_id, Decimal("-40.00"), specialist.pk),
        (bills[2].account_id, Decimal("-30.00"), specialist.pk),
        (bills[3].account_id, Decimal("-75.50"), specialist.pk),
    ]
    # Paid, paid, 70.00 still owed, 25.50 in credit, the dollar payment not booked.
    assert bills.balances() == [
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("70.00"),
        Decimal("-25.50"),
        Decimal("61.25"),
    ]
    assert [bill_open_amount(b) for b in bills.bills] == [
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("70.00"),
        Decimal("0.00"),
        Decimal("61.25"),
    ]


def test_the_same_file_twice_is_refused_and_nothing_changes(bills: Bills, specialist: Any) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    before = _stored()

    with pytest.raises(BankStatementRefused) as refused:
        bank_statement_import(file_name="renamed.xml", content=STATEMENT, actor=specialist)

    assert str(refused.value).startswith("file: this file was already imported on ")
    assert "as camt053-2026-11-20.xml (statement ES91-2026-11-20)" in str(refused.value)
    assert _stored() == before
    assert bills.balances()[0] == Decimal("0.00")


def test_the_same_statement_in_another_file_is_refused(bills: Bills, specialist: Any) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    before = _stored()

    with pytest.raises(BankStatementRefused) as refused:
        bank_statement_import(file_name="again.xml", content=_with_extra_credit(), actor=specialist)

    assert str(refused.value).startswith(
        "Stmt/Id: statement ES91-2026-11-20 of account ES9121000418450200051332 was already "
        "imported from camt053-2026-11-20.xml on "
    )
    assert _stored() == before


def test_an_entry_seen_on_an_earlier_statement_waits_for_review(
    bills: Bills, specialist: Any
) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    payments_before = Payment.objects.count()
    # The next day's statement repeats entry 3 (an overlapping export).
    overlap = STATEMENT.replace(b"<Id>ES91-2026-11-20</Id>", b"<Id>ES91-2026-11-21</Id>")

    summary = bank_statement_import(file_name="overlap.xml", content=overlap, actor=specialist)

    repeated = BankStatementEntry.objects.get(statement=summary.statement, entry_reference="E003")
    assert repeated.status == Status.UNMATCHED
    assert repeated.note == "Possibly imported before: entry E003 of statement ES91-2026-11-20."
    assert (summary.matched, summary.partial, summary.overpaid, summary.unmatched) == (0, 0, 0, 7)
    assert Payment.objects.count() == payments_before
    assert bills.balances()[2] == Decimal("70.00")


def test_a_schema_violation_is_refused_naming_the_element(bills: Bills, specialist: Any) -> None:
    before = _stored()
    broken = STATEMENT.replace(b"<Sts>BOOK</Sts>", b"<Sts>BOOKED</Sts>", 1)

    with pytest.raises(BankStatementRefused) as refused:
        bank_statement_import(file_name="broken.xml", content=broken, actor=specialist)

    assert refused.value.messages == [
        "/Document/BkToCstmrStmt/Stmt/Ntry[1]/Sts: value must be one of ['BOOK', 'PDNG', 'INFO']"
    ]
    assert str(refused.value) == (
        "The file is not a valid ISO 20022 camt.053.001.02 statement: "
        "/Document/BkToCstmrStmt/Stmt/Ntry[1]/Sts: value must be one of ['BOOK', 'PDNG', 'INFO']"
    )
    assert _stored() == before
    assert BankStatement.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            STATEMENT.replace(b"<BkTxCd>", b"<Foo/><BkTxCd>", 1),
            "/Document/BkToCstmrStmt/Stmt/Ntry[1]: Unexpected child with tag "
            "'{urn:iso:std:iso:20022:tech:xsd:camt.053.001.02}Foo'",
        ),
        (
            STATEMENT.replace(b"camt.053.001.02", b"camt.054.001.02"),
            "/Document: '{urn:iso:std:iso:20022:tech:xsd:camt.054.001.02}Document' is not an "
            "element of the schema",
        ),
        (STATEMENT[:500], "/: the file is not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><Document>&x;</Document>',
            "/: the file declares a DTD or entities",
        ),
    ],
    ids=["unexpected-element", "wrong-message", "truncated", "entities"],
)
def test_files_that_are_not_camt053_are_refused(
    bills: Bills, specialist: Any, content: bytes, expected: str
) -> None:
    before = _stored()
    with pytest.raises(BankStatementRefused) as refused:
        bank_statement_import(file_name="bad.xml", content=content, actor=specialist)
    assert refused.value.messages[0].startswith(expected)
    assert _stored() == before


def test_a_statement_for_another_account_is_refused(bills: Bills, specialist: Any) -> None:
    other = STATEMENT.replace(b"ES9121000418450200051332", b"ES6000491500051234567892")
    with pytest.raises(BankStatementRefused) as refused:
        bank_statement_import(file_name="other.xml", content=other, actor=specialist)
    assert str(refused.value) == (
        "Stmt/Acct/Id/IBAN: statement ES91-2026-11-20 is for ES6000491500051234567892, not for "
        "the account customers pay into (ES9121000418450200051332)."
    )
    assert BankStatement.objects.count() == 0


def test_an_empty_file_is_refused(db: None) -> None:
    with pytest.raises(BankStatementRefused, match=r"^file: the file is empty\.$"):
        bank_statement_import(file_name="empty.xml", content=b"", actor=None)


# ---------------------------------------------------------------------------------------
# The review queue
# ---------------------------------------------------------------------------------------


def test_staff_assign_a_waiting_entry_to_a_bill(bills: Bills, specialist: Any) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    waiting = _entry("E005")

    payment = bank_entry_assign(entry=waiting, bill=bills[4], actor=specialist)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.bill_id, waiting.note) == (
        Status.RESOLVED,
        bills[4].pk,
        "Assigned by staff.",
    )
    assert (payment.account_id, payment.bill_id, payment.amount, payment.bank_entry_id) == (
        bills[4].account_id,
        bills[4].pk,
        Decimal("20.00"),
        waiting.pk,
    )
    assert (payment.method, payment.status) == ("BANK_TRANSFER", "SUCCEEDED")
    assert payment.received_at == clock.local_midnight(dt.date(2026, 11, 20))
    booked = LedgerEntry.objects.get(payment=payment)
    assert (booked.amount, booked.actor_id, booked.actor_label) == (
        Decimal("-20.00"),
        specialist.pk,
        "staff:reconciler@staff.example.com",
    )
    assert account_balance(bills[4].account) == Decimal("41.25")
    assert bill_open_amount(bills[4]) == Decimal("41.25")
    log = LogEntry.objects.get_for_object(waiting).order_by("-id").first()
    assert log is not None
    assert log.actor_id == specialist.pk

    # Once resolved it is out of the queue.
    before = _stored()
    with pytest.raises(BankEntryNotOpen):
        bank_entry_assign(entry=waiting, bill=bills[2], actor=specialist)
    assert _stored() == before


def test_assigning_more_than_the_bill_keeps_the_surplus_as_credit(
    bills: Bills, specialist: Any
) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    twice = _entry("E008")  # bill 1 paid a second time

    bank_entry_assign(entry=twice, bill=bills[0], actor=specialist)

    twice.refresh_from_db()
    assert twice.status == Status.RESOLVED
    assert twice.note == "Assigned by staff; 61.25 kept as account credit."
    assert account_balance(bills[0].account) == Decimal("-61.25")


def test_money_with_no_bill_is_assigned_to_an_account_as_credit(
    bills: Bills, specialist: Any
) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    waiting = _entry("E005")
    account = bills[1].account
    zero = Decimal("0.00")
    assert (account_balance(account), bill_open_amount(bills[1])) == (zero, zero)  # paid: E002

    payment = bank_entry_assign_to_account(entry=waiting, account=account, actor=specialist)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.bill_id, waiting.note) == (
        Status.RESOLVED,
        None,
        f"Assigned by staff to account {account.number} as credit.",
    )
    assert (payment.account_id, payment.bill_id, payment.amount, payment.bank_entry_id) == (
        account.pk,
        None,
        Decimal("20.00"),
        waiting.pk,
    )
    booked = LedgerEntry.objects.get(payment=payment)
    assert (booked.amount, booked.actor_id) == (Decimal("-20.00"), specialist.pk)
    assert account_balance(account) == Decimal("-20.00")  # 20.00 in credit
    assert bill_open_amount(bills[1]) == zero
    before = _stored()
    with pytest.raises(BankEntryNotOpen):
        bank_entry_assign_to_account(entry=waiting, account=account, actor=specialist)
    with pytest.raises(BankEntryNotAssignable, match=r"^currency: the payment is in USD"):
        bank_entry_assign_to_account(entry=_entry("E007"), account=account, actor=specialist)
    assert _stored() == before


def test_entries_that_cannot_be_assigned_change_nothing(bills: Bills, specialist: Any) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    before = _stored()

    with pytest.raises(BankEntryNotAssignable, match=r"^currency: the payment is in USD"):
        bank_entry_assign(entry=_entry("E007"), bill=bills[4], actor=specialist)
    with pytest.raises(BankEntryNotOpen, match=r"^status: entry E001 is Matched"):
        bank_entry_assign(entry=_entry("E001"), bill=bills[2], actor=specialist)
    Bill.objects.filter(pk=bills[2].pk).update(status=Bill.Status.CREDITED)
    with pytest.raises(BankEntryNotAssignable, match=r"^bill: F2026-000003 is not an issued bill"):
        bank_entry_assign(entry=_entry("E005"), bill=bills[2], actor=specialist)

    assert _stored() == before


def test_staff_ignore_a_waiting_entry(bills: Bills, specialist: Any) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    waiting = _entry("E005")
    before = _stored()

    with pytest.raises(ValueError, match=r"^note: say why"):
        bank_entry_ignore(entry=waiting, note="   ", actor=specialist)
    assert _stored() == before

    bank_entry_ignore(entry=waiting, note="  Refund from   the supplier ", actor=specialist)

    waiting.refresh_from_db()
    assert (waiting.status, waiting.note) == (Status.IGNORED, "Refund from the supplier")
    assert Payment.objects.filter(bank_entry=waiting).count() == 0
    after = _stored()
    assert (after["payments"], after["ledger"]) == (before["payments"], before["ledger"])
    log = LogEntry.objects.get_for_object(waiting).order_by("-id").first()
    assert log is not None
    assert log.actor_id == specialist.pk
    with pytest.raises(BankEntryNotOpen):
        bank_entry_ignore(entry=waiting, note="again", actor=specialist)


# ---------------------------------------------------------------------------------------
# Admin and command
# ---------------------------------------------------------------------------------------


def _upload(client: Client, content: bytes = STATEMENT, name: str = FILE_NAME) -> Any:
    return client.post(
        reverse("admin:billing_bankstatement_import"),
        {"file": SimpleUploadedFile(name, content, content_type="application/xml")},
    )


def test_a_billing_specialist_imports_a_statement_in_the_admin(
    bills: Bills, staff_client_for: Callable[[str], Client]
) -> None:
    client = staff_client_for("billing_specialist")
    changelist = client.get(reverse("admin:billing_bankstatement_changelist"))
    assert changelist.status_code == 200
    assert reverse("admin:billing_bankstatement_import").encode() in changelist.content
    assert b"Import camt.053" in changelist.content
    form = client.get(reverse("admin:billing_bankstatement_import"))
    assert form.status_code == 200
    assert b'enctype="multipart/form-data"' in form.content

    response = _upload(client)

    statement = BankStatement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:billing_bankstatement_change", args=[statement.pk]
    )
    assert statement.imported_by is not None
    assert statement.imported_by.email == "billing_specialist@staff.example.com"
    assert BankStatementEntry.objects.filter(statement=statement).count() == 7
    assert bills.balances()[3] == Decimal("-25.50")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"RF98F2026000004" in page.content  # the entries, inline

    statements = client.get(reverse("admin:billing_bankstatement_changelist"))
    queue_url = (
        f"{reverse('admin:billing_bankstatemententry_changelist')}"
        f"?statement__id__exact={statement.pk}&amp;status__exact=UNMATCHED"
    )
    assert queue_url.encode() in statements.content  # "waiting for review: 3" links there
    queue = client.get(
        reverse("admin:billing_bankstatemententry_changelist"),
        {"statement__id__exact": statement.pk, "status__exact": "UNMATCHED"},
    )
    assert queue.status_code == 200
    assert queue.content.count(b"Assign to bill") == 3

    again = _upload(client)
    assert again.status_code == 200
    assert b"this file was already imported" in again.content
    assert BankStatement.objects.count() == 1


def test_the_admin_shows_why_an_invalid_file_is_refused(
    bills: Bills, staff_client_for: Callable[[str], Client]
) -> None:
    client = staff_client_for("billing_specialist")
    broken = STATEMENT.replace(b"<Sts>BOOK</Sts>", b"<Sts>BOOKED</Sts>", 1)

    response = _upload(client, broken)

    assert response.status_code == 200
    assert b"/Document/BkToCstmrStmt/Stmt/Ntry[1]/Sts: value must be one of" in response.content
    assert BankStatement.objects.count() == 0
    assert Payment.objects.count() == 0


@pytest.mark.parametrize("role", ["support_agent", "customer"])
def test_others_cannot_import_or_work_the_queue(
    bills: Bills,
    specialist: Any,
    staff_client_for: Callable[[str], Client],
    make_user: Callable[..., Any],
    role: str,
) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    waiting = _entry("E005")
    before = _stored()
    if role == "customer":
        client = verified_client(make_user("payer@example.com"))
        refused = 302  # not staff: sent to sign in
    else:
        client = staff_client_for(role)
        refused = 403

    assert client.get(reverse("admin:billing_bankstatement_import")).status_code == refused
    assert _upload(client, _with_extra_credit()).status_code == refused
    assign_url = reverse("admin:billing_bankstatemententry_assign", args=[waiting.pk])
    assert client.get(assign_url).status_code == refused
    assert client.post(assign_url, {"bill": "F2026-000005"}).status_code == refused
    action = client.post(
        reverse("admin:billing_bankstatemententry_changelist"),
        {"action": "ignore_entries", "_selected_action": [waiting.pk], "apply": "1", "note": "x"},
    )
    if role == "support_agent":
        # The action is not offered to them: the list is shown again, nothing done.
        assert action.status_code == 200
        assert b'value="ignore_entries"' not in action.content
    else:
        assert action.status_code == refused
    if role == "support_agent":
        changelist = client.get(reverse("admin:billing_bankstatement_changelist"))
        assert changelist.status_code == 200  # may look
        assert b"Import camt.053" not in changelist.content
    assert _stored() == before


def test_staff_work_the_review_queue_in_the_admin(
    bills: Bills, specialist: Any, staff_client_for: Callable[[str], Client]
) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    client = staff_client_for("billing_specialist")
    waiting = _entry("E005")
    assign_url = reverse("admin:billing_bankstatemententry_assign", args=[waiting.pk])

    detail = client.get(reverse("admin:billing_bankstatemententry_change", args=[waiting.pk]))
    assert detail.status_code == 200  # read-only
    assert b'name="status"' not in detail.content
    page = client.get(assign_url)
    assert page.status_code == 200
    assert b"RF17F2026000007 | Invoice F2026-000099" in page.content
    unknown = client.post(assign_url, {"bill": "F2026-000404"})
    assert unknown.status_code == 200
    assert b"No issued bill or account has this number or payment reference." in unknown.content
    assert _entry("E005").status == Status.UNMATCHED

    no_account = client.post(assign_url, {"bill": "WL000000000"})
    assert no_account.status_code == 200
    assert b"No issued bill or account has this number or payment reference." in (
        no_account.content
    )
    assert _entry("E005").status == Status.UNMATCHED

    done = client.post(assign_url, {"bill": "rf71 f202 6000 005", "note": "Phoned the customer"})

    assert done.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.status, waiting.bill_id, waiting.note) == (
        Status.RESOLVED,
        bills[4].pk,
        "Phoned the customer",
    )
    assert account_balance(bills[4].account) == Decimal("41.25")

    on_account = _entry("E008")
    account = bills[3].account
    credited = client.post(
        reverse("admin:billing_bankstatemententry_assign", args=[on_account.pk]),
        {"bill": account.number.lower()},
    )
    assert credited.status_code == 302
    on_account.refresh_from_db()
    assert (on_account.status, on_account.bill_id) == (Status.RESOLVED, None)
    assert Payment.objects.get(bank_entry=on_account).account_id == account.pk

    changelist = reverse("admin:billing_bankstatemententry_changelist")
    assert b'value="ignore_entries"' in client.get(changelist).content
    ignored = [_entry("E007").pk, _entry("E001").pk]
    confirm = client.post(changelist, {"action": "ignore_entries", "_selected_action": ignored})
    assert confirm.status_code == 200
    assert b"Why these are not customer payments" in confirm.content
    assert _entry("E007").status == Status.UNMATCHED  # nothing until confirmed

    applied = client.post(
        changelist,
        {
            "action": "ignore_entries",
            "_selected_action": ignored,
            "apply": "1",
            "note": "Dollar transfer returned by the bank",
        },
    )

    assert applied.status_code == 302
    assert (_entry("E007").status, _entry("E007").note) == (
        Status.IGNORED,
        "Dollar transfer returned by the bank",
    )
    assert _entry("E001").status == Status.MATCHED  # only waiting entries are ignored


def test_the_command_imports_a_statement(bills: Bills, tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(STATEMENT)
    out = StringIO()

    call_command("import_bank_statement", str(path), stdout=out)

    assert out.getvalue().strip() == (
        "Statement ES91-2026-11-20 (ES9121000418450200051332): 7 credits — 2 matched, 1 partly "
        "paid, 1 overpaid, 3 waiting for review; 0 returns booked; 1 other "
        "debits and 1 unbooked credits ignored. "
        "Booked 206.75 EUR, 142.50 to review."
    )
    statement = BankStatement.objects.get()
    assert statement.imported_by is None
    assert set(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).values_list(
            "actor_label", flat=True
        )
    ) == {"command:import_bank_statement"}
    with pytest.raises(CommandError, match="file: this file was already imported"):
        call_command("import_bank_statement", str(path), stdout=StringIO())
    assert BankStatement.objects.count() == 1


# ---------------------------------------------------------------------------------------
# Pure parts
# ---------------------------------------------------------------------------------------


def test_references_are_found_in_free_text() -> None:
    assert references_in_text("Factura luz RF55 F202 6000 002 gracias") == ["RF55F2026000002"]
    assert references_in_text("RF55F2026000002 / F2026-000002.") == [
        "RF55F2026000002",
        "F2026-000002",
    ]
    # Wrong check digits: not taken as a creditor reference (no shortened guess either),
    # only looked up as a token like any other.
    assert references_in_text("pago RF56F2026000002") == ["RF56F2026000002"]
    assert references_in_text("Pago parcial factura F2026-000003, resto") == ["F2026-000003"]
    assert references_in_text("thank you, 12 EUR") == []


def test_a_batch_booking_is_read_as_one_transaction_per_detail() -> None:
    batch = STATEMENT.replace(
        b"""<TxDtls>
            <Refs><EndToEndId>ANA-20261119-1</EndToEndId></Refs>""",
        b"""<TxDtls>
            <AmtDtls><TxAmt><Amt Ccy="EUR">11.25</Amt></TxAmt></AmtDtls>
            <RmtInf><Ustrd>first</Ustrd></RmtInf>
          </TxDtls>
          <TxDtls>
            <Refs><EndToEndId>ANA-20261119-1</EndToEndId></Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">50.00</Amt></TxAmt></AmtDtls>""",
        1,
    )
    document = camt053_read(batch)
    first, second = [e for e in document.entries if e.reference.startswith("E001")]
    assert (first.reference, first.amount, first.remittance_unstructured) == (
        "E001/1",
        Decimal("11.25"),
        "first",
    )
    assert (second.reference, second.amount, second.creditor_reference) == (
        "E001/2",
        Decimal("50.00"),
        "RF82F2026000001",
    )
    with pytest.raises(Camt053Invalid):
        camt053_read(b"<Document/>")


# ---------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_exports_of_one_statement_imported_at_once_book_once(
    monkeypatch: pytest.MonkeyPatch, make_user: Callable[..., Any]
) -> None:
    """Two files (different bytes) of the same statement, imported at the same moment."""
    import threading
    import time

    from django.db import connection

    from apps.billing import bank_statements

    bills = Bills()
    specialist = make_user("reconciler@staff.example.com", role="billing_specialist")
    original = bank_statements._reconcile
    first_call = threading.Event()

    def slow_reconcile(**kwargs: Any) -> BankStatementEntry:
        # The first import lingers inside its transaction so the second one starts meanwhile.
        if not first_call.is_set():
            first_call.set()
            time.sleep(0.5)
        return original(**kwargs)

    monkeypatch.setattr(bank_statements, "_reconcile", slow_reconcile)
    outcomes: dict[str, str] = {}

    def run(name: str, content: bytes) -> None:
        try:
            bank_statement_import(file_name=name, content=content, actor=specialist)
            outcomes[name] = "imported"
        except BankStatementRefused as exc:
            outcomes[name] = str(exc).split(":", 1)[0]
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("a.xml", STATEMENT))
    first.start()
    assert first_call.wait(timeout=10)
    second = threading.Thread(target=run, args=("b.xml", _with_extra_credit()))
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)

    assert outcomes == {"a.xml": "imported", "b.xml": "Stmt/Id"}
    assert BankStatement.objects.count() == 1
    assert Payment.objects.count() == 4
    assert bills.balances() == [
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("70.00"),
        Decimal("-25.50"),
        Decimal("61.25"),
    ]


def test_a_transfer_the_payers_bank_recalls_is_booked_as_returned(
    bills: Bills, specialist: Any
) -> None:
    bank_statement_import(file_name=FILE_NAME, content=STATEMENT, actor=specialist)
    paid = Payment.objects.get(bank_entry=_entry("E001"))  # ANA-20261119-1, bill 1
    assert bill_open_amount(bills[0]) == Decimal("0.00")
    recall = camt053_debits(
        ("R001", "61.25", "ANA-20261119-1", ""),  # the payer's bank took it back
        ("R002", "61.25", "NOBODY-1", ""),  # not a payment of ours
        ("R003", "40.00", "ANA-20261119-1", ""),  # not that payment's amount
        reversal=True,
    )

    summary = bank_statement_import(file_name="recall.xml", content=recall, actor=specialist)

    assert (summary.returns_booked, summary.debits_ignored) == (1, 2)
    paid.refresh_from_db()
    assert (paid.status, paid.return_reason) == (Payment.Status.RETURNED, "RVSL")
    assert bill_open_amount(bills[0]) == Decimal("61.25")
    assert account_balance(bills[0].account) == Decimal("61.25")
    back = LedgerEntry.objects.get(payment=paid, kind=LedgerEntry.Kind.PAYMENT_RETURNED)
    assert (back.amount, back.actor_label) == (
        Decimal("61.25"),
        "staff:reconciler@staff.example.com",
    )
