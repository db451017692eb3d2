"""The account ledger and the payment bookings every payment channel shares.

Balances are never stored: they are the sum of ledger entries, which are only added.
Card, bank-transfer and direct-debit code all book money through these functions.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from apps.accounts.models import Account, User
from apps.billing.models import Bill, LedgerEntry, Payment
from apps.billing.selectors import payment_refunded_amount
from apps.core import clock
from apps.core.audit import acting_as


class PaymentStateError(Exception):
    """The payment is not in a state that allows this change."""


def ledger_post(
    *,
    account: Account | int,
    kind: str,
    amount: Decimal,
    description: str,
    bill: Bill | None = None,
    payment: Payment | None = None,
    actor: User | None = None,
    actor_label: str = "",
    posted_at: dt.datetime | None = None,
) -> LedgerEntry:
    """Add one entry (positive: the customer owes more; negative: money in or a credit)."""
    account_id = account if isinstance(account, int) else account.pk
    with acting_as(actor):
        return LedgerEntry.objects.create(
            account_id=account_id,
            kind=kind,
            amount=amount,
            description=description[:200],
            bill=bill,
            payment=payment,
            actor=actor,
            actor_label=actor_label[:80],
            posted_at=posted_at or clock.now(),
        )


@transaction.atomic
def payment_record(
    *,
    account: Account,
    amount: Decimal,
    method: str,
    status: str = Payment.Status.SUCCEEDED,
    bill: Bill | None = None,
    gateway: str = "",
    gateway_reference: str | None = None,
    actor: User | None = None,
    actor_label: str,
    received_at: dt.datetime | None = None,
    **extra: object,
) -> Payment:
    """Create a payment; a SUCCEEDED one is booked on the ledger at once.

    ``extra`` sets further Payment fields (bank_entry, mandate, debit_batch, end_to_end_id,
    details). Raises ValueError for a non-positive amount.
    """
    if amount <= 0:
        raise ValueError("amount: a payment must be positive.")
    now = clock.now()
    with acting_as(actor):
        payment = Payment.objects.create(
            account=account,
            bill=bill,
            amount=amount,
            method=method,
            status=status,
            gateway=gateway,
            gateway_reference=gateway_reference,
            created_at=now,
            received_at=(received_at or now) if status == Payment.Status.SUCCEEDED else None,
            **extra,
        )
    if status == Payment.Status.SUCCEEDED:
        _book_payment(payment, actor=actor, actor_label=actor_label)
    return payment


def _book_payment(payment: Payment, *, actor: User | None, actor_label: str) -> None:
    label = payment.bill.invoice_number if payment.bill_id and payment.bill else ""
    ledger_post(
        account=payment.account_id,
        kind=LedgerEntry.Kind.PAYMENT,
        amount=-payment.amount,
        description=f"{payment.get_method_display()} {label}".strip(),
        payment=payment,
        actor=actor,
        actor_label=actor_label,
        posted_at=payment.received_at,
    )


@transaction.atomic
def payment_mark_succeeded(
    *, payment: Payment, received_at: dt.datetime | None = None, actor_label: str
) -> bool:
    """PENDING → SUCCEEDED and book it. Returns False (and changes nothing) if already done.

    Raises PaymentStateError for a payment that failed, was returned or refunded.
    """
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status == Payment.Status.SUCCEEDED:
        return False
    if locked.status != Payment.Status.PENDING:
        raise PaymentStateError(f"status: payment is {locked.status}, not PENDING.")
    locked.status = Payment.Status.SUCCEEDED
    locked.received_at = received_at or clock.now()
    locked.save(update_fields=["status", "received_at"])
    _book_payment(locked, actor=None, actor_label=actor_label)
    payment.refresh_from_db()
    return True


@transaction.atomic
def payment_mark_failed(*, payment: Payment, reason: str = "") -> bool:
    """PENDING → FAILED (nothing was booked). Returns False if it was not pending."""
    updated = Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
        status=Payment.Status.FAILED, details={**payment.details, "failure": reason[:200]}
    )
    payment.refresh_from_db()
    return bool(updated)


@transaction.atomic
def payment_mark_returned(*, payment: Payment, reason_code: str, actor_label: str) -> bool:
    """SUCCEEDED → RETURNED: the money came back (a returned direct debit, a chargeback).

    Books the reversal on the ledger, so the bill is open again. Returns False if the
    payment was already returned; raises PaymentStateError for other states.
    """
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status == Payment.Status.RETURNED:
        return False
    if locked.status != Payment.Status.SUCCEEDED:
        raise PaymentStateError(f"status: payment is {locked.status}, not SUCCEEDED.")
    if LedgerEntry.objects.filter(payment=locked, kind=LedgerEntry.Kind.PAYMENT_RETURNED).exists():
        raise PaymentStateError("status: payment was returned once and reinstated already.")
    locked.status = Payment.Status.RETURNED
    locked.return_reason = reason_code[:4]
    locked.save(update_fields=["status", "return_reason"])
    ledger_post(
        account=locked.account_id,
        kind=LedgerEntry.Kind.PAYMENT_RETURNED,
        amount=locked.amount,
        description=f"{locked.get_method_display()} returned ({reason_code})",
        payment=locked,
        actor_label=actor_label,
    )
    payment.refresh_from_db()
    return True


@transaction.atomic
def payment_refund_to(*, payment: Payment, refunded_total: Decimal, actor_label: str) -> Decimal:
    """Bring the refunds booked for ``payment`` up to ``refunded_total``; what was booked now.

    ``refunded_total`` is the running total the gateway reports (Stripe's
    ``amount_refunded``), so a repeated or late-arriving older report books nothing. The
    new part is one REFUND entry (the customer's balance goes up by it); once everything
    is refunded the payment becomes REFUNDED and no longer counts against its bill.

    Raises PaymentStateError for a payment that is not SUCCEEDED (or already REFUNDED), and
    ValueError for a total above the payment's amount.
    """
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status not in (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED):
        raise PaymentStateError(f"status: payment is {locked.status}, not SUCCEEDED.")
    if refunded_total > locked.amount:
        raise ValueError(
            f"refunded_total: {refunded_total} is more than the payment's {locked.amount}."
        )
    already = payment_refunded_amount(locked)
    new = refunded_total - already
    if new <= 0:
        return Decimal("0.00")
    ledger_post(
        account=locked.account_id,
        kind=LedgerEntry.Kind.REFUND,
        amount=new,
        description=f"{locked.get_method_display()} refund",
        bill=locked.bill,
        payment=locked,
        actor_label=actor_label,
    )
    if refunded_total == locked.amount:
        locked.status = Payment.Status.REFUNDED
        locked.save(update_fields=["status"])
    payment.refresh_from_db()
    return new


@transaction.atomic
def payment_reinstate(*, payment: Payment, actor_label: str) -> bool:
    """RETURNED → SUCCEEDED: money taken back comes back again (a card dispute we won).

    Books the payment on the ledger once more. Returns False if it already stands; raises
    PaymentStateError for other states.
    """
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.status == Payment.Status.SUCCEEDED:
        return False
    if locked.status != Payment.Status.RETURNED:
        raise PaymentStateError(f"status: payment is {locked.status}, not RETURNED.")
    locked.status = Payment.Status.SUCCEEDED
    locked.return_reason = ""
    locked.save(update_fields=["status", "return_reason"])
    ledger_post(
        account=locked.account_id,
        kind=LedgerEntry.Kind.REINSTATED,
        amount=-locked.amount,
        description=f"{locked.get_method_display()} reinstated",
        payment=locked,
        actor_label=actor_label,
    )
    payment.refresh_from_db()
    return True
