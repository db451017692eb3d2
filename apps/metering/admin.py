"""Back office for premises, supply points and meters."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from apps.accounts import services as account_services
from apps.metering import admin_alerts  # noqa: F401 - alerts and alert preferences register there
from apps.metering.identifiers import InvalidCups, normalise_cups
from apps.metering.models import Meter, Premise, SupplyPoint

ADDRESS_FIELDS = ("line1", "line2", "postcode", "city", "region", "country")


class PremiseForm(forms.ModelForm):  # type: ignore[type-arg]
    """A premise with its address typed in; a changed address is stored as a new row."""

    line1 = forms.CharField(label=_("Street and number"), max_length=200)
    line2 = forms.CharField(label=_("Floor, door, building"), max_length=200, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=16)
    city = forms.CharField(label=_("Town or city"), max_length=100)
    region = forms.CharField(label=_("Province"), max_length=100, required=False)
    country = forms.CharField(label=_("Country code"), max_length=2, min_length=2, initial="ES")

    class Meta:
        model = Premise
        fields = ("kind",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ADDRESS_FIELDS:
                self.initial.setdefault(name, getattr(self.instance.address, name))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if all(name in data for name in ("line1", "postcode", "city", "country")):
            try:
                account_services.address_clean(**{n: data.get(n, "") for n in ADDRESS_FIELDS})
            except account_services.InvalidAddress as exc:
                self.add_error(exc.field, exc.message)
        return data

    def address_data(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in ADDRESS_FIELDS}

    def address_changed(self) -> bool:
        return any(name in self.changed_data for name in ADDRESS_FIELDS)


@admin.register(Premise)
class PremiseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = PremiseForm
    list_display = ("__str__", "kind", "created_at")
    list_select_related = ("address",)
    list_filter = ("kind",)
    search_fields = ("address__line1", "address__postcode", "address__city")
    ordering = ("address__postcode", "id")
    fields = ("kind", *ADDRESS_FIELDS)

    def save_model(self, request: HttpRequest, obj: Premise, form: Any, change: bool) -> None:
        if not change or form.address_changed():
            obj.address = account_services.address_create(
                actor=request.user,  # type: ignore[arg-type]
                **form.address_data(),
            )
        super().save_model(request, obj, form, change)


class SupplyPointForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = SupplyPoint
        fields = ("external_id", "premise", "contracted_power_kw")
        help_texts = {
            "external_id": _(
                "Spanish CUPS: ES, 16 digits, 2 check letters, optionally a digit and a letter. "
                "Spaces and lower case are accepted."
            )
        }

    def clean_external_id(self) -> str:
        try:
            return normalise_cups(self.cleaned_data["external_id"])
        except InvalidCups as exc:
            raise forms.ValidationError(
                _("CUPS: %(reason)s"), code="invalid_cups", params={"reason": str(exc)}
            ) from None


@admin.register(SupplyPoint)
class SupplyPointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = SupplyPointForm
    list_display = ("external_id", "premise", "contracted_power_kw", "created_at")
    list_select_related = ("premise__address",)
    search_fields = ("external_id", "premise__address__postcode", "premise__address__line1")
    search_help_text = _("CUPS (or part of it), postcode or street of the premise.")
    raw_id_fields = ("premise",)
    ordering = ("external_id", "id")

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        # A CUPS is often pasted with spaces or dashes; search for it as one word too.
        compact = search_term.replace(" ", "").replace("-", "").upper()
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if compact.startswith("ES") and compact != search_term:
            results = results | queryset.filter(external_id__icontains=compact)
        return results, may_have_duplicates


class MeterForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Meter
        fields = ("serial", "supply_point", "is_smart", "installed_date", "removed_date")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        supply_point = data.get("supply_point")
        installed = data.get("installed_date")
        removed = data.get("removed_date")
        if supply_point is None or installed is None:
            return data
        if removed is not None and removed <= installed:
            self.add_error(
                "removed_date", _("The removal date must be after the installation date.")
            )
            return data
        overlapping = (
            Meter.objects.filter(supply_point=supply_point)
            .exclude(pk=self.instance.pk)
            .filter(Q(removed_date__isnull=True) | Q(removed_date__gt=installed))
        )
        if removed is not None:
            overlapping = overlapping.filter(installed_date__lt=removed)
        other = overlapping.order_by("installed_date", "id").first()
        if other is not None:
            until = other.removed_date.isoformat() if other.removed_date else _("now")
            self.add_error(
                "installed_date",
                _(
                    "Meter %(serial)s is installed at this supply point from %(start)s to "
                    "%(end)s; set its removal date first."
                )
                % {"serial": other.serial, "start": other.installed_date.isoformat(), "end": until},
            )
        return data


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = MeterForm
    list_display = ("serial", "supply_point", "is_smart", "installed_date", "removed_date")
    list_select_related = ("supply_point",)
    list_filter = ("is_smart",)
    search_fields = ("serial", "supply_point__external_id")
    raw_id_fields = ("supply_point",)
    ordering = ("serial", "id")
