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
        now = clock.now()
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
        event = {
            "id": f"evt_local_{secrets.token_hex(12)}",
            "object": "event",
            "type": SUCCEEDED if succeeded else FAILED,
            "created": int(now.timestamp()),
            "livemode": False,
            "data": {"object": intent},
        }
        payload = json.dumps(event, separators=(",", ":")).encode()
        header = sign_payload(payload, secret=self._webhook_secret, timestamp=int(now.timestamp()))
        return payload, header
