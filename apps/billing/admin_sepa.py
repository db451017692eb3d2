"""Back office for direct debit and dunning (decision 0712).

Mandates (financial fields read-only; staff may revoke), direct-debit batches (download
the pain.008 file, create a batch, settle it, record a returned debit), payment plans
and dunning notices with the "flagged for staff" queue. Every action calls a service in
``apps.billing.direct_debit`` or ``apps.billing.dunning``. Imported by
``apps/billing/admin.py``; the classes register themselves.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.billing import direct_debit, dunning
from apps.billing.ledger import PaymentStateError
from apps.billing.models import DirectDebitBatch, DunningNotice, Mandate, Payment, PaymentPlan
from apps.billing.selectors import bill_open_amount
from apps.core import clock

# --------------------------------------------------------------------------------------------
# Mandates
# --------------------------------------------------------------------------------------------


@admin.register(Mandate)
class MandateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "reference",
        "account",
        "debtor_name",
        "masked_iban",
        "status",
        "signed_on",
        "first_collected_at",
        "revoked_at",
    )
    list_filter = ("status",)
    search_fields = ("reference", "account__number", "debtor_name")
    search_help_text = _("Search by mandate reference, account number or account holder.")
    list_select_related = ("account",)
    raw_id_fields = ("account", "signed_by")
    ordering = ("-created_at", "-id")
    date_hierarchy = "signed_on"
    actions = ["revoke_mandates"]
    fields = (
        "reference",
        "account",
        "status",
        "debtor_name",
        "iban",
        "bic",
        "signed_on",
        "signed_by",
        "ip_address",
        "text_version",
        "accepted_text",
        "created_at",
        "first_collected_at",
        "revoked_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers give mandates online, signed by themselves

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("IBAN"))
    def masked_iban(self, obj: Mandate) -> str:
        return direct_debit.iban_mask(obj.iban)

    @admin.action(description=_("Revoke the selected mandates"), permissions=["change"])
    def revoke_mandates(self, request: HttpRequest, queryset: QuerySet[Mandate]) -> None:
        revoked = sum(
            direct_debit.mandate_revoke(mandate=mandate, actor=request.user)  # type: ignore[arg-type]
            for mandate in queryset.order_by("id")
        )
        self.message_user(
            request,
            ngettext("%(n)d mandate revoked.", "%(n)d mandates revoked.", revoked) % {"n": revoked},
            messages.SUCCESS,
        )


# --------------------------------------------------------------------------------------------
# Direct-debit batches
# --------------------------------------------------------------------------------------------


class BatchCreateForm(forms.Form):
    collection_date = forms.DateField(
        label=_("Collection date"),
        help_text=_("Bills due on or before this day are collected. YYYY-MM-DD."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class DebitReturnForm(forms.Form):
    end_to_end_id = forms.CharField(
        label=_("End-to-end id"),
        max_length=35,
        help_text=_("As printed on the bank's return advice, for example WL123-1."),
    )
    reason_code = forms.ChoiceField(label=_("Return reason"), choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason_code"].choices = direct_debit.return_reason_choices()  # type: ignore[attr-defined]


class BatchPaymentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Payment
    fk_name = "debit_batch"
    extra = 0
    can_delete = False
    fields = ("end_to_end_id", "bill", "account", "amount", "status", "return_reason", "mandate")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = _("debits in this batch")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).select_related("bill", "account", "mandate")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DirectDebitBatch)
class DirectDebitBatchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "message_id",
        "collection_date",
        "payment_count",
        "total",
        "created_at",
        "download_link",
    )
    date_hierarchy = "collection_date"
    search_fields = ("message_id",)
    ordering = ("-collection_date", "-id")
    fields = (
        "message_id",
        "collection_date",
        "payment_count",
        "total",
        "created_at",
        "created_by",
        "download_link",
    )
    readonly_fields = fields
    inlines = [BatchPaymentInline]
    actions = ["settle_batches"]
    change_list_template = "admin/billing/directdebitbatch/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by direct_debit_batch_create (the "create" view or the command)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("pain.008 file"))
    def download_link(self, obj: DirectDebitBatch) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:billing_directdebitbatch_xml", args=[obj.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("Download XML"))

    def _may_change(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_directdebitbatch")

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:batch_id>/pain008.xml",
                wrap(self.xml_view),
                name="billing_directdebitbatch_xml",
            ),
            path("create/", wrap(self.create_view), name="billing_directdebitbatch_create"),
            path(
                "record-return/",
                wrap(self.return_view),
                name="billing_directdebitbatch_return",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {"may_change": self._may_change(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def xml_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        batch = get_object_or_404(DirectDebitBatch, pk=batch_id)
        response = HttpResponse(batch.xml, content_type="application/xml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{batch.message_id}.xml"'
        return response

    def _form_page(
        self, request: HttpRequest, *, form: forms.Form, title: str, submit: str
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "submit_label": submit,
        }
        return TemplateResponse(request, "admin/billing/directdebitbatch/form.html", context)

    def create_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_change(request):
            return HttpResponse(status=403)
        form = BatchCreateForm(request.POST or None, initial={"collection_date": clock.today()})
        if request.method == "POST" and form.is_valid():
            try:
                batch = direct_debit.direct_debit_batch_create(
                    collection_date=form.cleaned_data["collection_date"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except direct_debit.DirectDebitError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                if batch is None:
                    messages.info(request, _("Nothing to collect for that date."))
                    return HttpResponseRedirect(
                        reverse("admin:billing_directdebitbatch_changelist")
                    )
                messages.success(
                    request,
                    _("Batch %(id)s created: %(count)d debits, %(total)s EUR.")
                    % {"id": batch.message_id, "count": batch.payment_count, "total": batch.total},
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_directdebitbatch_change", args=[batch.pk])
                )
        return self._form_page(
            request, form=form, title=str(_("Create a direct-debit batch")), submit=str(_("Create"))
        )

    def return_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_change(request):
            return HttpResponse(status=403)
        form = DebitReturnForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                payment = direct_debit.direct_debit_return(
                    end_to_end_id=form.cleaned_data["end_to_end_id"],
                    reason_code=form.cleaned_data["reason_code"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except direct_debit.DirectDebitError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            except PaymentStateError as exc:
                form.add_error("end_to_end_id", str(exc).split(": ", 1)[-1])
            else:
                messages.success(
                    request,
                    _("Debit %(id)s recorded as %(status)s (%(code)s); the customer was told.")
                    % {
                        "id": payment.end_to_end_id,
                        "status": payment.get_status_display(),
                        "code": payment.return_reason,
                    },
                )
                return HttpResponseRedirect(reverse("admin:billing_directdebitbatch_changelist"))
        return self._form_page(
            request,
            form=form,
            title=str(_("Record a returned direct debit")),
            submit=str(_("Record the return")),
        )

    @admin.action(
        description=_("Settle the selected batches (collected on their date)"),
        permissions=["change"],
    )
    def settle_batches(self, request: HttpRequest, queryset: QuerySet[DirectDebitBatch]) -> None:
        settled = 0
        for batch in queryset.order_by("collection_date", "id"):
            try:
                settled += direct_debit.direct_debit_settle(batch=batch, actor=request.user)  # type: ignore[arg-type]
            except direct_debit.BatchNotDue as exc:
                self.message_user(request, f"{batch.message_id}: {exc.message}", messages.ERROR)
        self.message_user(
            request,
            ngettext("%(n)d debit settled.", "%(n)d debits settled.", settled) % {"n": settled},
            messages.SUCCESS,
        )


# --------------------------------------------------------------------------------------------
# Payment plans and dunning
# --------------------------------------------------------------------------------------------


@admin.register(PaymentPlan)
class PaymentPlanAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("account", "starts_on", "ends_on", "instalment", "in_force", "created_at")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    search_fields = ("account__number", "account__customer__name")
    search_help_text = _("Search by account number or customer name.")
    ordering = ("-starts_on", "-id")
    fields = ("account", "starts_on", "ends_on", "instalment", "note", "created_at", "created_by")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("created_at", "created_by")
        # An agreed plan's terms stay as agreed; staff may end it or annotate it.
        return ("account", "starts_on", "instalment", "created_at", "created_by")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("in force today"), boolean=True)
    def in_force(self, obj: PaymentPlan) -> bool:
        today = clock.today()
        return obj.starts_on <= today and (obj.ends_on is None or obj.ends_on > today)

    def save_model(self, request: HttpRequest, obj: PaymentPlan, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The form has already checked the model's constraints (positive instalment, end
        # after start), so the service's own checks pass here.
        created = dunning.payment_plan_create(
            account=obj.account,
            starts_on=obj.starts_on,
            ends_on=obj.ends_on,
            instalment=obj.instalment,
            note=obj.note,
            actor=request.user,  # type: ignore[arg-type]
        )
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj.created_by = created.created_by


class StaffQueueFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("staff", _("Flagged for staff, open")),
            ("open", _("All open")),
            ("resolved", _("Resolved")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "staff":
            return queryset.filter(level=DunningNotice.Level.STAFF_FLAG, resolved_at__isnull=True)
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(DunningNotice)
class DunningNoticeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "bill",
        "account",
        "level",
        "due_date",
        "open_amount",
        "vulnerable",
        "created_at",
        "resolved_at",
    )
    list_filter = (StaffQueueFilter, "level")
    list_select_related = ("bill__account__customer",)
    search_fields = ("bill__invoice_number", "bill__account_number")
    search_help_text = _("Search by invoice or account number.")
    raw_id_fields = ("bill",)
    ordering = ("-created_at", "-id")
    fields = ("bill", "level", "created_at", "resolved_at")
    readonly_fields = fields
    actions = ["resolve_notices"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by dunning_run

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("account"))
    def account(self, obj: DunningNotice) -> str:
        return obj.bill.account_number

    @admin.display(description=_("due date"), ordering="bill__due_date")
    def due_date(self, obj: DunningNotice) -> Any:
        return obj.bill.due_date

    @admin.display(description=_("open amount"))
    def open_amount(self, obj: DunningNotice) -> Any:
        return bill_open_amount(obj.bill)

    @admin.display(description=_("vulnerable"), boolean=True)
    def vulnerable(self, obj: DunningNotice) -> bool:
        return bool(obj.bill.account.customer.is_vulnerable)

    @admin.action(description=_("Mark the selected notices resolved"), permissions=["change"])
    def resolve_notices(self, request: HttpRequest, queryset: QuerySet[DunningNotice]) -> None:
        resolved = sum(
            dunning.dunning_notice_resolve(notice=notice, actor=request.user)  # type: ignore[arg-type]
            for notice in queryset.order_by("id")
        )
        self.message_user(
            request,
            ngettext("%(n)d notice resolved.", "%(n)d notices resolved.", resolved)
            % {"n": resolved},
            messages.SUCCESS,
        )
