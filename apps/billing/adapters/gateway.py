"""The payment-gateway port: what billing needs from a card processor, and nothing more.

Two adapters implement it: :mod:`.stripe_gateway` (the real one) and :mod:`.local_gateway`
(development and tests). Both speak Stripe's vocabulary for intent statuses and event
types, and both sign webhooks with Stripe's scheme, so one verifier (:func:`verify_signed_event`)
serves every gateway. No card data ever reaches Wattline: the customer types it on the
gateway's own page or in the gateway's own iframe.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.core.money import CENT

#: Stripe signs with HMAC-SHA256 over "<timestamp>.<payload>"; older signatures are refused.
WEBHOOK_TOLERANCE_SECONDS = 300
#: Both gateways send their signature in this header ("t=<unix time>,v1=<hex hmac>").
SIGNATURE_HEADER = "Stripe-Signature"

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
CANCELED = "payment_intent.canceled"
#: The charge behind an intent was refunded, wholly or in part (``amount_refunded`` is the
#: running total of every refund of that charge, so each delivery carries the whole story).
REFUNDED = "charge.refunded"
#: A card dispute (chargeback): the money is taken back, and returned if the dispute is won.
DISPUTE_FUNDS_WITHDRAWN = "charge.dispute.funds_withdrawn"
DISPUTE_FUNDS_REINSTATED = "charge.dispute.funds_reinstated"


class GatewayError(Exception):
    """The gateway could not be reached, or refused the request (message is for staff logs)."""


class WebhookSignatureError(Exception):
    """A webhook's signature is missing, malformed, wrong, or its timestamp is too old."""


class WebhookPayloadError(WebhookSignatureError):
    """A correctly signed webhook whose body is not an event we can read."""


class UnknownGatewayError(LookupError):
    """No gateway of that name is configured here."""


@dataclass(frozen=True, slots=True)
class GatewayIntent:
    """A payment intent as the gateway sees it.

    ``reference`` is the gateway's id (``pi_…``); ``status`` uses Stripe's vocabulary
    (``requires_payment_method``, ``processing``, ``succeeded``, ``canceled`` …). A gateway
    with its own hosted page sets ``redirect_url``; one whose card form is embedded in our
    page (Stripe Elements) sets ``client_secret`` instead.
    """

    reference: str
    status: str
    amount: Decimal
    currency: str
    client_secret: str = ""
    redirect_url: str = ""

    @property
    def is_open(self) -> bool:
        """Whether the customer can still pay with this intent."""
        return self.status not in ("succeeded", "canceled")


@dataclass(frozen=True, slots=True)
class GatewayEventData:
    """A verified webhook event, reduced to what billing acts on (plus the raw event)."""

    event_id: str
    event_type: str
    intent_id: str | None
    amount: Decimal | None
    currency: str
    status: str
    created_at: dt.datetime | None
    failure_message: str = ""
    #: For ``charge.refunded``: everything refunded on the charge so far.
    amount_refunded: Decimal | None = None
    #: For disputes: the cardholder's reason (``fraudulent``, ``duplicate`` …).
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class PaymentGateway(Protocol):
    """What billing asks of a card gateway."""

    #: Stored on Payment.gateway and GatewayEvent.gateway; also the webhook URL segment.
    name: str

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
        """Ask the gateway to prepare a payment of ``amount``. Raises GatewayError.

        Sending the same ``idempotency_key`` again returns the same intent.
        """
        ...

    def intent_retrieve(self, *, reference: str) -> GatewayIntent:
        """The intent's current state at the gateway. Raises GatewayError."""
        ...

    def refund_create(self, *, reference: str, amount: Decimal, idempotency_key: str) -> str:
        """Ask the gateway to give back ``amount`` of the intent ``reference``; its refund id.

        The money is booked when the gateway's ``charge.refunded`` event arrives, not here.
        Sending the same ``idempotency_key`` again asks for nothing more. Raises GatewayError.
        """
        ...

    def parse_webhook(self, payload: bytes, signature_header: str) -> GatewayEventData:
        """Verify and read one webhook delivery. Raises WebhookSignatureError."""
        ...


def to_minor_units(amount: Decimal) -> int:
    """Euros (2 decimal places) to cents, refusing fractions of a cent."""
    if amount != amount.quantize(CENT):
        raise ValueError(f"amount: {amount} is not a whole number of cents.")
    return int(amount * 100)


def from_minor_units(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def sign_payload(payload: bytes, *, secret: str, timestamp: int) -> str:
    """The signature header a gateway sends with ``payload`` (Stripe's ``t=…,v1=…`` scheme)."""
    return str(
        stripe.WebhookSignature.generate_signature_header(
            payload.decode("utf-8"), secret, timestamp=timestamp
        )
    )


def verify_signed_event(payload: bytes, signature_header: str, *, secret: str) -> dict[str, Any]:
    """Check ``signature_header`` against ``payload`` and return the event as a dict.

    Uses ``stripe.Webhook.construct_event`` (HMAC-SHA256, constant-time comparison,
    300 s tolerance). Raises WebhookSignatureError for a missing, malformed or wrong
    signature, an empty secret, or a stale timestamp; WebhookPayloadError for a body
    that is not a JSON event.
    """
    if not secret:
        raise WebhookSignatureError("No webhook secret is configured for this gateway.")
    try:
        stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise WebhookSignatureError(str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookPayloadError(f"Body is not a JSON event: {exc}") from None
    data = json.loads(payload)
    if not isinstance(data, dict) or not data.get("id") or not data.get("type"):
        raise WebhookPayloadError("Body is not an event (no id or type).")
    return data


def event_data_from(data: dict[str, Any]) -> GatewayEventData:
    """Reduce a Stripe-shaped event dict to :class:`GatewayEventData`.

    Intent events name the intent by their object's id; charge and dispute events by the
    object's ``payment_intent``. ``amount`` is the intent's, the charge's or the disputed
    amount.
    """
    obj = (data.get("data") or {}).get("object") or {}
    kind = obj.get("object")
    if kind == "payment_intent":
        intent_id = obj.get("id")
    elif kind in ("charge", "dispute"):
        intent_id = obj.get("payment_intent")
    else:
        intent_id = None
    cents = obj.get("amount") if intent_id else None
    refunded = obj.get("amount_refunded") if kind == "charge" else None
    created = data.get("created")
    failure = obj.get("last_payment_error") or {}
    return GatewayEventData(
        event_id=str(data["id"]),
        event_type=str(data["type"]),
        intent_id=str(intent_id) if isinstance(intent_id, str) and intent_id else None,
        amount=from_minor_units(int(cents)) if isinstance(cents, int) else None,
        currency=str(obj.get("currency") or "").upper(),
        status=str(obj.get("status") or ""),
        created_at=dt.datetime.fromtimestamp(created, tz=dt.UTC)
        if isinstance(created, int)
        else None,
        failure_message=str(failure.get("message") or "") if isinstance(failure, dict) else "",
        amount_refunded=from_minor_units(refunded) if isinstance(refunded, int) else None,
        reason=str(obj.get("reason") or "") if kind == "dispute" else "",
        payload=data,
    )


def gateway_for(name: str) -> PaymentGateway:
    """The gateway called ``name`` if it is the one this installation uses.

    Only the configured gateway (``settings.PAYMENT_GATEWAY``) is reachable, so a
    production site never accepts events signed with the public local-development
    secret. Raises UnknownGatewayError otherwise, ImproperlyConfigured for missing keys.
    """
    if name != settings.PAYMENT_GATEWAY:
        raise UnknownGatewayError(name)
    if name == "local":
        from apps.billing.adapters.local_gateway import LocalGateway

        return LocalGateway(webhook_secret=settings.LOCAL_GATEWAY_WEBHOOK_SECRET)
    if name == "stripe":
        from apps.billing.adapters.stripe_gateway import StripeGateway

        if not settings.STRIPE_SECRET_KEY or not settings.STRIPE_WEBHOOK_SECRET:
            raise ImproperlyConfigured(
                "PAYMENT_GATEWAY is 'stripe' but STRIPE_SECRET_KEY or "
                "STRIPE_WEBHOOK_SECRET is empty."
            )
        return StripeGateway(
            api_key=settings.STRIPE_SECRET_KEY, webhook_secret=settings.STRIPE_WEBHOOK_SECRET
        )
    raise UnknownGatewayError(name)


def get_gateway() -> PaymentGateway:
    """The gateway this installation uses (``settings.PAYMENT_GATEWAY``: local or stripe)."""
    return gateway_for(str(settings.PAYMENT_GATEWAY))
