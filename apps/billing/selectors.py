"""Reads of bills, payments and balances, scoped to the person asking where customer-facing."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.accounts.models import Account, User
from apps.accounts.selectors import accounts_for_user
from apps.billing.models import Bill, LedgerEntry, Payment

ZERO = Decimal("0.00")
ISSUED_STATUSES = (Bill.Status.ISSUED, Bill.Status.CREDITED)


def bills_for_user(user: User) -> QuerySet[Bill]:
    """Issued bills and credit notes of every account ``user`` is a member of."""
    return Bill.objects.filter(
        account__in=accounts_for_user(user), status__in=ISSUED_STATUSES
    ).order_by("-issued_at", "-id")


def bill_for_user(user: User, bill_id: int | str) -> Bill:
    """The issued bill ``bill_id`` if it belongs to one of ``user``'s accounts; 404 otherwise."""
    try:
        return bills_for_user(user).select_related("account").get(pk=int(bill_id))
    except (Bill.DoesNotExist, ValueError, TypeError):
        raise Http404("No such bill") from None


def bills_of_account(account: Account) -> QuerySet[Bill]:
    return Bill.objects.filter(account=account, status__in=ISSUED_STATUSES).order_by(
        "-issued_at", "-id"
    )


def account_balance(account: Account | int) -> Decimal:
    """What the account owes (positive) or holds in credit (negative): the sum of its ledger."""
    total = LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    return total if total is not None else ZERO


def ledger_of_account(account: Account) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account).order_by("posted_at", "id")


def bill_paid_amount(bill: Bill) -> Decimal:
    """Money received against ``bill`` that still stands.

    Succeeded payments count, less what was refunded of them in part; returned and wholly
    refunded payments do not count. One query.
    """
    refunded = (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND, payment=OuterRef("pk"))
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    total = (
        Payment.objects.filter(bill=bill, status=Payment.Status.SUCCEEDED)
        .annotate(refunded=Coalesce(Subquery(refunded), ZERO))
        .aggregate(total=Sum(F("amount") - F("refunded")))["total"]
    )
    return total if total is not None else ZERO


def payment_refunded_amount(payment: Payment) -> Decimal:
    """How much of ``payment`` has been given back so far (sum of its refund entries)."""
    total = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.REFUND, payment_id=payment.pk
    ).aggregate(total=Sum("amount"))["total"]
    return total if total is not None else ZERO


def bill_open_amount(bill: Bill) -> Decimal:
    """What is still to pay on ``bill`` (never below zero; credit notes owe nothing)."""
    if bill.kind != Bill.Kind.BILL or bill.status != Bill.Status.ISSUED:
        return ZERO
    return max(bill.total - bill_paid_amount(bill), ZERO)


def bill_by_payment_reference(reference: str) -> Bill | None:
    cleaned = "".join(reference.split()).upper()
    if not cleaned:
        return None
    return (
        Bill.objects.filter(
            Q(payment_reference=cleaned) | Q(invoice_number=cleaned),
            kind=Bill.Kind.BILL,
            status__in=ISSUED_STATUSES,
        )
        .select_related("account")
        .first()
    )


def payments_of_account(account: Account) -> QuerySet[Payment]:
    return Payment.objects.filter(account=account).order_by("-created_at", "-id")
