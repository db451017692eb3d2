"""Card payments through the gateway port: local twin end to end, webhooks, Stripe adapter."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe
from django.test import Client
from django.urls import reverse

from apps.billing import ledger
from apps.billing.adapters.gateway import (
    GatewayError,
    WebhookSignatureError,
    get_gateway,
)
from apps.billing.adapters.local_gateway import LocalGateway
from apps.billing.adapters.stripe_gateway import StripeGateway
from apps.billing.models import Bill, GatewayEvent, LedgerEntry, Payment
from apps.billing.payments import EventOutcome, card_payment_start
from apps.billing.selectors import account_balance
from apps.billing.tests.factories import issued_bill, make_account
from apps.core.models import Notification

pytestmark = pytest.mark.django_db

LOCAL_SECRET = "whsec_local_test_secret"
STRIPE_SECRET = "whsec_stripe_test_secret"


@pytest.fixture(autouse=True)
def _local_gateway(settings: Any) -> None:
    settings.PAYMENT_GATEWAY = "local"
    settings.LOCAL_GATEWAY_WEBHOOK_SECRET = LOCAL_SECRET


@pytest.fixture
def account(customer: Any) -> Any:
    return make_account(customer)


@pytest.fixture
def bill(account: Any) -> Bill:
    return issued_bill(account=account, total=Decimal("61.25"))


@pytest.fixture
def client_for() -> Any:
    def _client(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _client


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header Stripe sends: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<body>") in hex."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def intent_event(
    reference: str,
    *,
    event_id: str = "evt_1",
    event_type: str = "payment_intent.succeeded",
    cents: int = 6125,
    currency: str = "eur",
) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": reference,
                    "object": "payment_intent",
                    "amount": cents,
                    "currency": currency,
                    "status": "succeeded"
                    if event_type.endswith("succeeded")
                    else "requires_payment_method",
                }
            },
        }
    ).encode()


def post_webhook(payload: bytes, header: str | None, gateway: str = "local") -> Any:
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
    return Client().post(
        f"/webhooks/payments/{gateway}/", data=payload, content_type="application/json", **extra
    )


def start(bill: Bill, user: Any) -> Payment:
    return card_payment_start(bill=bill, user=user).payment


# -- the local gateway, end to end --------------------------------------------------------


def test_customer_pays_bill_by_card_on_local_gateway(customer, account, bill, client_for) -> None:
    client = client_for(customer)
    response = client.post(reverse("billing:card_pay", args=[bill.pk]))
    payment = Payment.objects.get(bill=bill)
    assert payment.status == Payment.Status.PENDING
    assert payment.method == Payment.Method.CARD
    assert payment.gateway == "local"
    assert payment.amount == Decimal("61.25")
    assert payment.gateway_reference is not None
    assert payment.gateway_reference.startswith("pi_local_")
    page = f"/my/billing/pay/local/{payment.gateway_reference}/"
    assert response.status_code == 302
    assert response["Location"] == page

    shown = client.get(page)
    assert shown.status_code == 200
    assert "61.25 EUR" in shown.content.decode()
    assert bill.invoice_number in shown.content.decode()

    paid = client.post(page, {"action": "pay"})
    assert paid.status_code == 302
    assert paid["Location"] == f"/my/billing/payments/{payment.pk}/return/"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.received_at is not None
    entry = LedgerEntry.objects.get(payment=payment)
    assert (entry.kind, entry.amount, entry.actor_label) == (
        LedgerEntry.Kind.PAYMENT,
        Decimal("-61.25"),
        "gateway:local",
    )
    assert account_balance(account) == Decimal("0.00")
    event = GatewayEvent.objects.get()
    assert (event.gateway, event.event_type) == ("local", "payment_intent.succeeded")
    assert event.processed_at is not None
    note = Notification.objects.get(user=customer, kind="payment_received")
    assert note.dedupe_key == f"payment:{payment.pk}:succeeded"
    assert note.url == f"/my/billing/payments/{payment.pk}/return/"
    assert bill.invoice_number in note.body

    back = client.get(paid["Location"])
    assert back.status_code == 200
    assert "Payment received" in back.content.decode()
    # The bill is settled: the gateway page now only shows the outcome.
    again = client.get(page)
    assert 'value="pay"' not in again.content.decode()


def test_customer_declines_on_local_gateway(customer, account, bill, client_for) -> None:
    client = client_for(customer)
    client.post(reverse("billing:card_pay", args=[bill.pk]))
    payment = Payment.objects.get(bill=bill)
    response = client.post(
        f"/my/billing/pay/local/{payment.gateway_reference}/", {"action": "decline"}
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.details["failure"] == "Your card was declined."
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).exists()
    assert account_balance(account) == Decimal("61.25")
    assert not Notification.objects.filter(kind="payment_received").exists()
    page = client.get(response["Location"]).content.decode()
    assert "Payment not completed" in page
    assert "Your card was declined." in page

    # Trying again makes a new intent; the failed one stays as it was.
    client.post(reverse("billing:card_pay", args=[bill.pk]))
    second = Payment.objects.exclude(pk=payment.pk).get(bill=bill)
    assert second.status == Payment.Status.PENDING
    assert second.gateway_reference != payment.gateway_reference
    assert second.details["idempotency_key"] == f"wattline-bill-{bill.pk}-card-2-6125"


def test_starting_twice_reuses_the_pending_payment(customer, bill, client_for) -> None:
    client = client_for(customer)
    first = client.post(reverse("billing:card_pay", args=[bill.pk]))
    second = client.post(reverse("billing:card_pay", args=[bill.pk]))
    payment = Payment.objects.get(bill=bill)
    assert (
        first["Location"]
        == second["Location"]
        == (f"/my/billing/pay/local/{payment.gateway_reference}/")
    )
    assert payment.details["idempotency_key"] == f"wattline-bill-{bill.pk}-card-1-6125"


def test_paying_a_bill_with_nothing_open_is_refused(customer, account, bill, client_for) -> None:
    ledger.payment_record(
        account=account,
        amount=Decimal("61.25"),
        method=Payment.Method.BANK_TRANSFER,
        bill=bill,
        actor_label="test",
    )
    response = client_for(customer).post(reverse("billing:card_pay", args=[bill.pk]))
    assert response.status_code == 409
    assert (
        f"Bill {bill.invoice_number} is already paid: there is nothing left to pay."
        in response.content.decode()
    )
    assert not Payment.objects.filter(method=Payment.Method.CARD).exists()


def test_card_pay_needs_post_and_sign_in(customer, bill, client_for) -> None:
    url = reverse("billing:card_pay", args=[bill.pk])
    assert client_for(customer).get(url).status_code == 405
    anonymous = Client().post(url)
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]
    assert not Payment.objects.exists()


def test_another_customer_cannot_pay_or_see_someone_elses_payment(
    customer, other_customer, bill, client_for
) -> None:
    intruder = client_for(other_customer)
    make_account(other_customer, name="Bruno")
    assert intruder.post(reverse("billing:card_pay", args=[bill.pk])).status_code == 404
    assert not Payment.objects.exists()

    payment = start(bill, customer)
    assert intruder.get(reverse("billing:card_return", args=[payment.pk])).status_code == 404
    page = f"/my/billing/pay/local/{payment.gateway_reference}/"
    assert intruder.get(page).status_code == 404
    assert intruder.post(page, {"action": "pay"}).status_code == 404
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not GatewayEvent.objects.exists()


def test_return_page_refreshes_its_status_while_pending(customer, bill, client_for) -> None:
    client = client_for(customer)
    payment = start(bill, customer)
    url = reverse("billing:card_return", args=[payment.pk])
    page = client.get(url).content.decode()
    assert "Waiting for confirmation" in page
    assert f'hx-get="{url}"' in page
    partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<section id="payment-status"')
    assert "<html" not in partial
    # A local payment has no card form of ours: the card page sends it to its status.
    card = client.get(reverse("billing:card_checkout", args=[payment.pk]))
    assert card.status_code == 302
    assert card["Location"] == url


# -- the webhook endpoint -----------------------------------------------------------------


def test_webhook_with_valid_signature_books_the_payment(customer, account, bill) -> None:
    payment = start(bill, customer)
    body = intent_event(payment.gateway_reference or "")
    response = post_webhook(body, stripe_signature(body, LOCAL_SECRET))
    assert response.status_code == 200
    assert response.json() == {"outcome": "processed"}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert account_balance(account) == Decimal("0.00")
    assert GatewayEvent.objects.get().event_id == "evt_1"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=123",
        "garbage",
        "wrong-secret",
        "stale",
        "tampered",
    ],
)
def test_webhook_with_bad_signature_is_refused_and_stores_nothing(
    customer, account, bill, header
) -> None:
    payment = start(bill, customer)
    body = intent_event(payment.gateway_reference or "")
    if header == "wrong-secret":
        header = stripe_signature(body, "whsec_someone_else")
    elif header == "stale":
        header = stripe_signature(body, LOCAL_SECRET, timestamp=int(time.time()) - 301)
    elif header == "tampered":
        header = stripe_signature(body, LOCAL_SECRET)
        body = body.replace(b"6125", b"1")
    response = post_webhook(body, header)
    assert response.status_code == 400
    assert not GatewayEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert account_balance(account) == Decimal("61.25")


def test_duplicate_delivery_changes_nothing(customer, account, bill) -> None:
    payment = start(bill, customer)
    body = intent_event(payment.gateway_reference or "")
    assert post_webhook(body, stripe_signature(body, LOCAL_SECRET)).json() == {
        "outcome": "processed"
    }
    entries = list(LedgerEntry.objects.order_by("id").values_list("id", "amount"))
    second = post_webhook(body, stripe_signature(body, LOCAL_SECRET))
    assert second.status_code == 200
    assert second.json() == {"outcome": "duplicate"}
    assert list(LedgerEntry.objects.order_by("id").values_list("id", "amount")) == entries
    assert GatewayEvent.objects.count() == 1
    assert Notification.objects.filter(kind="payment_received").count() == 1
    assert account_balance(account) == Decimal("0.00")


def test_event_for_unknown_intent_is_stored_and_acknowledged(customer, account, bill) -> None:
    body = intent_event("pi_local_nobody", event_id="evt_unknown")
    response = post_webhook(body, stripe_signature(body, LOCAL_SECRET))
    assert response.json() == {"outcome": "unknown_intent"}
    event = GatewayEvent.objects.get()
    assert (event.event_id, event.processed_at) == ("evt_unknown", None)
    assert account_balance(account) == Decimal("61.25")


def test_event_with_another_amount_is_not_booked(customer, account, bill) -> None:
    payment = start(bill, customer)
    body = intent_event(payment.gateway_reference or "", cents=100)
    assert post_webhook(body, stripe_signature(body, LOCAL_SECRET)).json() == {
        "outcome": "mismatch"
    }
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert GatewayEvent.objects.get().processed_at is None
    assert account_balance(account) == Decimal("61.25")


def test_success_after_a_declined_attempt_is_booked(customer, account, bill) -> None:
    payment = start(bill, customer)
    reference = payment.gateway_reference or ""
    failed = intent_event(reference, event_id="evt_f", event_type="payment_intent.payment_failed")
    post_webhook(failed, stripe_signature(failed, LOCAL_SECRET))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    ok = intent_event(reference, event_id="evt_ok")
    assert post_webhook(ok, stripe_signature(ok, LOCAL_SECRET)).json() == {"outcome": "processed"}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert account_balance(account) == Decimal("0.00")


def test_webhook_for_a_gateway_not_in_use_is_404(customer, bill) -> None:
    payment = start(bill, customer)
    body = intent_event(payment.gateway_reference or "")
    assert (
        post_webhook(body, stripe_signature(body, LOCAL_SECRET), gateway="stripe").status_code
        == 404
    )
    assert Client().get("/webhooks/payments/local/").status_code == 405
    assert not GatewayEvent.objects.exists()


def test_local_gateway_is_chosen_by_settings() -> None:
    assert isinstance(get_gateway(), LocalGateway)


# -- the Stripe adapter, without the network ----------------------------------------------


class FakeStripeHTTP(stripe.HTTPClient):
    """Stands in for the network inside the stripe library; records what was sent."""

    name = "fake"

    def __init__(self, responses: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__()
        self.responses = responses
        self.calls: list[dict[str, Any]] = []

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> tuple[str, int, dict[str, str]]:
        self.calls.append(
            {"method": method, "url": url, "headers": dict(headers or {}), "data": post_data}
        )
        status, body = self.responses.pop(0)
        return json.dumps(body), status, {"request-id": "req_test"}

    def close(self) -> None:
        pass


def stripe_intent(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "pi_3Test",
        "object": "payment_intent",
        "amount": 6125,
        "currency": "eur",
        "status": "requires_payment_method",
        "client_secret": "pi_3Test_secret_abc",
        "metadata": {},
        **overrides,
    }


def test_stripe_intent_creation_sends_cents_metadata_and_idempotency_key() -> None:
    http = FakeStripeHTTP([(200, stripe_intent())])
    gateway = StripeGateway(api_key="sk_test_123", webhook_secret=STRIPE_SECRET, http_client=http)
    intent = gateway.intent_create(
        amount=Decimal("61.25"),
        currency="EUR",
        invoice_number="F2026-000001",
        account_number="WL0000001",
        idempotency_key="wattline-bill-7-card-1-6125",
        return_url="https://wattline.example/my/billing/payments/1/return/",
    )
    assert (intent.reference, intent.status, intent.amount, intent.currency) == (
        "pi_3Test",
        "requires_payment_method",
        Decimal("61.25"),
        "EUR",
    )
    assert intent.client_secret == "pi_3Test_secret_abc"
    assert intent.redirect_url == ""
    [call] = http.calls
    assert call["method"] == "post"
    assert call["url"] == "https://api.stripe.com/v1/payment_intents"
    assert call["headers"]["Idempotency-Key"] == "wattline-bill-7-card-1-6125"
    assert call["headers"]["Authorization"] == "Bearer sk_test_123"
    assert parse_qs(call["data"]) == {
        "amount": ["6125"],
        "currency": ["eur"],
        "automatic_payment_methods[enabled]": ["true"],
        "description": ["Wattline bill F2026-000001"],
        "metadata[invoice_number]": ["F2026-000001"],
        "metadata[account_number]": ["WL0000001"],
    }


def test_stripe_refusal_becomes_gateway_error() -> None:
    error = {"error": {"type": "invalid_request_error", "message": "Amount too small"}}
    http = FakeStripeHTTP([(400, error)])
    gateway = StripeGateway(api_key="sk_test_123", webhook_secret=STRIPE_SECRET, http_client=http)
    with pytest.raises(GatewayError, match="Amount too small"):
        gateway.intent_retrieve(reference="pi_3Test")
    assert http.calls[0]["url"] == "https://api.stripe.com/v1/payment_intents/pi_3Test"


def test_stripe_webhook_signature_is_verified() -> None:
    gateway = StripeGateway(
        api_key="sk_test_123", webhook_secret=STRIPE_SECRET, http_client=FakeStripeHTTP([])
    )
    body = intent_event("pi_3Test", event_id="evt_3Test")
    event = gateway.parse_webhook(body, stripe_signature(body, STRIPE_SECRET))
    assert (event.event_id, event.event_type, event.intent_id) == (
        "evt_3Test",
        "payment_intent.succeeded",
        "pi_3Test",
    )
    assert (event.amount, event.currency, event.status) == (Decimal("61.25"), "EUR", "succeeded")
    for bad in (
        stripe_signature(body, LOCAL_SECRET),
        stripe_signature(body, STRIPE_SECRET, timestamp=int(time.time()) - 301),
        "",
        "t=1,v0=abc",
    ):
        with pytest.raises(WebhookSignatureError):
            gateway.parse_webhook(body, bad)


def test_card_payment_through_stripe_adapter_and_webhook(customer, account, bill, settings) -> None:
    http = FakeStripeHTTP([(200, stripe_intent())])
    gateway = StripeGateway(api_key="sk_test_123", webhook_secret=STRIPE_SECRET, http_client=http)
    started = card_payment_start(bill=bill, user=customer, gateway=gateway)
    assert started.created
    assert (started.payment.gateway, started.payment.gateway_reference) == ("stripe", "pi_3Test")
    assert started.next_url == f"/my/billing/payments/{started.payment.pk}/card/"
    assert http.calls[0]["headers"]["Idempotency-Key"] == f"wattline-bill-{bill.pk}-card-1-6125"
    assert parse_qs(http.calls[0]["data"])["metadata[invoice_number]"] == [bill.invoice_number]

    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    body = intent_event("pi_3Test", event_id="evt_stripe_1")
    forged = post_webhook(body, stripe_signature(body, LOCAL_SECRET), gateway="stripe")
    assert forged.status_code == 400
    ok = post_webhook(body, stripe_signature(body, STRIPE_SECRET), gateway="stripe")
    assert ok.json() == {"outcome": EventOutcome.PROCESSED.value}
    started.payment.refresh_from_db()
    assert started.payment.status == Payment.Status.SUCCEEDED
    assert account_balance(account) == Decimal("0.00")
    assert GatewayEvent.objects.get().gateway == "stripe"


# -- refunds and disputes -----------------------------------------------------------------


def charge_event(
    reference: str,
    *,
    event_id: str,
    refunded_cents: int,
    cents: int = 6125,
    currency: str = "eur",
) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "charge.refunded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": "ch_1",
                    "object": "charge",
                    "payment_intent": reference,
                    "amount": cents,
                    "amount_refunded": refunded_cents,
                    "refunded": refunded_cents == cents,
                    "currency": currency,
                    "status": "succeeded",
                }
            },
        }
    ).encode()


def dispute_event(reference: str, *, event_id: str, event_type: str, cents: int = 6125) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": "dp_1",
                    "object": "dispute",
                    "charge": "ch_1",
                    "payment_intent": reference,
                    "amount": cents,
                    "currency": "eur",
                    "reason": "fraudulent",
                    "status": "needs_response",
                }
            },
        }
    ).encode()


def deliver(body: bytes) -> str:
    response = post_webhook(body, stripe_signature(body, LOCAL_SECRET))
    assert response.status_code == 200, response.content
    return str(response.json()["outcome"])


def paid(bill: Bill, user: Any) -> Payment:
    """A card payment of the whole bill, started by ``user`` and confirmed by the gateway."""
    payment = start(bill, user)
    assert deliver(intent_event(payment.gateway_reference or "", event_id="evt_paid")) == (
        "processed"
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    return payment


def ledger_rows(account: Any) -> list[tuple[str, Decimal]]:
    return list(
        LedgerEntry.objects.filter(account=account).order_by("id").values_list("kind", "amount")
    )


def test_billing_specialist_refunds_a_card_payment_in_full(
    customer, account, bill, staff_client_for
) -> None:
    from auditlog.models import LogEntry

    from apps.billing.selectors import bill_open_amount

    payment = paid(bill, customer)
    client = staff_client_for("billing_specialist")
    page = client.get(reverse("admin:billing_payment_change", args=[payment.pk]))
    refund_url = reverse("admin:billing_payment_refund", args=[payment.pk])
    assert page.status_code == 200
    assert f'href="{refund_url}"' in page.content.decode()
    form = client.get(refund_url)
    assert form.status_code == 200
    assert 'value="61.25"' in form.content.decode()

    response = client.post(refund_url, {"amount": "61.25"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:billing_payment_change", args=[payment.pk])
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    refund = LedgerEntry.objects.get(payment=payment, kind=LedgerEntry.Kind.REFUND)
    assert (refund.amount, refund.actor_label, refund.bill_id) == (
        Decimal("61.25"),
        "gateway:local",
        bill.pk,
    )
    assert account_balance(account) == Decimal("61.25")
    assert bill_open_amount(bill) == Decimal("61.25")
    [requested] = payment.details["refund_requests"]
    staff = requested["by"]
    assert requested["amount"] == "61.25"
    assert requested["refund"].startswith("re_local_")
    [asked] = [
        log
        for log in LogEntry.objects.get_for_object(payment).filter(action=LogEntry.Action.UPDATE)
        if "details" in log.changes_dict
    ]
    assert asked.actor_id == staff
    assert "refund_requests" in asked.changes_dict["details"][1]
    event = GatewayEvent.objects.get(event_type="charge.refunded")
    assert event.processed_at is not None
    note = Notification.objects.get(user=customer, kind="payment_refunded")
    assert "61.25 EUR" in note.body
    assert bill.invoice_number in note.body

    shown = Client()
    shown.force_login(customer)
    status_page = shown.get(f"/my/billing/payments/{payment.pk}/return/").content.decode()
    assert "Payment refunded" in status_page


def test_partial_refunds_add_up_and_reopen_the_bill_by_what_was_refunded(
    customer, account, bill, staff_client_for
) -> None:
    from apps.billing.selectors import bill_open_amount

    payment = paid(bill, customer)
    client = staff_client_for("billing_specialist")
    refund_url = reverse("admin:billing_payment_refund", args=[payment.pk])
    assert client.post(refund_url, {"amount": "20.00"}).status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert bill_open_amount(bill) == Decimal("20.00")
    assert account_balance(account) == Decimal("20.00")
    assert 'value="41.25"' in client.get(refund_url).content.decode()

    assert client.post(refund_url, {"amount": "41.25"}).status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert ledger_rows(account) == [
        ("BILL", Decimal("61.25")),
        ("PAYMENT", Decimal("-61.25")),
        ("REFUND", Decimal("20.00")),
        ("REFUND", Decimal("41.25")),
    ]
    assert bill_open_amount(bill) == Decimal("61.25")
    assert Notification.objects.filter(user=customer, kind="payment_refunded").count() == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("61.26", "Amount: at most 61.25 EUR is left to refund on this payment."),
        ("0", "Ensure this value is greater than or equal to 0.01."),
        ("1.234", "Ensure that there are no more than 2 decimal places."),
        ("lots", "Enter a number."),
    ],
)
def test_refund_of_a_wrong_amount_is_refused_and_changes_nothing(
    customer, account, bill, staff_client_for, amount, message
) -> None:
    payment = paid(bill, customer)
    before = (ledger_rows(account), payment.details, GatewayEvent.objects.count())
    client = staff_client_for("billing_specialist")
    response = client.post(
        reverse("admin:billing_payment_refund", args=[payment.pk]), {"amount": amount}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert (ledger_rows(account), payment.details, GatewayEvent.objects.count()) == before


def test_only_a_received_card_payment_can_be_refunded(customer, account, bill) -> None:
    from apps.accounts.models import User
    from apps.billing.payments import RefundError, card_refund_request

    staff = User.objects.create_user(email="refunds@staff.example.com", password="x" * 16)
    pending = start(bill, customer)
    with pytest.raises(RefundError, match="only a received payment can be refunded"):
        card_refund_request(payment=pending, amount=Decimal("1.00"), actor=staff)
    transfer = ledger.payment_record(
        account=account,
        bill=bill,
        amount=Decimal("5.00"),
        method=Payment.Method.BANK_TRANSFER,
        actor_label="test",
    )
    with pytest.raises(RefundError, match="Only a card payment"):
        card_refund_request(payment=transfer, amount=Decimal("1.00"), actor=staff)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).exists()
    assert "refund_requests" not in Payment.objects.get(pk=pending.pk).details


def test_support_agent_cannot_refund(customer, account, bill, staff_client_for) -> None:
    payment = paid(bill, customer)
    client = staff_client_for("support_agent")
    assert client.get(reverse("admin:billing_payment_change", args=[payment.pk])).status_code == 200
    response = client.post(
        reverse("admin:billing_payment_refund", args=[payment.pk]), {"amount": "61.25"}
    )
    assert response.status_code == 403
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert account_balance(account) == Decimal("0.00")


def test_customer_cannot_reach_the_refund_form(customer, account, bill, client_for) -> None:
    payment = paid(bill, customer)
    response = client_for(customer).post(
        reverse("admin:billing_payment_refund", args=[payment.pk]), {"amount": "61.25"}
    )
    assert response.status_code == 302
    assert "/login/" in response["Location"] or "/account/" in response["Location"]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_refund_events_book_the_running_total_once(customer, account, bill) -> None:
    payment = paid(bill, customer)
    reference = payment.gateway_reference or ""
    assert deliver(charge_event(reference, event_id="evt_r1", refunded_cents=2000)) == "processed"
    assert deliver(charge_event(reference, event_id="evt_r2", refunded_cents=6125)) == "processed"
    # An older report arriving late, under its own event id, books nothing more.
    assert deliver(charge_event(reference, event_id="evt_r0", refunded_cents=2000)) == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert [a for k, a in ledger_rows(account) if k == "REFUND"] == [
        Decimal("20.00"),
        Decimal("41.25"),
    ]
    assert account_balance(account) == Decimal("61.25")


def test_refund_event_that_does_not_fit_is_left_for_staff(customer, account, bill) -> None:
    payment = paid(bill, customer)
    reference = payment.gateway_reference or ""
    too_much = charge_event(reference, event_id="evt_big", refunded_cents=9999, cents=9999)
    assert deliver(too_much) == "mismatch"
    dollars = charge_event(reference, event_id="evt_usd", refunded_cents=100, currency="usd")
    assert deliver(dollars) == "mismatch"
    september = issued_bill(
        account=account, total=Decimal("10.00"), period_start=dt.date(2026, 9, 1)
    )
    pending = start(september, customer)
    early = charge_event(
        pending.gateway_reference or "", event_id="evt_early", refunded_cents=100, cents=1000
    )
    assert deliver(early) == "conflict"
    assert dict(
        GatewayEvent.objects.filter(processed_at__isnull=True).values_list("event_id", "outcome")
    ) == {"evt_big": "mismatch", "evt_usd": "mismatch", "evt_early": "conflict"}
    assert GatewayEvent.objects.get(event_id="evt_paid").outcome == "processed"
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_dispute_takes_the_payment_back_and_a_won_dispute_restores_it(
    customer, account, bill
) -> None:
    from apps.billing.selectors import bill_open_amount

    payment = paid(bill, customer)
    reference = payment.gateway_reference or ""
    withdrawn = "charge.dispute.funds_withdrawn"
    assert deliver(dispute_event(reference, event_id="evt_d1", event_type=withdrawn)) == (
        "processed"
    )
    payment.refresh_from_db()
    assert (payment.status, payment.return_reason) == (Payment.Status.RETURNED, "DISP")
    assert bill_open_amount(bill) == Decimal("61.25")
    assert account_balance(account) == Decimal("61.25")
    # The same withdrawal reported again changes nothing.
    assert deliver(dispute_event(reference, event_id="evt_d2", event_type=withdrawn)) == (
        "processed"
    )
    assert account_balance(account) == Decimal("61.25")

    reinstated = "charge.dispute.funds_reinstated"
    assert deliver(dispute_event(reference, event_id="evt_d3", event_type=reinstated)) == (
        "processed"
    )
    payment.refresh_from_db()
    assert (payment.status, payment.return_reason) == (Payment.Status.SUCCEEDED, "")
    assert bill_open_amount(bill) == Decimal("0.00")
    assert ledger_rows(account) == [
        ("BILL", Decimal("61.25")),
        ("PAYMENT", Decimal("-61.25")),
        ("PAYMENT_RETURNED", Decimal("61.25")),
        ("REINSTATED", Decimal("-61.25")),
    ]
    # A second chargeback of the same payment is not booked blindly.
    again = dispute_event(reference, event_id="evt_d4", event_type=withdrawn)
    assert deliver(again) == "conflict"
    assert account_balance(account) == Decimal("0.00")


def test_partial_dispute_or_dispute_after_a_refund_is_left_for_staff(
    customer, account, bill
) -> None:
    payment = paid(bill, customer)
    reference = payment.gateway_reference or ""
    withdrawn = "charge.dispute.funds_withdrawn"
    part = dispute_event(reference, event_id="evt_p", event_type=withdrawn, cents=1000)
    assert deliver(part) == "mismatch"
    assert deliver(charge_event(reference, event_id="evt_r", refunded_cents=1000)) == "processed"
    assert deliver(dispute_event(reference, event_id="evt_w", event_type=withdrawn)) == "conflict"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert account_balance(account) == Decimal("10.00")
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT_RETURNED).exists()


def test_gateway_events_needing_attention_are_listed_for_staff(
    customer, account, bill, staff_client_for
) -> None:
    deliver(intent_event("pi_local_nobody", event_id="evt_lost"))
    paid(bill, customer)
    client = staff_client_for("billing_specialist")
    url = reverse("admin:billing_gatewayevent_changelist")
    listed = client.get(f"{url}?handled=no").content.decode()
    assert "evt_lost" in listed
    assert "evt_paid" not in listed
    assert "evt_paid" in client.get(f"{url}?handled=yes").content.decode()
    payments_page = client.get(reverse("admin:billing_payment_changelist"))
    assert payments_page.status_code == 200
    assert bill.invoice_number in payments_page.content.decode()


def test_stripe_refund_sends_intent_cents_and_idempotency_key() -> None:
    http = FakeStripeHTTP([(200, {"id": "re_3Test", "object": "refund", "amount": 2000})])
    gateway = StripeGateway(api_key="sk_test_123", webhook_secret=STRIPE_SECRET, http_client=http)
    refund_id = gateway.refund_create(
        reference="pi_3Test", amount=Decimal("20.00"), idempotency_key="wattline-payment-7-r"
    )
    assert refund_id == "re_3Test"
    [call] = http.calls
    assert (call["method"], call["url"]) == ("post", "https://api.stripe.com/v1/refunds")
    assert call["headers"]["Idempotency-Key"] == "wattline-payment-7-r"
    assert parse_qs(call["data"]) == {
        "payment_intent": ["pi_3Test"],
        "amount": ["2000"],
        "reason": ["requested_by_customer"],
    }


def test_stripe_refusing_a_refund_is_shown_to_staff_and_changes_nothing(
    customer, account, bill
) -> None:
    from apps.accounts.models import User
    from apps.billing.payments import RefundError, card_refund_request

    settings_payment = paid(bill, customer)
    Payment.objects.filter(pk=settings_payment.pk).update(gateway="stripe")
    settings_payment.refresh_from_db()
    error = {"error": {"type": "invalid_request_error", "message": "Charge already refunded"}}
    gateway = StripeGateway(
        api_key="sk_test_123",
        webhook_secret=STRIPE_SECRET,
        http_client=FakeStripeHTTP([(400, error)]),
    )
    staff = User.objects.create_user(email="refunds@staff.example.com", password="x" * 16)
    with pytest.raises(RefundError, match="Charge already refunded"):
        card_refund_request(
            payment=settings_payment, amount=Decimal("5.00"), actor=staff, gateway=gateway
        )
    settings_payment.refresh_from_db()
    assert "refund_requests" not in settings_payment.details
    assert account_balance(account) == Decimal("0.00")


def test_refunds_waiting_for_the_gateway_count_against_what_is_left(
    customer, account, bill
) -> None:
    from apps.accounts.models import User
    from apps.billing.payments import RefundError, card_refund_request

    payment = paid(bill, customer)
    Payment.objects.filter(pk=payment.pk).update(gateway="stripe")
    payment.refresh_from_db()
    http = FakeStripeHTTP([(200, {"id": "re_1", "object": "refund", "amount": 2000})])
    gateway = StripeGateway(api_key="sk_test_123", webhook_secret=STRIPE_SECRET, http_client=http)
    staff = User.objects.create_user(email="refunds@staff.example.com", password="x" * 16)

    assert (
        card_refund_request(payment=payment, amount=Decimal("20.00"), actor=staff, gateway=gateway)
        == "re_1"
    )
    assert http.calls[0]["headers"]["Idempotency-Key"] == (
        f"wattline-payment-{payment.pk}-refund-1-2000"
    )
    # Stripe has not confirmed it yet: nothing is booked, but it is no longer left.
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).exists()
    with pytest.raises(RefundError, match=r"at most 41\.25 EUR is left"):
        card_refund_request(payment=payment, amount=Decimal("61.25"), actor=staff, gateway=gateway)
    assert len(http.calls) == 1
    payment.refresh_from_db()
    assert [r["refund"] for r in payment.details["refund_requests"]] == ["re_1"]


def test_card_notifications_are_in_the_customers_language(
    customer, account, bill, staff_client_for
) -> None:
    customer.preferred_language = "es"
    customer.save(update_fields=["preferred_language"])
    payment = paid(bill, customer)
    client = staff_client_for("billing_specialist")
    client.post(reverse("admin:billing_payment_refund", args=[payment.pk]), {"amount": "1.25"})
    notes = dict(Notification.objects.filter(user=customer).values_list("kind", "title"))
    assert notes == {"payment_received": "Pago recibido", "payment_refunded": "Reembolso en camino"}
    body = Notification.objects.get(user=customer, kind="payment_refunded").body
    assert body.startswith("Hemos reembolsado 1.25 EUR de su pago con tarjeta de la factura ")
