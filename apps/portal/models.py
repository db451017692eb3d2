"""The operations dashboard's daily roll-up of energy sold (decision 0542).

Summing a month of interval readings takes tens of seconds at a real utility's size, so
each finished local day is summed once per (tariff, segment) and kept here; the
dashboard adds today's live figures to these rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tariffs.models import Tariff


class SalesDay(models.Model):
    """kWh delivered on one local day under one tariff to one customer segment.

    ``tariff`` empty with ``segment`` empty: supply points with no contract that day.
    ``revenue`` is kept unrounded; the dashboard rounds once per row of its tables.
    """

    day = models.DateField(_("day"))
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tariff_name = models.CharField(_("tariff name"), max_length=200, blank=True)
    segment = models.CharField(_("segment"), max_length=20, blank=True)
    kwh = models.DecimalField(_("kWh"), max_digits=18, decimal_places=3)
    revenue = models.DecimalField(_("estimated revenue"), max_digits=24, decimal_places=12)
    unpriced_kwh = models.DecimalField(_("kWh without a price"), max_digits=18, decimal_places=3)

    class Meta:
        verbose_name = _("sales day")
        verbose_name_plural = _("sales days")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "tariff", "segment"],
                nulls_distinct=False,
                name="portal_salesday_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.tariff_name or '-'} {self.segment or '-'}"


class SalesDayComputed(models.Model):
    """A local day whose SalesDay rows are complete (it may have none: no readings)."""

    day = models.DateField(_("day"), primary_key=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("summed sales day")
        verbose_name_plural = _("summed sales days")

    def __str__(self) -> str:
        return f"{self.day} at {self.computed_at:%Y-%m-%d %H:%M}"
