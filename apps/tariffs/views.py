"""Public tariff catalogue: the list, one tariff's rates and conditions, a printable view.

No sign-in needed. Views load tariffs with their prices in a fixed number of queries and turn
them into plain presentation data (``TariffView``) before rendering, so templates run no
queries. The same presentation helpers back the schedule overview in the admin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dates import MONTHS
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.core import clock
from apps.tariffs import rating, selectors
from apps.tariffs.forms import CatalogueFilterForm
from apps.tariffs.models import EnergyRate, PriceVersion, Tariff

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def _component_labels() -> dict[str, str]:
    return {
        rating.STANDING_CHARGE: _("standing charge"),
        rating.FIXED_CHARGE: _("fixed monthly charge"),
        rating.ENERGY: _("energy"),
        rating.DYNAMIC_ENERGY: _("energy (market-indexed)"),
        rating.EXPORT_CREDIT: _("export credit"),
        rating.DISCOUNT: _("discounts"),
        rating.MINIMUM_CHARGE: _("minimum-charge top-up"),
    }


# ---------------------------------------------------------------------------------------------
# Presentation data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TierView:
    label: str
    rate: Decimal


@dataclass(frozen=True, slots=True)
class PeriodView:
    key: str
    name: str
    tiers: tuple[TierView, ...]


@dataclass(frozen=True, slots=True)
class HourRange:
    label: str  # "08:00–22:00"
    weekday: str  # period name
    weekend: str


@dataclass(frozen=True, slots=True)
class ScheduleBlock:
    months: str  # "June–September" or "All year"
    same_every_day: bool
    rows: tuple[HourRange, ...]


@dataclass(frozen=True, slots=True)
class DynamicView:
    series: str
    factor: Decimal
    margin: Decimal
    floor: Decimal | None
    cap: Decimal | None


@dataclass(frozen=True, slots=True)
class TaxView:
    name: str
    code: str
    rate_percent: Decimal
    applies_to: str


@dataclass(frozen=True, slots=True)
class VersionView:
    valid_from: dt.date
    valid_to: dt.date | None
    label: str
    kind: str
    kind_label: str
    standing_charge_per_day: Decimal
    fixed_monthly_charge: Decimal
    minimum_monthly_charge: Decimal | None
    export_rate: Decimal | None
    periods: tuple[PeriodView, ...]
    schedule: tuple[ScheduleBlock, ...]
    weekend_differs: bool
    dynamic: DynamicView | None
    taxes: tuple[TaxView, ...]

    @property
    def is_dynamic(self) -> bool:
        return self.dynamic is not None

    @property
    def is_time_of_use(self) -> bool:
        return self.kind == PriceVersion.EnergyKind.TIME_OF_USE

    @property
    def has_tiers(self) -> bool:
        return any(len(period.tiers) > 1 for period in self.periods)


@dataclass(frozen=True, slots=True)
class TariffView:
    tariff: Tariff
    currency: str
    segment_label: str
    current: VersionView | None
    upcoming: tuple[VersionView, ...] = field(default=())
    open_to_new_customers: bool = True

    @property
    def headline(self) -> VersionView | None:
        """The version to summarise: the one in force, else the next one."""
        return self.current or (self.upcoming[0] if self.upcoming else None)


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros (1.05000000 -> 1.05, 21.00 -> 21), never in E-notation."""
    if value == value.to_integral():
        return value.quantize(Decimal(1))
    return value.normalize()


def _number(value: Decimal) -> str:
    return number_format(plain(value))


def _tier_label(index: int, tiers: Sequence[EnergyRate]) -> str:
    row = tiers[index]
    if len(tiers) == 1:
        return _("Every kWh")
    lower = tiers[index - 1].upto_kwh if index else None
    if row.upto_kwh is None:
        return _("Above %(lower)s kWh a month") % {"lower": _number(lower or Decimal(0))}
    if lower is None:
        return _("First %(upper)s kWh a month") % {"upper": _number(row.upto_kwh)}
    return _("From %(lower)s to %(upper)s kWh a month") % {
        "lower": _number(lower),
        "upper": _number(row.upto_kwh),
    }


def _periods(rates: Sequence[EnergyRate]) -> tuple[PeriodView, ...]:
    grouped: dict[str, list[EnergyRate]] = {}
    for row in sorted(rates, key=lambda r: (r.period, r.tier, r.id or 0)):
        grouped.setdefault(row.period, []).append(row)
    periods = []
    for key, tiers in grouped.items():
        name = next((t.period_name for t in tiers if t.period_name), "") or key
        periods.append(
            PeriodView(
                key=key,
                name=name,
                tiers=tuple(
                    TierView(label=_tier_label(i, tiers), rate=t.rate) for i, t in enumerate(tiers)
                ),
            )
        )
    return tuple(periods)


def _month_ranges(months: Sequence[int]) -> str:
    if len(months) == 12:
        return _("All year")
    runs: list[list[int]] = []
    for month in sorted(months):
        if runs and runs[-1][-1] == month - 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    if len(runs) > 1 and runs[0][0] == 1 and runs[-1][-1] == 12:  # wrap December → January
        runs[0] = runs.pop() + runs[0]
    parts = []
    for run in runs:
        first, last = MONTHS[run[0]], MONTHS[run[-1]]
        parts.append(str(first) if len(run) == 1 else f"{first}–{last}")
    return ", ".join(parts)


def _hour(hour: int) -> str:
    return f"{hour:02d}:00"


def schedule_blocks(
    weekday: Sequence[Sequence[str]] | None,
    weekend: Sequence[Sequence[str]] | None,
    names: dict[str, str],
) -> tuple[ScheduleBlock, ...]:
    """Months with the same daily pattern grouped; each day as hour ranges of one period.

    Returns () unless both schedules are well-formed 12×24 grids.
    """
    if not _is_grid(weekday):
        return ()
    assert weekday is not None
    weekend = weekend if _is_grid(weekend) else weekday
    assert weekend is not None
    patterns: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
    for month in range(12):
        key = (tuple(weekday[month]), tuple(weekend[month]))
        patterns.setdefault(key, []).append(month + 1)
    blocks = []
    for (day, end), months in patterns.items():
        rows: list[HourRange] = []
        start = 0
        for hour in range(1, 25):
            if hour == 24 or (day[hour], end[hour]) != (day[start], end[start]):
                rows.append(
                    HourRange(
                        label=f"{_hour(start)}–{_hour(hour % 24) if hour < 24 else '24:00'}",
                        weekday=names.get(day[start], day[start]),
                        weekend=names.get(end[start], end[start]),
                    )
                )
                start = hour
        blocks.append(
            ScheduleBlock(months=_month_ranges(months), same_every_day=day == end, rows=tuple(rows))
        )
    return tuple(blocks)


def _is_grid(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 12
        and all(isinstance(row, list) and len(row) == 24 for row in value)
    )


def _applies_to(base: object, tax_names: dict[str, str]) -> str:
    labels = _component_labels()
    if not isinstance(base, list):
        return ""
    return ", ".join(labels.get(str(name), tax_names.get(str(name), str(name))) for name in base)


def version_view(version: PriceVersion) -> VersionView:
    """Plain presentation data of one price version (uses prefetched rates and taxes)."""
    rates = list(version.energy_rates.all())
    periods = _periods(rates) if version.energy_kind != PriceVersion.EnergyKind.DYNAMIC else ()
    time_of_use = version.energy_kind == PriceVersion.EnergyKind.TIME_OF_USE
    schedule = (
        schedule_blocks(
            version.weekday_schedule,
            version.weekend_schedule,
            {period.key: period.name for period in periods},
        )
        if time_of_use
        else ()
    )
    dynamic = None
    if version.energy_kind == PriceVersion.EnergyKind.DYNAMIC:
        dynamic = DynamicView(
            series=version.market_series,
            factor=plain(version.dynamic_factor or Decimal(0)),
            margin=version.dynamic_margin or Decimal(0),
            floor=version.dynamic_floor,
            cap=version.dynamic_cap,
        )
    taxes = list(version.taxes.all())
    tax_names = {tax.code: tax.name for tax in taxes}
    return VersionView(
        valid_from=version.valid_from,
        valid_to=version.valid_to,
        label=version.label,
        kind=version.energy_kind,
        kind_label=str(version.get_energy_kind_display()),
        standing_charge_per_day=version.standing_charge_per_day,
        fixed_monthly_charge=version.fixed_monthly_charge,
        minimum_monthly_charge=version.minimum_monthly_charge,
        export_rate=version.export_rate,
        periods=periods,
        schedule=schedule,
        weekend_differs=any(not block.same_every_day for block in schedule),
        dynamic=dynamic,
        taxes=tuple(
            TaxView(
                name=tax.name,
                code=tax.code,
                rate_percent=plain(tax.rate_percent),
                applies_to=_applies_to(tax.base, tax_names),
            )
            for tax in taxes
        ),
    )


def tariff_view(tariff: Tariff, *, today: dt.date) -> TariffView:
    """Presentation data of a tariff: the version in force on its local date, and later ones.

    ``today`` is the catalogue's date (availability); prices use the tariff's own local date.
    """
    local_today = clock.now().astimezone(ZoneInfo(tariff.time_zone)).date()
    current = selectors.version_in_force(tariff, local_today)
    upcoming = [v for v in tariff.versions.all() if v.valid_from > local_today]
    open_now = (tariff.available_from is None or tariff.available_from <= today) and (
        tariff.available_to is None or today < tariff.available_to
    )
    return TariffView(
        tariff=tariff,
        currency=CURRENCY_SYMBOLS.get(tariff.currency, tariff.currency),
        segment_label=str(tariff.get_segment_display()),
        current=version_view(current) if current else None,
        upcoming=tuple(version_view(v) for v in upcoming),
        open_to_new_customers=open_now,
    )


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


@require_GET
def tariff_list(request: HttpRequest) -> HttpResponse:
    form = CatalogueFilterForm(request.GET or None)
    segment = form.cleaned_data["segment"] if form.is_valid() else None
    today = clock.today()
    tariffs = [
        tariff_view(t, today=today)
        for t in selectors.catalogue_tariffs(on=today, segment=segment or None)
    ]
    return render(
        request, "tariffs/tariff_list.html", {"form": form, "tariffs": tariffs, "today": today}
    )


def _public_tariff_view(code: str) -> TariffView:
    tariff = selectors.public_tariff(code=code)
    if tariff is None:
        raise Http404(_("No public tariff with this code."))
    return tariff_view(tariff, today=clock.today())


@require_GET
def tariff_detail(request: HttpRequest, code: str) -> HttpResponse:
    view = _public_tariff_view(code)
    return render(request, "tariffs/tariff_detail.html", {"view": view, "today": clock.today()})


@require_GET
def tariff_print(request: HttpRequest, code: str) -> HttpResponse:
    view = _public_tariff_view(code)
    return render(request, "tariffs/tariff_print.html", {"view": view, "today": clock.today()})
