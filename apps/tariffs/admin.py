"""Back office for tariffs: products, price versions with their rates and taxes, holidays,
market prices, and two staff tools (import from URDB, what-if pricing of readings).

Validation lives in ``services`` (called from the forms in ``forms``); the tool views make one
service call each and turn its exceptions into form errors.
"""

from __future__ import annotations

import io
from functools import cached_property
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from apps.core.admin_site import ReadOnlyModelAdmin
from apps.tariffs import services
from apps.tariffs.forms import (
    EnergyRateInlineFormSet,
    PriceVersionAdminForm,
    ReadingsPriceForm,
    TaxRateInlineFormSet,
    UrdbImportForm,
)
from apps.tariffs.models import EnergyRate, Holiday, MarketPrice, PriceVersion, Tariff, TaxRate
from apps.tariffs.views import schedule_blocks


class PriceVersionInline(admin.TabularInline):  # type: ignore[type-arg]
    """Versions listed on the tariff; each is edited on its own page (rates and taxes inline)."""

    model = PriceVersion
    fields = ("label", "valid_from", "valid_to", "energy_kind", "standing_charge_per_day")
    readonly_fields = fields
    ordering = ("valid_from", "id")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "code",
        "name",
        "segment",
        "is_public",
        "available_from",
        "available_to",
        "time_zone",
        "currency",
    )
    list_filter = ("is_public", "segment")
    search_fields = ("code", "name")
    ordering = ("code", "id")
    inlines = (PriceVersionInline,)
    readonly_fields = ("created_at", "add_version_link", "catalogue_link")
    change_list_template = "tariffs/admin/tariff_change_list.html"
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "segment", "is_public")}),
        (
            _("Conditions"),
            {
                "fields": (
                    "contract_months",
                    "exit_fee",
                    "green_share_percent",
                    "available_from",
                    "available_to",
                    "conditions",
                )
            },
        ),
        (_("Pricing"), {"fields": ("time_zone", "currency", "add_version_link")}),
        (_("Record"), {"fields": ("source", "created_at", "catalogue_link")}),
    )

    @admin.display(description=_("price versions"))
    def add_version_link(self, obj: Tariff | None) -> str:
        if obj is None or obj.pk is None:
            return str(_("Save the tariff first, then add its price versions."))
        url = reverse("admin:tariffs_priceversion_add") + f"?tariff={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Add a price version"))

    @admin.display(description=_("catalogue page"))
    def catalogue_link(self, obj: Tariff | None) -> str:
        if obj is None or obj.pk is None or not obj.is_public:
            return str(_("Not shown in the catalogue."))
        url = reverse("tariff_detail", args=[obj.code])
        return format_html('<a href="{}">{}</a>', url, url)

    def get_urls(self) -> list[URLPattern]:
        tools = [
            path(
                "import-urdb/",
                self.admin_site.admin_view(self.import_urdb_view),
                name="tariffs_tariff_import_urdb",
            ),
            path(
                "price-readings/",
                self.admin_site.admin_view(self.price_readings_view),
                name="tariffs_tariff_price_readings",
            ),
        ]
        return tools + super().get_urls()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "can_import_urdb": request.user.has_perm("tariffs.add_tariff"),
            "can_price_readings": request.user.has_perm("tariffs.view_tariff"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def _tool_context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
        }

    def import_urdb_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a URDB JSON record and create a tariff from it (needs tariffs.add_tariff)."""
        if not request.user.has_perm("tariffs.add_tariff"):
            raise PermissionDenied
        form = UrdbImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                tariff = services.tariff_import_urdb(
                    data=services.urdb_read_json(stream=data["file"]),
                    code=data["code"],
                    time_zone=data["time_zone"],
                    valid_from=data["valid_from"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except services.TariffCodeTaken as error:
                form.add_error("code", str(error))
            except services.UrdbImportRefused as error:
                form.add_error(error.field if error.field in form.fields else None, str(error))
            else:
                self.message_user(
                    request,
                    _(
                        "Imported %(tariff)s. It is not shown in the catalogue until you tick "
                        "“shown in the catalogue”; review its conditions first."
                    )
                    % {"tariff": tariff},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:tariffs_tariff_change", args=[tariff.pk])
                )
        context = {**self._tool_context(request, str(_("Import a tariff from URDB"))), "form": form}
        return TemplateResponse(request, "tariffs/admin/import_urdb.html", context)

    def price_readings_view(self, request: HttpRequest) -> HttpResponse:
        """Price an uploaded readings CSV on a tariff and show month tables (stores nothing)."""
        if not request.user.has_perm("tariffs.view_tariff"):
            raise PermissionDenied
        initial = {"tariff": request.GET.get("tariff")} if request.method == "GET" else None
        form = ReadingsPriceForm(request.POST or None, request.FILES or None, initial=initial)
        months: list[dict[str, Any]] | None = None
        tariff = None
        if request.method == "POST" and form.is_valid():
            tariff = form.cleaned_data["tariff"]
            upload = form.cleaned_data["readings"]
            stream = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
            try:
                results = services.tariff_price_readings(tariff=tariff, readings_csv=stream)
            except services.ReadingsFileInvalid as error:
                for message in error.errors:
                    form.add_error("readings", message)
            except services.ReadingsNotPriceable as error:
                form.add_error(None, str(error))
            else:
                months = [
                    {
                        "month": month,
                        "lines": [
                            {
                                "line": line,
                                "quantity": services.shown_quantity(line),
                                "unit_price": services.shown_unit_price(line),
                            }
                            for line in month.lines
                        ],
                    }
                    for month in results
                ]
            finally:
                stream.detach()
        context = {
            **self._tool_context(request, str(_("Price readings (what-if)"))),
            "form": form,
            "months": months,
            "tariff": tariff,
        }
        return TemplateResponse(request, "tariffs/admin/price_readings.html", context)


class EnergyRateInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EnergyRate
    formset = EnergyRateInlineFormSet
    fields = ("period", "period_name", "tier", "upto_kwh", "rate")
    ordering = ("period", "tier", "id")
    extra = 0


class TaxRateInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TaxRate
    formset = TaxRateInlineFormSet
    fields = ("position", "code", "name", "rate_percent", "base")
    ordering = ("position", "id")
    extra = 0


@admin.register(PriceVersion)
class PriceVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = PriceVersionAdminForm
    inlines = (EnergyRateInline, TaxRateInline)
    list_display = ("__str__", "tariff", "label", "valid_from", "valid_to", "energy_kind")
    list_filter = ("energy_kind", "tariff")
    list_select_related = ("tariff",)
    search_fields = ("tariff__code", "tariff__name", "label")
    ordering = ("tariff__code", "valid_from", "id")
    readonly_fields = ("schedule_overview",)
    fieldsets = (
        (None, {"fields": ("tariff", "label", "valid_from", "valid_to")}),
        (
            _("Charges"),
            {
                "fields": (
                    "standing_charge_per_day",
                    "fixed_monthly_charge",
                    "minimum_monthly_charge",
                    "export_rate",
                )
            },
        ),
        (
            _("Energy charge"),
            {
                "fields": (
                    "energy_kind",
                    "weekday_schedule",
                    "weekend_schedule",
                    "schedule_overview",
                ),
                "description": _(
                    "Flat and tiered prices use one period (key ALL) in the energy rates below. "
                    "Time of use: each schedule is 12 rows (January to December) of 24 period "
                    "keys (local hours 00–23); every key needs a rate below. The weekend "
                    "schedule also applies on public holidays; leave it empty to use the "
                    "weekday schedule every day. Tiers: number them 1, 2, 3… with increasing "
                    "limits (kWh per month); the last tier has no limit."
                ),
            },
        ),
        (
            _("Dynamic price"),
            {
                "fields": (
                    "dynamic_factor",
                    "dynamic_margin",
                    "dynamic_floor",
                    "dynamic_cap",
                    "market_series",
                ),
                "description": _(
                    "Only for dynamic prices: price per kWh = market price × factor + margin, "
                    "kept between floor and cap when given."
                ),
            },
        ),
    )

    @admin.display(description=_("schedule overview"))
    def schedule_overview(self, obj: PriceVersion | None) -> str:
        if obj is None or obj.energy_kind != PriceVersion.EnergyKind.TIME_OF_USE:
            return "–"
        names = {r.period: r.period_name or r.period for r in obj.energy_rates.all()}
        blocks = schedule_blocks(obj.weekday_schedule, obj.weekend_schedule, names)
        if not blocks:
            return "–"
        return format_html_join(
            "",
            "<p><strong>{}</strong>: {}</p>",
            (
                (
                    block.months,
                    "; ".join(
                        f"{row.label} {row.weekday}"
                        + ("" if block.same_every_day else f" / {row.weekend}")
                        for row in block.rows
                    ),
                )
                for block in blocks
            ),
        )


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("date", "region", "name")
    list_filter = ("region",)
    search_fields = ("name",)
    date_hierarchy = "date"
    ordering = ("-date", "id")


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows: market prices grow by 8,760 rows per series and year."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            return len(queryset.values_list("pk", flat=True)[: self.CAP])
        return len(queryset)


@admin.register(MarketPrice)
class MarketPriceAdmin(ReadOnlyModelAdmin):
    """Read-only: the market app fills these prices."""

    list_display = ("series", "starts_at", "price_per_kwh")
    list_filter = ("series",)
    date_hierarchy = "starts_at"
    ordering = ("-starts_at", "series", "id")
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100


__all__ = [
    "HolidayAdmin",
    "MarketPriceAdmin",
    "PriceVersionAdmin",
    "TariffAdmin",
]
