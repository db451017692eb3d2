"""Admin for bank transfers: import camt.053 statements and work the review queue.

Imported from ``apps/billing/admin.py``. Statements and entries are read-only records;
the import form, the "ignore" action and the "assign to bill" form are doors into
``apps.billing.bank_statements``. Importing needs ``billing.add_bankstatement``; working
the queue needs ``billing.change_bankstatemententry`` (both: billing specialists).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.accounts.models import Account, User
from apps.billing.bank_statements import (
    MAX_FILE_BYTES,
    BankEntryNotAssignable,
    BankEntryNotOpen,
    BankStatementRefused,
    bank_entry_assign,
    bank_entry_assign_to_account,
    bank_entry_ignore,
    bank_statement_import,
)
from apps.billing.models import BankStatement, BankStatementEntry, Bill
from apps.billing.selectors import bill_by_payment_reference

UNMATCHED = BankStatementEntry.Status.UNMATCHED
_MAX_SHOWN_PROBLEMS = 5


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # admin_view lets only signed-in staff in
        raise PermissionDenied
    return user


class BankStatementImportForm(forms.Form):
    file = forms.FileField(
        label=_("Bank statement (camt.053 XML)"),
        help_text=_(
            "An ISO 20022 camt.053.001.02 file for our collection account, as downloaded "
            "from the bank. Credits are matched to bills by their payment reference; the "
            "rest waits for review. The same file cannot be imported twice."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB; a bank statement is far smaller.")
                % {"mb": MAX_FILE_BYTES // (1024 * 1024)}
            )
        return upload


class AssignForm(forms.Form):
    bill = forms.CharField(
        label=_("Bill or account"),
        max_length=40,
        help_text=_(
            "The invoice number (F2026-000123) or the payment reference (RF…); for money "
            "paid on account with no bill, the account number (WL…)."
        ),
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def clean_bill(self) -> Bill | Account:
        text = "".join(self.cleaned_data["bill"].split()).upper()
        bill = bill_by_payment_reference(text)
        if bill is not None:
            return bill
        account = Account.objects.filter(number=text).first()
        if account is not None:
            return account
        raise forms.ValidationError(
            _("No issued bill or account has this number or payment reference.")
        )


class IgnoreForm(forms.Form):
    note = forms.CharField(
        label=_("Why these are not customer payments"),
        max_length=200,
        help_text=_("Kept with each entry, e.g. “transfer between our own accounts”."),
    )


class BankStatementEntryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = BankStatementEntry
    fields = (
        "entry_reference",
        "booking_date",
        "amount",
        "currency",
        "debtor_name",
        "remittance",
        "status",
        "bill",
        "note",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BankStatementEntry]:
        return super().get_queryset(request).select_related("bill")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BankStatement)
class BankStatementAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "statement_id",
        "iban",
        "file_name",
        "imported_at",
        "imported_by",
        "credit_count",
        "waiting_count",
    )
    list_select_related = ("imported_by",)
    search_fields = ("statement_id", "file_name", "sha256")
    date_hierarchy = "imported_at"
    ordering = ("-imported_at", "-id")
    readonly_fields = [field.name for field in BankStatement._meta.fields]
    inlines = [BankStatementEntryInline]
    change_list_template = "admin/billing/bankstatement/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[BankStatement]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                credits=Count("entries"),
                waiting=Count("entries", filter=Q(entries__status=UNMATCHED)),
            )
        )

    @admin.display(description=_("credits"), ordering="credits")
    def credit_count(self, obj: BankStatement) -> int:
        return int(getattr(obj, "credits", 0))

    @admin.display(description=_("waiting for review"), ordering="waiting")
    def waiting_count(self, obj: BankStatement) -> str:
        waiting = int(getattr(obj, "waiting", 0))
        if not waiting:
            return "0"
        url = reverse("admin:billing_bankstatemententry_changelist")
        return format_html(
            '<a href="{}?statement__id__exact={}&amp;status__exact={}">{}</a>',
            url,
            obj.pk,
            UNMATCHED,
            waiting,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # statements come from files, through the import form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _may_import(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.add_bankstatement")

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="billing_bankstatement_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {"may_import": self._may_import(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_import(request):
            raise PermissionDenied
        form = BankStatementImportForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                summary = bank_statement_import(
                    file_name=upload.name or "statement.xml",
                    content=upload.read(),
                    actor=_staff(request),
                )
            except BankStatementRefused as exc:
                form.add_error("file", str(exc))
                problems = exc.messages[1:_MAX_SHOWN_PROBLEMS]
            else:
                self.message_user(
                    request,
                    _(
                        "Statement %(id)s imported: %(credits)s credits, %(matched)s matched, "
                        "%(partial)s partly paid, %(overpaid)s overpaid, %(unmatched)s waiting "
                        "for review; %(returns)s returned payments booked; %(debits)s "
                        "other debits ignored."
                    )
                    % {
                        "id": summary.statement.statement_id,
                        "credits": summary.credits,
                        "matched": summary.matched,
                        "partial": summary.partial,
                        "overpaid": summary.overpaid,
                        "unmatched": summary.unmatched,
                        "returns": summary.returns_booked,
                        "debits": summary.debits_ignored,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_bankstatement_change", args=[summary.statement.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import camt.053"),
            "form": form,
            "problems": problems,
        }
        return TemplateResponse(request, "admin/billing/bankstatement/import.html", context)


@admin.register(BankStatementEntry)
class BankStatementEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The review queue is this list filtered on status “Waiting for review”."""

    list_display = (
        "entry_reference",
        "booking_date",
        "amount",
        "currency",
        "debtor_name",
        "remittance",
        "status",
        "bill",
        "statement",
        "review_link",
    )
    list_filter = ("status", "currency", "booking_date")
    list_select_related = ("statement", "bill")
    search_fields = (
        "entry_reference",
        "debtor_name",
        "debtor_iban",
        "remittance",
        "bill__invoice_number",
    )
    raw_id_fields = ("statement", "bill")
    ordering = ("-booking_date", "-id")
    readonly_fields = [field.name for field in BankStatementEntry._meta.fields]
    show_full_result_count = False
    actions = ["ignore_entries"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # entries change only through the review actions below

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.change_bankstatemententry")

    @admin.display(description=_("review"))
    def review_link(self, obj: BankStatementEntry) -> str:
        if obj.status != UNMATCHED:
            return ""
        url = reverse("admin:billing_bankstatemententry_assign", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Assign to bill"))

    @admin.action(description=_("Ignore: not a customer payment"), permissions=["review"])
    def ignore_entries(
        self, request: HttpRequest, queryset: QuerySet[BankStatementEntry]
    ) -> HttpResponse | None:
        waiting = queryset.filter(status=UNMATCHED).order_by("id")
        form = IgnoreForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for entry in waiting:
                try:
                    bank_entry_ignore(
                        entry=entry, note=form.cleaned_data["note"], actor=_staff(request)
                    )
                except BankEntryNotOpen:
                    continue  # taken by someone else meanwhile
                done += 1
            self.message_user(
                request,
                ngettext("%(count)d entry ignored.", "%(count)d entries ignored.", done)
                % {"count": done},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Ignore bank entries"),
            "form": form,
            "entries": list(waiting.select_related("statement")),
            "skipped": queryset.exclude(status=UNMATCHED).count(),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/bankstatemententry/ignore.html", context)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:entry_id>/assign/",
                self.admin_site.admin_view(self.assign_view),
                name="billing_bankstatemententry_assign",
            ),
            *super().get_urls(),
        ]

    def assign_view(self, request: HttpRequest, entry_id: int) -> HttpResponse:
        if not self.has_review_permission(request):
            raise PermissionDenied
        entry = get_object_or_404(
            BankStatementEntry.objects.select_related("statement", "bill"), pk=entry_id
        )
        initial = {"bill": entry.bill.invoice_number if entry.bill else ""}
        form = AssignForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            target = form.cleaned_data["bill"]
            try:
                if isinstance(target, Account):
                    payment = bank_entry_assign_to_account(
                        entry=entry,
                        account=target,
                        actor=_staff(request),
                        note=form.cleaned_data["note"],
                    )
                    done = _("%(amount)s %(currency)s booked on account %(target)s as credit.")
                    shown = target.number
                else:
                    payment = bank_entry_assign(
                        entry=entry,
                        bill=target,
                        actor=_staff(request),
                        note=form.cleaned_data["note"],
                    )
                    done = _("%(amount)s %(currency)s booked against bill %(target)s.")
                    shown = target.invoice_number
            except (BankEntryNotOpen, BankEntryNotAssignable) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request,
                    done
                    % {"amount": payment.amount, "currency": payment.currency, "target": shown},
                    messages.SUCCESS,
                )
                queue = reverse("admin:billing_bankstatemententry_changelist")
                return HttpResponseRedirect(f"{queue}?status__exact={UNMATCHED}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Assign a bank entry to a bill"),
            "entry": entry,
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/bankstatemententry/assign.html", context)
