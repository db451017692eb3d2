"""Staff admin for contracts and terms. Status only changes through the transition service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.contracts import services
from apps.contracts.models import (
    Contract,
    ContractDiscount,
    ContractStatusChange,
    TermsAcceptance,
    TermsVersion,
)
from apps.core import clock

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

CORE_FIELDS = ("account", "supply_point", "tariff", "start_date", "end_date")


class StatusChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ContractStatusChange
    extra = 0
    can_delete = False
    fields = ("changed_at", "from_status", "to_status", "actor_label", "reason")
    readonly_fields = fields
    ordering = ("changed_at", "id")
    verbose_name_plural = _("Status history")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DiscountInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ContractDiscount
    extra = 0
    fields = ("label", "kind", "value", "valid_from", "valid_to")
    ordering = ("valid_from", "id")


class TermsAcceptanceInline(admin.StackedInline):  # type: ignore[type-arg]
    model = TermsAcceptance
    extra = 0
    can_delete = False
    fields = ("terms", "user", "accepted_at", "ip_address", "user_agent")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ContractAddForm(forms.ModelForm):  # type: ignore[type-arg]
    """Staff add a contract: say which contract is in the way, as the services do."""

    class Meta:
        model = Contract
        fields = CORE_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if all(data.get(name) for name in ("account", "supply_point", "start_date")):
            message = services.overlap_message(
                supply_point=data["supply_point"],
                start_date=data["start_date"],
                end_date=data.get("end_date"),
                account=data["account"],
            )
            if message:
                self.add_error("start_date", message)
        return data


def _transition_action(to_status: str, description: StrOrPromise) -> Any:
    def action(
        modeladmin: ContractAdmin, request: HttpRequest, queryset: QuerySet[Contract]
    ) -> None:
        user = request.user
        assert isinstance(user, User)
        moved = 0
        for contract in queryset.order_by("id"):
            try:
                services.contract_transition(
                    contract=contract,
                    to_status=to_status,
                    actor=user,
                    actor_label=services.actor_label_for(user, role="staff"),
                    reason=str(_("Changed in the back office")),
                    now=clock.now(),
                )
            except services.ContractError as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
            else:
                moved += 1
        if moved:
            modeladmin.message_user(
                request,
                _("%(count)d contract(s) moved to %(status)s.")
                % {"count": moved, "status": Contract.Status(to_status).label},
                messages.SUCCESS,
            )

    action.__name__ = f"transition_to_{to_status.lower()}"
    return admin.action(description=description, permissions=["change"])(action)


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "number",
        "account",
        "supply_point",
        "tariff",
        "start_date",
        "end_date",
        "status",
    )
    list_filter = ("status", "tariff")
    list_select_related = ("account", "supply_point", "tariff")
    search_fields = ("number", "supply_point__external_id", "account__number")
    raw_id_fields = ("account", "supply_point", "tariff")
    ordering = ("-id",)
    show_full_result_count = False
    inlines = (DiscountInline, StatusChangeInline, TermsAcceptanceInline)
    actions = (
        _transition_action(Contract.Status.ACTIVE, _("Activate the selected contracts")),
        _transition_action(Contract.Status.ENDED, _("End the selected contracts")),
        _transition_action(Contract.Status.CANCELLED, _("Cancel the selected contracts")),
    )

    def get_form(
        self, request: HttpRequest, obj: Contract | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:  # type: ignore[type-arg]
        if obj is None:
            kwargs["form"] = ContractAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Contract | None = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return list(CORE_FIELDS)
        return [
            "number",
            *CORE_FIELDS,
            "status",
            "previous",
            "signed_at",
            "cooling_off_ends_at",
            "exit_fee",
            "created_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Contract | None = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return []
        # Dates, parties and status change only through the services (switch, transitions).
        return self.get_fields(request, obj)

    def save_model(
        self, request: HttpRequest, obj: Contract, form: forms.ModelForm[Contract], change: bool
    ) -> None:
        if change:
            return  # nothing on the contract itself is editable here; inlines save on their own
        user = request.user
        assert isinstance(user, User)
        created = services.contract_create(
            account=obj.account,
            supply_point=obj.supply_point,
            tariff=obj.tariff,
            start_date=obj.start_date,
            end_date=obj.end_date,
            actor=user,
            actor_label=services.actor_label_for(user, role="staff"),
            now=clock.now(),
        )
        obj.pk = created.pk
        obj.number = created.number
        obj.status = created.status
        obj._state.adding = False


@admin.register(TermsVersion)
class TermsVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("version", "title", "published_at")
    search_fields = ("version", "title")
    ordering = ("-published_at", "-id")

    def get_readonly_fields(
        self, request: HttpRequest, obj: TermsVersion | None = None
    ) -> list[str]:  # type: ignore[override]
        if obj is not None and obj.acceptances.exists():  # type: ignore[attr-defined]
            return ["version", "title", "body", "published_at"]  # accepted text never changes
        return []

    def has_delete_permission(self, request: HttpRequest, obj: TermsVersion | None = None) -> bool:
        if obj is not None and obj.acceptances.exists():  # type: ignore[attr-defined]
            return False
        return super().has_delete_permission(request, obj)
