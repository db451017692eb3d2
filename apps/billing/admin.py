"""Staff admin for billing: bill runs (preview, review, issue, progress), bills, ledger.

Financial fields are read-only; every change goes through a service. The payment, bank
and document screens live in admin_*.py modules imported at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.billing import issuing
from apps.billing import run as runs
from apps.billing.models import (
    Bill,
    BillIssue,
    BillLine,
    BillRun,
    InvoiceSeries,
    LedgerEntry,
)
from apps.core import clock
from apps.core.admin_site import ReadOnlyInline


class BillLineInline(ReadOnlyInline):
    model = BillLine
    fields = (
        "contract_number",
        "component",
        "period",
        "tier",
        "quantity",
        "unit",
        "unit_price",
        "amount",
    )
    readonly_fields = fields
    ordering = ("position",)


class BillIssueInline(ReadOnlyInline):
    model = BillIssue
    fields = ("code", "message", "released_at", "released_by")
    readonly_fields = fields


class BillRunForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = BillRun
        fields = ("billing_day", "period_start")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("period_start")
        day = data.get("billing_day")
        if start and day and start.day != day:
            self.add_error("period_start", _("The period starts on the billing day of the month."))
        elif (
            start
            and day
            and BillRun.objects.filter(billing_day=day, period_start=start)
            .exclude(status=BillRun.Status.CANCELLED)
            .exists()
        ):
            self.add_error("period_start", _("There is already a run for this period."))
        return data


@admin.register(BillRun)
class BillRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = BillRunForm
    list_display = ("__str__", "status", "accounts_total", "created_at", "issued_at")
    list_filter = ("status", "billing_day")
    ordering = ("-period_start", "-id")
    actions = ("issue_runs", "resume_runs")
    change_form_template = "admin/billing/billrun/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (
            "billing_day",
            "period_start",
            "period_end",
            "status",
            "accounts_total",
            "chunk_size",
            "created_at",
            "created_by",
            "preview_finished_at",
            "issue_started_at",
            "issued_at",
            "issued_by",
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("billing_day", "period_start")
        return self.get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: BillRun, form: Any, change: bool) -> None:
        if change:
            return
        assert isinstance(request.user, User)
        created = runs.bill_run_create(
            billing_day=obj.billing_day, period_start=obj.period_start, actor=request.user
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def response_add(
        self, request: HttpRequest, obj: BillRun, post_url_continue: Any = None
    ) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:billing_billrun_change", args=[obj.pk]))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Issue the previewed bills"), permissions=["change"])
    def issue_runs(self, request: HttpRequest, queryset: QuerySet[BillRun]) -> None:
        assert isinstance(request.user, User)
        for bill_run in queryset.order_by("id"):
            try:
                runs.bill_run_issue(run=bill_run, actor=request.user)
            except runs.BillRunError as exc:
                self.message_user(request, f"{bill_run}: {exc}", messages.ERROR)
            else:
                self.message_user(request, _("Issuing %(run)s.") % {"run": bill_run})

    @admin.action(description=_("Resume unfinished chunks"), permissions=["change"])
    def resume_runs(self, request: HttpRequest, queryset: QuerySet[BillRun]) -> None:
        for bill_run in queryset.order_by("id"):
            count = runs.bill_run_resume(run=bill_run)
            self.message_user(
                request,
                _("%(run)s: %(count)d chunks queued again.") % {"run": bill_run, "count": count},
            )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:run_id>/progress/",
                wrap(self.progress_view),
                name="billing_billrun_progress",
            ),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        bill_run = get_object_or_404(BillRun, pk=run_id)
        context = {
            "run": bill_run,
            "progress": runs.bill_run_progress(bill_run),
            "changes": runs.largest_changes(bill_run, limit=10),
            "held": Bill.objects.filter(run=bill_run, status=Bill.Status.HELD)
            .prefetch_related("issues")
            .order_by("account_number", "id")[:50],
            "live": bill_run.status in (BillRun.Status.PREVIEWING, BillRun.Status.ISSUING),
        }
        return TemplateResponse(request, "admin/billing/billrun/_progress.html", context)


@admin.register(Bill)
class BillAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "__str__",
        "kind",
        "status",
        "account_number",
        "period_start",
        "total",
        "due_date",
    )
    list_filter = ("status", "kind", "period_start")
    search_fields = ("invoice_number", "account_number", "customer_name", "payment_reference")
    list_select_related = ("account",)
    raw_id_fields = ("account", "run", "original")
    ordering = ("-id",)
    inlines = (BillIssueInline, BillLineInline)
    actions = ("release_bills", "exclude_bills", "credit_bills", "correct_bills")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [admin_documents.bill_pdf_link, *(field.name for field in Bill._meta.fields)]

    def get_urls(self) -> list[URLPattern]:
        return [*admin_documents.bill_document_urls(self), *super().get_urls()]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _each(self, request: HttpRequest, queryset: QuerySet[Bill], action: Any) -> None:
        assert isinstance(request.user, User)
        done = 0
        for bill in queryset.order_by("id"):
            try:
                action(bill=bill, actor=request.user)
            except (runs.BillRunError, issuing.BillNotIssuable) as exc:
                self.message_user(request, f"{bill}: {exc}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, _("%(count)d bills updated.") % {"count": done})

    @admin.action(description=_("Release held bills for issue"), permissions=["change"])
    def release_bills(self, request: HttpRequest, queryset: QuerySet[Bill]) -> None:
        self._each(request, queryset, runs.bill_release)

    @admin.action(description=_("Exclude from the run"), permissions=["change"])
    def exclude_bills(self, request: HttpRequest, queryset: QuerySet[Bill]) -> None:
        self._each(request, queryset, runs.bill_exclude)

    @admin.action(description=_("Cancel with a credit note"), permissions=["change"])
    def credit_bills(self, request: HttpRequest, queryset: QuerySet[Bill]) -> None:
        def credit(*, bill: Bill, actor: User) -> Bill:
            return issuing.bill_credit(
                bill=bill, actor=actor, reason=str(_("cancelled by staff")), now=clock.now()
            )

        self._each(request, queryset, credit)

    @admin.action(
        description=_("Correct: credit note and a new bill from today's readings"),
        permissions=["change"],
    )
    def correct_bills(self, request: HttpRequest, queryset: QuerySet[Bill]) -> None:
        def correct(*, bill: Bill, actor: User) -> Bill:
            note, _new = runs.bill_correct(
                bill=bill, actor=actor, reason=str(_("corrected by staff"))
            )
            return note

        self._each(request, queryset, correct)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("posted_at", "account", "kind", "amount", "description")
    list_filter = ("kind",)
    search_fields = ("account__number", "description")
    list_select_related = ("account",)
    raw_id_fields = ("account", "bill", "payment")
    ordering = ("-posted_at", "-id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in LedgerEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InvoiceSeries)
class InvoiceSeriesAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "prefix", "next_number")
    readonly_fields = ("code", "prefix", "next_number")
    ordering = ("code",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The payment, bank, direct-debit and document screens register their own models.
from apps.billing import (  # noqa: E402, F401
    admin_bank,
    admin_documents,
    admin_payments,
    admin_sepa,
)
