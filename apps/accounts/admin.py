from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from apps.accounts import services
from apps.accounts.models import Account, ConsentRecord, Customer, Membership, User, normalise_phone


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email", "id")
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name", "preferred_language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


# --- Address fields shared by the customer (add) and account (change) forms ---------

ADDRESS_FIELDS = ("line1", "line2", "postcode", "city", "region", "country")


class AddressFieldsMixin(forms.Form):
    """Billing-address inputs checked with the same rules as the services use."""

    line1 = forms.CharField(label=_("Street and number"), max_length=200)
    line2 = forms.CharField(label=_("Floor, door, building"), max_length=200, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=16)
    city = forms.CharField(label=_("Town or city"), max_length=100)
    region = forms.CharField(label=_("Province"), max_length=100, required=False)
    country = forms.CharField(label=_("Country code"), max_length=2, min_length=2, initial="ES")

    def clean_address(self) -> None:
        data = self.cleaned_data
        if any(name not in data for name in ("line1", "postcode", "city", "country")):
            return  # a required part already has its own error
        try:
            services.address_clean(**{name: data.get(name, "") for name in ADDRESS_FIELDS})
        except services.InvalidAddress as exc:
            self.add_error(exc.field, exc.message)

    def address_data(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in ADDRESS_FIELDS}


# --- Customers ---------------------------------------------------------------------


class CustomerAddForm(AddressFieldsMixin, ModelForm):  # type: ignore[type-arg]
    """New customer with a first billing account, created by ``customer_create_with_account``."""

    billing_day = forms.IntegerField(label=_("Billing day"), min_value=1, max_value=28, initial=1)

    class Meta:
        model = Customer
        fields = ("kind", "name", "tax_id", "segment", "email", "phone", "has_ev", "is_vulnerable")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.clean_address()
        return data  # type: ignore[return-value]


class AccountInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Account
    fields = ("number", "status", "billing_address", "billing_day", "created_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ("number", "id")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name",
        "email",
        "segment",
        "consumption_band",
        "has_solar",
        "has_ev",
        "is_vulnerable",
        "created_at",
    )
    list_filter = ("segment", "consumption_band", "has_solar", "has_ev", "is_vulnerable")
    # Text lookups only: accounts sits below metering and contracts and never imports them.
    search_fields = (
        "name",
        "email",
        "tax_id",
        "accounts__memberships__user__email",
        "accounts__number",
        "accounts__contracts__supply_point__external_id",
        "accounts__billing_address__postcode",
        "accounts__contracts__supply_point__premise__address__postcode",
    )
    search_help_text = _(
        "Name, email, tax id, account number, supply point (CUPS) or postcode "
        "(billing or supply address)."
    )
    ordering = ("name", "id")
    readonly_fields = (
        "customer_360_link",
        "consumption_band",
        "annual_kwh",
        "has_solar",
        "segments_refreshed_at",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("customer_360_link", "kind", "name", "tax_id", "segment")}),
        (_("Contact"), {"fields": ("email", "phone")}),
        (_("Set by staff"), {"fields": ("has_ev", "is_vulnerable")}),
        (
            _("Derived by the segmentation job (manage.py refresh_segments)"),
            {"fields": ("consumption_band", "annual_kwh", "has_solar", "segments_refreshed_at")},
        ),
        (_("Record"), {"fields": ("created_at",)}),
    )
    add_fieldsets = (
        (None, {"fields": ("kind", "name", "tax_id", "segment")}),
        (_("Contact"), {"fields": ("email", "phone")}),
        (_("Set by staff"), {"fields": ("has_ev", "is_vulnerable")}),
        (
            _("First billing account"),
            {"fields": (*ADDRESS_FIELDS, "billing_day")},
        ),
    )
    inlines = (AccountInline,)

    @admin.display(description=_("Customer 360"))
    def customer_360_link(self, obj: Customer) -> SafeString | str:
        if not obj.pk:
            return "—"
        try:
            url = reverse("staff_customer_360", args=[obj.pk])
        except NoReverseMatch:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', url, _("Open accounts, contracts and supply points together")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(
        self, request: HttpRequest, obj: Customer | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = CustomerAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Customer | None) -> Any:
        return self.inlines if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        if change:
            obj.phone = normalise_phone(obj.phone)
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        account = services.customer_create_with_account(
            kind=data["kind"],
            name=data["name"],
            tax_id=data["tax_id"],
            segment=data["segment"],
            email=data["email"],
            phone=data["phone"],
            has_ev=data["has_ev"],
            is_vulnerable=data["is_vulnerable"],
            billing_day=data["billing_day"],
            actor=request.user,  # type: ignore[arg-type]
            **form.address_data(),
        )
        obj.pk = account.customer_id
        obj.refresh_from_db()


# --- Accounts and memberships ---------------------------------------------------------


class AccountChangeForm(AddressFieldsMixin, ModelForm):  # type: ignore[type-arg]
    """Status and billing day; a changed billing address becomes a new Address row."""

    class Meta:
        model = Account
        fields = ("status", "billing_day")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        address = getattr(self.instance, "billing_address", None)
        if self.instance.pk and address is not None:
            for name in ADDRESS_FIELDS:
                self.initial.setdefault(name, getattr(address, name))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.clean_address()
        return data  # type: ignore[return-value]


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    fields = ("user", "role", "created_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("user__email", "id")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = AccountChangeForm
    list_display = ("number", "customer", "status", "billing_day", "created_at")
    list_select_related = ("customer",)
    list_filter = ("status",)
    search_fields = ("=number", "customer__name", "customer__email")
    ordering = ("number", "id")
    readonly_fields = ("number", "customer", "created_at")
    fieldsets = (
        (None, {"fields": ("number", "customer", "status", "billing_day", "created_at")}),
        (
            _("Billing address (a change is stored as a new address; old bills keep theirs)"),
            {"fields": ADDRESS_FIELDS},
        ),
    )
    inlines = (MembershipInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are opened with their customer (customer_create_with_account)

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.account_update_billing_address(
            account=obj,
            actor=request.user,  # type: ignore[arg-type]
            **form.address_data(),
        )


class MembershipAddForm(ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Membership
        fields = ("account", "user", "role")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "account", "role", "created_at")
    list_select_related = ("user", "account")
    list_filter = ("role",)
    search_fields = ("user__email", "=account__number", "account__customer__name")
    raw_id_fields = ("user", "account")
    ordering = ("account__number", "user__email", "id")

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> Any:
        return ("account", "user", "created_at") if obj is not None else ()

    def get_form(
        self,
        request: HttpRequest,
        obj: Membership | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> Any:
        if obj is None:
            kwargs["form"] = MembershipAddForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The form already refused a duplicate (unique constraint), so AlreadyMember is a race.
        created = services.membership_add(
            account=obj.account,
            user=obj.user,
            role=obj.role,
            actor=request.user,  # type: ignore[arg-type]
        )
        obj.pk = created.pk
        obj.created_at = created.created_at


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Consents are evidence: staff read them; changes go through ``consent_record``."""

    list_display = ("customer", "kind", "granted", "recorded_at", "channel", "actor")
    list_select_related = ("customer", "actor")
    list_filter = ("kind", "granted", "channel")
    search_fields = ("customer__name", "customer__email", "=customer__accounts__number")
    ordering = ("-recorded_at", "-id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
