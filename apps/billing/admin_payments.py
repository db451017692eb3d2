"""Admin for payments and card-gateway events, and the door for card refunds.

Imported from ``apps/billing/admin.py``. Payments and gateway events are read-only
records: money moves only through :mod:`apps.billing.ledger`. A card payment's page links
to the refund form, which asks the gateway through
:func:`apps.billing.payments.card_refund_request` and needs ``billing.change_payment``
(billing specialists). Gateway events that were stored but not applied (an unknown
intent, an amount that does not fit, a conflict) are listed under "Needs attention".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.billing.models import GatewayEvent, Payment
from apps.billing.payments import RefundError, card_refund_request
from apps.billing.selectors import payment_refunded_amount
from apps.core.admin_site import ReadOnlyModelAdmin


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount to refund (EUR)"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text=_("At most what is left on the payment. The money goes back to the card."),
    )


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "created_at",
        "account",
        "bill",
        "method",
        "status",
        "amount",
        "currency",
        "gateway",
        "return_reason",
    )
    list_filter = ("method", "status", "gateway", "created_at")
    list_select_related = ("account", "bill")
    search_fields = (
        "account__number",
        "bill__invoice_number",
        "gateway_reference",
        "end_to_end_id",
    )
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [
        *(field.name for field in Payment._meta.fields),
        "refunded",
        "refund_link",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # payments change only through the ledger and the refund form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_payment")

    @admin.display(description=_("refunded"))
    def refunded(self, obj: Payment) -> Decimal:
        return payment_refunded_amount(obj)

    @admin.display(description=_("refund"))
    def refund_link(self, obj: Payment) -> str:
        if obj.method != Payment.Method.CARD or obj.status != Payment.Status.SUCCEEDED:
            return "—"
        url = reverse("admin:billing_payment_refund", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Refund to card"))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:payment_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="billing_payment_refund",
            ),
            *super().get_urls(),
        ]

    def refund_view(self, request: HttpRequest, payment_id: int) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(
            Payment.objects.select_related("account", "bill"),
            pk=payment_id,
            method=Payment.Method.CARD,
        )
        refunded = payment_refunded_amount(payment)
        left = payment.amount - refunded
        form = RefundForm(request.POST or None, initial={"amount": left})
        if request.method == "POST" and form.is_valid():
            user = request.user
            if not isinstance(user, User):  # admin_view lets only signed-in staff in
                raise PermissionDenied
            try:
                refund_id = card_refund_request(
                    payment=payment, amount=form.cleaned_data["amount"], actor=user
                )
            except RefundError as exc:
                form.add_error(exc.field, exc.message)
            else:
                self.message_user(
                    request,
                    _(
                        "Refund %(refund)s of %(amount)s %(currency)s requested; it is booked "
                        "when the gateway confirms it."
                    )
                    % {
                        "refund": refund_id,
                        "amount": form.cleaned_data["amount"],
                        "currency": payment.currency,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_payment_change", args=[payment.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Refund a card payment"),
            "payment": payment,
            "refunded": refunded,
            "left": left,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/payment/refund.html", context)


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("handling")
    parameter_name = "handled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("Needs attention")), ("yes", _("Applied or ignored"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(processed_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(processed_at__isnull=False)
        return queryset


@admin.register(GatewayEvent)
class GatewayEventAdmin(ReadOnlyModelAdmin):
    list_display = ("received_at", "gateway", "event_type", "event_id", "outcome", "processed_at")
    list_filter = (NeedsAttentionFilter, "outcome", "gateway", "event_type")
    search_fields = ("event_id",)
    ordering = ("-received_at", "-id")
    show_full_result_count = False
    readonly_fields = [field.name for field in GatewayEvent._meta.fields]
