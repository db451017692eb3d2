"""Network model (substation → feeder → transformer → supply points) and outages.

An outage is located at one network node (or at a single supply point). Each
supply point it interrupted is an :class:`OutagePoint` with its own ``lost_at``
and ``restored_at``, so partial restorations are recorded and customer-minutes are
exact. The database enforces the facts detection relies on (decision 0630):

* one interruption per supply point and start instant (``lost_at``): the same meter
  events can never be stored twice, in one outage or in two;
* at most one open interruption per supply point;
* the node fields match the outage's level.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Account
from apps.metering.models import SupplyPoint


class Level(models.TextChoices):
    """Where an outage sits in the network, lowest first."""

    SUPPLY_POINT = "SUPPLY_POINT", _("Single supply point")
    TRANSFORMER = "TRANSFORMER", _("Transformer")
    FEEDER = "FEEDER", _("Feeder")
    SUBSTATION = "SUBSTATION", _("Substation")


LEVEL_RANK = {
    Level.SUPPLY_POINT: 0,
    Level.TRANSFORMER: 1,
    Level.FEEDER: 2,
    Level.SUBSTATION: 3,
}


class Substation(models.Model):
    """A primary substation: the top of the distribution network we model."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    region = models.CharField(
        _("region"), max_length=100, blank=True, help_text=_("Area label used in reports.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("substation")
        verbose_name_plural = _("substations")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Feeder(models.Model):
    """A medium-voltage line leaving a substation."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    substation = models.ForeignKey(
        Substation,
        on_delete=models.PROTECT,
        related_name="feeders",
        verbose_name=_("substation"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("feeder")
        verbose_name_plural = _("feeders")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Transformer(models.Model):
    """A distribution transformer on a feeder; supply points hang off it."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120, blank=True)
    feeder = models.ForeignKey(
        Feeder, on_delete=models.PROTECT, related_name="transformers", verbose_name=_("feeder")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("transformer")
        verbose_name_plural = _("transformers")

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()


class SupplyPointConnection(models.Model):
    """Which transformer a supply point is fed from (at most one)."""

    supply_point = models.OneToOneField(
        SupplyPoint,
        on_delete=models.CASCADE,
        related_name="network_connection",
        verbose_name=_("supply point"),
    )
    transformer = models.ForeignKey(
        Transformer,
        on_delete=models.PROTECT,
        related_name="connections",
        verbose_name=_("transformer"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("supply point connection")
        verbose_name_plural = _("supply point connections")
        indexes = [models.Index(fields=["transformer", "supply_point"])]

    def __str__(self) -> str:
        return f"{self.supply_point_id} on transformer {self.transformer_id}"


class Outage(models.Model):
    """A loss of supply at a node (or one supply point), detected, reported or planned."""

    class Kind(models.TextChoices):
        UNPLANNED = "UNPLANNED", _("Unplanned")
        PLANNED = "PLANNED", _("Planned maintenance")

    class Status(models.TextChoices):
        SCHEDULED = "SCHEDULED", _("Scheduled")
        SUSPECTED = "SUSPECTED", _("Reported, being checked")
        ACTIVE = "ACTIVE", _("Power cut in progress")
        RESTORED = "RESTORED", _("Power restored")
        CANCELLED = "CANCELLED", _("Cancelled")
        MERGED = "MERGED", _("Part of another outage")

    class Source(models.TextChoices):
        METER_EVENTS = "METER_EVENTS", _("Meter events")
        CUSTOMER_REPORT = "CUSTOMER_REPORT", _("Customer report")
        STAFF = "STAFF", _("Staff")

    class Cause(models.TextChoices):
        UNKNOWN = "UNKNOWN", _("Not known yet")
        EQUIPMENT_FAILURE = "EQUIPMENT_FAILURE", _("Equipment failure")
        WEATHER = "WEATHER", _("Weather")
        VEGETATION = "VEGETATION", _("Trees or vegetation")
        THIRD_PARTY_DAMAGE = "THIRD_PARTY_DAMAGE", _("Damage by a third party")
        ANIMAL = "ANIMAL", _("Animal contact")
        OVERLOAD = "OVERLOAD", _("Overload")
        UPSTREAM = "UPSTREAM", _("Fault on the transmission network")
        MAINTENANCE = "MAINTENANCE", _("Planned maintenance")
        CUSTOMER_INSTALLATION = "CUSTOMER_INSTALLATION", _("Fault in the customer's installation")
        OTHER = "OTHER", _("Other")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.UNPLANNED)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    source = models.CharField(_("detected from"), max_length=16, choices=Source.choices)
    level = models.CharField(_("level"), max_length=12, choices=Level.choices)
    # The node and its ancestors as they were when the outage was located there.
    substation = models.ForeignKey(
        Substation, on_delete=models.PROTECT, null=True, blank=True, related_name="outages"
    )
    feeder = models.ForeignKey(
        Feeder, on_delete=models.PROTECT, null=True, blank=True, related_name="outages"
    )
    transformer = models.ForeignKey(
        Transformer, on_delete=models.PROTECT, null=True, blank=True, related_name="outages"
    )
    supply_point = models.ForeignKey(
        SupplyPoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Set for an outage at a single supply point."),
    )
    started_at = models.DateTimeField(
        _("started at"), help_text=_("First loss of supply, first report or planned start.")
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    detected_at = models.DateTimeField(_("recorded at"))
    planned_end_at = models.DateTimeField(_("planned end"), null=True, blank=True)
    estimated_restoration_at = models.DateTimeField(
        _("estimated restoration"), null=True, blank=True
    )
    confidence = models.DecimalField(
        _("confidence"),
        max_digits=4,
        decimal_places=3,
        default=0,
        help_text=_("Share of the node's supply points whose meters reported the loss."),
    )
    cause = models.CharField(
        _("cause"), max_length=24, choices=Cause.choices, default=Cause.UNKNOWN
    )
    crew = models.CharField(_("crew"), max_length=120, blank=True)
    description = models.CharField(_("public description"), max_length=300, blank=True)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_from",
        verbose_name=_("merged into"),
    )
    announced_at = models.DateTimeField(_("announced at"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("outage")
        verbose_name_plural = _("outages")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(level=Level.SUPPLY_POINT, supply_point__isnull=False)
                    | Q(level=Level.TRANSFORMER, transformer__isnull=False, supply_point=None)
                    | Q(
                        level=Level.FEEDER,
                        feeder__isnull=False,
                        transformer=None,
                        supply_point=None,
                    )
                    | Q(
                        level=Level.SUBSTATION,
                        substation__isnull=False,
                        feeder=None,
                        transformer=None,
                        supply_point=None,
                    )
                ),
                name="outages_outage_node_matches_level",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="outages_outage_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(kind="PLANNED") | Q(planned_end_at__gt=F("started_at")),
                name="outages_outage_planned_window",
            ),
            models.CheckConstraint(
                condition=Q(status="MERGED", merged_into__isnull=False)
                | (~Q(status="MERGED") & Q(merged_into__isnull=True)),
                name="outages_outage_merged_into_iff_merged",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0, confidence__lte=1),
                name="outages_outage_confidence_0_1",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["started_at", "id"]),
        ]

    def __str__(self) -> str:
        return f"OUT-{self.pk:06d}" if self.pk else "OUT-(new)"

    @property
    def reference(self) -> str:
        return str(self)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def node(self) -> models.Model | None:
        return {
            Level.SUPPLY_POINT: self.supply_point,
            Level.TRANSFORMER: self.transformer,
            Level.FEEDER: self.feeder,
            Level.SUBSTATION: self.substation,
        }.get(Level(self.level))


OPEN_STATUSES = (Outage.Status.SUSPECTED, Outage.Status.ACTIVE)


class OutagePoint(models.Model):
    """One interruption of one supply point within an outage."""

    class Source(models.TextChoices):
        METER = "METER", _("Meter reported the loss")
        INFERRED = "INFERRED", _("Inferred from the network")
        PLANNED = "PLANNED", _("Planned maintenance")
        STAFF = "STAFF", _("Confirmed by staff")

    outage = models.ForeignKey(Outage, on_delete=models.CASCADE, related_name="points")
    supply_point = models.ForeignKey(
        SupplyPoint, on_delete=models.PROTECT, related_name="+", verbose_name=_("supply point")
    )
    lost_at = models.DateTimeField(_("supply lost at"))
    restored_at = models.DateTimeField(_("supply restored at"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)

    class Meta:
        verbose_name = _("interrupted supply point")
        verbose_name_plural = _("interrupted supply points")
        constraints = [
            models.UniqueConstraint(
                fields=["supply_point", "lost_at"], name="outages_point_one_per_loss"
            ),
            models.UniqueConstraint(
                fields=["supply_point"],
                condition=Q(restored_at__isnull=True),
                name="outages_point_one_open_per_supply_point",
            ),
            models.CheckConstraint(
                condition=Q(restored_at__isnull=True) | Q(restored_at__gte=F("lost_at")),
                name="outages_point_restored_after_lost",
            ),
        ]
        indexes = [
            models.Index(fields=["outage", "restored_at"]),
            models.Index(fields=["lost_at", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.supply_point_id} lost {self.lost_at:%Y-%m-%d %H:%M} ({self.outage_id})"


class OutageUpdate(models.Model):
    """One entry of an outage's timeline: what happened, who said so, the estimate then."""

    class Kind(models.TextChoices):
        DETECTED = "DETECTED", _("Detected from meter events")
        REPORTED = "REPORTED", _("Reported by a customer")
        PLANNED = "PLANNED", _("Planned maintenance announced")
        STARTED = "STARTED", _("Planned work started")
        EXTENDED = "EXTENDED", _("More supply points affected")
        MERGED = "MERGED", _("Combined with another outage")
        CONFIRMED = "CONFIRMED", _("Confirmed")
        NOTE = "NOTE", _("Status update")
        RESTORED = "RESTORED", _("Power restored")
        REOPENED = "REOPENED", _("Power lost again")
        CANCELLED = "CANCELLED", _("Cancelled")

    outage = models.ForeignKey(Outage, on_delete=models.CASCADE, related_name="updates")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status after"), max_length=10, choices=Outage.Status.choices)
    note = models.TextField(_("public note"), blank=True)
    cause = models.CharField(_("cause"), max_length=24, choices=Outage.Cause.choices, blank=True)
    crew = models.CharField(_("crew"), max_length=120, blank=True)
    estimated_restoration_at = models.DateTimeField(
        _("estimated restoration"), null=True, blank=True
    )
    created_at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(
        max_length=80, help_text=_("Who or which job wrote the entry (kept if the user goes).")
    )

    class Meta:
        verbose_name = _("outage update")
        verbose_name_plural = _("outage updates")
        indexes = [models.Index(fields=["outage", "created_at", "id"])]

    def __str__(self) -> str:
        return f"{self.outage_id} {self.kind} at {self.created_at:%Y-%m-%d %H:%M}"


class OutageReport(models.Model):
    """A customer telling us their premise has no power."""

    outage = models.ForeignKey(Outage, on_delete=models.PROTECT, related_name="reports")
    supply_point = models.ForeignKey(
        SupplyPoint, on_delete=models.PROTECT, related_name="+", verbose_name=_("supply point")
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    description = models.TextField(_("what the customer noticed"), blank=True)
    reported_at = models.DateTimeField(_("reported at"))

    class Meta:
        verbose_name = _("outage report")
        verbose_name_plural = _("outage reports")
        constraints = [
            models.UniqueConstraint(
                fields=["outage", "supply_point"], name="outages_report_once_per_premise"
            ),
        ]
        indexes = [models.Index(fields=["account", "reported_at", "id"])]

    def __str__(self) -> str:
        return f"report #{self.pk} for {self.supply_point_id} at {self.reported_at:%Y-%m-%d %H:%M}"
