from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import Address

# Imported here as well: earlier migrations name it as this module's DateRange.
from apps.core.db import DateRange
from apps.metering.identifiers import InvalidCups, normalise_cups


def validate_cups(value: str) -> None:
    try:
        normalise_cups(value)
    except InvalidCups as exc:
        raise ValidationError(str(exc), code="invalid_cups") from None


class Premise(models.Model):
    """A place that takes electricity: a home, a shop, a plant."""

    class Kind(models.TextChoices):
        HOUSE = "HOUSE", _("House")
        APARTMENT = "APARTMENT", _("Apartment")
        BUSINESS = "BUSINESS", _("Business premises")

    address = models.ForeignKey(
        Address, on_delete=models.PROTECT, related_name="premises", verbose_name=_("address")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.HOUSE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("premise")
        verbose_name_plural = _("premises")

    def __str__(self) -> str:
        return f"{self.address} (#{self.pk})"


class SupplyPoint(models.Model):
    """A connection to the grid, identified by its CUPS."""

    external_id = models.CharField(
        _("CUPS"), max_length=22, unique=True, validators=[validate_cups]
    )
    premise = models.ForeignKey(
        Premise, on_delete=models.PROTECT, related_name="supply_points", verbose_name=_("premise")
    )
    contracted_power_kw = models.DecimalField(
        _("contracted power (kW)"), max_digits=7, decimal_places=3, default=4.6
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("supply point")
        verbose_name_plural = _("supply points")
        constraints = [
            models.CheckConstraint(
                condition=Q(external_id__regex=r"^ES[0-9]{16}[A-Z]{2}([0-9][A-Z])?$"),
                name="metering_supplypoint_cups_shape",
            ),
            models.CheckConstraint(
                condition=Q(contracted_power_kw__gt=0), name="metering_supplypoint_power_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Meter(models.Model):
    """A physical meter installed at a supply point for a period."""

    supply_point = models.ForeignKey(SupplyPoint, on_delete=models.PROTECT, related_name="meters")
    serial = models.CharField(_("serial number"), max_length=40, unique=True)
    is_smart = models.BooleanField(_("smart meter"), default=True)
    installed_date = models.DateField(_("installed on"))
    removed_date = models.DateField(_("removed on"), null=True, blank=True)

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        constraints = [
            models.CheckConstraint(
                condition=Q(removed_date__isnull=True)
                | Q(removed_date__gt=models.F("installed_date")),
                name="metering_meter_removed_after_installed",
            ),
            ExclusionConstraint(
                name="metering_meter_one_per_supply_point",
                expressions=[
                    ("supply_point", RangeOperators.EQUAL),
                    (DateRange("installed_date", "removed_date"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} at {self.supply_point_id}"


class IntervalReading(models.Model):
    """Energy measured over one interval. The table is partitioned by month (migration 0002).

    The primary key is (supply point, interval start): a second reading for the
    same interval is an update of the first, never a duplicate.
    """

    class Quality(models.TextChoices):
        ACTUAL = "ACTUAL", _("Actual")
        ESTIMATED = "ESTIMATED", _("Estimated")
        CORRECTED = "CORRECTED", _("Corrected")

    pk = models.CompositePrimaryKey("supply_point", "interval_start")
    supply_point = models.ForeignKey(SupplyPoint, on_delete=models.PROTECT, related_name="+")
    interval_start = models.DateTimeField(_("interval start"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"))
    kwh_import = models.DecimalField(_("kWh imported"), max_digits=12, decimal_places=3)
    kwh_export = models.DecimalField(_("kWh exported"), max_digits=12, decimal_places=3, default=0)
    quality = models.CharField(
        _("quality"), max_length=10, choices=Quality.choices, default=Quality.ACTUAL
    )
    source = models.CharField(_("source"), max_length=32, default="")
    received_at = models.DateTimeField(_("received at"))
    import_batch = models.ForeignKey(
        "ImportBatch",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,  # lineage only; no per-row FK check on the hot ingestion path
        db_index=False,
        related_name="+",
    )

    class Meta:
        managed = True
        verbose_name = _("interval reading")
        verbose_name_plural = _("interval readings")
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__in=[15, 30, 60]),
                name="metering_reading_duration_15_30_60",
            ),
            models.CheckConstraint(
                condition=Q(kwh_import__gte=0) & Q(kwh_export__gte=0),
                name="metering_reading_energy_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supply_point_id} {self.interval_start:%Y-%m-%d %H:%M} {self.kwh_import} kWh"


class ImportBatch(models.Model):
    """One ingestion run (a file, an API batch): what came in and what happened to it."""

    class Source(models.TextChoices):
        CSV = "CSV", _("CSV file")
        ESPI = "ESPI", _("Green Button ESPI XML")
        API = "API", _("Meter head-end API")
        ESTIMATION = "ESTIMATION", _("Gap estimation")

    class Status(models.TextChoices):
        RUNNING = "RUNNING", _("Running")
        DONE = "DONE", _("Done")
        REJECTED = "REJECTED", _("Rejected (strict mode)")
        FAILED = "FAILED", pgettext_lazy("import status", "Failed")

    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    strict = models.BooleanField(_("strict (all or nothing)"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    rows_total = models.PositiveIntegerField(_("rows read"), default=0)
    rows_inserted = models.PositiveIntegerField(_("new readings"), default=0)
    rows_corrected = models.PositiveIntegerField(_("corrected readings"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("unchanged readings"), default=0)
    rows_ignored = models.PositiveIntegerField(
        _("ignored estimates"), default=0, help_text=_("Estimates never replace measured values.")
    )
    rows_invalid = models.PositiveIntegerField(_("invalid rows"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=80, blank=True)

    class Meta:
        verbose_name = _("reading import")
        verbose_name_plural = _("reading imports")

    def __str__(self) -> str:
        return f"import #{self.pk} {self.source} {self.filename}".strip()


class ReadingRevision(models.Model):
    """The trail of a reading that was replaced: its old values and what replaced them."""

    supply_point = models.ForeignKey(SupplyPoint, on_delete=models.PROTECT, related_name="+")
    interval_start = models.DateTimeField()
    old_kwh_import = models.DecimalField(max_digits=12, decimal_places=3)
    old_kwh_export = models.DecimalField(max_digits=12, decimal_places=3)
    old_quality = models.CharField(max_length=10)
    old_source = models.CharField(max_length=32, blank=True)
    new_kwh_import = models.DecimalField(max_digits=12, decimal_places=3)
    new_kwh_export = models.DecimalField(max_digits=12, decimal_places=3)
    new_quality = models.CharField(max_length=10)
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="revisions")
    replaced_at = models.DateTimeField()

    class Meta:
        verbose_name = _("reading revision")
        verbose_name_plural = _("reading revisions")
        indexes = [models.Index(fields=["supply_point", "interval_start"])]

    def __str__(self) -> str:
        return (
            f"{self.supply_point_id} {self.interval_start:%Y-%m-%d %H:%M}: "
            f"{self.old_kwh_import} ({self.old_quality}) → {self.new_kwh_import}"
        )


class MeterEvent(models.Model):
    """Something a meter reported: power lost or restored, tampering.

    Outage detection reads these.
    """

    class Kind(models.TextChoices):
        POWER_LOST = "POWER_LOST", _("Power lost")
        POWER_RESTORED = "POWER_RESTORED", _("Power restored")
        TAMPER = "TAMPER", _("Tamper alarm")

    supply_point = models.ForeignKey(SupplyPoint, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"))
    source = models.CharField(_("source"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("meter event")
        verbose_name_plural = _("meter events")
        constraints = [
            models.UniqueConstraint(
                fields=["supply_point", "kind", "occurred_at"], name="metering_event_once"
            ),
        ]
        indexes = [models.Index(fields=["kind", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.supply_point_id} {self.kind} at {self.occurred_at:%Y-%m-%d %H:%M}"


class RegisterRead(models.Model):
    """A cumulative register value of a (non-smart) meter at a moment."""

    class Quality(models.TextChoices):
        ACTUAL = "ACTUAL", _("Actual")
        CUSTOMER = "CUSTOMER", _("Customer read")
        ESTIMATED = "ESTIMATED", _("Estimated")

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="register_reads")
    read_at = models.DateTimeField(_("read at"))
    register_kwh = models.DecimalField(_("register (kWh)"), max_digits=14, decimal_places=3)
    quality = models.CharField(
        _("quality"), max_length=10, choices=Quality.choices, default=Quality.ACTUAL
    )
    source = models.CharField(_("source"), max_length=32, blank=True)
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        verbose_name = _("register read")
        verbose_name_plural = _("register reads")
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "read_at"], name="metering_register_read_once"
            ),
            models.CheckConstraint(
                condition=Q(register_kwh__gte=0), name="metering_register_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.read_at:%Y-%m-%d} {self.register_kwh} kWh"


class HeadEndSystem(models.Model):
    """A meter head-end allowed to push readings and events through the API.

    Only a SHA-256 hash of its token is stored; the token is shown once when issued.
    """

    name = models.CharField(_("name"), max_length=80, unique=True)
    token_prefix = models.CharField(_("token prefix"), max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("head-end system")
        verbose_name_plural = _("head-end systems")

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"


class AlertPreference(models.Model):
    """How eager unusual-consumption alerts are for one supply point, as its customer set it."""

    class Sensitivity(models.TextChoices):
        LOW = "LOW", _("Only big changes")
        NORMAL = "NORMAL", _("Normal")
        HIGH = "HIGH", _("Tell me about smaller changes too")

    supply_point = models.OneToOneField(
        SupplyPoint, on_delete=models.CASCADE, related_name="alert_preference"
    )
    sensitivity = models.CharField(
        _("sensitivity"), max_length=8, choices=Sensitivity.choices, default=Sensitivity.NORMAL
    )
    disabled_kinds = models.JSONField(_("alerts turned off"), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("alert preference")
        verbose_name_plural = _("alert preferences")

    def __str__(self) -> str:
        return f"alerts for {self.supply_point_id}: {self.sensitivity}"


class ConsumptionAlert(models.Model):
    """One unusual-consumption finding. At most one per supply point, kind and day."""

    class Kind(models.TextChoices):
        HIGH_DAILY = "HIGH_DAILY", _("Much higher daily use than usual")
        HIGH_BASELOAD = "HIGH_BASELOAD", _("High constant night-time use")
        STEP_CHANGE = "STEP_CHANGE", _("Sudden lasting change in use")
        ZERO_USE = "ZERO_USE", _("No consumption for several days")

    supply_point = models.ForeignKey(SupplyPoint, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    day = models.DateField(_("day"), help_text=_("Local day the finding is about."))
    detected_at = models.DateTimeField(_("detected at"))
    observed = models.DecimalField(_("observed"), max_digits=12, decimal_places=3)
    expected = models.DecimalField(_("expected"), max_digits=12, decimal_places=3)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("consumption alert")
        verbose_name_plural = _("consumption alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["supply_point", "kind", "day"], name="metering_alert_once_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supply_point_id} {self.kind} {self.day.isoformat()}"
