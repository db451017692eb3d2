"""Card payments: start one for a bill, and act on what the gateway tells us afterwards.

The gateway is a port (:mod:`apps.billing.adapters.gateway`). Money is only booked when
the gateway's signed webhook says the intent succeeded, through the shared ledger
functions; the customer's return to our site never books anything. Every webhook event is
stored once per (gateway, event id), so a second delivery changes nothing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import Membership, User
from apps.accounts.selectors import accounts_for_user
from apps.billing import ledger
from apps.billing.adapters.gateway import (
    CANCELED,
    DISPUTE_FUNDS_REINSTATED,
    DISPUTE_FUNDS_WITHDRAWN,
    FAILED,
    REFUNDED,
    SIGNATURE_HEADER,
    SUCCEEDED,
    GatewayError,
    GatewayEventData,
    GatewayIntent,
    PaymentGateway,
    UnknownGatewayError,
    gateway_for,
    get_gateway,
    to_minor_units,
)
from apps.billing.adapters.local_gateway import LocalGateway
from apps.billing.models import Bill, GatewayEvent, Payment
from apps.billing.selectors import bill_open_amount, payment_refunded_amount
from apps.core import clock
from apps.core.audit import acting_as
from apps.core.notifications import notification_send

logger = logging.getLogger(__name__)

CURRENCY = "EUR"
NOTIFICATION_KIND = "payment_received"
REFUND_NOTIFICATION_KIND = "payment_refunded"


class CardPaymentError(Exception):
    """A card payment cannot be started; ``message`` is for the customer."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotYourBillError(CardPaymentError):
    """The bill does not belong to any account of the user."""


class BillNotPayableError(CardPaymentError):
    """Only issued bills (not drafts, credit notes or credited bills) can be paid."""


class NothingToPayError(CardPaymentError):
    """The bill is already paid in full."""


class GatewayUnavailableError(CardPaymentError):
    """The gateway could not be reached or refused the intent; nothing was stored."""


class EventOutcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    UNKNOWN_INTENT = "unknown_intent"
    MISMATCH = "mismatch"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class StartedPayment:
    payment: Payment
    intent: GatewayIntent
    created: bool

    @property
    def next_url(self) -> str:
        """Where the customer goes to pay: the gateway's page, or ours with its card form."""
        return self.intent.redirect_url or reverse("billing:card_checkout", args=[self.payment.pk])


def card_payment_start(
    *, bill: Bill, user: User, gateway: PaymentGateway | None = None
) -> StartedPayment:
    """Prepare a card payment of what is still open on ``bill``, on behalf of ``user``.

    Creates a PENDING card Payment carrying the gateway's intent reference. Idempotent:
    a PENDING card payment for the same bill and amount whose intent is still usable is
    handed back instead (``created=False``). The bill row is locked while deciding, so two
    clicks never make two intents.

    Raises NotYourBillError, BillNotPayableError, NothingToPayError, GatewayUnavailableError.
    """
    gw = gateway or get_gateway()
    if not accounts_for_user(user).filter(pk=bill.account_id).exists():
        raise NotYourBillError(_("This bill is not on any of your accounts."))
    with transaction.atomic():
        locked = Bill.objects.select_for_update().select_related("account").get(pk=bill.pk)
        if locked.kind != Bill.Kind.BILL or locked.status != Bill.Status.ISSUED:
            raise BillNotPayableError(_("Only an issued bill can be paid by card."))
        amount = bill_open_amount(locked)
        if amount <= 0:
            raise NothingToPayError(
                _("Bill %(number)s is already paid: there is nothing left to pay.")
                % {"number": locked.invoice_number}
            )
        try:
            reused = _reusable_payment(bill=locked, amount=amount, gateway=gw)
            if reused is not None:
                return reused
            return _new_card_payment(bill=locked, amount=amount, gateway=gw, user=user)
        except GatewayError as exc:
            logger.warning(
                "card payment start failed", extra={"bill_id": locked.pk, "error": str(exc)}
            )
            raise GatewayUnavailableError(
                _("The card payment service is not available right now. Please try again later.")
            ) from exc


def _reusable_payment(
    *, bill: Bill, amount: Decimal, gateway: PaymentGateway
) -> StartedPayment | None:
    pending = (
        Payment.objects.filter(
            bill=bill,
            method=Payment.Method.CARD,
            status=Payment.Status.PENDING,
            amount=amount,
            gateway=gateway.name,
            gateway_reference__isnull=False,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if pending is None or pending.gateway_reference is None:
        return None
    intent = gateway.intent_retrieve(reference=pending.gateway_reference)
    if intent.status == "canceled":
        ledger.payment_mark_failed(payment=pending, reason="intent canceled at the gateway")
        return None
    return StartedPayment(payment=pending, intent=intent, created=False)


def _new_card_payment(
    *, bill: Bill, amount: Decimal, gateway: PaymentGateway, user: User
) -> StartedPayment:
    attempt = Payment.objects.filter(bill=bill, method=Payment.Method.CARD).count() + 1
    # Deterministic: a retry after a rollback reaches the gateway with the same key and
    # gets the same intent back instead of a second one.
    key = f"wattline-bill-{bill.pk}-card-{attempt}-{to_minor_units(amount)}"
    payment = ledger.payment_record(
        account=bill.account,
        amount=amount,
        method=Payment.Method.CARD,
        status=Payment.Status.PENDING,
        bill=bill,
        gateway=gateway.name,
        gateway_reference=None,
        actor=user,
        actor_label=f"customer:{user.pk}",
        currency=CURRENCY,
        details={"idempotency_key": key, "started_by": user.pk},
    )
    intent = gateway.intent_create(
        amount=amount,
        currency=CURRENCY,
        invoice_number=bill.invoice_number or "",
        account_number=bill.account.number,
        idempotency_key=key,
        return_url=_absolute(reverse("billing:card_return", args=[payment.pk])),
    )
    if intent.amount != amount:
        raise GatewayError(
            f"Gateway intent {intent.reference} is for {intent.amount}, not {amount}."
        )
    with acting_as(user):
        payment.gateway_reference = intent.reference
        payment.save(update_fields=["gateway_reference"])
    logger.info(
        "card payment started",
        extra={"payment_id": payment.pk, "bill_id": bill.pk, "gateway": gateway.name},
    )
    return StartedPayment(payment=payment, intent=intent, created=True)


def _absolute(path: str) -> str:
    return f"{str(settings.WATTLINE_PUBLIC_URL).rstrip('/')}{path}"


def webhook_receive(
    *, gateway_name: str, payload: bytes, headers: Mapping[str, str]
) -> EventOutcome:
    """Verify one webhook delivery for ``gateway_name`` and handle its event.

    Raises UnknownGatewayError (not the configured gateway) and WebhookSignatureError
    (bad, missing or stale signature; nothing is stored).
    """
    gateway = gateway_for(gateway_name)
    event = gateway.parse_webhook(payload, headers.get(SIGNATURE_HEADER, ""))
    return gateway_event_handle(gateway=gateway.name, event=event)


@transaction.atomic
def gateway_event_handle(*, gateway: str, event: GatewayEventData) -> EventOutcome:
    """Store a verified gateway event once and apply it to its payment.

    A second delivery of the same (gateway, event id) is a no-op (``DUPLICATE``).
    ``payment_intent.succeeded`` books the payment on the ledger and notifies the payer;
    ``payment_intent.payment_failed`` / ``.canceled`` mark a pending payment failed. An
    intent we do not know is stored and logged (``UNKNOWN_INTENT``), an amount or currency
    that differs from ours is stored, logged and not booked (``MISMATCH``), a success for
    a payment already returned or refunded is stored and logged (``CONFLICT``); these are
    left unprocessed (``processed_at`` empty) for staff. ``charge.refunded`` books what was
    refunded beyond what is already booked (see :func:`_apply_refund`); a dispute's
    ``funds_withdrawn`` returns the payment and ``funds_reinstated`` books it again (see
    :func:`_apply_dispute`). Other event types are stored and ``IGNORED``.
    Raises nothing for anticipated outcomes (the gateway should not retry them).
    """
    now = clock.now()
    try:
        with transaction.atomic():
            stored = GatewayEvent.objects.create(
                gateway=gateway,
                event_id=event.event_id,
                event_type=event.event_type,
                received_at=now,
                payload=event.payload,
            )
    except IntegrityError:
        logger.info("gateway event duplicate", extra={"gateway": gateway, "event": event.event_id})
        return EventOutcome.DUPLICATE
    outcome = _apply(gateway=gateway, event=event)
    stored.outcome = outcome.value
    if outcome in (EventOutcome.PROCESSED, EventOutcome.IGNORED):
        stored.processed_at = now
    stored.save(update_fields=["outcome", "processed_at"])
    return outcome


def _apply(*, gateway: str, event: GatewayEventData) -> EventOutcome:
    if event.event_type not in _HANDLED:
        return EventOutcome.IGNORED
    payment = (
        Payment.objects.select_related("bill", "account")
        .filter(gateway=gateway, gateway_reference=event.intent_id)
        .first()
        if event.intent_id
        else None
    )
    if payment is None:
        logger.warning(
            "gateway event for unknown intent",
            extra={"gateway": gateway, "event": event.event_id, "intent": event.intent_id},
        )
        return EventOutcome.UNKNOWN_INTENT
    if event.event_type == REFUNDED:
        return _apply_refund(gateway=gateway, event=event, payment=payment)
    if event.event_type in (DISPUTE_FUNDS_WITHDRAWN, DISPUTE_FUNDS_REINSTATED):
        return _apply_dispute(gateway=gateway, event=event, payment=payment)
    if event.event_type != SUCCEEDED:
        ledger.payment_mark_failed(payment=payment, reason=event.failure_message or event.status)
        return EventOutcome.PROCESSED
    if event.amount != payment.amount or event.currency != payment.currency.upper():
        logger.error(
            "gateway amount differs from payment",
            extra={
                "gateway": gateway,
                "event": event.event_id,
                "payment_id": payment.pk,
                "event_amount": str(event.amount),
                "event_currency": event.currency,
            },
        )
        return EventOutcome.MISMATCH
    if payment.status == Payment.Status.FAILED:
        # Stripe lets the customer try another card on the same intent after a decline,
        # so a failure is not final there: the later success reopens and books it.
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == Payment.Status.FAILED:
            payment.status = Payment.Status.PENDING
            payment.save(update_fields=["status"])
    try:
        booked = ledger.payment_mark_succeeded(
            payment=payment, received_at=event.created_at, actor_label=f"gateway:{gateway}"
        )
    except ledger.PaymentStateError:
        logger.error(
            "gateway success for a settled payment",
            extra={"gateway": gateway, "event": event.event_id, "payment_id": payment.pk},
        )
        return EventOutcome.CONFLICT
    if booked:
        _notify_paid(payment)
    return EventOutcome.PROCESSED


_HANDLED = (
    SUCCEEDED,
    FAILED,
    CANCELED,
    REFUNDED,
    DISPUTE_FUNDS_WITHDRAWN,
    DISPUTE_FUNDS_REINSTATED,
)
#: The return reason stored on a card payment taken back by a dispute (SEPA-style, 4 chars).
DISPUTE_REASON_CODE = "DISP"


def _apply_refund(*, gateway: str, event: GatewayEventData, payment: Payment) -> EventOutcome:
    """Book the part of the charge's running refund total that is not booked yet.

    A total above the payment, or in another currency, is ``MISMATCH``; a refund of a
    payment we never booked or that a dispute took back is ``CONFLICT``. Both are left for
    staff. A repeated or older report books nothing and is ``PROCESSED``.
    """
    total = event.amount_refunded
    if total is None or total > payment.amount or event.currency != payment.currency.upper():
        logger.error(
            "gateway refund does not fit the payment",
            extra={
                "gateway": gateway,
                "event": event.event_id,
                "payment_id": payment.pk,
                "amount_refunded": str(total),
                "event_currency": event.currency,
            },
        )
        return EventOutcome.MISMATCH
    try:
        booked = ledger.payment_refund_to(
            payment=payment, refunded_total=total, actor_label=f"gateway:{gateway}"
        )
    except ledger.PaymentStateError:
        logger.error(
            "gateway refund for a payment that does not stand",
            extra={"gateway": gateway, "event": event.event_id, "payment_id": payment.pk},
        )
        return EventOutcome.CONFLICT
    if booked > 0:
        number = payment.bill.invoice_number if payment.bill else ""

        def refunded() -> tuple[str, str]:
            return _("Refund on its way"), _(
                "We refunded %(amount)s %(currency)s of your card payment for bill %(number)s. "
                "Your bank usually shows it within 5 to 10 days."
            ) % {"amount": booked, "currency": payment.currency, "number": number}

        _notify(
            payment,
            kind=REFUND_NOTIFICATION_KIND,
            message=refunded,
            dedupe_key=f"payment:{payment.pk}:refund:{total}",
        )
    return EventOutcome.PROCESSED


def _apply_dispute(*, gateway: str, event: GatewayEventData, payment: Payment) -> EventOutcome:
    """A chargeback takes the payment back (the bill is open again); a won dispute restores it.

    Only a dispute of the whole payment is booked: another amount is ``MISMATCH``, and a
    dispute of a payment that was refunded in part, or never booked, is ``CONFLICT``.
    """
    if event.amount != payment.amount or event.currency != payment.currency.upper():
        logger.error(
            "gateway dispute amount differs from payment",
            extra={
                "gateway": gateway,
                "event": event.event_id,
                "payment_id": payment.pk,
                "event_amount": str(event.amount),
            },
        )
        return EventOutcome.MISMATCH
    label = f"gateway:{gateway}"
    try:
        if event.event_type == DISPUTE_FUNDS_WITHDRAWN:
            if payment.status == Payment.Status.SUCCEEDED and payment_refunded_amount(payment):
                raise ledger.PaymentStateError("status: payment was partly refunded.")
            ledger.payment_mark_returned(
                payment=payment, reason_code=DISPUTE_REASON_CODE, actor_label=label
            )
            logger.warning(
                "card payment disputed",
                extra={"payment_id": payment.pk, "reason": event.reason, "event": event.event_id},
            )
        else:
            ledger.payment_reinstate(payment=payment, actor_label=label)
    except ledger.PaymentStateError:
        logger.error(
            "gateway dispute for a payment in another state",
            extra={"gateway": gateway, "event": event.event_id, "payment_id": payment.pk},
        )
        return EventOutcome.CONFLICT
    return EventOutcome.PROCESSED


def _notify_paid(payment: Payment) -> None:
    number = payment.bill.invoice_number if payment.bill else ""

    def received() -> tuple[str, str]:
        return _("Payment received"), _(
            "We received your card payment of %(amount)s %(currency)s for bill %(number)s. "
            "Thank you."
        ) % {"amount": payment.amount, "currency": payment.currency, "number": number}

    _notify(
        payment,
        kind=NOTIFICATION_KIND,
        message=received,
        dedupe_key=f"payment:{payment.pk}:succeeded",
    )


def _notify(
    payment: Payment,
    *,
    kind: str,
    message: Callable[[], tuple[str, str]],
    dedupe_key: str,
) -> None:
    """Tell whoever started ``payment`` (or the account's owners) in-app and by email,
    each in their own language (``message`` gives the title and body in the active one)."""
    payer_id = payment.details.get("started_by")
    users = list(User.objects.filter(pk=payer_id)) if payer_id else []
    if not users:
        users = [
            m.user
            for m in Membership.objects.filter(
                account_id=payment.account_id, role=Membership.Role.OWNER
            )
            .select_related("user")
            .order_by("id")
        ]
    for user in users:
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            title, body = message()
        notification_send(
            user=user,
            kind=kind,
            title=title,
            body=body,
            url=reverse("billing:card_return", args=[payment.pk]),
            dedupe_key=dedupe_key,
        )


def card_payment_for_user(user: User, payment_id: int | str) -> Payment:
    """The card payment ``payment_id`` if it is on one of ``user``'s accounts; 404 otherwise."""
    try:
        return Payment.objects.select_related("bill", "account").get(
            pk=int(payment_id), method=Payment.Method.CARD, account__in=accounts_for_user(user)
        )
    except (Payment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such payment") from None


def local_intent_for_user(user: User, reference: str) -> Payment:
    """The local-gateway payment ``reference`` if it is on one of ``user``'s accounts; 404."""
    payment = (
        Payment.objects.select_related("bill", "account")
        .filter(gateway="local", gateway_reference=reference, account__in=accounts_for_user(user))
        .first()
    )
    if payment is None:
        raise Http404("No such payment")
    return payment


class RefundError(Exception):
    """A refund cannot be made; ``message`` is for staff, ``field`` the form field at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def card_refund_request(
    *, payment: Payment, amount: Decimal, actor: User, gateway: PaymentGateway | None = None
) -> str:
    """Ask the gateway to give back ``amount`` of a card payment; the gateway's refund id.

    Nothing is booked here: the refund is booked when the gateway's ``charge.refunded``
    event arrives (the local twin delivers it at once). The request is recorded on the
    payment's details under ``actor``, so the audit trail shows who asked for what. The
    payment row stays locked while asking, and requested refunds count against what is
    left until the gateway confirms them, so two clicks cannot refund twice. The
    idempotency key names the payment and the request's place in its list, so a retry
    after a lost answer asks for the same refund again.

    Raises RefundError (not a card payment, not standing, an amount that is not positive,
    has fractions of a cent or exceeds what is left, or the gateway refused).
    """
    if payment.method != Payment.Method.CARD:
        raise RefundError(_("Only a card payment can be refunded to the card."))
    try:
        gw = gateway or gateway_for(payment.gateway)
    except UnknownGatewayError:
        raise RefundError(
            _("This payment was taken through %(gateway)s, which is not in use here any more.")
            % {"gateway": payment.gateway}
        ) from None
    with transaction.atomic():
        locked = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("bill")
            .get(pk=payment.pk)
        )
        if locked.method != Payment.Method.CARD or locked.gateway != gw.name:
            raise RefundError(_("Only a card payment can be refunded to the card."))
        if locked.status != Payment.Status.SUCCEEDED:
            raise RefundError(
                _("Payment is %(status)s: only a received payment can be refunded.")
                % {"status": locked.get_status_display()}
            )
        requests = [*locked.details.get("refund_requests", [])]
        # Refunds asked for here but not yet confirmed by the gateway count as given, so
        # a second click (or a second person) cannot refund the same money twice; refunds
        # made on the gateway's own dashboard only show once they are booked.
        refunded = max(
            payment_refunded_amount(locked),
            sum((Decimal(r["amount"]) for r in requests), Decimal("0.00")),
        )
        left = locked.amount - refunded
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise RefundError(
                _("Amount: enter a positive amount in euros and cents."), field="amount"
            )
        if amount > left:
            raise RefundError(
                _("Amount: at most %(left)s %(currency)s is left to refund on this payment.")
                % {"left": left, "currency": locked.currency},
                field="amount",
            )
        key = f"wattline-payment-{locked.pk}-refund-{len(requests) + 1}-{to_minor_units(amount)}"
        try:
            refund_id = gw.refund_create(
                reference=locked.gateway_reference or "", amount=amount, idempotency_key=key
            )
        except GatewayError as exc:
            logger.warning("card refund failed", extra={"payment_id": locked.pk, "error": str(exc)})
            raise RefundError(
                _("The card gateway refused the refund: %(error)s") % {"error": exc}
            ) from exc
        requests.append(
            {
                "refund": refund_id,
                "amount": str(amount),
                "by": actor.pk,
                "at": clock.now().isoformat(),
            }
        )
        with acting_as(actor):
            locked.details = {**locked.details, "refund_requests": requests}
            locked.save(update_fields=["details"])
    if isinstance(gw, LocalGateway):
        payload, header = gw.signed_refund_event(payment=locked, refunded_total=refunded + amount)
        webhook_receive(gateway_name=gw.name, payload=payload, headers={SIGNATURE_HEADER: header})
    payment.refresh_from_db()
    return refund_id
