"""Service requests, their status history and documents; crews, working hours and appointments.

Status only changes through ``services.service_request_transition`` (decision 0600). The
database refuses a double-booked crew (exclusion constraint on the crew's time range) and a
second live appointment for one request.
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Account, Address, User
from apps.metering.models import SupplyPoint


class TsTzRange(Func):
    """``tstzrange(start, end)``: half-open [start, end), so back-to-back visits do not clash."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class RequestType(models.TextChoices):
    NEW_CONNECTION = "NEW_CONNECTION", _("New connection")
    MAINTENANCE = "MAINTENANCE", _("Maintenance visit")
    REPAIR = "REPAIR", _("Repair")
    METER_EXCHANGE = "METER_EXCHANGE", _("Meter exchange")
    DISCONNECTION = "DISCONNECTION", _("Disconnection")
    RECONNECTION = "RECONNECTION", _("Reconnection")
    OTHER = "OTHER", _("Something else")


class Motive(models.TextChoices):
    """Why a meter exchange or a disconnection is asked for."""

    METER_FAULTY = "METER_FAULTY", _("The meter seems faulty")
    METER_SMART = "METER_SMART", _("I want a smart meter")
    METER_POWER = "METER_POWER", _("My contracted power is changing")
    METER_RELOCATE = "METER_RELOCATE", _("The meter has to be moved")
    MOVING_OUT = "MOVING_OUT", _("I am moving out")
    WORKS = "WORKS", _("Building or electrical works")
    DEMOLITION = "DEMOLITION", _("The building will be demolished")
    OTHER = "OTHER", _("Another reason")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class Crew(models.Model):
    """A field team: what it can do (skills), where (postcode prefixes) and when (shifts)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    skills = ArrayField(
        models.CharField(max_length=20, choices=RequestType.choices),
        verbose_name=_("skills"),
        default=list,
        blank=True,
        help_text=_("The request types this crew can be booked for."),
    )
    postcode_prefixes = ArrayField(
        models.CharField(max_length=10),
        verbose_name=_("service area"),
        default=list,
        blank=True,
        help_text=_(
            "Postcode prefixes the crew covers, separated by commas (for example 280,281,2840)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("crew")
        verbose_name_plural = _("crews")
        indexes = [models.Index(fields=["is_active", "id"], name="sr_crew_active_idx")]

    def __str__(self) -> str:
        return self.name


class CrewShift(models.Model):
    """The crew's working hours on one weekday, in local wall-clock time."""

    crew = models.ForeignKey(Crew, on_delete=models.CASCADE, related_name="shifts")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start_time = models.TimeField(_("starts at (local time)"))
    end_time = models.TimeField(_("ends at (local time)"))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")),
                name="sr_crewshift_ends_after_start",
                violation_error_message=_("Working hours must end after they start."),
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="sr_crewshift_weekday_0_6"
            ),
            models.UniqueConstraint(
                fields=["crew", "weekday", "start_time"], name="sr_crewshift_unique_start"
            ),
        ]

    def __str__(self) -> str:
        day = Weekday(self.weekday).label
        return f"{self.crew} {day} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class ServiceRequest(models.Model):
    """Something a customer asked us to do at a supply point (or a new address)."""

    class Status(models.TextChoices):
        SUBMITTED = "SUBMITTED", _("Submitted")
        TRIAGED = "TRIAGED", _("Being prepared")
        SCHEDULED = "SCHEDULED", _("Visit booked")
        IN_PROGRESS = "IN_PROGRESS", _("In progress")
        COMPLETED = "COMPLETED", _("Completed")
        CANCELLED = "CANCELLED", _("Cancelled")
        REJECTED = "REJECTED", _("Rejected")

    number = models.CharField(_("request number"), max_length=16, unique=True)
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="service_requests",
        verbose_name=_("account"),
    )
    request_type = models.CharField(_("type"), max_length=20, choices=RequestType.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.SUBMITTED
    )
    supply_point = models.ForeignKey(
        SupplyPoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="service_requests",
        verbose_name=_("supply point"),
    )
    address = models.ForeignKey(
        Address,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("address of the new connection"),
    )
    requested_capacity_kw = models.DecimalField(
        _("requested capacity (kW)"), max_digits=7, decimal_places=3, null=True, blank=True
    )
    desired_date = models.DateField(_("desired date"), null=True, blank=True)
    motive = models.CharField(_("reason"), max_length=20, choices=Motive.choices, blank=True)
    description = models.TextField(_("description"), blank=True)
    submitted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("submitted by")
    )
    submitted_at = models.DateTimeField(_("submitted at"))
    sla_due_at = models.DateTimeField(
        _("due by (SLA)"), help_text=_("Submitted at plus the target of the request type.")
    )
    assigned_crew = models.ForeignKey(
        Crew,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="service_requests",
        verbose_name=_("assigned crew"),
    )
    completion_notes = models.TextField(_("completion notes"), blank=True)
    closing_reason = models.TextField(
        _("reason for cancelling or rejecting"), blank=True, editable=False
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    CLOSED_STATUSES = (Status.COMPLETED, Status.CANCELLED, Status.REJECTED)

    class Meta:
        verbose_name = _("service request")
        verbose_name_plural = _("service requests")
        constraints = [
            models.CheckConstraint(
                condition=~Q(request_type="NEW_CONNECTION")
                | Q(
                    address__isnull=False,
                    requested_capacity_kw__isnull=False,
                    desired_date__isnull=False,
                ),
                name="sr_request_new_connection_details",
            ),
            models.CheckConstraint(
                condition=Q(request_type__in=["NEW_CONNECTION", "OTHER"])
                | Q(supply_point__isnull=False),
                name="sr_request_supply_point_for_visits",
            ),
            models.CheckConstraint(
                condition=Q(requested_capacity_kw__isnull=True) | Q(requested_capacity_kw__gt=0),
                name="sr_request_capacity_positive",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status__in=["COMPLETED", "CANCELLED", "REJECTED"], closed_at__isnull=False)
                    | (
                        ~Q(status__in=["COMPLETED", "CANCELLED", "REJECTED"])
                        & Q(closed_at__isnull=True)
                    )
                ),
                name="sr_request_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["CANCELLED", "REJECTED"]) | ~Q(closing_reason=""),
                name="sr_request_reason_when_cancelled_or_rejected",
            ),
            models.CheckConstraint(
                condition=Q(sla_due_at__gt=F("submitted_at")), name="sr_request_sla_after_submit"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "sla_due_at", "id"], name="sr_request_queue_idx"),
            models.Index(fields=["account", "-submitted_at", "-id"], name="sr_request_account_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status not in self.CLOSED_STATUSES

    @property
    def postcode(self) -> str:
        """Where the work is: the new connection's address or the supply point's premise."""
        if self.address_id is not None and self.address is not None:
            return self.address.postcode
        if self.supply_point_id is not None and self.supply_point is not None:
            return self.supply_point.premise.address.postcode
        return ""


class ServiceRequestStatusChange(models.Model):
    """One step on the request's timeline: from what to what, when, who and a public note."""

    class ActorRole(models.TextChoices):
        CUSTOMER = "CUSTOMER", _("Customer")
        STAFF = "STAFF", _("Staff")
        SYSTEM = "SYSTEM", _("System")

    service_request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(
        _("from"), max_length=12, choices=ServiceRequest.Status.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=12, choices=ServiceRequest.Status.choices)
    changed_at = models.DateTimeField(_("changed at"))
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("by")
    )
    actor_role = models.CharField(_("by (role)"), max_length=8, choices=ActorRole.choices)
    public_note = models.TextField(_("note shown to the customer"), blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        constraints = [
            models.CheckConstraint(
                condition=~Q(to_status=F("from_status")), name="sr_statuschange_moves"
            ),
        ]
        indexes = [
            models.Index(fields=["service_request", "changed_at", "id"], name="sr_change_idx")
        ]

    def __str__(self) -> str:
        return f"{self.service_request_id}: {self.from_status or '—'} → {self.to_status} #{self.pk}"


def document_path(instance: ServiceDocument, filename: str) -> str:
    """A random name under ``service_requests/``; the customer's file name is never a path."""
    suffix = PurePosixPath(filename).suffix.lower()[:6]
    return f"service_requests/{uuid.uuid4().hex}{suffix}"


class ServiceDocument(models.Model):
    """A file the customer uploaded with a request, kept under the private MEDIA_ROOT."""

    class Kind(models.TextChoices):
        DOCUMENT = "DOCUMENT", _("Document")
        PHOTO = "PHOTO", _("Photo")

    service_request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="documents"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=document_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=40)
    size_bytes = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"))

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        constraints = [
            models.CheckConstraint(
                condition=Q(content_type__in=["application/pdf", "image/png", "image/jpeg"]),
                name="sr_document_allowed_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} (#{self.pk})"


class Appointment(models.Model):
    """A crew's visit for a request over [starts_at, ends_at). A crew is never double-booked."""

    class Status(models.TextChoices):
        BOOKED = "BOOKED", _("Booked")
        CANCELLED = "CANCELLED", _("Cancelled")

    service_request = models.ForeignKey(
        ServiceRequest, on_delete=models.PROTECT, related_name="appointments"
    )
    crew = models.ForeignKey(
        Crew, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("crew")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.BOOKED
    )
    booked_at = models.DateTimeField(_("booked at"))
    booked_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("why cancelled"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="sr_appointment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(status="CANCELLED", cancelled_at__isnull=False)
                | Q(status="BOOKED", cancelled_at__isnull=True),
                name="sr_appointment_cancelled_at_iff_cancelled",
            ),
            ExclusionConstraint(
                name="sr_appointment_crew_not_double_booked",
                expressions=[
                    ("crew", RangeOperators.EQUAL),
                    (TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status="CANCELLED"),
                violation_error_message=_("This crew already has a visit at that time."),
            ),
            models.UniqueConstraint(
                fields=["service_request"],
                condition=Q(status="BOOKED"),
                name="sr_appointment_one_booked_per_request",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "starts_at", "id"], name="sr_appointment_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.crew} {self.starts_at:%Y-%m-%d %H:%M} (#{self.pk})"
