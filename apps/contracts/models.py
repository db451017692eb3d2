from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Account

# Imported here as well: earlier migrations name it as this module's DateRange.
from apps.core.db import DateRange
from apps.metering.models import SupplyPoint
from apps.tariffs.models import Tariff

LIVE_STATUSES = ("PENDING", "COOLING_OFF", "ACTIVE")


class TermsVersion(models.Model):
    """A published version of the supply terms a customer accepts."""

    version = models.CharField(_("version"), max_length=20, unique=True)
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("text"))
    published_at = models.DateTimeField(_("published at"))

    class Meta:
        verbose_name = _("terms version")
        verbose_name_plural = _("terms versions")

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class Contract(models.Model):
    """Supply of one supply point to one account on one tariff, for [start_date, end_date)."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        COOLING_OFF = "COOLING_OFF", _("In cooling-off period")
        ACTIVE = "ACTIVE", _("Active")
        ENDED = "ENDED", _("Ended")
        CANCELLED = "CANCELLED", _("Cancelled")

    number = models.CharField(_("contract number"), max_length=20, unique=True)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="contracts", verbose_name=_("account")
    )
    supply_point = models.ForeignKey(
        SupplyPoint,
        on_delete=models.PROTECT,
        related_name="contracts",
        verbose_name=_("supply point"),
    )
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="contracts", verbose_name=_("tariff")
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(
        _("end date"), null=True, blank=True, help_text=_("First day without supply (exclusive).")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    cooling_off_ends_at = models.DateTimeField(_("cooling-off ends at"), null=True, blank=True)
    previous = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="successors",
        verbose_name=_("replaces contract"),
        help_text=_("The contract this one replaces after a plan switch."),
    )
    exit_fee = models.DecimalField(
        _("exit fee due"),
        max_digits=10,
        decimal_places=2,
        default=0,
        help_text=_("Charged because the contract ends before its minimum term (set on switch)."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gt=F("start_date")),
                name="contracts_contract_end_after_start",
            ),
            ExclusionConstraint(
                name="contracts_contract_no_overlap_per_supply_point",
                expressions=[
                    ("supply_point", RangeOperators.EQUAL),
                    (DateRange("start_date", "end_date"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=LIVE_STATUSES),
                violation_error_message=_(
                    "This supply point already has a contract for some of these dates."
                ),
            ),
            # A contract is replaced by at most one live contract (one switch at a time).
            models.UniqueConstraint(
                fields=["previous"],
                condition=Q(status__in=LIVE_STATUSES),
                name="contracts_contract_one_live_successor",
            ),
            models.CheckConstraint(
                condition=Q(exit_fee__gte=0), name="contracts_contract_exit_fee_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "start_date"]),
            models.Index(fields=["status", "end_date"], name="contracts_status_end_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """Check the database constraints, always reading ``status``.

        The no-overlap constraint only covers live contracts, so its condition reads
        ``status``; a model form without that field (the admin's add form) would otherwise
        make Django's ExclusionConstraint.validate fail with a FieldError.
        """
        super().validate_constraints(exclude=set(exclude or ()) - {"status"})

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def last_day(self) -> dt.date | None:
        """The last day of supply (end_date is exclusive), or None when open-ended."""
        return self.end_date - dt.timedelta(days=1) if self.end_date else None


class ContractStatusChange(models.Model):
    """One transition of a contract's status: who, when, from what to what, and why."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=12, choices=Contract.Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Contract.Status.choices)
    changed_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_label = models.CharField(
        max_length=80, help_text=_("Who or which job made the change (kept if the user goes).")
    )
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("contract status change")
        verbose_name_plural = _("contract status changes")

    def __str__(self) -> str:
        when = f"{self.changed_at:%Y-%m-%d %H:%M}"
        return f"{self.contract_id}: {self.from_status or '∅'} → {self.to_status} at {when}"


class TermsAcceptance(models.Model):
    """The record that a person accepted a terms version for a contract."""

    contract = models.OneToOneField(Contract, on_delete=models.CASCADE, related_name="acceptance")
    terms = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, related_name="acceptances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("terms acceptance")
        verbose_name_plural = _("terms acceptances")

    def __str__(self) -> str:
        return f"{self.contract_id} accepted v{self.terms_id} at {self.accepted_at:%Y-%m-%d %H:%M}"


class ContractDiscount(models.Model):
    """Personalised pricing: a discount on one contract for [valid_from, valid_to)."""

    class Kind(models.TextChoices):
        ENERGY_PERCENT = "ENERGY_PERCENT", _("Percentage off energy")
        DAILY_CREDIT = "DAILY_CREDIT", _("Fixed credit per day")

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="discounts")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=6)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True, help_text=_("Exclusive."))
    label = models.CharField(_("label shown on bills"), max_length=80)

    class Meta:
        verbose_name = _("contract discount")
        verbose_name_plural = _("contract discounts")
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="contracts_discount_positive"),
            models.CheckConstraint(
                condition=~Q(kind="ENERGY_PERCENT") | Q(value__lte=100),
                name="contracts_discount_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="contracts_discount_valid_to_after_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()} {self.value})"
