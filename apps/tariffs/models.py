"""Tariff products and their effective-dated prices.

A ``PriceVersion`` holds every price of a tariff for a half-open range of local
dates [valid_from, valid_to). Its energy charge is one of four kinds; rates live
in ``EnergyRate`` rows (period × tier), the time-of-use calendar in two 12×24
schedules of period keys (month × local hour, URDB style) plus public holidays.
``apps.tariffs.selectors.rating_versions`` turns these rows into the pure
rating engine's dataclasses.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

# Imported here as well: earlier migrations name it as this module's DateRange.
from apps.core.db import DateRange

RATE_DIGITS = 16
RATE_PLACES = 8


def rate_field(verbose_name: Any, **kwargs: Any) -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(
        verbose_name, max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, **kwargs
    )


class Tariff(models.Model):
    """A product customers can choose: name, conditions, and its price versions."""

    class Segment(models.TextChoices):
        ALL = "ALL", _("Everyone")
        RESIDENTIAL = "RESIDENTIAL", _("Residential")
        SME = "SME", _("Small business")
        COMMERCIAL = "COMMERCIAL", _("Commercial")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    segment = models.CharField(
        _("available to"), max_length=16, choices=Segment.choices, default=Segment.RESIDENTIAL
    )
    contract_months = models.PositiveSmallIntegerField(
        _("contract length (months)"), default=12, help_text=_("0 means no fixed term.")
    )
    exit_fee = models.DecimalField(_("exit fee"), max_digits=10, decimal_places=2, default=0)
    green_share_percent = models.DecimalField(
        _("renewable share (%)"), max_digits=5, decimal_places=2, default=0
    )
    available_from = models.DateField(_("available from"), null=True, blank=True)
    available_to = models.DateField(
        _("available until"), null=True, blank=True, help_text=_("Exclusive.")
    )
    is_public = models.BooleanField(_("shown in the catalogue"), default=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Madrid")
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    conditions = models.TextField(_("other conditions"), blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        constraints = [
            models.CheckConstraint(
                condition=Q(exit_fee__gte=0), name="tariffs_tariff_exit_fee_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(green_share_percent__gte=0) & Q(green_share_percent__lte=100),
                name="tariffs_tariff_green_share_0_100",
            ),
            models.CheckConstraint(
                condition=Q(available_to__isnull=True)
                | Q(available_from__isnull=True)
                | Q(available_to__gt=F("available_from")),
                name="tariffs_tariff_availability_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PriceVersion(models.Model):
    """All prices of a tariff for local dates [valid_from, valid_to)."""

    class EnergyKind(models.TextChoices):
        FLAT = "FLAT", _("Flat rate")
        TIERED = "TIERED", _("Tiered by monthly kWh")
        TIME_OF_USE = "TIME_OF_USE", _("Time of use")
        DYNAMIC = "DYNAMIC", _("Dynamic (hourly market price)")

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="versions")
    label = models.CharField(_("label"), max_length=80, blank=True)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True, help_text=_("Exclusive."))
    energy_kind = models.CharField(
        _("energy charge"), max_length=16, choices=EnergyKind.choices, default=EnergyKind.FLAT
    )
    standing_charge_per_day = rate_field(_("standing charge per day"), default=0)
    fixed_monthly_charge = rate_field(_("fixed charge per month"), default=0)
    minimum_monthly_charge = rate_field(_("minimum charge per month"), null=True, blank=True)
    export_rate = rate_field(_("export rate per kWh"), null=True, blank=True)
    # Time of use: 12 rows (Jan..Dec) × 24 local hours of period keys; weekend also on holidays.
    weekday_schedule = models.JSONField(_("weekday schedule"), null=True, blank=True)
    weekend_schedule = models.JSONField(_("weekend and holiday schedule"), null=True, blank=True)
    # Dynamic: unit price = market price × factor + margin, clamped to [floor, cap].
    dynamic_factor = rate_field(_("market price factor"), null=True, blank=True)
    dynamic_margin = rate_field(_("margin per kWh"), null=True, blank=True)
    dynamic_floor = rate_field(_("price floor per kWh"), null=True, blank=True)
    dynamic_cap = rate_field(_("price cap per kWh"), null=True, blank=True)
    market_series = models.CharField(_("market price series"), max_length=32, default="ES-DA")

    class Meta:
        verbose_name = _("price version")
        verbose_name_plural = _("price versions")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="tariffs_priceversion_valid_to_after_from",
            ),
            models.CheckConstraint(
                condition=Q(standing_charge_per_day__gte=0) & Q(fixed_monthly_charge__gte=0),
                name="tariffs_priceversion_charges_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(energy_kind="DYNAMIC")
                | (Q(dynamic_factor__isnull=False) & Q(dynamic_margin__isnull=False)),
                name="tariffs_priceversion_dynamic_has_factor_and_margin",
            ),
            ExclusionConstraint(
                name="tariffs_priceversion_no_overlap",
                expressions=[
                    ("tariff", RangeOperators.EQUAL),
                    (DateRange("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
                violation_error_message=_(
                    "Another price version of this tariff covers these dates."
                ),
            ),
        ]

    def __str__(self) -> str:
        end = self.valid_to.isoformat() if self.valid_to else "…"
        return f"{self.tariff.code} {self.valid_from.isoformat()}–{end}"


class EnergyRate(models.Model):
    """The unit price of one time-of-use period and tier of a price version."""

    version = models.ForeignKey(PriceVersion, on_delete=models.CASCADE, related_name="energy_rates")
    period = models.CharField(
        _("period"), max_length=16, default="ALL", help_text=_("Key used in the schedules.")
    )
    period_name = models.CharField(_("period name"), max_length=60, blank=True)
    tier = models.PositiveSmallIntegerField(_("tier"), default=1)
    upto_kwh = models.DecimalField(
        _("tier limit (kWh per month)"),
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text=_("Cumulative upper bound of the tier; empty for the last tier."),
    )
    rate = rate_field(_("price per kWh"))

    class Meta:
        verbose_name = _("energy rate")
        verbose_name_plural = _("energy rates")
        constraints = [
            models.UniqueConstraint(
                fields=["version", "period", "tier"], name="tariffs_energyrate_unique"
            ),
            models.CheckConstraint(condition=Q(tier__gte=1), name="tariffs_energyrate_tier_from_1"),
            models.CheckConstraint(
                condition=Q(upto_kwh__isnull=True) | Q(upto_kwh__gt=0),
                name="tariffs_energyrate_upto_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} tier {self.tier}: {self.rate}/kWh"


class TaxRate(models.Model):
    """A tax applied on top of a version's lines, in ``position`` order."""

    version = models.ForeignKey(PriceVersion, on_delete=models.CASCADE, related_name="taxes")
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    code = models.CharField(_("code"), max_length=16)
    name = models.CharField(_("name"), max_length=80)
    rate_percent = models.DecimalField(_("rate (%)"), max_digits=12, decimal_places=8)
    base = models.JSONField(
        _("applies to"),
        help_text=_(
            "Line components (STANDING_CHARGE, FIXED_CHARGE, ENERGY, DYNAMIC_ENERGY, "
            "EXPORT_CREDIT, DISCOUNT, MINIMUM_CHARGE) and codes of earlier taxes."
        ),
    )

    class Meta:
        verbose_name = _("tax")
        verbose_name_plural = _("taxes")
        constraints = [
            models.UniqueConstraint(fields=["version", "code"], name="tariffs_taxrate_unique_code"),
            models.CheckConstraint(
                condition=Q(rate_percent__gte=0) & Q(rate_percent__lte=100),
                name="tariffs_taxrate_percent_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.rate_percent}%"


class Holiday(models.Model):
    """A public holiday: time-of-use tariffs price it with the weekend schedule."""

    date = models.DateField(_("date"))
    region = models.CharField(_("region"), max_length=16, default="ES")
    name = models.CharField(_("name"), max_length=80)

    class Meta:
        verbose_name = _("public holiday")
        verbose_name_plural = _("public holidays")
        constraints = [
            models.UniqueConstraint(fields=["region", "date"], name="tariffs_holiday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"


class MarketPrice(models.Model):
    """An hourly wholesale price (EUR/kWh) of a series; the market app fills it."""

    series = models.CharField(_("series"), max_length=32, default="ES-DA")
    starts_at = models.DateTimeField(_("hour starting at"))
    price_per_kwh = models.DecimalField(_("price per kWh"), max_digits=12, decimal_places=6)

    class Meta:
        verbose_name = _("market price")
        verbose_name_plural = _("market prices")
        constraints = [
            models.UniqueConstraint(
                fields=["series", "starts_at"], name="tariffs_marketprice_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.starts_at:%Y-%m-%d %H:%M} {self.price_per_kwh}"
