"""SEPA Direct Debit: online mandates, pain.008 batches, settlement and returns (0712)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import time_machine
import xmlschema
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.models import Account, Membership, User
from apps.billing import direct_debit, ledger
from apps.billing.direct_debit import (
    BatchNotDue,
    CollectionDateInPast,
    InvalidDirectDebitFile,
    MandateInputError,
    UnknownDebit,
    UnknownReturnReason,
    direct_debit_batch_create,
    direct_debit_return,
    direct_debit_settle,
    mandate_create,
    mandate_revoke,
    pain008_validate,
)
from apps.billing.models import Bill, DirectDebitBatch, LedgerEntry, Mandate, Payment
from apps.billing.selectors import account_balance, bill_open_amount
from apps.billing.tests.factories import camt053_debits, issued_bill, madrid, make_account
from apps.core.models import Notification

pytestmark = pytest.mark.django_db

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
ES_IBAN = "ES9121000418450200051332"  # CaixaBank, BIC CAIXESBB
DE_IBAN = "DE89370400440532013000"  # Commerzbank, BIC COBADEFFXXX
NOW = madrid(2026, 11, 2, 10, 0)
DUE = dt.date(2026, 11, 16)
URL = "/my/billing/direct-debit/"
REVOKE_URL = "/my/billing/direct-debit/revoke/"


def iban_for(country: str, bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits around ``bban`` (mod 97)."""
    number = int("".join(str(int(char, 36)) for char in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def account(customer: User) -> Account:
    return make_account(customer, name="Ana García")


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _mandate(
    account: Account, user: User, iban: str = ES_IBAN, name: str = "Ana García"
) -> Mandate:
    return mandate_create(
        account=account,
        debtor_name=name,
        iban=iban,
        accepted=True,
        signed_by=user,
        ip_address="192.0.2.7",
    )


def _parse(batch: DirectDebitBatch) -> ET.Element:
    return ET.fromstring(batch.xml.encode("utf-8"))  # noqa: S314 - our own output


# --------------------------------------------------------------------------------------------
# Mandates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("", "Enter the IBAN of the account to debit."),
        (
            "ES9121000418450200051333",
            "The check digits of this IBAN do not match: please look for a typing mistake.",
        ),
        (
            iban_for("ES", "21000418460200051332"),
            "The account number inside this IBAN fails its bank's check: please look for a "
            "typing mistake.",
        ),
        (
            "ES912100041845020005133",
            "This IBAN has the wrong number of characters for its country.",
        ),
        ("XX9121000418450200051332", "“XX” is not a country code an IBAN can start with."),
        ("ES91-2100-0418", "This is not a valid IBAN: check the letters and digits you typed."),
        (
            "TR330006100519786457841326",
            "Direct debit is only possible from a bank account in the SEPA area; accounts in TR "
            "are outside it.",
        ),
    ],
)
def test_bad_iban_is_refused_naming_the_field(
    frozen: Any, account: Account, customer: User, iban: str, message: str
) -> None:
    with pytest.raises(MandateInputError) as caught:
        _mandate(account, customer, iban=iban)
    assert (caught.value.field, caught.value.message) == ("iban", message)
    assert not Mandate.objects.exists()


def test_holder_name_and_acceptance_are_required(
    frozen: Any, account: Account, customer: User
) -> None:
    with pytest.raises(MandateInputError) as caught:
        _mandate(account, customer, name="   ")
    assert caught.value.field == "debtor_name"
    with pytest.raises(MandateInputError) as caught:
        _mandate(account, customer, name="x" * 71)
    assert caught.value.field == "debtor_name"
    with pytest.raises(MandateInputError) as caught:
        mandate_create(
            account=account,
            debtor_name="",
            iban="",
            accepted=False,
            signed_by=customer,
            ip_address=None,
        )
    assert caught.value.errors == {
        "debtor_name": "Enter the name of the bank account holder.",
        "iban": "Enter the IBAN of the account to debit.",
        "accepted": "Tick the box to accept the direct debit mandate.",
    }
    assert not Mandate.objects.exists()


def test_customer_gives_a_mandate_online(frozen: Any, account: Account, customer: User) -> None:
    client = _client(customer)
    page = client.get(f"{URL}?account={account.pk}")
    assert page.status_code == 200
    assert "you authorise (A) Wattline Energia S.L. to send instructions" in page.content.decode()
    response = client.post(
        URL,
        {
            "account": account.pk,
            "debtor_name": "  Ana   García ",
            "iban": "es91 2100 0418 4502 0005 1332",
            "accepted": "on",
        },
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?account={account.pk}"
    mandate = Mandate.objects.get()
    assert (
        mandate.account,
        mandate.reference,
        mandate.debtor_name,
        mandate.iban,
        mandate.bic,
        mandate.signed_on,
        mandate.signed_by,
        mandate.ip_address,
        mandate.status,
        mandate.first_collected_at,
    ) == (
        account,
        f"WL-{account.number}-001",
        "Ana García",
        ES_IBAN,
        "CAIXESBB",
        dt.date(2026, 11, 2),
        customer,
        "203.0.113.9",
        Mandate.Status.ACTIVE,
        None,
    )
    assert mandate.text_version == "sepa-core-1"
    assert mandate.accepted_text.startswith(
        "By accepting this mandate form, you authorise (A) Wattline Energia S.L. to send"
    )
    assert mandate.accepted_text.endswith("that you can obtain from your bank.")
    shown = client.get(response["Location"]).content.decode()
    assert "•••• •••• •••• •••• •••• 1332" in shown
    assert "ending in 1332" in shown
    assert ES_IBAN not in shown
    assert "0418 4502" not in shown
    assert f"WL-{account.number}-001" in shown


def test_form_errors_are_shown_on_the_field(frozen: Any, account: Account, customer: User) -> None:
    response = _client(customer).post(
        URL, {"account": account.pk, "debtor_name": "Ana", "iban": "ES9121000418450200051333"}
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {
        "iban": ["The check digits of this IBAN do not match: please look for a typing mistake."],
        "accepted": ["Tick the box to accept the direct debit mandate."],
    }
    assert 'href="#id_iban"' in response.content.decode()
    assert 'href="#id_accepted"' in response.content.decode()
    assert not Mandate.objects.exists()


def test_a_new_mandate_replaces_the_old_one(frozen: Any, account: Account, customer: User) -> None:
    first = _mandate(account, customer)
    frozen.shift(dt.timedelta(days=3))
    second = _mandate(account, customer, iban=DE_IBAN, name="Ana García López")
    first.refresh_from_db()
    assert (first.status, first.revoked_at) == (Mandate.Status.REVOKED, madrid(2026, 11, 5, 10))
    assert (second.status, second.reference, second.bic, second.signed_on) == (
        Mandate.Status.ACTIVE,
        f"WL-{account.number}-002",
        "COBADEFFXXX",
        dt.date(2026, 11, 5),
    )
    assert list(Mandate.objects.filter(status=Mandate.Status.ACTIVE)) == [second]
    assert direct_debit.mandate_active_for(account) == second


def test_customer_revokes_the_mandate(frozen: Any, account: Account, customer: User) -> None:
    mandate = _mandate(account, customer)
    client = _client(customer)
    response = client.post(REVOKE_URL, {"account": account.pk, "mandate": mandate.pk})
    assert response.status_code == 302
    mandate.refresh_from_db()
    assert (mandate.status, mandate.revoked_at) == (Mandate.Status.REVOKED, NOW)
    assert mandate_revoke(mandate=mandate, actor=customer) is False
    page = client.get(response["Location"]).content.decode()
    assert "You do not pay this account by direct debit." in page


def test_someone_elses_mandate_page_is_404_and_nothing_changes(
    frozen: Any, account: Account, customer: User, other_customer: User
) -> None:
    mandate = _mandate(account, customer)
    client = _client(other_customer)
    make_account(other_customer, name="Bruno")
    assert client.get(f"{URL}?account={account.pk}").status_code == 404
    assert client.get(f"{URL}?account=nonsense").status_code == 404
    posted = client.post(
        URL, {"account": account.pk, "debtor_name": "B", "iban": DE_IBAN, "accepted": "on"}
    )
    assert posted.status_code == 404
    revoke = client.post(REVOKE_URL, {"account": account.pk, "mandate": mandate.pk})
    assert revoke.status_code == 404
    # Bruno's own page does not show Ana's mandate.
    own = client.get(URL).content.decode()
    assert mandate.reference not in own
    mandate.refresh_from_db()
    assert mandate.status == Mandate.Status.ACTIVE
    assert Mandate.objects.count() == 1


def test_a_member_who_is_not_owner_sees_but_cannot_change(
    frozen: Any, account: Account, customer: User, other_customer: User
) -> None:
    mandate = _mandate(account, customer)
    Membership.objects.create(user=other_customer, account=account, role=Membership.Role.MEMBER)
    client = _client(other_customer)
    page = client.get(f"{URL}?account={account.pk}")
    assert page.status_code == 200
    assert "Only an owner of the account can set up or cancel a direct debit." in (
        page.content.decode()
    )
    assert (
        client.post(REVOKE_URL, {"account": account.pk, "mandate": mandate.pk}).status_code == 403
    )
    mandate.refresh_from_db()
    assert mandate.status == Mandate.Status.ACTIVE


def test_anonymous_visitor_is_sent_to_sign_in() -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# --------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------


def _owner_account(make_user: Any, email: str, name: str) -> tuple[User, Account]:
    user = make_user(email)
    return user, make_account(user, name=name)


@pytest.fixture
def two_due_bills(
    frozen: Any, account: Account, customer: User, make_user: Any
) -> tuple[Bill, Bill]:
    _mandate(account, customer)
    bruno, bruno_account = _owner_account(make_user, "bruno.dd@example.com", "Bruno Díaz")
    _mandate(bruno_account, bruno, iban=DE_IBAN, name="Bruno Díaz")
    first = issued_bill(account=account, total=Decimal("61.25"), due_date=DUE)
    second = issued_bill(account=bruno_account, total=Decimal("38.40"), due_date=DUE)
    return first, second


def test_pain008_for_two_due_bills_validates_against_the_xsd(
    two_due_bills: tuple[Bill, Bill], make_user: Any, customer: User, account: Account
) -> None:
    first, second = two_due_bills
    # Not collected: due later; no mandate; already paid in full by card.
    issued_bill(
        account=account,
        total=Decimal("9.99"),
        period_start=dt.date(2026, 9, 1),
        due_date=DUE + dt.timedelta(days=1),
    )
    _, no_mandate = _owner_account(make_user, "carla@example.com", "Carla")
    issued_bill(account=no_mandate, total=Decimal("12.00"), due_date=DUE)
    dora, paid_account = _owner_account(make_user, "dora@example.com", "Dora")
    _mandate(paid_account, dora, name="Dora")
    paid = issued_bill(account=paid_account, total=Decimal("20.00"), due_date=DUE)
    ledger.payment_record(
        account=paid_account,
        bill=paid,
        amount=Decimal("20.00"),
        method=Payment.Method.CARD,
        actor_label="test:card",
    )
    ledger_before = LedgerEntry.objects.count()

    batch = direct_debit_batch_create(collection_date=DUE, actor=None)

    assert batch is not None
    assert (batch.collection_date, batch.payment_count, batch.total) == (
        DUE,
        2,
        Decimal("99.65"),
    )
    # The stored document is valid for the official schema, checked independently here.
    schema = xmlschema.XMLSchema(
        str(direct_debit.importlib.resources.files("sepaxml") / "schemas" / "pain.008.001.02.xsd")
    )
    assert schema.is_valid(batch.xml)
    root = _parse(batch)
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:MsgId", namespaces=NS) == batch.message_id
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "99.65"
    info = root.find("p:CstmrDrctDbtInitn/p:PmtInf", NS)
    assert info is not None
    assert info.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS) == "FRST"
    assert info.findtext("p:PmtTpInf/p:LclInstrm/p:Cd", namespaces=NS) == "CORE"
    assert info.findtext("p:ReqdColltnDt", namespaces=NS) == "2026-11-16"
    assert info.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == "ES9121000418450200051332"
    assert (
        info.findtext("p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=NS)
        == "ES45000B00000000"
    )
    debits = {
        tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS): (
            tx.findtext("p:InstdAmt", namespaces=NS),
            tx.findtext("p:DrctDbtTx/p:MndtRltdInf/p:MndtId", namespaces=NS),
            tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS),
            tx.findtext("p:Dbtr/p:Nm", namespaces=NS),
        )
        for tx in root.iterfind(".//p:DrctDbtTxInf", NS)
    }
    bruno_mandate = Mandate.objects.get(account=second.account)
    assert debits == {
        f"WL{first.pk}-1": ("61.25", f"WL-{account.number}-001", ES_IBAN, "Ana Garcia"),
        f"WL{second.pk}-1": ("38.40", bruno_mandate.reference, DE_IBAN, "Bruno Diaz"),
    }
    payments = list(Payment.objects.filter(debit_batch=batch).order_by("bill_id"))
    assert [
        (p.bill, p.method, p.status, p.amount, p.end_to_end_id, p.mandate.account_id)
        for p in payments
    ] == [
        (first, "DIRECT_DEBIT", "PENDING", Decimal("61.25"), f"WL{first.pk}-1", account.pk),
        (
            second,
            "DIRECT_DEBIT",
            "PENDING",
            Decimal("38.40"),
            f"WL{second.pk}-1",
            second.account_id,
        ),
    ]
    # Nothing is booked until settlement.
    assert LedgerEntry.objects.count() == ledger_before
    assert bill_open_amount(first) == Decimal("61.25")


def test_a_tampered_document_fails_validation(two_due_bills: tuple[Bill, Bill]) -> None:
    batch = direct_debit_batch_create(collection_date=DUE, actor=None)
    assert batch is not None
    pain008_validate(batch.xml)  # the original passes
    tampered = [
        batch.xml.replace("<SeqTp>FRST</SeqTp>", "<SeqTp>FIRST</SeqTp>"),
        batch.xml.replace(">61.25</InstdAmt>", ">61,25</InstdAmt>"),
        batch.xml.replace(f"<EndToEndId>WL{two_due_bills[0].pk}-1</EndToEndId>", ""),
        batch.xml.replace("<IBAN>ES9121000418450200051332</IBAN>", "<IBAN>not an iban</IBAN>"),
    ]
    for number, document in enumerate(tampered):
        assert document != batch.xml, number
        with pytest.raises(InvalidDirectDebitFile) as caught:
            pain008_validate(document)
        assert caught.value.field == "xml", number


def test_an_invalid_file_is_not_stored(two_due_bills: tuple[Bill, Bill], settings: Any) -> None:
    settings.BILLING_CREDITOR_BIC = "NOT-A-BIC"
    with pytest.raises(InvalidDirectDebitFile) as caught:
        direct_debit_batch_create(collection_date=DUE, actor=None)
    assert "BIC" in caught.value.message or "NOT-A-BIC" in caught.value.message
    assert not DirectDebitBatch.objects.exists()
    assert not Payment.objects.exists()


def test_running_the_batch_twice_creates_nothing_new(two_due_bills: tuple[Bill, Bill]) -> None:
    first = direct_debit_batch_create(collection_date=DUE, actor=None)
    assert first is not None
    assert direct_debit_batch_create(collection_date=DUE, actor=None) is None
    assert direct_debit_batch_create(collection_date=DUE + dt.timedelta(days=3), actor=None) is None
    assert DirectDebitBatch.objects.count() == 1
    assert Payment.objects.count() == 2


def test_past_collection_date_is_refused(frozen: Any) -> None:
    with pytest.raises(CollectionDateInPast):
        direct_debit_batch_create(collection_date=dt.date(2026, 11, 1), actor=None)


def test_settlement_books_the_ledger_once(
    two_due_bills: tuple[Bill, Bill], frozen: Any, account: Account
) -> None:
    first, _second = two_due_bills
    batch = direct_debit_batch_create(collection_date=DUE, actor=None)
    assert batch is not None
    with pytest.raises(BatchNotDue):
        direct_debit_settle(batch=batch, actor=None)
    assert not Payment.objects.filter(status=Payment.Status.SUCCEEDED).exists()

    frozen.move_to(madrid(2026, 11, 17, 9))
    assert direct_debit_settle(batch=batch, actor=None) == 2
    payment = Payment.objects.get(bill=first)
    midnight = madrid(2026, 11, 16)
    assert (payment.status, payment.received_at) == (Payment.Status.SUCCEEDED, midnight)
    entry = LedgerEntry.objects.get(payment=payment)
    assert (entry.kind, entry.amount, entry.posted_at, entry.actor_label) == (
        LedgerEntry.Kind.PAYMENT,
        Decimal("-61.25"),
        midnight,
        "system:direct-debit-settlement",
    )
    assert account_balance(account) == Decimal("0.00")
    assert bill_open_amount(first) == Decimal("0.00")
    assert payment.mandate.first_collected_at == midnight
    # Settling again books nothing.
    assert direct_debit_settle(batch=batch, actor=None) == 0
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).count() == 2


def test_first_collection_is_frst_then_rcur(frozen: Any, account: Account, customer: User) -> None:
    mandate = _mandate(account, customer)
    october = issued_bill(account=account, total=Decimal("50.00"), due_date=DUE)
    batch = direct_debit_batch_create(collection_date=DUE, actor=None)
    assert batch is not None
    assert [e.text for e in _parse(batch).iterfind(".//p:SeqTp", NS)] == ["FRST"]
    assert Payment.objects.get(bill=october).details == {"sequence_type": "FRST"}

    frozen.move_to(madrid(2026, 11, 16, 12))
    direct_debit_settle(batch=batch, actor=None)
    mandate.refresh_from_db()
    assert mandate.first_collected_at == madrid(2026, 11, 16)

    november = issued_bill(
        account=account,
        total=Decimal("40.00"),
        period_start=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 16),
    )
    later = direct_debit_batch_create(collection_date=dt.date(2026, 12, 16), actor=None)
    assert later is not None
    assert [e.text for e in _parse(later).iterfind(".//p:SeqTp", NS)] == ["RCUR"]
    assert Payment.objects.get(bill=november).details == {"sequence_type": "RCUR"}
    pain008_validate(later.xml)


def _settled(frozen: Any) -> tuple[Bill, Payment]:
    batch = direct_debit_batch_create(collection_date=DUE, actor=None)
    assert batch is not None
    frozen.move_to(madrid(2026, 11, 18, 9))
    direct_debit_settle(batch=batch, actor=None)
    payment = Payment.objects.select_related("bill").get(debit_batch=batch, bill__total="61.25")
    assert payment.bill is not None
    return payment.bill, payment


def test_a_returned_debit_reopens_the_bill_and_tells_the_customer(
    two_due_bills: tuple[Bill, Bill],
    frozen: Any,
    account: Account,
    customer: User,
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    bill, payment = _settled(frozen)
    assert account_balance(account) == Decimal("0.00")
    staff = make_user("billing@staff.example.com", role="billing_specialist")

    with django_capture_on_commit_callbacks(execute=True):
        returned = direct_debit_return(
            end_to_end_id=payment.end_to_end_id or "", reason_code="am04", actor=staff
        )

    assert (returned.pk, returned.status, returned.return_reason) == (
        payment.pk,
        Payment.Status.RETURNED,
        "AM04",
    )
    assert bill_open_amount(bill) == Decimal("61.25")
    assert account_balance(account) == Decimal("61.25")
    back = LedgerEntry.objects.get(payment=payment, kind=LedgerEntry.Kind.PAYMENT_RETURNED)
    assert back.amount == Decimal("61.25")
    note = Notification.objects.get(user=customer)
    assert (note.kind, note.title, note.url) == (
        "billing.direct_debit_returned",
        f"Your direct debit for bill {bill.invoice_number} was returned",
        f"/my/billing/bills/{bill.pk}/",
    )
    assert "Reason: There were not enough funds." in note.body
    assert "61.25 €" in note.body
    assert [m.to for m in mail.outbox] == [[customer.email]]
    # The mandate still stands for an insufficient-funds return.
    assert Mandate.objects.get(account=account).status == Mandate.Status.ACTIVE

    # Recording the same return again changes nothing and tells nobody twice.
    with django_capture_on_commit_callbacks(execute=True):
        direct_debit_return(
            end_to_end_id=payment.end_to_end_id or "", reason_code="AM04", actor=staff
        )
    assert Notification.objects.filter(user=customer).count() == 1
    assert len(mail.outbox) == 1
    assert account_balance(account) == Decimal("61.25")

    # AM04 may be retried once: the next batch presents the bill again, then never more.
    retry = direct_debit_batch_create(collection_date=dt.date(2026, 11, 20), actor=None)
    assert retry is not None
    again = Payment.objects.get(debit_batch=retry)
    assert (again.bill, again.end_to_end_id, again.amount) == (
        bill,
        f"WL{bill.pk}-2",
        Decimal("61.25"),
    )
    assert [e.text for e in _parse(retry).iterfind(".//p:SeqTp", NS)] == ["RCUR"]
    frozen.move_to(madrid(2026, 11, 21, 9))
    direct_debit_settle(batch=retry, actor=None)
    direct_debit_return(end_to_end_id=f"WL{bill.pk}-2", reason_code="AM04", actor=staff)
    assert direct_debit_batch_create(collection_date=dt.date(2026, 11, 25), actor=None) is None


def test_a_return_that_ends_the_mandate_revokes_it_and_is_not_retried(
    two_due_bills: tuple[Bill, Bill], frozen: Any, account: Account, customer: User
) -> None:
    bill, payment = _settled(frozen)
    direct_debit_return(end_to_end_id=payment.end_to_end_id or "", reason_code="MD01", actor=None)
    mandate = Mandate.objects.get(account=account)
    assert (mandate.status, mandate.revoked_at) == (Mandate.Status.REVOKED, madrid(2026, 11, 18, 9))
    assert (
        "Your direct debit mandate has been cancelled."
        in Notification.objects.get(user=customer).body
    )
    # Even with a new mandate, a bill refused for MD01 is not presented again automatically.
    _mandate(account, customer, iban=DE_IBAN)
    assert direct_debit_batch_create(collection_date=dt.date(2026, 11, 20), actor=None) is None
    assert bill_open_amount(bill) == Decimal("61.25")


def test_a_pending_debit_rejected_by_the_bank_fails_without_booking(
    two_due_bills: tuple[Bill, Bill], account: Account
) -> None:
    batch = direct_debit_batch_create(collection_date=DUE, actor=None)
    assert batch is not None
    payment = Payment.objects.get(debit_batch=batch, bill=two_due_bills[0])
    ledger_before = LedgerEntry.objects.count()
    rejected = direct_debit_return(
        end_to_end_id=payment.end_to_end_id or "", reason_code="AC04", actor=None
    )
    assert (rejected.status, rejected.return_reason) == (Payment.Status.FAILED, "AC04")
    assert LedgerEntry.objects.count() == ledger_before
    assert Mandate.objects.get(account=account).status == Mandate.Status.REVOKED


def test_unknown_return_inputs_are_refused(two_due_bills: tuple[Bill, Bill]) -> None:
    with pytest.raises(UnknownReturnReason) as reason:
        direct_debit_return(end_to_end_id="WL1-1", reason_code="ZZ99", actor=None)
    assert reason.value.field == "reason_code"
    with pytest.raises(UnknownDebit) as debit:
        direct_debit_return(end_to_end_id="WL999999-1", reason_code="AM04", actor=None)
    assert debit.value.field == "end_to_end_id"
    assert not Notification.objects.exists()


# --------------------------------------------------------------------------------------------
# Command and admin
# --------------------------------------------------------------------------------------------


def test_create_direct_debits_command(two_due_bills: tuple[Bill, Bill]) -> None:
    out = StringIO()
    call_command("create_direct_debits", "--date", "2026-11-16", stdout=out)
    batch = DirectDebitBatch.objects.get()
    assert out.getvalue().strip() == (
        f"Batch {batch.message_id} for 2026-11-16: 2 debits, 99.65 EUR."
    )
    out = StringIO()
    call_command("create_direct_debits", "--date", "2026-11-16", stdout=out)
    assert out.getvalue().strip() == "Nothing to collect on 2026-11-16."
    with pytest.raises(CommandError, match="is not a date"):
        call_command("create_direct_debits", "--date", "16/11/2026")
    with pytest.raises(CommandError, match="collection_date"):
        call_command("create_direct_debits", "--date", "2026-10-01")


def test_staff_download_settle_and_record_a_return_in_the_admin(
    two_due_bills: tuple[Bill, Bill], frozen: Any, staff_client_for: Any, account: Account
) -> None:
    frozen.move_to(madrid(2026, 11, 16, 8))  # collected and settled on the due date
    client = staff_client_for("billing_specialist")
    created = client.post(
        "/admin/billing/directdebitbatch/create/", {"collection_date": "2026-11-16"}
    )
    assert created.status_code == 302
    batch = DirectDebitBatch.objects.get()
    download = client.get(f"/admin/billing/directdebitbatch/{batch.pk}/pain008.xml")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{batch.message_id}.xml"'
    assert download.content.decode() == batch.xml
    assert client.get("/admin/billing/directdebitbatch/").status_code == 200
    assert client.get(f"/admin/billing/directdebitbatch/{batch.pk}/change/").status_code == 200

    settle = client.post(
        "/admin/billing/directdebitbatch/",
        {"action": "settle_batches", "_selected_action": [batch.pk]},
    )
    assert settle.status_code == 302
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 2

    payment = Payment.objects.get(bill=two_due_bills[0])
    bad = client.post(
        "/admin/billing/directdebitbatch/record-return/",
        {"end_to_end_id": "WL0-9", "reason_code": "AM04"},
    )
    assert bad.status_code == 200
    assert bad.context["form"].errors == {
        "end_to_end_id": ["No direct debit has the end-to-end id “WL0-9”."]
    }
    recorded = client.post(
        "/admin/billing/directdebitbatch/record-return/",
        {"end_to_end_id": payment.end_to_end_id, "reason_code": "MS02"},
    )
    assert recorded.status_code == 302
    payment.refresh_from_db()
    assert (payment.status, payment.return_reason) == (Payment.Status.RETURNED, "MS02")
    assert account_balance(account) == Decimal("61.25")
    assert client.get("/admin/billing/mandate/").status_code == 200


def test_support_agent_cannot_create_or_return_debits(
    two_due_bills: tuple[Bill, Bill], staff_client_for: Any
) -> None:
    client = staff_client_for("support_agent")
    assert (
        client.post(
            "/admin/billing/directdebitbatch/create/", {"collection_date": "2026-11-16"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/admin/billing/directdebitbatch/record-return/",
            {"end_to_end_id": "WL1-1", "reason_code": "AM04"},
        ).status_code
        == 403
    )
    assert not DirectDebitBatch.objects.exists()


def test_returns_on_the_bank_statement_are_booked_against_their_debits(
    two_due_bills: tuple[Bill, Bill], frozen: Any, account: Account, customer: User
) -> None:
    from apps.billing.bank_statements import bank_statement_import

    bill, payment = _settled(frozen)
    other = Payment.objects.get(debit_batch=payment.debit_batch, bill=two_due_bills[1])
    frozen.move_to(madrid(2026, 11, 22, 9))
    content = camt053_debits(
        ("R001", "61.25", payment.end_to_end_id or "", "AM04"),  # insufficient funds
        ("R002", "1.00", other.end_to_end_id or "", "AM04"),  # not the debit's amount
        ("R003", "9.99", "SOMEONE-ELSES-1", "AC04"),  # not one of ours
    )
    balance_before = account_balance(account)

    summary = bank_statement_import(file_name="returns.xml", content=content, actor=None)

    assert (summary.returns_booked, summary.debits_ignored, summary.credits) == (1, 2, 0)
    payment.refresh_from_db()
    other.refresh_from_db()
    assert (payment.status, payment.return_reason) == (Payment.Status.RETURNED, "AM04")
    assert other.status == Payment.Status.SUCCEEDED
    assert bill_open_amount(bill) == Decimal("61.25")
    assert account_balance(account) == balance_before + Decimal("61.25")
    returned = LedgerEntry.objects.get(payment=payment, kind=LedgerEntry.Kind.PAYMENT_RETURNED)
    assert returned.amount == Decimal("61.25")
    assert Notification.objects.filter(user=customer).count() == 1
