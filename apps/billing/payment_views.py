"""Card payment pages and the gateway webhook: thin doors into apps.billing.payments.

Customer pages live under /my/billing/ and look everything up through the signed-in
user's accounts (404 otherwise). The webhook has no session: each delivery proves itself
with its signature, and a bad one is refused with 400 before anything is stored.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User
from apps.billing import payments, selectors
from apps.billing.adapters.gateway import (
    SIGNATURE_HEADER,
    GatewayError,
    UnknownGatewayError,
    WebhookSignatureError,
    get_gateway,
)
from apps.billing.adapters.local_gateway import LocalGateway
from apps.billing.models import Payment

#: What Stripe.js and its Payment Element need, allowed on the one page that loads them.
STRIPE_CSP = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
    "img-src": ["https://*.stripe.com"],
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
@require_POST
def card_pay(request: HttpRequest, bill_id: int) -> HttpResponse:
    """Start (or resume) a card payment of what is open on the bill, then go and pay."""
    bill = selectors.bill_for_user(_user(request), bill_id)
    try:
        started = payments.card_payment_start(bill=bill, user=_user(request))
    except payments.NotYourBillError:
        raise Http404("No such bill") from None
    except payments.GatewayUnavailableError as exc:
        return _refused(request, bill=bill, message=exc.message, status=503)
    except payments.CardPaymentError as exc:
        return _refused(request, bill=bill, message=exc.message, status=409)
    return redirect(started.next_url)


def _refused(request: HttpRequest, *, bill: object, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "billing/payments/refused.html",
        {"bill": bill, "message": message},
        status=status,
    )


@login_required
@require_GET
def card_return(request: HttpRequest, payment_id: int) -> HttpResponse:
    """Where the customer lands after the gateway: the payment's status as we know it.

    The webhook, not this page, books the payment; while it is pending the status part
    refreshes itself (htmx) so the customer sees the confirmation arrive.
    """
    payment = payments.card_payment_for_user(_user(request), payment_id)
    context = {
        "payment": payment,
        "bill": payment.bill,
        "Status": Payment.Status,
        "refunded": selectors.payment_refunded_amount(payment),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "billing/payments/_status.html", context)
    return render(request, "billing/payments/return.html", context)


@csp_update(STRIPE_CSP)  # type: ignore[arg-type]  # typed for views without URL args
@login_required
@require_GET
def card_checkout(request: HttpRequest, payment_id: int) -> HttpResponse:
    """The page with Stripe's Payment Element (for gateways without a hosted page)."""
    payment = payments.card_payment_for_user(_user(request), payment_id)
    back = reverse("billing:card_return", args=[payment.pk])
    if payment.status != Payment.Status.PENDING or not payment.gateway_reference:
        return redirect(back)
    try:
        gateway = get_gateway()
        if gateway.name != payment.gateway:
            return redirect(back)
        intent = gateway.intent_retrieve(reference=payment.gateway_reference)
    except (GatewayError, UnknownGatewayError):
        return _refused(
            request,
            bill=payment.bill,
            message=_(
                "The card payment service is not available right now. Please try again later."
            ),
            status=503,
        )
    if not intent.is_open or not intent.client_secret:
        return redirect(back)
    return render(
        request,
        "billing/payments/checkout.html",
        {
            "payment": payment,
            "bill": payment.bill,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "client_secret": intent.client_secret,
            "return_url": request.build_absolute_uri(back),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def local_gateway_page(request: HttpRequest, reference: str) -> HttpResponse:
    """The local gateway's hosted page: "Pay" or "Decline", then a signed webhook to us."""
    if settings.PAYMENT_GATEWAY != "local":
        raise Http404("The local gateway is not in use")
    payment = payments.local_intent_for_user(_user(request), reference)
    back = reverse("billing:card_return", args=[payment.pk])
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ("pay", "decline"):
            return render(
                request,
                "billing/payments/local_gateway.html",
                {"payment": payment, "bill": payment.bill, "error": _("Choose Pay or Decline.")},
                status=400,
            )
        if payment.status == Payment.Status.PENDING:
            gateway = LocalGateway(webhook_secret=settings.LOCAL_GATEWAY_WEBHOOK_SECRET)
            payload, header = gateway.signed_event(payment=payment, succeeded=action == "pay")
            payments.webhook_receive(
                gateway_name=gateway.name, payload=payload, headers={SIGNATURE_HEADER: header}
            )
        return redirect(back)
    return render(
        request, "billing/payments/local_gateway.html", {"payment": payment, "bill": payment.bill}
    )


@csrf_exempt
@require_POST
def gateway_webhook(request: HttpRequest, gateway: str) -> HttpResponse:
    """A gateway's event delivery: 200 when handled (or a duplicate), 400 on a bad signature."""
    try:
        outcome = payments.webhook_receive(
            gateway_name=gateway, payload=request.body, headers=request.headers
        )
    except UnknownGatewayError:
        raise Http404("No such gateway") from None
    except WebhookSignatureError:
        return JsonResponse({"error": "invalid signature or payload"}, status=400)
    return JsonResponse({"outcome": str(outcome)})
