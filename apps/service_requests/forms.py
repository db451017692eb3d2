"""Forms of the customer request pages: one form per request type, a slot picker, cancel forms.

They check the shape of the input and ask the services for the rules (date windows,
description lengths, file checks), so the customer sees every problem at once; the services
check again and decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from apps.metering.models import SupplyPoint
from apps.service_requests import services, uploads
from apps.service_requests.models import Motive, RequestType

#: URL slug of each request type (``/my/requests/new/repair/``).
TYPE_SLUGS: dict[str, str] = {
    "new-connection": RequestType.NEW_CONNECTION,
    "maintenance": RequestType.MAINTENANCE,
    "repair": RequestType.REPAIR,
    "meter-exchange": RequestType.METER_EXCHANGE,
    "disconnection": RequestType.DISCONNECTION,
    "reconnection": RequestType.RECONNECTION,
    "other": RequestType.OTHER,
}
SLUG_BY_TYPE = {value: slug for slug, value in TYPE_SLUGS.items()}

#: What each type is for, shown on the "new request" page.
TYPE_HINTS: dict[str, Any] = {
    RequestType.NEW_CONNECTION: _("Connect a new building or plot to the grid."),
    RequestType.MAINTENANCE: _("A planned check of your connection or installation."),
    RequestType.REPAIR: _("Something is broken or unsafe at your supply point."),
    RequestType.METER_EXCHANGE: _("Replace, upgrade or move your meter."),
    RequestType.DISCONNECTION: _("Disconnect a supply point, for example when moving out."),
    RequestType.RECONNECTION: _("Connect again a supply point that was disconnected."),
    RequestType.OTHER: _("Anything else you need from our field team."),
}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleans to a list (empty when none was chosen)."""

    def __init__(self, *args: Any, accept: str, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": accept}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:  # type: ignore[override]
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if not files:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def _accept(types: Sequence[str]) -> str:
    return ",".join([*types, *(ext for t in types for ext in uploads.EXTENSIONS[t])])


DOCUMENT_TYPES = (uploads.PDF, uploads.PNG, uploads.JPEG)
PHOTO_TYPES = (uploads.PNG, uploads.JPEG)


class ServiceRequestForm(forms.Form):
    """Fields every type may use; :func:`form_for` removes what a type does not ask for."""

    supply_point = forms.TypedChoiceField(
        label=_("Supply point"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the supply point the request is about.")},
    )
    line1 = forms.CharField(
        label=_("Street and number"),
        max_length=200,
        error_messages={"required": _("Enter the street and number of the new connection.")},
    )
    line2 = forms.CharField(label=_("Floor, door, plot (optional)"), max_length=200, required=False)
    postcode = forms.CharField(
        label=_("Postcode"),
        max_length=16,
        error_messages={"required": _("Enter the postcode, for example 28013.")},
    )
    city = forms.CharField(
        label=_("Town or city"),
        max_length=100,
        error_messages={"required": _("Enter the town or city.")},
    )
    requested_capacity_kw = forms.DecimalField(
        label=_("Capacity you need (kW)"),
        max_digits=7,
        decimal_places=3,
        min_value=services.MIN_CAPACITY_KW,
        max_value=services.MAX_CAPACITY_KW,
        help_text=_("Most homes need 3.45 to 9.2 kW; an electric-car charger adds about 7.4 kW."),
        error_messages={
            "required": _("Enter the capacity you need in kW, for example 5.75."),
            "invalid": _("Enter the capacity as a number of kW, for example 5.75."),
            "min_value": _("Enter at least %(limit_value)s kW."),
            "max_value": _(
                "Enter at most %(limit_value)s kW; for more, please call our business team."
            ),
            "max_decimal_places": _("Use at most three decimals, for example 5.75."),
        },
    )
    motive = forms.ChoiceField(
        label=_("Why?"),
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the reason from the list.")},
    )
    desired_date = forms.DateField(
        label=_("Preferred date"),
        widget=DateInput(),
        error_messages={
            "required": _("Enter the date you would like the work done."),
            "invalid": _("Enter the date as YYYY-MM-DD, for example 2026-04-15."),
        },
    )
    description = forms.CharField(
        label=_("Tell us more"),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=services.MAX_DESCRIPTION,
        required=False,
    )
    documents = MultipleFileField(
        label=_("Documents"),
        accept=_accept(DOCUMENT_TYPES),
        help_text=_(
            "The electrical installation certificate, the building permit or a plan. "
            "PDF, PNG or JPEG, up to 10 MB each, at most 5 files."
        ),
        error_messages={
            "required": _(
                "Attach at least one document, for example the electrical installation "
                "certificate or the building permit (PDF, PNG or JPEG)."
            )
        },
    )
    photos = MultipleFileField(
        label=_("Photos (optional)"),
        accept=_accept(PHOTO_TYPES),
        required=False,
        help_text=_(
            "Photos of the fault help the crew bring the right parts. PNG or JPEG, up to "
            "10 MB each, at most 5 photos."
        ),
    )

    def __init__(
        self,
        *args: Any,
        request_type: str,
        supply_points: Iterable[SupplyPoint],
        today: dt.date,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.request_type = request_type
        self.today = today
        self.supply_points = {sp.pk: sp for sp in supply_points}
        wanted = FIELDS_BY_TYPE[request_type]
        for name in list(self.fields):
            if name not in wanted:
                del self.fields[name]
        if "supply_point" in self.fields:
            field = self.fields["supply_point"]
            choices: list[tuple[Any, Any]] = [
                (pk, f"{sp.external_id} – {sp.premise.address}")
                for pk, sp in self.supply_points.items()
            ]
            if request_type == RequestType.OTHER:
                field.required = False
                field.empty_value = None  # type: ignore[attr-defined]
                choices = [("", _("It is not about one of my supply points")), *choices]
            field.choices = choices  # type: ignore[attr-defined]
            if len(self.supply_points) == 1 and request_type != RequestType.OTHER:
                field.initial = next(iter(self.supply_points))
        if "motive" in self.fields:
            allowed = services.MOTIVES_BY_TYPE[request_type]
            self.fields["motive"].choices = [  # type: ignore[attr-defined]
                (value, label) for value, label in Motive.choices if value in allowed
            ]
        if "desired_date" in self.fields:
            bounds = services.desired_date_bounds(request_type, today=today)
            assert bounds is not None
            field = self.fields["desired_date"]
            field.required = services.DESIRED_DATE_RULES[request_type][1]
            field.widget.attrs.update({"min": bounds[0].isoformat(), "max": bounds[1].isoformat()})
            field.help_text = _("From %(earliest)s to %(latest)s.") % {
                "earliest": bounds[0].isoformat(),
                "latest": bounds[1].isoformat(),
            }
            if not field.required:
                field.label = _("Preferred date (optional)")
        if "description" in self.fields:
            minimum = services.DESCRIPTION_MINIMUM.get(request_type, 0)
            field = self.fields["description"]
            field.required = minimum > 0
            field.label = DESCRIPTION_LABELS.get(
                request_type, _("Anything we should know? (optional)")
            )
            if request_type == RequestType.REPAIR:
                field.help_text = _(
                    "What happens, since when, and whether anything is unsafe (sparks, smell "
                    "of burning, exposed wires). If it is dangerous, call the emergency line now."
                )
            field.error_messages["required"] = services.description_error(request_type, "") or ""

    def clean_desired_date(self) -> dt.date | None:
        value: dt.date | None = self.cleaned_data.get("desired_date")
        problem = services.desired_date_error(self.request_type, value, today=self.today)
        if problem:
            raise forms.ValidationError(problem, code="date_window")
        return value

    def clean_description(self) -> str:
        value: str = self.cleaned_data.get("description", "")
        problem = services.description_error(self.request_type, value)
        if problem:
            raise forms.ValidationError(problem, code="description")
        return value.strip()

    def _clean_files(self, name: str, allowed: Sequence[str]) -> list[UploadedFile]:
        files: list[UploadedFile] = self.cleaned_data.get(name) or []
        try:
            services.upload_check(files, field=name, allowed=allowed)  # type: ignore[arg-type]
        except services.InvalidUpload as exc:
            raise forms.ValidationError(exc.message, code="upload") from None
        return files

    def clean_documents(self) -> list[UploadedFile]:
        return self._clean_files("documents", DOCUMENT_TYPES)

    def clean_photos(self) -> list[UploadedFile]:
        return self._clean_files("photos", PHOTO_TYPES)

    def details(self) -> services.RequestDetails:
        """The cleaned input as the service takes it."""
        data = self.cleaned_data
        address = None
        if self.request_type == RequestType.NEW_CONNECTION:
            address = services.NewAddress(
                line1=data["line1"],
                line2=data.get("line2", ""),
                postcode=data["postcode"],
                city=data["city"],
            )
        supply_point_id = data.get("supply_point")
        capacity: Decimal | None = data.get("requested_capacity_kw")
        return services.RequestDetails(
            request_type=self.request_type,
            supply_point=self.supply_points.get(supply_point_id) if supply_point_id else None,
            address=address,
            requested_capacity_kw=capacity,
            desired_date=data.get("desired_date"),
            motive=data.get("motive", ""),
            description=data.get("description", ""),
            documents=data.get("documents") or (),
            photos=data.get("photos") or (),
        )


DESCRIPTION_LABELS: dict[str, Any] = {
    RequestType.REPAIR: _("What is wrong?"),
    RequestType.MAINTENANCE: _("What should we check?"),
    RequestType.OTHER: _("What do you need?"),
}

_ADDRESS = ("line1", "line2", "postcode", "city")
FIELDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    RequestType.NEW_CONNECTION: (
        *_ADDRESS,
        "requested_capacity_kw",
        "desired_date",
        "documents",
        "description",
    ),
    RequestType.MAINTENANCE: ("supply_point", "description"),
    RequestType.REPAIR: ("supply_point", "description", "photos"),
    RequestType.METER_EXCHANGE: ("supply_point", "motive", "description"),
    RequestType.DISCONNECTION: ("supply_point", "motive", "desired_date", "description"),
    RequestType.RECONNECTION: ("supply_point", "desired_date", "description"),
    RequestType.OTHER: ("supply_point", "description"),
}


class SlotForm(forms.Form):
    """The slot picker. The template draws one radio group over the offered slots.

    The posted value is not checked against the slots on offer here: a slot taken since the
    page was shown must reach the service, which says "just taken" and the page shows fresh
    slots.
    """

    slot = forms.CharField(
        label=_("Visit time"),
        max_length=40,
        error_messages={"required": _("Choose a time for the visit.")},
    )

    def clean_slot(self) -> dt.datetime:
        try:
            value = dt.datetime.fromisoformat(self.cleaned_data["slot"])
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            raise forms.ValidationError(_("Choose a time from the list."), code="invalid")
        return value


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Why are you cancelling?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Tell us briefly why you are cancelling the request.")},
    )
