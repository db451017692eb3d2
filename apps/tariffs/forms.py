"""Forms of the tariffs app: admin validation of price versions, staff uploads, catalogue filter.

Forms validate input and call services for the business rules; they never save on their own.
"""

from __future__ import annotations

import copy
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet, construct_instance
from django.utils.translation import gettext_lazy as _

from apps.core import clock
from apps.tariffs import services
from apps.tariffs.models import PriceVersion, Tariff

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(zone, zone) for zone in sorted(available_timezones())]


def _check_size(upload: Any) -> Any:
    if upload is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            _("The file is %(size)s MB; the limit is %(limit)s MB."),
            params={"size": round(upload.size / 1024 / 1024, 1), "limit": 10},
        )
    return upload


# ---------------------------------------------------------------------------------------------
# Admin: price versions
# ---------------------------------------------------------------------------------------------


class PriceVersionAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checks the version's own fields; the inline formsets check rates and taxes."""

    class Meta:
        model = PriceVersion
        fields = (
            "tariff",
            "label",
            "valid_from",
            "valid_to",
            "energy_kind",
            "standing_charge_per_day",
            "fixed_monthly_charge",
            "minimum_monthly_charge",
            "export_rate",
            "weekday_schedule",
            "weekend_schedule",
            "dynamic_factor",
            "dynamic_margin",
            "dynamic_floor",
            "dynamic_cap",
            "market_series",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None
        probe = copy.copy(self.instance)
        construct_instance(self, probe)
        for field in ("valid_from", "valid_to", "weekday_schedule", "weekend_schedule"):
            if field in self.errors:
                return cleaned  # already reported by the field itself
        try:
            services.price_version_validate_fields(version=probe)
        except ValidationError as error:
            # Errors on valid_from/valid_to also keep the generic exclusion-constraint
            # message away: Django skips constraints on fields that already have errors.
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


class EnergyRateInlineFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """Validates the whole energy charge: rates × schedules, as the rating engine reads them."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        rates = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        services.price_version_validate_rates(version=self.instance, energy_rates=rates)


class TaxRateInlineFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        taxes = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        services.price_version_validate_taxes(taxes=taxes)


# ---------------------------------------------------------------------------------------------
# Admin: staff uploads
# ---------------------------------------------------------------------------------------------


class UrdbImportForm(forms.Form):
    file = forms.FileField(
        label=_("URDB JSON file"),
        help_text=_("One OpenEI URDB rate record, or an API response with one item."),
    )
    code = forms.SlugField(
        label=_("Tariff code"), max_length=40, help_text=_("Unique; letters, digits, hyphens.")
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("URDB records carry no time zone; schedules are read in this one."),
    )
    valid_from = forms.DateField(
        label=_("Prices valid from"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        time_zone = self.fields["time_zone"]
        assert isinstance(time_zone, forms.ChoiceField)
        time_zone.choices = _time_zone_choices()
        time_zone.initial = settings.TIME_ZONE
        self.fields["valid_from"].initial = clock.today()

    def clean_file(self) -> Any:
        return _check_size(self.cleaned_data.get("file"))


class ReadingsPriceForm(forms.Form):
    tariff = forms.ModelChoiceField(
        label=_("Tariff"), queryset=Tariff.objects.order_by("code", "id"), to_field_name="code"
    )
    readings = forms.FileField(
        label=_("Readings CSV"),
        help_text=_(
            "Header row: start,minutes,kwh_import,kwh_export. start is ISO 8601 with a UTC "
            "offset, e.g. 2026-01-01T00:00:00+01:00; kwh_export may be empty."
        ),
    )

    def clean_readings(self) -> Any:
        return _check_size(self.cleaned_data.get("readings"))


# ---------------------------------------------------------------------------------------------
# Public catalogue
# ---------------------------------------------------------------------------------------------


class CatalogueFilterForm(forms.Form):
    segment = forms.ChoiceField(
        label=_("Show tariffs for"),
        required=False,
        choices=[("", _("Every customer"))]
        + [(value, label) for value, label in Tariff.Segment.choices if value != "ALL"],
    )
