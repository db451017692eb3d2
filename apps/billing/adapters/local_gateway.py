"""The local twin of the card gateway, for development and tests.

It behaves like Stripe from billing's point of view: intents have ``pi_local_…`` ids,
the customer pays (or declines) on a hosted page (``/my/billing/pay/local/<reference>/``),
and the outcome arrives as a webhook signed with Stripe's scheme and
``settings.LOCAL_GATEWAY_WEBHOOK_SECRET``, which goes through the same verifier and the
same event handling as a real delivery. It stores nothing of its own: the intent is the
PENDING Payment row billing creates with ``gateway="local"``.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

from django.urls import reverse

from apps.billing.adapters.gateway import (
    FAILED,
    REFUNDED,
    SUCCEEDED,
    GatewayError,
    GatewayEventData,
    GatewayIntent,
    event_data_from,
    sign_payload,
    to_minor_units,
    verify_signed_event,
)
from apps.billing.models import Payment
from apps.billing.selectors import payment_refunded_amount
from apps.core import clock

#: The Stripe intent status that each state of the local intent's Payment row stands for.
_STATUS_OF_PAYMENT = {
    Payment.Status.PENDING: "requires_payment_method",
    Payment.Status.SUCCEEDED: "succeeded",
    Payment.Status.FAILED: "canceled",
    Payment.Status.RETURNED: "succeeded",
    Payment.Status.REFUNDED: "succeeded",
}
DECLINE_MESSAGE = "Your card was declined."


class LocalGateway:
    """Intents are PENDING Payment rows; outcomes are signed webhooks to ourselves."""

    name = "local"

    def __init__(self, *, webhook_secret: str) -> None:
        self._webhook_secret = webhook_secret

    def intent_create(
        self,
        *,
        amount: Decimal,
        currency: str,
        invoice_number: str,
        account_number: str,
        idempotency_key: str,
        return_url: str,
    ) -> GatewayIntent:
        """A new ``pi_local_…`` reference (the same one again for a repeated key)."""
        to_minor_units(amount)  # the same refusal of fractions of a cent as Stripe
        existing = (
            Payment.objects.filter(
                gateway=self.name,
                details__idempotency_key=idempotency_key,
                gateway_reference__isnull=False,
            )
            .values_list("gateway_reference", flat=True)
            .first()
        )
        reference = existing or f"pi_local_{secrets.token_hex(12)}"
        return GatewayIntent(
            reference=reference,
            status="requires_payment_method",
            amount=amount,
            currency=currency.upper(),
            redirect_url=self.page_url(reference),
        )

    def intent_retrieve(self, *, reference: str) -> GatewayIntent:
        """The intent's state, read from its Payment row. Raises GatewayError if unknown."""
        payment = Payment.objects.filter(gateway=self.name, gateway_reference=reference).first()
        if payment is None:
            raise GatewayError(f"No local intent {reference}.")
        return GatewayIntent(
            reference=reference,
            status=_STATUS_OF_PAYMENT[Payment.Status(payment.status)],
            amount=payment.amount,
            currency=payment.currency,
            redirect_url=self.page_url(reference),
        )

    def refund_create(self, *, reference: str, amount: Decimal, idempotency_key: str) -> str:
        """A ``re_local_…`` id; the local twin keeps no refunds, the webhook carries them.

        Refuses, as Stripe does, a refund of an intent that was never paid, or of more than
        is left on it. Raises GatewayError.
        """
        cents = to_minor_units(amount)  # the same refusal of fractions of a cent as Stripe
        payment = Payment.objects.filter(gateway=self.name, gateway_reference=reference).first()
        if payment is None or payment.status not in (
            Payment.Status.SUCCEEDED,
            Payment.Status.REFUNDED,
        ):
            raise GatewayError(f"Local intent {reference} has no charge to refund.")
        if cents <= 0 or amount > payment.amount - payment_refunded_amount(payment):
            raise GatewayError(f"Refund of {amount} exceeds what is left on {reference}.")
        return f"re_local_{idempotency_key[-24:]}"

    def signed_refund_event(
        self, *, payment: Payment, refunded_total: Decimal
    ) -> tuple[bytes, str]:
        """The ``charge.refunded`` delivery Stripe would send once ``refunded_total`` is back.

        ``refunded_total`` is the running total of every refund of the charge, as Stripe's
        ``amount_refunded`` is.
        """
        if not payment.gateway_reference:
            raise GatewayError("The payment has no local intent.")
        charge = {
            "id": f"ch_local_{payment.gateway_reference.removeprefix('pi_local_')}",
            "object": "charge",
            "payment_intent": payment.gateway_reference,
            "amount": to_minor_units(payment.amount),
            "amount_refunded": to_minor_units(refunded_total),
            "refunded": refunded_total == payment.amount,
            "currency": payment.currency.lower(),
            "status": "succeeded",
        }
        return self._signed(REFUNDED, charge)

    def parse_webhook(self, payload: bytes, signature_header: str) -> GatewayEventData:
        """Verify with the local secret, exactly as Stripe deliveries are verified."""
        return event_data_from(
            verify_signed_event(payload, signature_header, secret=self._webhook_secret)
        )

    @staticmethod
    def page_url(reference: str) -> str:
        return reverse("billing:local_gateway_page", args=[reference])

    def signed_event(self, *, payment: Payment, succeeded: bool) -> tuple[bytes, str]:
        """The webhook body and signature header the hosted page "sends" for ``payment``.

        The event has Stripe's shape (``evt_…`` id, ``payment_intent`` object, amount in
        cents), so it exercises the same parsing as a real delivery.
        """
        if not payment.gateway_reference:
            raise GatewayError("The payment has no local intent.")
        intent: dict[str, object] = {
            "id": payment.gateway_reference,
            "object": "payment_intent",
            "amount": to_minor_units(payment.amount),
            "currency": payment.currency.lower(),
            "status": "succeeded" if succeeded else "requires_payment_method",
            "metadata": {
                "invoice_number": payment.bill.invoice_number if payment.bill else "",
                "account_number": payment.account.number,
            },
        }
        if not succeeded:
            intent["last_payment_error"] = {"code": "card_declined", "message": DECLINE_MESSAGE}
        return self._signed(SUCCEEDED if succeeded else FAILED, intent)

    def _signed(self, event_type: str, obj: dict[str, object]) -> tuple[bytes, str]:
        now = clock.now()
        event = {
            "id": f"evt_local_{secrets.token_hex(12)}",
            "object": "event",
            "type": event_type,
            "created": int(now.timestamp()),
            "livemode": False,
            "data": {"object": obj},
        }
        payload = json.dumps(event, separators=(",", ":")).encode()
        header = sign_payload(payload, secret=self._webhook_secret, timestamp=int(now.timestamp()))
        return payload, header
