"""Forms of the outage pages. They validate input; the services do the work."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core import clock
from apps.metering.models import SupplyPoint
from apps.outages.models import Feeder, Level, Outage, Substation, Transformer
from apps.outages.services import DESCRIPTION_MAX


class LocalDateTimeField(forms.DateTimeField):
    """A date and time typed in the operator's zone (an ``<input type="datetime-local">``)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.datetime | None:
        result = super().to_python(value)
        if result is None:
            return None
        return result.replace(tzinfo=None).replace(tzinfo=clock.local_zone())


class ReportForm(forms.Form):
    supply_point = forms.TypedChoiceField(label=_("Address without power"), coerce=int)
    description = forms.CharField(
        label=_("What do you notice? (optional)"),
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: the whole street is dark, or only my home."),
    )

    def __init__(self, *args: Any, supply_points: list[SupplyPoint], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["supply_point"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (sp.pk, f"{sp.premise.address} ({sp.external_id})") for sp in supply_points
        ]
        if len(supply_points) == 1:
            self.initial.setdefault("supply_point", supply_points[0].pk)


class UpdateForm(forms.Form):
    note = forms.CharField(
        label=_("Public note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Customers affected see this on their outage page."),
    )
    cause = forms.ChoiceField(
        label=_("Cause"), required=False, choices=[("", "—"), *Outage.Cause.choices]
    )
    crew = forms.CharField(label=_("Crew"), required=False, max_length=120)
    estimated_restoration_at = LocalDateTimeField(
        label=_("Estimated restoration (local time)"), required=False
    )


class RestoreForm(forms.Form):
    at = LocalDateTimeField(
        label=_("Power restored at (local time)"),
        required=False,
        help_text=_("Leave empty for now."),
    )
    note = forms.CharField(label=_("Public note"), required=False, max_length=500)


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(
        choices=[(Outage.Status.ACTIVE, ""), (Outage.Status.CANCELLED, "")],
        widget=forms.HiddenInput,
    )
    note = forms.CharField(label=_("Public note"), required=False, max_length=500)


def _node_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    substations = [
        (f"{Level.SUBSTATION}:{s.pk}", str(s)) for s in Substation.objects.order_by("code", "id")
    ]
    feeders = [(f"{Level.FEEDER}:{f.pk}", str(f)) for f in Feeder.objects.order_by("code", "id")]
    transformers = [
        (f"{Level.TRANSFORMER}:{t.pk}", str(t)) for t in Transformer.objects.order_by("code", "id")
    ]
    return [
        (str(_("Substations")), substations),
        (str(_("Feeders")), feeders),
        (str(_("Transformers")), transformers),
    ]


class PlannedOutageForm(forms.Form):
    node = forms.ChoiceField(label=_("Network node"))
    starts_at = LocalDateTimeField(label=_("Starts (local time)"))
    ends_at = LocalDateTimeField(label=_("Ends (local time)"))
    description = forms.CharField(
        label=_("Description for customers"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["node"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _node_choices()

    def node_parts(self) -> tuple[str, int]:
        level, _sep, node_id = self.cleaned_data["node"].partition(":")
        return level, int(node_id)


class ReliabilityForm(forms.Form):
    start = forms.DateField(label=_("From (first day)"), widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(label=_("To (last day)"), widget=forms.DateInput({"type": "date"}))
    area = forms.ChoiceField(label=_("Area"))
    include_planned = forms.BooleanField(
        label=_("Include planned interruptions"), required=False, initial=True
    )

    def __init__(self, *args: Any, areas: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["area"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = areas

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The last day must not be before the first day."))
            elif (end - start).days > 366 * 5:
                self.add_error("end", _("Choose a period of at most five years."))
        return data
