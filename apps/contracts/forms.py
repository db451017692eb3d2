"""Forms of the customer contract pages. They check input; the services decide and save."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from apps.contracts import comparison
from apps.metering.identifiers import InvalidCups, normalise_cups
from apps.metering.models import Premise, SupplyPoint
from apps.tariffs.models import Tariff

NEW_SUPPLY_POINT = "new"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class TariffChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Tariff) -> str:  # type: ignore[override]
        return obj.name


def _date_attrs(earliest: dt.date, latest: dt.date) -> dict[str, str]:
    return {"min": earliest.isoformat(), "max": latest.isoformat()}


class SignUpForm(forms.Form):
    supply_point = forms.ChoiceField(label=_("Where do you want supply?"), widget=forms.RadioSelect)
    cups = forms.CharField(
        label=_("CUPS of the new supply point"),
        required=False,
        max_length=30,
        help_text=_("20 or 22 characters starting with ES; it is printed on any electricity bill."),
    )
    line1 = forms.CharField(label=_("Address line 1"), required=False, max_length=200)
    line2 = forms.CharField(label=_("Address line 2"), required=False, max_length=200)
    postcode = forms.CharField(label=_("Postcode"), required=False, max_length=16)
    city = forms.CharField(label=_("City"), required=False, max_length=100)
    premise_kind = forms.ChoiceField(
        label=_("Kind of premises"), choices=Premise.Kind.choices, initial=Premise.Kind.HOUSE
    )
    tariff = TariffChoiceField(
        label=_("Tariff"),
        queryset=Tariff.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
    )
    start_date = forms.DateField(label=_("Start date"))
    account = forms.IntegerField(widget=forms.HiddenInput)
    terms_version = forms.IntegerField(widget=forms.HiddenInput)
    accept_terms = forms.BooleanField(
        label=_("I have read and accept the terms above."),
        error_messages={"required": _("Please read and accept the terms to sign up.")},
    )

    def __init__(
        self,
        *args: Any,
        supply_points: Iterable[SupplyPoint],
        tariffs: QuerySet[Tariff],
        earliest: dt.date,
        latest: dt.date,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.supply_points = {str(sp.pk): sp for sp in supply_points}
        choices = [
            (pk, f"{sp.external_id} – {sp.premise.address}")
            for pk, sp in self.supply_points.items()
        ]
        choices.append((NEW_SUPPLY_POINT, str(_("Add a new supply point"))))
        field = self.fields["supply_point"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices
        if len(choices) == 1:
            field.initial = NEW_SUPPLY_POINT
        tariff_field = self.fields["tariff"]
        assert isinstance(tariff_field, forms.ModelChoiceField)
        tariff_field.queryset = tariffs
        self.fields["start_date"].widget = DateInput(attrs=_date_attrs(earliest, latest))
        self.fields["start_date"].help_text = _("From %(earliest)s to %(latest)s.") % {
            "earliest": earliest.isoformat(),
            "latest": latest.isoformat(),
        }

    def clean_cups(self) -> str:
        value: str = self.cleaned_data.get("cups", "")
        if self.data.get(self.add_prefix("supply_point")) != NEW_SUPPLY_POINT:
            return ""
        if not value.strip():
            raise forms.ValidationError(_("Enter the CUPS of the new supply point."))
        try:
            return normalise_cups(value)
        except InvalidCups as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("supply_point") == NEW_SUPPLY_POINT:
            for name, message in (
                ("line1", _("Enter the address of the new supply point.")),
                ("postcode", _("Enter the postcode of the new supply point.")),
                ("city", _("Enter the city of the new supply point.")),
            ):
                if not (data.get(name) or "").strip():
                    self.add_error(name, message)
        return data

    def chosen_supply_point(self) -> SupplyPoint | None:
        return self.supply_points.get(self.cleaned_data["supply_point"])


class SwitchForm(forms.Form):
    tariff = TariffChoiceField(
        label=_("New tariff"),
        queryset=Tariff.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
    )
    effective_date = forms.DateField(label=_("Switch on"))

    def __init__(
        self,
        *args: Any,
        tariffs: QuerySet[Tariff],
        earliest: dt.date,
        latest: dt.date,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tariff"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = tariffs
        self.fields["effective_date"].widget = DateInput(attrs=_date_attrs(earliest, latest))
        self.fields["effective_date"].help_text = _(
            "The first day on the new tariff, from %(earliest)s to %(latest)s. Your current "
            "contract ends the day before."
        ) % {"earliest": earliest.isoformat(), "latest": latest.isoformat()}


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Why are you cancelling? (optional)"), required=False, max_length=200
    )


class CompareForm(forms.Form):
    annual_kwh = forms.DecimalField(
        label=_("Your yearly consumption (kWh)"),
        required=False,
        min_value=comparison.MIN_ANNUAL_KWH,
        max_value=comparison.MAX_ANNUAL_KWH,
        decimal_places=0,
        help_text=_("Shown on your bills; we use 3,500 kWh when we do not know it."),
    )

    def declared(self) -> Decimal | None:
        if not self.is_valid():
            return None
        value = self.cleaned_data.get("annual_kwh")
        return Decimal(value) if value is not None else None
