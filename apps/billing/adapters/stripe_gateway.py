"""The real card gateway: Stripe PaymentIntents through the official ``stripe`` library.

Card details are typed into Stripe's Payment Element (an iframe served by Stripe) on the
one Wattline page that loads Stripe.js, so they never reach our servers (PCI DSS SAQ A).
Every API call has an explicit timeout and an idempotency key where it creates something.
See docs/decisions/0710-card-payments-gateway-port.md.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import stripe

from apps.billing.adapters.gateway import (
    GatewayError,
    GatewayEventData,
    GatewayIntent,
    event_data_from,
    from_minor_units,
    to_minor_units,
    verify_signed_event,
)

logger = logging.getLogger(__name__)

#: Seconds to wait for Stripe (connect and read) before giving up on one attempt.
HTTP_TIMEOUT_SECONDS = 10.0
#: Network errors and 409/429/5xx are retried by the library, with the same idempotency key.
MAX_NETWORK_RETRIES = 2


class StripeGateway:
    """PaymentIntents on Stripe; webhooks verified with the endpoint's signing secret."""

    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        http_client: stripe.HTTPClient | None = None,
        timeout: float = HTTP_TIMEOUT_SECONDS,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            api_key,
            http_client=http_client or stripe.RequestsClient(timeout=timeout),
            max_network_retries=MAX_NETWORK_RETRIES,
        )

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
        """Create a PaymentIntent for ``amount``. Raises GatewayError.

        Stripe only accepts ``return_url`` when confirming, which the Payment Element does
        in the browser; it is handed back on the intent for the page that confirms.
        """
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": to_minor_units(amount),
                    "currency": currency.lower(),
                    "automatic_payment_methods": {"enabled": True},
                    "description": f"Wattline bill {invoice_number}",
                    "metadata": {
                        "invoice_number": invoice_number,
                        "account_number": account_number,
                    },
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            logger.warning(
                "stripe intent create failed",
                extra={"invoice_number": invoice_number, "error": type(exc).__name__},
            )
            raise GatewayError(f"Stripe refused the payment intent: {exc}") from exc
        return self._intent(intent)

    def intent_retrieve(self, *, reference: str) -> GatewayIntent:
        """The PaymentIntent's current state. Raises GatewayError."""
        try:
            intent = self._client.v1.payment_intents.retrieve(reference)
        except stripe.StripeError as exc:
            logger.warning(
                "stripe intent retrieve failed",
                extra={"reference": reference, "error": type(exc).__name__},
            )
            raise GatewayError(f"Stripe could not return the payment intent: {exc}") from exc
        return self._intent(intent)

    def refund_create(self, *, reference: str, amount: Decimal, idempotency_key: str) -> str:
        """Refund ``amount`` of the PaymentIntent ``reference``; the ``re_…`` id.

        Raises GatewayError (Stripe refuses, for example, more than is left to refund).
        """
        try:
            refund = self._client.v1.refunds.create(
                params={
                    "payment_intent": reference,
                    "amount": to_minor_units(amount),
                    "reason": "requested_by_customer",
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            logger.warning(
                "stripe refund failed",
                extra={"reference": reference, "error": type(exc).__name__},
            )
            raise GatewayError(f"Stripe refused the refund: {exc}") from exc
        return str(refund.id)

    def parse_webhook(self, payload: bytes, signature_header: str) -> GatewayEventData:
        """Verify a Stripe delivery (``stripe.Webhook.construct_event``, 300 s tolerance).

        Raises WebhookSignatureError.
        """
        return event_data_from(
            verify_signed_event(payload, signature_header, secret=self._webhook_secret)
        )

    @staticmethod
    def _intent(intent: Any) -> GatewayIntent:
        return GatewayIntent(
            reference=str(intent.id),
            status=str(intent.status),
            amount=from_minor_units(int(intent.amount)),
            currency=str(intent.currency).upper(),
            client_secret=str(intent.client_secret or ""),
        )
