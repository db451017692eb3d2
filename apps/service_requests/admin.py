"""Staff admin: the triage queue, crews and their hours, visits.

Status, crew and visits only change through the services: bulk actions and the
per-request "process" page call them one request at a time and report refusals.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core import clock
from apps.core.admin_site import ReadOnlyInline
from apps.service_requests import selectors, services
from apps.service_requests.models import (
    Appointment,
    Crew,
    CrewShift,
    RequestType,
    ServiceDocument,
    ServiceRequest,
    ServiceRequestStatusChange,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Status = ServiceRequest.Status
STAFF = ServiceRequestStatusChange.ActorRole.STAFF
DUE_SOON = dt.timedelta(hours=24)


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def duration_text(value: dt.timedelta) -> str:
    """``3 d 4 h``, ``5 h 20 min``, ``12 min`` (absolute value)."""
    seconds = abs(int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


# --- queue filters ----------------------------------------------------------------------------


class SlaFilter(admin.SimpleListFilter):
    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [
            ("overdue", _("Overdue")),
            ("due_soon", _("Due within 24 hours")),
            ("on_track", _("On track")),
            ("closed", _("Closed")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = clock.now()
        open_ = queryset.filter(status__in=selectors.OPEN_STATUSES)
        value = self.value()
        if value == "overdue":
            return open_.filter(sla_due_at__lt=now)
        if value == "due_soon":
            return open_.filter(sla_due_at__gte=now, sla_due_at__lt=now + DUE_SOON)
        if value == "on_track":
            return open_.filter(sla_due_at__gte=now + DUE_SOON)
        if value == "closed":
            return queryset.exclude(status__in=selectors.OPEN_STATUSES)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"
    BANDS: dict[str, tuple[dt.timedelta | None, dt.timedelta | None]] = {
        "1d": (None, dt.timedelta(days=1)),
        "7d": (dt.timedelta(days=1), dt.timedelta(days=7)),
        "30d": (dt.timedelta(days=7), dt.timedelta(days=30)),
        "older": (dt.timedelta(days=30), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [
            ("1d", _("Under a day")),
            ("7d", _("1 to 7 days")),
            ("30d", _("7 to 30 days")),
            ("older", _("Over 30 days")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        band = self.BANDS.get(self.value() or "")
        if band is None:
            return queryset
        now = clock.now()
        younger_than, older_than = band[0], band[1]
        if younger_than is not None:
            queryset = queryset.filter(submitted_at__lte=now - younger_than)
        if older_than is not None:
            queryset = queryset.filter(submitted_at__gt=now - older_than)
        return queryset


# --- inlines ----------------------------------------------------------------------------------


class StatusChangeInline(ReadOnlyInline):
    model = ServiceRequestStatusChange
    fields = ("changed_at", "from_status", "to_status", "actor", "actor_role", "public_note")
    readonly_fields = fields
    ordering = ("changed_at", "id")
    verbose_name_plural = _("Timeline")


class DocumentInline(ReadOnlyInline):
    model = ServiceDocument
    fields = ("kind", "download", "content_type", "size_bytes", "uploaded_at")
    readonly_fields = fields
    ordering = ("uploaded_at", "id")

    @admin.display(description=_("file"))
    def download(self, obj: ServiceDocument) -> str:
        url = reverse(
            "service_requests_staff:document",
            kwargs={"request_id": obj.service_request_id, "document_id": obj.pk},
        )
        return format_html('<a href="{}">{}</a>', url, obj.original_name)


class AppointmentInline(ReadOnlyInline):
    model = Appointment
    fields = ("starts_at", "ends_at", "crew", "status", "booked_at", "cancel_reason")
    readonly_fields = fields
    ordering = ("starts_at", "id")
    verbose_name_plural = _("Visits")


# --- the triage queue -------------------------------------------------------------------------


def _transition_action(to_status: str, description: StrOrPromise) -> Any:
    def action(
        modeladmin: ServiceRequestAdmin, request: HttpRequest, queryset: QuerySet[ServiceRequest]
    ) -> None:
        moved = 0
        for service_request in queryset.order_by("id"):
            try:
                services.service_request_transition(
                    service_request=service_request,
                    to_status=to_status,
                    actor=_staff(request),
                    actor_role=STAFF,
                    now=clock.now(),
                )
            except services.ServiceRequestError as exc:
                modeladmin.message_user(
                    request, f"{service_request.number}: {exc.message}", messages.ERROR
                )
            else:
                moved += 1
        if moved:
            modeladmin.message_user(
                request,
                _("%(count)d request(s) moved to “%(status)s”.")
                % {"count": moved, "status": Status(to_status).label},
                messages.SUCCESS,
            )

    action.__name__ = f"move_to_{to_status.lower()}"
    return admin.action(description=description, permissions=["change"])(action)


class StatusForm(forms.Form):
    to_status = forms.ChoiceField(label=_("Move to"))
    public_note = forms.CharField(
        label=_("Note for the customer (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown on the customer's timeline and in the notification."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to cancel or reject; the customer sees it."),
    )
    completion_notes = forms.CharField(
        label=_("Completion notes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required to complete: what was done, parts used, readings taken."),
    )

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = sorted(services.TRANSITIONS[current] - {Status.SCHEDULED})
        self.fields["to_status"].choices = [  # type: ignore[attr-defined]
            (value, Status(value).label) for value in allowed
        ]


class AssignCrewForm(forms.Form):
    crew = forms.ModelChoiceField(
        label=_("Crew"),
        queryset=Crew.objects.filter(is_active=True).order_by("name", "id"),
        required=False,
        empty_label=_("Any suitable crew"),
    )


class StaffSlotForm(forms.Form):
    slot = forms.ChoiceField(label=_("Visit time"))

    def __init__(self, *args: Any, days: list[selectors.SlotDay], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"].choices = [  # type: ignore[attr-defined]
            (
                date_format(day.day, "l Y-m-d"),
                [(c.value, f"{c.starts_at:%H:%M}–{c.ends_at:%H:%M}") for c in day.slots],
            )
            for day in days
            if day.slots
        ]

    def clean_slot(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.cleaned_data["slot"])


class _ReadOnlyChangeForm(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every field is read-only: changes go through actions and services, so no save buttons."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().changeform_view(request, object_id, form_url, extra)


@admin.register(ServiceRequest)
class ServiceRequestAdmin(_ReadOnlyChangeForm):
    list_display = (
        "number",
        "request_type",
        "status",
        "account",
        "submitted_at",
        "age",
        "sla",
        "assigned_crew",
        "visit",
    )
    list_filter = ("request_type", "status", SlaFilter, AgeFilter, "assigned_crew")
    list_select_related = ("account", "assigned_crew")
    search_fields = ("number", "account__number", "supply_point__external_id")
    ordering = ("sla_due_at", "id")
    show_full_result_count = False
    list_per_page = 50
    inlines = (StatusChangeInline, AppointmentInline, DocumentInline)
    actions = (
        _transition_action(Status.TRIAGED, _("Triage the selected requests")),
        _transition_action(Status.IN_PROGRESS, _("Start work on the selected requests")),
    )
    readonly_fields = (
        "process_link",
        "number",
        "account",
        "request_type",
        "status",
        "supply_point",
        "address",
        "requested_capacity_kw",
        "desired_date",
        "motive",
        "description",
        "submitted_by",
        "submitted_at",
        "sla_due_at",
        "assigned_crew",
        "completion_notes",
        "closing_reason",
        "closed_at",
    )
    fields = readonly_fields

    class Media:
        css = {"all": ("css/service_requests.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServiceRequest]:
        next_visit = (
            Appointment.objects.filter(
                service_request=OuterRef("pk"), status=Appointment.Status.BOOKED
            )
            .order_by("starts_at", "id")
            .values("starts_at")[:1]
        )
        return super().get_queryset(request).annotate(next_visit=Subquery(next_visit))

    @admin.display(description=_("age"), ordering="submitted_at")
    def age(self, obj: ServiceRequest) -> str:
        return duration_text(clock.now() - obj.submitted_at)

    @admin.display(description=_("SLA"), ordering="sla_due_at")
    def sla(self, obj: ServiceRequest) -> str:
        if not obj.is_open:
            return format_html('<span class="sr-sla sr-sla-closed">{}</span>', _("closed"))
        left = obj.sla_due_at - clock.now()
        if left < dt.timedelta(0):
            return format_html(
                '<span class="sr-sla sr-sla-overdue"><span aria-hidden="true">⚠ </span>{}</span>',
                _("Overdue by %(time)s") % {"time": duration_text(left)},
            )
        css = "sr-sla-soon" if left < DUE_SOON else "sr-sla-ok"
        return format_html(
            '<span class="sr-sla {}">{}</span>',
            css,
            _("Due in %(time)s") % {"time": duration_text(left)},
        )

    @admin.display(description=_("visit"), ordering="next_visit")
    def visit(self, obj: ServiceRequest) -> str:
        starts_at = getattr(obj, "next_visit", None)
        if starts_at is None:
            return "—"
        return f"{starts_at.astimezone(clock.local_zone()):%Y-%m-%d %H:%M}"

    @admin.display(description=_("actions"))
    def process_link(self, obj: ServiceRequest) -> str:
        url = reverse("admin:service_requests_servicerequest_process", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Process this request"))

    def get_urls(self) -> list[URLPattern]:  # type: ignore[override]
        custom = [
            path(
                "<int:object_id>/process/",
                self.admin_site.admin_view(self.process_view),
                name="service_requests_servicerequest_process",
            )
        ]
        return custom + super().get_urls()

    def process_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Change status, assign a crew or book a visit: one form, one service call per post."""
        service_request = get_object_or_404(
            ServiceRequest.objects.select_related(
                "account__customer", "supply_point__premise__address", "address", "assigned_crew"
            ),
            pk=object_id,
        )
        if not self.has_change_permission(request, service_request):
            raise PermissionDenied
        staff = _staff(request)
        now = clock.now()
        action = request.POST.get("action") if request.method == "POST" else None
        status_form = StatusForm(
            request.POST if action == "status" else None, current=service_request.status
        )
        crew_form = AssignCrewForm(
            request.POST if action == "crew" else None,
            initial={"crew": service_request.assigned_crew_id},
        )
        can_book = service_request.status in (Status.TRIAGED, Status.SCHEDULED)
        days = (
            selectors.slots_by_day(
                services.available_slots(service_request=service_request, now=now, earliest=now),
                clock.local_zone(),
            )
            if can_book
            else []
        )
        slot_form = StaffSlotForm(request.POST if action == "book" else None, days=days)
        done = False
        try:
            if action == "status" and status_form.is_valid():
                data = status_form.cleaned_data
                services.service_request_transition(
                    service_request=service_request,
                    to_status=data["to_status"],
                    actor=staff,
                    actor_role=STAFF,
                    public_note=data["public_note"],
                    reason=data["reason"],
                    completion_notes=data["completion_notes"],
                    now=now,
                )
                done = True
            elif action == "crew" and crew_form.is_valid():
                services.service_request_assign_crew(
                    service_request=service_request,
                    crew=crew_form.cleaned_data["crew"],
                    actor=staff,
                    now=now,
                )
                done = True
            elif action == "book" and slot_form.is_valid():
                services.appointment_book(
                    service_request=service_request,
                    starts_at=slot_form.cleaned_data["slot"],
                    actor=staff,
                    actor_role=STAFF,
                    now=now,
                )
                done = True
        except services.ServiceRequestError as exc:
            target = {"status": status_form, "crew": crew_form, "book": slot_form}[action or ""]
            field = exc.field if exc.field in target.fields else None
            if exc.field == "assigned_crew":
                field = "crew"
            target.add_error(field, exc.message)
        if done:
            self.message_user(
                request,
                _("Request %(number)s updated.") % {"number": service_request.number},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:service_requests_servicerequest_change", args=[object_id])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": service_request,
            "title": _("Process request %(number)s") % {"number": service_request.number},
            "status_form": status_form,
            "crew_form": crew_form,
            "slot_form": slot_form if can_book and any(d.slots for d in days) else None,
            "can_book": can_book,
            "booked": selectors.booked_appointment(service_request),
            "timeline": selectors.timeline(service_request),
            "has_transitions": bool(services.TRANSITIONS[service_request.status]),
        }
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(
            request, "service_requests/admin/process.html", context, status=status
        )


# --- crews ------------------------------------------------------------------------------------


class CrewForm(forms.ModelForm):  # type: ignore[type-arg]
    skills = forms.MultipleChoiceField(
        label=_("Skills"),
        choices=RequestType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("The request types this crew can be booked for."),
    )

    class Meta:
        model = Crew
        fields = ("name", "skills", "postcode_prefixes", "is_active")

    def clean_postcode_prefixes(self) -> list[str]:
        prefixes = [p.replace(" ", "").upper() for p in self.cleaned_data["postcode_prefixes"]]
        bad = [p for p in prefixes if not p.isalnum()]
        if bad:
            raise ValidationError(
                _("Use letters and digits only in postcode prefixes (not: %(bad)s).")
                % {"bad": ", ".join(bad)}
            )
        return sorted(set(prefixes))


class ShiftFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        spans: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            weekday, start, end = data.get("weekday"), data.get("start_time"), data.get("end_time")
            if weekday is None or start is None or end is None:
                continue
            for other_start, other_end in spans.get(weekday, []):
                if start < other_end and other_start < end:
                    raise ValidationError(
                        _("Working hours on the same weekday overlap (%(day)s).")
                        % {"day": dict(self.model._meta.get_field("weekday").choices)[weekday]}
                    )
            spans.setdefault(weekday, []).append((start, end))


class CrewShiftInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CrewShift
    formset = ShiftFormSet
    extra = 0
    fields = ("weekday", "start_time", "end_time")
    ordering = ("weekday", "start_time", "id")


@admin.register(Crew)
class CrewAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = CrewForm
    list_display = ("name", "skill_list", "area", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    ordering = ("name", "id")
    inlines = (CrewShiftInline,)

    @admin.display(description=_("skills"))
    def skill_list(self, obj: Crew) -> str:
        return ", ".join(str(RequestType(value).label) for value in obj.skills)

    @admin.display(description=_("service area"))
    def area(self, obj: Crew) -> str:
        return ", ".join(obj.postcode_prefixes)


# --- visits -----------------------------------------------------------------------------------


@admin.action(description=_("Cancel the selected visits"), permissions=["change"])
def cancel_visits(
    modeladmin: AppointmentAdmin, request: HttpRequest, queryset: QuerySet[Appointment]
) -> None:
    cancelled = 0
    for appointment in (
        queryset.filter(status=Appointment.Status.BOOKED)
        .select_related("service_request")
        .order_by("id")
    ):
        try:
            services.appointment_cancel(
                service_request=appointment.service_request,
                actor=_staff(request),
                actor_role=STAFF,
                now=clock.now(),
            )
        except services.ServiceRequestError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
        else:
            cancelled += 1
    if cancelled:
        modeladmin.message_user(
            request, _("%(count)d visit(s) cancelled.") % {"count": cancelled}, messages.SUCCESS
        )


@admin.register(Appointment)
class AppointmentAdmin(_ReadOnlyChangeForm):
    list_display = ("starts_at", "ends_at", "crew", "service_request", "status")
    list_filter = ("status", "crew")
    list_select_related = ("crew", "service_request")
    date_hierarchy = "starts_at"
    search_fields = ("service_request__number",)
    ordering = ("starts_at", "id")
    actions = (cancel_visits,)
    fields = (
        "service_request",
        "crew",
        "starts_at",
        "ends_at",
        "status",
        "booked_at",
        "booked_by",
        "cancelled_at",
        "cancel_reason",
    )
    readonly_fields = fields
