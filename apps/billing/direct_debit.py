"""SEPA Core Direct Debit: mandates, pain.008 collection files, settlement and returns.

A mandate is given online by an account owner (``mandate_create``); one is active per
account (a database constraint) and a new one replaces the old in the same transaction.
``direct_debit_batch_create`` turns the due, unpaid bills of accounts with an active
mandate into one pain.008.001.02 file (built by ``sepaxml``, checked against the official
XSD with ``xmlschema``) and one PENDING payment per bill; nothing is booked until
``direct_debit_settle``. ``direct_debit_return`` records an R-transaction from the bank:
the bill is open again and the account's members are told. Decision 0712.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import xmlschema
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import translation
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from schwifty import IBAN
from schwifty.exceptions import (
    InvalidBBANChecksum,
    InvalidChecksumDigits,
    InvalidCountryCode,
    InvalidLength,
    SchwiftyException,
)
from sepaxml import SepaDD

from apps.accounts.models import Account, User
from apps.accounts.selectors import communication_preference_for
from apps.billing import ledger
from apps.billing.models import Bill, DirectDebitBatch, Mandate, Payment
from apps.billing.selectors import bill_open_amount
from apps.core import clock
from apps.core.audit import acting_as
from apps.core.notifications import notification_send

PAIN_008_SCHEMA = "pain.008.001.02"
#: pg advisory lock: one batch creation at a time, so two runs never collect a bill twice.
BATCH_LOCK = 7_120_001
#: A bill is presented at most this many times (a first collection and one retry).
MAX_ATTEMPTS_PER_BILL = 2
NOTIFICATION_KIND = "billing.direct_debit_returned"
DEBTOR_NAME_MAX = 70
REFERENCE_PREFIX = "WL"


# --------------------------------------------------------------------------------------------
# Errors (each names the input field it is about, for forms and admin messages)
# --------------------------------------------------------------------------------------------


class DirectDebitError(Exception):
    """Base of the direct-debit domain errors: ``field`` names the input, ``message`` why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class MandateInputError(DirectDebitError):
    """The mandate is not acceptable: ``errors`` maps each bad field to why (first: ``field``)."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.errors = dict(errors)


class CollectionDateInPast(DirectDebitError):
    """A collection cannot be requested for a day that has already begun or passed."""


class BatchNotDue(DirectDebitError):
    """A batch cannot be settled before its collection date."""


class UnknownDebit(DirectDebitError):
    """No direct debit carries that end-to-end id."""


class UnknownReturnReason(DirectDebitError):
    """The reason code is not an ISO 20022 return reason this system knows."""


class InvalidDirectDebitFile(DirectDebitError):
    """The generated pain.008 document does not conform to its XML schema."""


# --------------------------------------------------------------------------------------------
# Return reasons (ISO 20022 ExternalReturnReason codes used in SEPA R-transactions)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnReason:
    code: str
    description: Promise
    #: The mandate cannot be used again (account closed, no mandate, debtor deceased…).
    ends_mandate: bool = False
    #: The same bill may be presented once more in a later batch.
    retry: bool = False


RETURN_REASONS: dict[str, ReturnReason] = {
    reason.code: reason
    for reason in (
        ReturnReason("AC01", gettext_lazy("The account number is incorrect."), ends_mandate=True),
        ReturnReason("AC04", gettext_lazy("The bank account is closed."), ends_mandate=True),
        ReturnReason(
            "AC06",
            gettext_lazy("The bank account is blocked for direct debits."),
            ends_mandate=True,
        ),
        ReturnReason(
            "AC13", gettext_lazy("The bank account belongs to a consumer (invalid debtor type).")
        ),
        ReturnReason(
            "AG01",
            gettext_lazy("Direct debits are not allowed on this account."),
            ends_mandate=True,
        ),
        ReturnReason("AG02", gettext_lazy("The operation code is invalid.")),
        ReturnReason("AM04", gettext_lazy("There were not enough funds."), retry=True),
        ReturnReason("AM05", gettext_lazy("The debit was a duplicate.")),
        ReturnReason("BE05", gettext_lazy("The bank did not recognise the creditor.")),
        ReturnReason(
            "CNOR", gettext_lazy("The creditor's bank is not reachable for direct debits.")
        ),
        ReturnReason(
            "DNOR", gettext_lazy("Your bank is not reachable for direct debits."), retry=True
        ),
        ReturnReason("FF01", gettext_lazy("The file format was invalid.")),
        ReturnReason(
            "MD01",
            gettext_lazy("Your bank holds no valid mandate for this debit."),
            ends_mandate=True,
        ),
        ReturnReason("MD02", gettext_lazy("Mandate data were missing or incorrect.")),
        ReturnReason("MD06", gettext_lazy("You asked your bank for a refund.")),
        ReturnReason("MD07", gettext_lazy("The account holder has died."), ends_mandate=True),
        ReturnReason("MS02", gettext_lazy("You refused the debit at your bank.")),
        ReturnReason("MS03", gettext_lazy("Your bank gave no reason for the return."), retry=True),
        ReturnReason("RC01", gettext_lazy("The bank identifier (BIC) is incorrect.")),
        ReturnReason("RR01", gettext_lazy("Regulatory information on the debtor was missing.")),
        ReturnReason("RR02", gettext_lazy("The debtor's name or address was missing.")),
        ReturnReason("RR03", gettext_lazy("The creditor's name or address was missing.")),
        ReturnReason("RR04", gettext_lazy("The debit was returned for regulatory reasons.")),
        ReturnReason("SL01", gettext_lazy("Your bank blocked debits from this creditor.")),
    )
}
RETRYABLE_CODES = tuple(code for code, reason in RETURN_REASONS.items() if reason.retry)


def return_reason_choices() -> list[tuple[str, str]]:
    """(code, "CODE – description") for every known return reason, for forms."""
    return [(code, f"{code} – {reason.description}") for code, reason in RETURN_REASONS.items()]


# --------------------------------------------------------------------------------------------
# IBAN and mandate text
# --------------------------------------------------------------------------------------------


def iban_clean(value: str) -> tuple[str, str]:
    """The IBAN in compact form and the BIC schwifty derives from it ('' when it cannot).

    Raises MandateInputError({"iban": …}) naming the problem: empty, unknown country,
    wrong length, wrong check digits, a national account check that fails, or a country
    outside the SEPA area.
    """
    text = "".join((value or "").split()).upper()
    if not text:
        raise MandateInputError({"iban": _("Enter the IBAN of the account to debit.")})
    try:
        iban = IBAN(text, validate_bban=True)
    except InvalidCountryCode:
        message = _("“%(code)s” is not a country code an IBAN can start with.") % {"code": text[:2]}
        raise MandateInputError({"iban": message}) from None
    except InvalidLength:
        message = _("This IBAN has the wrong number of characters for its country.")
        raise MandateInputError({"iban": message}) from None
    except InvalidChecksumDigits:
        message = _("The check digits of this IBAN do not match: please look for a typing mistake.")
        raise MandateInputError({"iban": message}) from None
    except InvalidBBANChecksum:
        message = _(
            "The account number inside this IBAN fails its bank's check: please look for a "
            "typing mistake."
        )
        raise MandateInputError({"iban": message}) from None
    except SchwiftyException:
        message = _("This is not a valid IBAN: check the letters and digits you typed.")
        raise MandateInputError({"iban": message}) from None
    if not iban.in_sepa_zone:
        message = _(
            "Direct debit is only possible from a bank account in the SEPA area; "
            "accounts in %(country)s are outside it."
        ) % {"country": iban.country_code}
        raise MandateInputError({"iban": message})
    bic = iban.bic
    return iban.compact, str(bic) if bic is not None else ""


def iban_mask(iban: str) -> str:
    """The IBAN with everything but the last four characters hidden, in groups of four."""
    text = "".join(iban.split())
    if len(text) <= 4:
        return text
    masked = "•" * (len(text) - 4) + text[-4:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


#: Bump when the wording of :func:`mandate_text` changes; each mandate keeps the version
#: (and the text itself) its debtor accepted.
MANDATE_TEXT_VERSION = "sepa-core-1"


def mandate_text() -> str:
    """The standard SEPA Core authorisation the debtor accepts, in the active language.

    Version :data:`MANDATE_TEXT_VERSION`.
    """
    return _(
        "By accepting this mandate form, you authorise (A) %(creditor)s to send instructions "
        "to your bank to debit your account and (B) your bank to debit your account in "
        "accordance with the instructions from %(creditor)s. As part of your rights, you are "
        "entitled to a refund from your bank under the terms and conditions of your "
        "agreement with your bank. A refund must be claimed within 8 weeks starting from the "
        "date on which your account was debited. Your rights are explained in a statement "
        "that you can obtain from your bank."
    ) % {"creditor": settings.BILLING_CREDITOR_NAME}


def creditor_details() -> dict[str, str]:
    """Who collects: name and SEPA creditor identifier (shown with the mandate)."""
    return {
        "name": settings.BILLING_CREDITOR_NAME,
        "creditor_id": settings.BILLING_SEPA_CREDITOR_ID,
    }


# --------------------------------------------------------------------------------------------
# Mandates
# --------------------------------------------------------------------------------------------


def mandate_active_for(account: Account | int) -> Mandate | None:
    """The account's active mandate, if any."""
    return Mandate.objects.filter(account=account, status=Mandate.Status.ACTIVE).first()


def _clean_debtor_name(value: str) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise MandateInputError({"debtor_name": _("Enter the name of the bank account holder.")})
    if len(name) > DEBTOR_NAME_MAX:
        message = _("The account holder's name can have at most %(max)d characters.") % {
            "max": DEBTOR_NAME_MAX
        }
        raise MandateInputError({"debtor_name": message})
    return name


def _clean_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        validate_ipv46_address(value)
    except ValidationError:
        return None
    return value


def _revoke(mandate: Mandate, *, now: dt.datetime) -> None:
    mandate.status = Mandate.Status.REVOKED
    mandate.revoked_at = now
    mandate.save(update_fields=["status", "revoked_at"])


def mandate_create(
    *,
    account: Account,
    debtor_name: str,
    iban: str,
    accepted: bool,
    signed_by: User,
    ip_address: str | None,
) -> Mandate:
    """Record a SEPA Core mandate given online today; the account's previous one is revoked.

    The caller has checked that ``signed_by`` owns ``account``. The reference is
    ``WL-<account number>-<nnn>`` (sequence per account); the BIC is derived from the IBAN
    where schwifty knows the bank. Raises MandateInputError with every bad field among
    ``debtor_name``, ``iban`` and ``accepted``; nothing is stored then.
    """
    errors: dict[str, str] = {}
    name = compact_iban = bic = ""
    try:
        name = _clean_debtor_name(debtor_name)
    except MandateInputError as exc:
        errors.update(exc.errors)
    try:
        compact_iban, bic = iban_clean(iban)
    except MandateInputError as exc:
        errors.update(exc.errors)
    if not accepted:
        errors["accepted"] = _("Tick the box to accept the direct debit mandate.")
    if errors:
        raise MandateInputError(errors)
    now = clock.now()
    with transaction.atomic(), acting_as(signed_by):
        locked = Account.objects.select_for_update().get(pk=account.pk)
        previous = (
            Mandate.objects.select_for_update()
            .filter(account=locked, status=Mandate.Status.ACTIVE)
            .first()
        )
        if previous is not None:
            _revoke(previous, now=now)
        sequence = Mandate.objects.filter(account=locked).count() + 1
        return Mandate.objects.create(
            account=locked,
            reference=f"{REFERENCE_PREFIX}-{locked.number}-{sequence:03d}",
            debtor_name=name,
            iban=compact_iban,
            bic=bic,
            signed_on=clock.today(),
            signed_by=signed_by,
            ip_address=_clean_ip(ip_address),
            text_version=MANDATE_TEXT_VERSION,
            accepted_text=mandate_text(),
            status=Mandate.Status.ACTIVE,
            created_at=now,
        )


def mandate_revoke(*, mandate: Mandate, actor: User | None) -> bool:
    """Revoke ``mandate``: no further collections are made with it.

    Collections already sent to the bank go ahead (the customer can still refuse them at
    their bank). Returns False, changing nothing, if it was already revoked. Raises nothing.
    """
    with transaction.atomic(), acting_as(actor):
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        if locked.status != Mandate.Status.ACTIVE:
            return False
        _revoke(locked, now=clock.now())
    mandate.refresh_from_db()
    return True


# --------------------------------------------------------------------------------------------
# pain.008 files
# --------------------------------------------------------------------------------------------


@functools.cache
def pain008_schema() -> xmlschema.XMLSchema:
    """The official pain.008.001.02 XSD, as bundled with sepaxml (loaded once)."""
    resource = importlib.resources.files("sepaxml").joinpath("schemas", f"{PAIN_008_SCHEMA}.xsd")
    with resource.open("rb") as handle:
        return xmlschema.XMLSchema(handle)


def pain008_validate(document: bytes | str) -> None:
    """Check ``document`` against the pain.008.001.02 schema.

    Raises InvalidDirectDebitFile(field="xml") with the first violation's reason and path.
    """
    text = document.decode("utf-8") if isinstance(document, bytes) else document
    error = next(iter(pain008_schema().iter_errors(text)), None)
    if error is not None:
        where = f" ({error.path})" if error.path else ""
        raise InvalidDirectDebitFile("xml", f"{error.reason or error.message}{where}")


def _actor_label(actor: User | None, job: str) -> str:
    return (f"staff:{actor.email}" if actor is not None else f"system:{job}")[:80]


def _collectable_bills(collection_date: dt.date) -> list[Bill]:
    """Issued bills due by ``collection_date`` with an active mandate and no live debit."""
    debits = Payment.objects.filter(bill=OuterRef("pk"), method=Payment.Method.DIRECT_DEBIT)
    live = debits.filter(status__in=[Payment.Status.PENDING, Payment.Status.SUCCEEDED])
    final_return = debits.filter(
        status__in=[Payment.Status.RETURNED, Payment.Status.FAILED]
    ).exclude(return_reason__in=RETRYABLE_CODES)
    mandated = Mandate.objects.filter(account=OuterRef("account_id"), status=Mandate.Status.ACTIVE)
    return list(
        Bill.objects.filter(
            kind=Bill.Kind.BILL,
            status=Bill.Status.ISSUED,
            due_date__lte=collection_date,
        )
        .filter(Exists(mandated), ~Exists(live), ~Exists(final_return))
        .select_related("account")
        .annotate(
            attempts=Count(
                "payments",
                filter=Q(
                    payments__method=Payment.Method.DIRECT_DEBIT,
                    payments__status__in=[Payment.Status.RETURNED, Payment.Status.FAILED],
                ),
            )
        )
        .filter(attempts__lt=MAX_ATTEMPTS_PER_BILL)
        .order_by("due_date", "id")
    )


def _creditor_config() -> dict[str, Any]:
    return {
        "name": settings.BILLING_CREDITOR_NAME,
        "IBAN": "".join(settings.BILLING_CREDITOR_IBAN.split()).upper(),
        "BIC": settings.BILLING_CREDITOR_BIC.strip().upper(),
        "batch": True,
        "creditor_id": settings.BILLING_SEPA_CREDITOR_ID,
        "currency": "EUR",
    }


@dataclass(frozen=True, slots=True)
class _Collection:
    bill: Bill
    mandate: Mandate
    amount: Decimal
    end_to_end_id: str
    sequence_type: str


def direct_debit_batch_create(
    *, collection_date: dt.date, actor: User | None
) -> DirectDebitBatch | None:
    """Collect every due bill with an active mandate in one pain.008.001.02 file.

    A bill is included when it is ISSUED, due on or before ``collection_date``, still has
    an open amount, its account has an active mandate and it has no pending or succeeded
    direct debit (a bill returned for a retryable reason is presented once more). The
    amount is the open amount. FRST is used until the mandate's first collection settled,
    RCUR after. Stores the batch and one PENDING payment per bill; nothing is booked.
    Idempotent: returns None when there is nothing (new) to collect. Raises
    CollectionDateInPast and InvalidDirectDebitFile (nothing stored).
    """
    if collection_date < clock.today():
        raise CollectionDateInPast(
            "collection_date", _("The collection date cannot be in the past.")
        )
    label = _actor_label(actor, "direct-debit")
    with transaction.atomic(), acting_as(actor):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BATCH_LOCK])
        bills = _collectable_bills(collection_date)
        mandates = {
            mandate.account_id: mandate
            for mandate in Mandate.objects.filter(
                account_id__in={bill.account_id for bill in bills},
                status=Mandate.Status.ACTIVE,
            )
        }
        collections: list[_Collection] = []
        for bill in bills:
            amount = bill_open_amount(bill)
            mandate = mandates.get(bill.account_id)
            if amount <= 0 or mandate is None:
                continue
            attempts: int = getattr(bill, "attempts", 0)
            collections.append(
                _Collection(
                    bill=bill,
                    mandate=mandate,
                    amount=amount,
                    end_to_end_id=f"WL{bill.pk}-{attempts + 1}",
                    sequence_type="FRST" if mandate.first_collected_at is None else "RCUR",
                )
            )
        if not collections:
            return None
        sepa = SepaDD(_creditor_config(), schema=PAIN_008_SCHEMA, clean=True)
        for item in collections:
            payment: dict[str, Any] = {
                "name": item.mandate.debtor_name,
                "IBAN": item.mandate.iban,
                "amount": int(item.amount * 100),
                "type": item.sequence_type,
                "collection_date": collection_date,
                "mandate_id": item.mandate.reference,
                "mandate_date": item.mandate.signed_on,
                "description": f"{item.bill.invoice_number} {item.bill.account_number}",
                "endtoend_id": item.end_to_end_id,
            }
            if item.mandate.bic:
                payment["BIC"] = item.mandate.bic
            sepa.add_payment(payment)
        document = sepa.export(validate=False)
        pain008_validate(document)
        batch = DirectDebitBatch.objects.create(
            message_id=sepa.msg_id,
            collection_date=collection_date,
            created_at=clock.now(),
            created_by=actor,
            xml=document.decode("utf-8"),
            payment_count=len(collections),
            total=sum((item.amount for item in collections), Decimal("0.00")),
        )
        for item in collections:
            ledger.payment_record(
                account=item.bill.account,
                amount=item.amount,
                method=Payment.Method.DIRECT_DEBIT,
                status=Payment.Status.PENDING,
                bill=item.bill,
                actor=actor,
                actor_label=label,
                mandate=item.mandate,
                debit_batch=batch,
                end_to_end_id=item.end_to_end_id,
                details={"sequence_type": item.sequence_type},
            )
    return batch


# --------------------------------------------------------------------------------------------
# Settlement and returns
# --------------------------------------------------------------------------------------------


def direct_debit_settle(*, batch: DirectDebitBatch, actor: User | None) -> int:
    """Book the batch's pending debits as received on its collection date.

    Each PENDING payment becomes SUCCEEDED through ``ledger.payment_mark_succeeded`` (one
    PAYMENT ledger entry, dated local midnight of the collection date) and each mandate
    used gets its ``first_collected_at`` (from then on collections are RCUR). Returns how
    many payments were settled; settling again settles nothing. Raises BatchNotDue before
    the collection date.
    """
    if clock.today() < batch.collection_date:
        raise BatchNotDue(
            "collection_date",
            _("This batch cannot be settled before its collection date, %(date)s.")
            % {"date": batch.collection_date.isoformat()},
        )
    received_at = clock.local_midnight(batch.collection_date)
    label = _actor_label(actor, "direct-debit-settlement")
    settled = 0
    with transaction.atomic(), acting_as(actor):
        pending = list(
            Payment.objects.select_for_update()
            .filter(debit_batch=batch, status=Payment.Status.PENDING)
            .order_by("id")
        )
        mandate_ids: set[int] = set()
        for payment in pending:
            if ledger.payment_mark_succeeded(
                payment=payment, received_at=received_at, actor_label=label
            ):
                settled += 1
                if payment.mandate_id is not None:
                    mandate_ids.add(payment.mandate_id)
        for mandate in (
            Mandate.objects.select_for_update()
            .filter(pk__in=mandate_ids, first_collected_at__isnull=True)
            .order_by("id")
        ):
            mandate.first_collected_at = received_at
            mandate.save(update_fields=["first_collected_at"])
    return settled


BILL_URL = "/my/billing/bills/{bill_id}/"
MANDATE_URL = "/my/billing/direct-debit/"


def _return_message(payment: Payment, reason: ReturnReason) -> tuple[str, str]:
    number = payment.bill.invoice_number if payment.bill is not None else ""
    title = _("Your direct debit for bill %(number)s was returned") % {"number": number}
    parts = [
        _(
            "Your bank returned the direct debit of %(amount)s € for bill %(number)s. "
            "Reason: %(reason)s"
        )
        % {
            "amount": number_format(payment.amount, 2),
            "number": number,
            "reason": reason.description,
        },
        _("The bill is unpaid again. Please pay it by card or bank transfer from the bill page."),
    ]
    if reason.ends_mandate:
        parts.append(
            _(
                "Your direct debit mandate has been cancelled. You can give a new one with "
                "another bank account in your billing settings."
            )
        )
    return title, "\n\n".join(parts)


def _notify_return(payment: Payment, reason: ReturnReason) -> int:
    account = payment.account
    email = bool(communication_preference_for(account.customer).email_notifications)
    url = BILL_URL.format(bill_id=payment.bill_id) if payment.bill_id else MANDATE_URL
    created = 0
    for user in User.objects.filter(memberships__account=account, is_active=True).order_by("id"):
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            title, body = _return_message(payment, reason)
        sent = notification_send(
            user=user,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            url=url,
            dedupe_key=f"billing:direct-debit-returned:{payment.pk}",
            email=email,
        )
        created += int(sent.created)
    return created


def direct_debit_return(*, end_to_end_id: str, reason_code: str, actor: User | None) -> Payment:
    """Record that the bank returned (or rejected) the debit ``end_to_end_id``.

    A settled debit becomes RETURNED through ``ledger.payment_mark_returned`` (the amount
    goes back on the ledger and the bill is open again); a debit still pending becomes
    FAILED (nothing had been booked). Codes that end the mandate (AC01, AC04, AC06, AG01,
    MD01, MD07) revoke it. Every member of the account is told in the portal and by email,
    once per payment. Recording the same return again changes nothing. Raises
    UnknownReturnReason, UnknownDebit and ledger.PaymentStateError (a refunded debit).
    """
    code = (reason_code or "").strip().upper()
    reason = RETURN_REASONS.get(code)
    if reason is None:
        raise UnknownReturnReason(
            "reason_code", _("“%(code)s” is not a known return reason code.") % {"code": code}
        )
    label = _actor_label(actor, "direct-debit-return")
    with transaction.atomic(), acting_as(actor):
        payment = (
            Payment.objects.select_for_update()
            .filter(end_to_end_id=(end_to_end_id or "").strip(), method=Payment.Method.DIRECT_DEBIT)
            .first()
        )
        if payment is None:
            raise UnknownDebit(
                "end_to_end_id",
                _("No direct debit has the end-to-end id “%(id)s”.") % {"id": end_to_end_id},
            )
        if payment.status == Payment.Status.PENDING:
            ledger.payment_mark_failed(payment=payment, reason=code)
            payment.return_reason = code
            payment.save(update_fields=["return_reason"])
        elif payment.status == Payment.Status.SUCCEEDED:
            ledger.payment_mark_returned(payment=payment, reason_code=code, actor_label=label)
        elif payment.status not in (Payment.Status.RETURNED, Payment.Status.FAILED):
            raise ledger.PaymentStateError(
                f"status: payment is {payment.status}, it cannot be returned."
            )
        if reason.ends_mandate and payment.mandate_id is not None:
            mandate = Mandate.objects.select_for_update().get(pk=payment.mandate_id)
            if mandate.status == Mandate.Status.ACTIVE:
                _revoke(mandate, now=clock.now())
        payment = Payment.objects.select_related("account__customer", "bill").get(pk=payment.pk)
        _notify_return(payment, RETURN_REASONS.get(payment.return_reason, reason))
    return payment
