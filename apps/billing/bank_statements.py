"""Bank transfers: import a camt.053 statement, match its credits to bills, review the rest.

Each issued bill carries an ISO 11649 creditor reference and the bill shows our IBAN
(``settings.BILLING_CREDITOR_IBAN``). A statement is validated against the ISO 20022
schema, refused if it was imported before, and then, in one transaction, every booked
credit is matched to a bill and booked on the ledger through ``ledger.payment_record``;
what cannot be matched waits in the review queue (status UNMATCHED) for a billing
specialist to assign to a bill or to ignore. Decision 0711.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models.fields.json import KeyTextTransform
from django.utils.translation import gettext as _

from apps.accounts.models import Account, User
from apps.billing.camt053 import Camt053Document, Camt053Entry, Camt053Invalid, camt053_read
from apps.billing.direct_debit import UnknownReturnReason, direct_debit_return
from apps.billing.issuing import creditor_reference_is_valid
from apps.billing.ledger import PaymentStateError, payment_mark_returned, payment_record
from apps.billing.models import BankStatement, BankStatementEntry, Bill, Payment
from apps.billing.selectors import bill_by_payment_reference, bill_open_amount
from apps.core import clock
from apps.core.audit import acting_as
from apps.core.money import round_money

logger = logging.getLogger(__name__)

#: Statements are small (a busy day is a few thousand entries); anything far bigger is
#: not a statement.
MAX_FILE_BYTES = 20 * 1024 * 1024
EURO = "EUR"
#: Return reason kept on a bank transfer reversed without an ISO reason code.
REVERSED = "RVSL"
#: pg_advisory_xact_lock namespace: one import per bank account at a time.
_LOCK_NAMESPACE = 7_110_001
#: At most this many look-ups per credit when searching the free text for a reference.
_MAX_TEXT_CANDIDATES = 10
_RF_IN_TEXT = re.compile(r"RF\d{2}(?: ?[A-Z0-9]){1,21}")
_TOKEN = re.compile(r"[A-Z0-9][A-Z0-9/-]{2,33}[A-Z0-9]")
BOOKED_STATUSES = (
    BankStatementEntry.Status.MATCHED,
    BankStatementEntry.Status.PARTIAL,
    BankStatementEntry.Status.OVERPAID,
)


class BankStatementRefused(ValueError):
    """The file was refused and nothing was stored. The message names the field and why;
    ``messages`` lists every schema problem (element path: reason) when there are several.
    """

    def __init__(self, message: str, *, messages: list[str] | None = None) -> None:
        super().__init__(message)
        self.messages = messages or [message]


class BankEntryNotOpen(Exception):
    """The entry is not waiting for review (it was matched, resolved or ignored already)."""


class BankEntryNotAssignable(ValueError):
    """The entry cannot be booked against that bill (the message names the field and why)."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What one import did. Counts are of transactions on the statement."""

    statement: BankStatement
    credits: int
    matched: int
    partial: int
    overpaid: int
    unmatched: int
    #: Debits that gave back a payment we had booked (a returned direct debit, a recalled
    #: bank transfer), booked as that payment's return.
    returns_booked: int
    debits_ignored: int
    not_booked_ignored: int
    amount_booked: Decimal
    amount_unmatched: Decimal


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------


def bank_statement_import(
    *, file_name: str, content: bytes, actor: User | None, actor_label: str = ""
) -> ImportSummary:
    """Import one camt.053.001.02 statement file and reconcile its credits with bills.

    The file is validated against the bundled ISO 20022 schema before anything is read.
    Booked credits in euros are matched to a bill by the structured creditor reference,
    else by an RF reference or invoice number found in the free text, and booked as
    bank-transfer payments: MATCHED (exact), PARTIAL (less than open) or OVERPAID (more;
    the surplus stays on the account as credit). Credits without a payable bill, in
    another currency, or seemingly imported before are stored as UNMATCHED, nothing
    booked. A booked debit that gives back a payment we booked is booked as its return
    when the amount agrees: one of our direct-debit collections (its end-to-end id and an
    ISO return reason, through ``direct_debit.direct_debit_return``), or a bank transfer
    the payer's bank recalled (the payer's end-to-end id, with a return reason or the
    reversal indicator). Other debits, pending and reversal credits are only counted.

    Raises BankStatementRefused (nothing stored) when the file is empty or too big, not
    valid camt.053.001.02, for another bank account than ours, already imported (same
    file, or the same statement of the same account), or repeats an entry reference.
    """
    if not content:
        raise BankStatementRefused(_("file: the file is empty."))
    if len(content) > MAX_FILE_BYTES:
        raise BankStatementRefused(
            _("file: the file is larger than %(mb)d MB; a bank statement is far smaller.")
            % {"mb": MAX_FILE_BYTES // (1024 * 1024)}
        )
    digest = hashlib.sha256(content).hexdigest()
    _refuse_if_same_file(digest)
    try:
        document = camt053_read(content)
    except Camt053Invalid as exc:
        raise BankStatementRefused(
            _("The file is not a valid ISO 20022 camt.053.001.02 statement: %(problem)s")
            % {"problem": exc.messages[0]},
            messages=exc.messages,
        ) from None
    iban = _statement_iban(document)
    statement_id = _statement_id(document)
    _refuse_repeated_references(document)
    label = actor_label[:80] or _staff_label(actor)

    with transaction.atomic():
        _lock_account(iban)
        _refuse_if_same_file(digest)  # a concurrent import of the same file has committed
        earlier = (
            BankStatement.objects.filter(iban=iban, statement_id=statement_id)
            .order_by("id")
            .first()
        )
        if earlier is not None:
            raise BankStatementRefused(
                _(
                    "Stmt/Id: statement %(id)s of account %(iban)s was already imported "
                    "from %(file)s on %(when)s."
                )
                % {
                    "id": statement_id,
                    "iban": iban,
                    "file": earlier.file_name,
                    "when": f"{earlier.imported_at.astimezone(clock.local_zone()):%Y-%m-%d %H:%M}",
                }
            )
        with acting_as(actor):
            statement = BankStatement.objects.create(
                statement_id=statement_id,
                iban=iban,
                file_name=file_name[:200],
                sha256=digest,
                imported_at=clock.now(),
                imported_by=actor,
            )
        statuses: Counter[str] = Counter()
        amount_booked = Decimal("0.00")
        amount_unmatched = Decimal("0.00")
        fallback_day = _fallback_booking_date(document)
        for item in document.payment_candidates:
            entry = _reconcile(
                statement=statement,
                item=item,
                fallback_day=fallback_day,
                actor=actor,
                actor_label=label,
            )
            statuses[entry.status] += 1
            if entry.status in BOOKED_STATUSES:
                amount_booked += entry.amount
            else:
                amount_unmatched += entry.amount
        returns_booked = sum(
            1 for item in document.returns if _book_return(item, statement=statement, actor=actor)
        )
    return ImportSummary(
        statement=statement,
        credits=sum(statuses.values()),
        matched=statuses[BankStatementEntry.Status.MATCHED],
        partial=statuses[BankStatementEntry.Status.PARTIAL],
        overpaid=statuses[BankStatementEntry.Status.OVERPAID],
        unmatched=statuses[BankStatementEntry.Status.UNMATCHED],
        returns_booked=returns_booked,
        debits_ignored=document.debit_count - returns_booked,
        not_booked_ignored=document.other_count,
        amount_booked=amount_booked,
        amount_unmatched=amount_unmatched,
    )


def _book_return(item: Camt053Entry, *, statement: BankStatement, actor: User | None) -> bool:
    """Book ``item`` as the return of the payment it names; False if it names none.

    First our direct-debit collections (by their end-to-end id), then bank transfers we
    booked (by the payer's end-to-end id and the amount: a transfer the payer's bank
    recalled). Leaves it alone (and logs why) when nothing matches, the amount differs,
    the reason code is unknown, or the payment cannot be returned (refunded). A payment
    already returned stays as it is and is not counted again.
    """
    debit = Payment.objects.filter(
        end_to_end_id=item.end_to_end_id, method=Payment.Method.DIRECT_DEBIT
    ).first()
    if debit is None:
        return _book_reversed_transfer(item, statement=statement, actor=actor)
    why = ""
    if item.currency != EURO or round_money(item.amount) != debit.amount:
        why = "the returned amount differs from the collection"
    elif debit.status in (Payment.Status.RETURNED, Payment.Status.FAILED):
        return False
    if debit is not None and not why:
        try:
            with transaction.atomic():
                direct_debit_return(
                    end_to_end_id=item.end_to_end_id, reason_code=item.return_reason, actor=actor
                )
        except (UnknownReturnReason, PaymentStateError) as exc:
            why = str(exc)
        else:
            return True
    logger.warning(
        "bank statement return not booked",
        extra={
            "statement": statement.statement_id,
            "entry": item.reference,
            "end_to_end_id": item.end_to_end_id,
            "reason": why,
        },
    )
    return False


def _book_reversed_transfer(
    item: Camt053Entry, *, statement: BankStatement, actor: User | None
) -> bool:
    transfer = (
        Payment.objects.filter(
            method=Payment.Method.BANK_TRANSFER,
            amount=round_money(item.amount),
            currency=item.currency,
        )
        .alias(payer_e2e=KeyTextTransform("end_to_end_id", "details"))
        .filter(payer_e2e=item.end_to_end_id)
        .order_by("-received_at", "-id")
        .first()
    )
    why = "no direct debit or bank transfer of this amount has this end-to-end id"
    if transfer is not None:
        if transfer.status == Payment.Status.RETURNED:
            return False
        try:
            with transaction.atomic():
                payment_mark_returned(
                    payment=transfer,
                    reason_code=item.return_reason or REVERSED,
                    actor_label=_staff_label(actor),
                )
        except PaymentStateError as exc:
            why = str(exc)
        else:
            return True
    logger.warning(
        "bank statement return not booked",
        extra={
            "statement": statement.statement_id,
            "entry": item.reference,
            "end_to_end_id": item.end_to_end_id,
            "reason": why,
        },
    )
    return False


def _refuse_if_same_file(digest: str) -> None:
    earlier = BankStatement.objects.filter(sha256=digest).first()
    if earlier is not None:
        raise BankStatementRefused(
            _(
                "file: this file was already imported on %(when)s as %(name)s "
                "(statement %(id)s); nothing was imported again."
            )
            % {
                "when": f"{earlier.imported_at.astimezone(clock.local_zone()):%Y-%m-%d %H:%M}",
                "name": earlier.file_name,
                "id": earlier.statement_id,
            }
        )


def _statement_iban(document: Camt053Document) -> str:
    ours = "".join(settings.BILLING_CREDITOR_IBAN.split()).upper()
    for statement in document.statements:
        iban = statement.account_iban.upper()
        if iban != ours:
            shown = iban or _("an account without IBAN")
            raise BankStatementRefused(
                _(
                    "Stmt/Acct/Id/IBAN: statement %(id)s is for %(iban)s, not for the account "
                    "customers pay into (%(ours)s)."
                )
                % {"id": statement.statement_id, "iban": shown, "ours": ours}
            )
    return ours


def _statement_id(document: Camt053Document) -> str:
    """The statement's own id, or the message id for a file holding several statements."""
    if len(document.statements) == 1:
        return document.statements[0].statement_id
    return document.message_id


def _refuse_repeated_references(document: Camt053Document) -> None:
    counts = Counter(item.reference for item in document.payment_candidates)
    repeated = sorted(ref for ref, count in counts.items() if count > 1)
    if repeated:
        raise BankStatementRefused(
            _("Ntry/NtryRef: the entry reference %(ref)s appears more than once in the file.")
            % {"ref": repeated[0]}
        )


def _fallback_booking_date(document: Camt053Document) -> dt.date:
    """For an entry without booking or value date: the day the statement was created."""
    return dt.date.fromisoformat(document.created_at[:10])


def _lock_account(iban: str) -> None:
    key = zlib.crc32(iban.encode()) - 2**31  # into int4 range
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, key])


def _remittance(item: Camt053Entry) -> str:
    parts = [item.creditor_reference, item.remittance_unstructured]
    return " | ".join(part for part in parts if part)[:280]


def _details(item: Camt053Entry) -> dict[str, object]:
    details: dict[str, object] = {
        "creditor_reference": item.creditor_reference,
        "remittance": item.remittance_unstructured,
        "end_to_end_id": item.end_to_end_id,
        "indicator": item.indicator,
        "status": item.status,
        "reversal": item.reversal,
    }
    return {key: value for key, value in details.items() if value not in ("", None)}


def _reconcile(
    *,
    statement: BankStatement,
    item: Camt053Entry,
    fallback_day: dt.date,
    actor: User | None,
    actor_label: str,
) -> BankStatementEntry:
    amount = round_money(item.amount)
    booking_date = item.booking_date or item.value_date or fallback_day
    bill = bill_for_remittance(
        creditor_reference=item.creditor_reference, text=item.remittance_unstructured
    )
    status = BankStatementEntry.Status.UNMATCHED
    note = ""
    duplicate = _earlier_entry(statement=statement, item=item, booking_date=booking_date)
    if duplicate is not None:
        note = _("Possibly imported before: entry %(ref)s of statement %(id)s.") % {
            "ref": duplicate.entry_reference,
            "id": duplicate.statement.statement_id,
        }
    elif item.currency != EURO:
        note = _("Paid in %(currency)s: only euro payments are booked automatically.") % {
            "currency": item.currency
        }
    elif amount != item.amount or amount <= 0:
        note = _("The amount is not a whole number of cents above zero.")
    elif bill is None:
        note = _("No issued bill has this reference.")
    else:
        bill = (
            Bill.objects.select_related("account").select_for_update(of=("self",)).get(pk=bill.pk)
        )
        open_amount = bill_open_amount(bill)
        if open_amount <= 0:
            note = _("Bill %(number)s has nothing left to pay.") % {"number": bill.invoice_number}
        elif amount == open_amount:
            status = BankStatementEntry.Status.MATCHED
        elif amount < open_amount:
            status = BankStatementEntry.Status.PARTIAL
            note = _("%(left)s left to pay on the bill.") % {"left": open_amount - amount}
        else:
            status = BankStatementEntry.Status.OVERPAID
            note = _("%(surplus)s more than the bill; kept as account credit.") % {
                "surplus": amount - open_amount
            }
    with acting_as(actor):
        entry = BankStatementEntry.objects.create(
            statement=statement,
            entry_reference=item.reference[:64],
            amount=amount,
            currency=item.currency[:3],
            booking_date=booking_date,
            value_date=item.value_date,
            debtor_name=item.debtor_name[:140],
            debtor_iban=item.debtor_iban[:34],
            remittance=_remittance(item),
            details=_details(item),
            status=status,
            # An UNMATCHED entry keeps the bill its reference names, as a hint for review.
            bill=bill,
            note=note[:200],
        )
    if status in BOOKED_STATUSES and bill is not None:
        _book(
            entry=entry,
            account=bill.account,
            bill=bill,
            item=item,
            actor=actor,
            actor_label=actor_label,
        )
    return entry


def _earlier_entry(
    *, statement: BankStatement, item: Camt053Entry, booking_date: dt.date
) -> BankStatementEntry | None:
    """The same bank entry on an earlier statement of this account (overlapping exports)."""
    if item.reference.startswith("ENTRY-"):
        return None  # no reference of the bank's own to compare
    return (
        BankStatementEntry.objects.filter(
            statement__iban=statement.iban,
            entry_reference=item.reference[:64],
            amount=round_money(item.amount),
            booking_date=booking_date,
        )
        .exclude(statement=statement)
        .select_related("statement")
        .order_by("id")
        .first()
    )


def _book(
    *,
    entry: BankStatementEntry,
    account: Account,
    bill: Bill | None,
    item: Camt053Entry | None,
    actor: User | None,
    actor_label: str,
) -> Payment:
    day = entry.value_date or entry.booking_date
    details: dict[str, str] = {
        "statement_id": entry.statement.statement_id,
        "bank_reference": entry.entry_reference,
        "debtor_name": entry.debtor_name,
        "debtor_iban": entry.debtor_iban,
    }
    if item is not None:
        details["creditor_reference"] = item.creditor_reference
        details["remittance"] = item.remittance_unstructured[:280]
        details["end_to_end_id"] = item.end_to_end_id
    return payment_record(
        account=account,
        amount=entry.amount,
        method=Payment.Method.BANK_TRANSFER,
        status=Payment.Status.SUCCEEDED,
        bill=bill,
        actor=actor,
        actor_label=actor_label,
        received_at=clock.local_midnight(day),
        bank_entry=entry,
        details={key: value for key, value in details.items() if value},
    )


def bill_for_remittance(*, creditor_reference: str, text: str) -> Bill | None:
    """The issued bill a payment names: by its structured creditor reference first, else
    by an ISO 11649 reference or one of our invoice numbers found in the free text."""
    if creditor_reference:
        bill = bill_by_payment_reference(creditor_reference)
        if bill is not None:
            return bill
    for candidate in references_in_text(text):
        bill = bill_by_payment_reference(candidate)
        if bill is not None:
            return bill
    return None


def references_in_text(text: str) -> list[str]:
    """Candidate references in remittance text, most specific first (at most ten).

    ISO 11649 references are found even when typed in groups of four ("RF18 5390 0754
    7034"), and only when their check digits are right; other tokens with a digit in them
    (invoice numbers such as ``F2026-000003``) follow.
    """
    upper = text.upper()
    found: list[str] = []
    rest = upper
    for match in _RF_IN_TEXT.finditer(upper):
        # Where the reference may end: at a space (it is often typed in groups of four
        # and followed by words) or at the end of the run; longest first.
        ends = [m.start() for m in re.finditer(" ", match.group())] + [len(match.group())]
        for end in reversed(ends):
            candidate = match.group()[:end].replace(" ", "")
            if len(candidate) > 4 and creditor_reference_is_valid(candidate):
                found.append(candidate)
                # Blank it out so its groups are not looked up again as tokens.
                stop = match.start() + end
                rest = rest[: match.start()] + " " * end + rest[stop:]
                break
    for token in _TOKEN.findall(rest):
        if any(char.isdigit() for char in token) and token not in found:
            found.append(token)
    return found[:_MAX_TEXT_CANDIDATES]


# ---------------------------------------------------------------------------------------
# Review queue
# ---------------------------------------------------------------------------------------


@transaction.atomic
def bank_entry_assign(
    *, entry: BankStatementEntry, bill: Bill, actor: User | None, note: str = ""
) -> Payment:
    """Book an entry waiting for review against ``bill`` (status RESOLVED) and return the
    payment. The whole amount is booked on the bill's account; what exceeds the bill's open
    amount stays there as credit.

    Raises BankEntryNotOpen if the entry is not waiting for review, BankEntryNotAssignable
    if it is not in euros or ``bill`` is not an issued bill.
    """
    locked = _open_euro_entry(entry)
    target = Bill.objects.select_related("account").select_for_update(of=("self",)).get(pk=bill.pk)
    if target.kind != Bill.Kind.BILL or target.status != Bill.Status.ISSUED:
        raise BankEntryNotAssignable(
            _("bill: %(bill)s is not an issued bill that can be paid.") % {"bill": target}
        )
    open_amount = bill_open_amount(target)
    locked.status = BankStatementEntry.Status.RESOLVED
    locked.bill = target
    surplus = locked.amount - open_amount
    locked.note = (
        note.strip()
        or (
            _("Assigned by staff; %(surplus)s kept as account credit.") % {"surplus": surplus}
            if surplus > 0
            else _("Assigned by staff.")
        )
    )[:200]
    with acting_as(actor):
        locked.save(update_fields=["status", "bill", "note"])
    payment = _book(
        entry=locked,
        account=target.account,
        bill=target,
        item=None,
        actor=actor,
        actor_label=_staff_label(actor),
    )
    entry.refresh_from_db()
    return payment


@transaction.atomic
def bank_entry_assign_to_account(
    *, entry: BankStatementEntry, account: Account, actor: User | None, note: str = ""
) -> Payment:
    """Book an entry waiting for review on ``account`` with no bill: money paid in advance
    or "on account". The whole amount becomes account credit, which the next bill's amount
    due takes into account. Returns the payment; the entry becomes RESOLVED.

    Raises BankEntryNotOpen if the entry is not waiting for review, BankEntryNotAssignable
    if it is not in euros.
    """
    locked = _open_euro_entry(entry)
    locked.status = BankStatementEntry.Status.RESOLVED
    locked.bill = None  # a hint from its reference, if any, was not taken
    locked.note = (
        note.strip()
        or _("Assigned by staff to account %(account)s as credit.") % {"account": account.number}
    )[:200]
    with acting_as(actor):
        locked.save(update_fields=["status", "bill", "note"])
    payment = _book(
        entry=locked,
        account=account,
        bill=None,
        item=None,
        actor=actor,
        actor_label=_staff_label(actor),
    )
    entry.refresh_from_db()
    return payment


def _open_euro_entry(entry: BankStatementEntry) -> BankStatementEntry:
    """``entry`` locked, if it waits for review and holds euros to book."""
    locked = (
        BankStatementEntry.objects.select_related("statement")
        .select_for_update(of=("self",))
        .get(pk=entry.pk)
    )
    if locked.status != BankStatementEntry.Status.UNMATCHED:
        raise BankEntryNotOpen(
            _("status: entry %(ref)s is %(status)s, not waiting for review.")
            % {"ref": locked.entry_reference, "status": locked.get_status_display()}
        )
    if locked.currency != EURO:
        raise BankEntryNotAssignable(
            _("currency: the payment is in %(currency)s; only euro payments can be booked.")
            % {"currency": locked.currency}
        )
    if locked.amount <= 0:
        raise BankEntryNotAssignable(_("amount: there is no money to book."))
    return locked


def _staff_label(actor: User | None) -> str:
    return (f"staff:{actor.email}" if actor else "system:bank-statement")[:80]


@transaction.atomic
def bank_entry_ignore(
    *, entry: BankStatementEntry, note: str, actor: User | None
) -> BankStatementEntry:
    """Take an entry waiting for review out of the queue as not a customer payment
    (status IGNORED, with the reason in ``note``); nothing is booked.

    Raises BankEntryNotOpen if the entry is not waiting for review, ValueError when
    ``note`` is blank.
    """
    reason = " ".join(note.split())
    if not reason:
        raise ValueError(_("note: say why the payment is not a customer's."))
    locked = BankStatementEntry.objects.select_for_update().get(pk=entry.pk)
    if locked.status != BankStatementEntry.Status.UNMATCHED:
        raise BankEntryNotOpen(
            _("status: entry %(ref)s is %(status)s, not waiting for review.")
            % {"ref": locked.entry_reference, "status": locked.get_status_display()}
        )
    locked.status = BankStatementEntry.Status.IGNORED
    locked.note = reason[:200]
    with acting_as(actor):
        locked.save(update_fields=["status", "bill", "note"])
    entry.refresh_from_db()
    return locked
