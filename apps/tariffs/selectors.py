"""Reads of tariffs shared by several callers (rating, comparison, catalogue, billing)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet

from apps.tariffs import rating
from apps.tariffs.models import EnergyRate, Holiday, MarketPrice, PriceVersion, Tariff, TaxRate


def _local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min).replace(tzinfo=tz).astimezone(dt.UTC)


def tariffs_with_prices() -> QuerySet[Tariff]:
    """Tariffs with versions, rates and taxes prefetched (one query per relation)."""
    return Tariff.objects.prefetch_related(
        Prefetch("versions", queryset=PriceVersion.objects.order_by("valid_from", "id")),
        Prefetch(
            "versions__energy_rates", queryset=EnergyRate.objects.order_by("period", "tier", "id")
        ),
        Prefetch("versions__taxes", queryset=TaxRate.objects.order_by("position", "id")),
    )


def available_tariffs(*, segment: str, on: dt.date) -> QuerySet[Tariff]:
    """Public tariffs a customer of ``segment`` can choose on date ``on``."""
    return (
        tariffs_with_prices()
        .filter(is_public=True)
        .filter(Q(segment=Tariff.Segment.ALL) | Q(segment=segment))
        .filter(Q(available_from__isnull=True) | Q(available_from__lte=on))
        .filter(Q(available_to__isnull=True) | Q(available_to__gt=on))
        .order_by("name", "id")
    )


def version_in_force(tariff: Tariff, on: dt.date) -> PriceVersion | None:
    """The price version of ``tariff`` in force on local date ``on`` (uses prefetched rows)."""
    for version in tariff.versions.all():
        if version.valid_from <= on and (version.valid_to is None or on < version.valid_to):
            return version
    return None


def holidays(*, region: str = "ES") -> frozenset[dt.date]:
    return frozenset(Holiday.objects.filter(region=region).values_list("date", flat=True))


def energy_structure(
    version: PriceVersion, *, holiday_dates: Iterable[dt.date] = ()
) -> rating.EnergyStructure | rating.DynamicEnergy:
    """The rating engine's energy charge for a stored version. Raises ValueError if inconsistent."""
    kind = version.energy_kind
    if kind == PriceVersion.EnergyKind.DYNAMIC:
        return rating.DynamicEnergy(
            factor=version.dynamic_factor or Decimal(0),
            margin=version.dynamic_margin or Decimal(0),
            floor=version.dynamic_floor,
            cap=version.dynamic_cap,
        )
    rates = list(version.energy_rates.all())
    if not rates:
        raise ValueError("A price version needs at least one energy rate.")
    periods: dict[str, list[rating.Tier]] = {}
    for row in sorted(rates, key=lambda r: (r.period, r.tier)):
        periods.setdefault(row.period, []).append(rating.Tier(row.upto_kwh, row.rate))
    if kind in (PriceVersion.EnergyKind.FLAT, PriceVersion.EnergyKind.TIERED):
        if len(periods) != 1:
            raise ValueError("A flat or tiered price has exactly one period.")
        (tiers,) = periods.values()
        if kind == PriceVersion.EnergyKind.FLAT and len(tiers) != 1:
            raise ValueError("A flat price has exactly one rate.")
        return rating.EnergyStructure.tiered(tiers)
    if not version.weekday_schedule:
        raise ValueError("A time-of-use price needs a weekday schedule.")
    return rating.EnergyStructure.time_of_use(
        periods,
        version.weekday_schedule,
        version.weekend_schedule or None,
        holidays=holiday_dates,
    )


def rating_version(
    version: PriceVersion, *, tz: ZoneInfo, holiday_dates: Iterable[dt.date] = ()
) -> rating.PriceVersion:
    """Convert one stored version into the rating engine's ``PriceVersion``."""
    taxes = tuple(
        rating.Tax(code=t.code, name=t.name, rate_percent=t.rate_percent, base=frozenset(t.base))
        for t in version.taxes.all()
    )
    return rating.PriceVersion(
        valid_from=_local_midnight(version.valid_from, tz),
        valid_to=_local_midnight(version.valid_to, tz) if version.valid_to else None,
        standing_charge_per_day=version.standing_charge_per_day,
        energy=energy_structure(version, holiday_dates=holiday_dates),
        export_rate=version.export_rate,
        fixed_monthly_charge=version.fixed_monthly_charge,
        minimum_monthly_charge=version.minimum_monthly_charge,
        taxes=taxes,
        label=version.label or f"{version.tariff.code} {version.valid_from.isoformat()}",
    )


def rating_versions(
    tariff: Tariff, *, holiday_dates: Iterable[dt.date] | None = None
) -> list[rating.PriceVersion]:
    """All versions of ``tariff`` as rating-engine data (expects ``tariffs_with_prices``)."""
    tz = ZoneInfo(tariff.time_zone)
    dates = holidays() if holiday_dates is None else frozenset(holiday_dates)
    return [rating_version(v, tz=tz, holiday_dates=dates) for v in tariff.versions.all()]


def is_dynamic(tariff: Tariff) -> bool:
    return any(v.energy_kind == PriceVersion.EnergyKind.DYNAMIC for v in tariff.versions.all())


def market_prices(
    *, series: str, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, Decimal]:
    """Hourly market prices of ``series`` in [start, end), keyed by UTC hour start."""
    rows = MarketPrice.objects.filter(
        series=series, starts_at__gte=start, starts_at__lt=end
    ).values_list("starts_at", "price_per_kwh")
    return {starts_at.astimezone(dt.UTC): price for starts_at, price in rows}


# -- catalogue and staff tools (tariffs app) ----------------------------------------------------


def catalogue_tariffs(*, on: dt.date, segment: str | None = None) -> QuerySet[Tariff]:
    """Public tariffs open to new customers on ``on`` (every segment unless one is given)."""
    if segment:
        return available_tariffs(segment=segment, on=on)
    return (
        tariffs_with_prices()
        .filter(is_public=True)
        .filter(Q(available_from__isnull=True) | Q(available_from__lte=on))
        .filter(Q(available_to__isnull=True) | Q(available_to__gt=on))
        .order_by("name", "id")
    )


def public_tariff(*, code: str) -> Tariff | None:
    """The public tariff with ``code`` (prices prefetched), or None."""
    return tariffs_with_prices().filter(is_public=True, code=code).first()


def tariff_by_code(*, code: str) -> Tariff | None:
    """Any tariff with ``code`` (public or not; prices prefetched), or None. Staff use."""
    return tariffs_with_prices().filter(code=code).first()


def overlapping_versions(
    *, tariff_id: int, valid_from: dt.date, valid_to: dt.date | None, exclude_id: int | None
) -> list[PriceVersion]:
    """Other versions of a tariff whose [valid_from, valid_to) meets the given range."""
    queryset = PriceVersion.objects.filter(tariff_id=tariff_id).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=valid_from)
    )
    if valid_to is not None:
        queryset = queryset.filter(valid_from__lt=valid_to)
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return list(queryset.select_related("tariff").order_by("valid_from", "id"))
