"""Plan comparison: what would the last 12 full months have cost on each tariff I can choose?

The supply point's interval readings of the last 12 full local months (or, without readings,
the standard load profile scaled to the customer's yearly kWh) are rated with the rating
engine month by month on every tariff the customer can choose today, plus their current one.
Every tariff is priced with the price version in force today, applied to the whole year, so
the comparison answers "which tariff is cheapest for how I use electricity" at today's prices;
dynamic tariffs use the market prices of the hours the energy was used (decision 0303).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from apps.contracts.models import Contract
from apps.core import clock
from apps.metering import profiles
from apps.metering import selectors as metering_selectors
from apps.tariffs import rating
from apps.tariffs import selectors as tariff_selectors
from apps.tariffs.models import PriceVersion, Tariff

DEFAULT_ANNUAL_KWH: Final = Decimal(3500)
MIN_ANNUAL_KWH: Final = Decimal(100)
MAX_ANNUAL_KWH: Final = Decimal(100_000)
MONTHS: Final = 12
_PERCENT = Decimal("0.1")

Source = Literal["READINGS", "PROFILE"]


@dataclass(frozen=True)
class TariffCost:
    """The cost of the comparison year on one tariff (``total`` None when it cannot be priced)."""

    tariff: Tariff
    is_current: bool
    is_choosable: bool
    is_dynamic: bool
    total: Decimal | None
    monthly: tuple[Decimal, ...] = ()
    not_priced_reason: str = ""
    difference: Decimal | None = None
    difference_percent: Decimal | None = None

    @property
    def is_cheaper(self) -> bool:
        return self.difference is not None and self.difference < 0

    @property
    def is_dearer(self) -> bool:
        return self.difference is not None and self.difference > 0

    @property
    def difference_abs(self) -> Decimal | None:
        return None if self.difference is None else abs(self.difference)

    @property
    def difference_percent_abs(self) -> Decimal | None:
        return None if self.difference_percent is None else abs(self.difference_percent)


@dataclass(frozen=True)
class PlanComparison:
    contract: Contract
    period_start: dt.date  # first local day rated
    period_end: dt.date  # exclusive
    source: Source
    total_kwh: Decimal
    annual_kwh: Decimal | None  # the yearly kWh the profile was scaled to (PROFILE only)
    readings_from: dt.datetime | None
    readings_to: dt.datetime | None
    rows: tuple[TariffCost, ...]

    @property
    def current(self) -> TariffCost | None:
        return next((row for row in self.rows if row.is_current), None)

    @property
    def last_day(self) -> dt.date:
        return self.period_end - dt.timedelta(days=1)


def comparison_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last 12 full calendar months before ``today``'s month: [first day, first day)."""
    end = today.replace(day=1)
    start = end.replace(year=end.year - 1)
    return start, end


def _months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    months = []
    year, month = start.year, start.month
    while dt.date(year, month, 1) < end:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


class _Intervals:
    """The year's intervals, sorted, with cheap slicing by instant range."""

    def __init__(self, intervals: list[rating.Interval]) -> None:
        self.items = intervals
        self.starts = [item.start for item in intervals]
        self.ends = [item.start + dt.timedelta(minutes=item.minutes) for item in intervals]

    def within(self, start: dt.datetime, end: dt.datetime) -> list[rating.Interval]:
        """Intervals meeting [start, end) (ones crossing an edge are cut by the engine)."""
        low = bisect_right(self.ends, start)
        high = bisect_left(self.starts, end)
        return self.items[low:high]


def _reading_intervals(
    *, supply_point_id: int, start: dt.datetime, end: dt.datetime
) -> list[rating.Interval]:
    rows = metering_selectors.interval_rows(supply_point_id=supply_point_id, start=start, end=end)
    return [rating.Interval(row.start, row.minutes, row.kwh_import, row.kwh_export) for row in rows]


def _profile_intervals(
    *, start: dt.date, end: dt.date, tz: ZoneInfo, annual_kwh: Decimal, holidays: frozenset[dt.date]
) -> list[rating.Interval]:
    rows = profiles.profile_intervals(
        start_date=start, end_date=end, tz=tz, total_kwh=annual_kwh, holidays=holidays
    )
    return [rating.Interval(row.start, row.minutes, row.kwh) for row in rows]


def annual_kwh_for(contract: Contract, declared: Decimal | None) -> Decimal:
    """The yearly kWh the profile is scaled to: declared, else the customer's, else 3,500."""
    if declared is not None:
        return declared
    known = contract.account.customer.annual_kwh
    if known is not None and known > 0:
        return Decimal(known)
    return DEFAULT_ANNUAL_KWH


def _rate_year(
    *,
    tariff: Tariff,
    version: PriceVersion,
    months: list[tuple[int, int]],
    intervals: _Intervals,
    holidays: frozenset[dt.date],
    market_cache: dict[tuple[str, dt.datetime, dt.datetime], dict[dt.datetime, Decimal]],
) -> tuple[Decimal, ...]:
    tz = ZoneInfo(tariff.time_zone)
    first_start, _unused = rating.month_bounds(*months[0], tz)
    _unused, last_end = rating.month_bounds(*months[-1], tz)
    projected = dataclasses.replace(
        tariff_selectors.rating_version(version, tz=tz, holiday_dates=holidays),
        valid_from=first_start,
        valid_to=None,
    )
    prices: dict[dt.datetime, Decimal] | None = None
    if version.energy_kind == PriceVersion.EnergyKind.DYNAMIC:
        key = (version.market_series, first_start, last_end)
        if key not in market_cache:
            market_cache[key] = tariff_selectors.market_prices(
                series=version.market_series, start=first_start, end=last_end
            )
        prices = market_cache[key]
    totals = []
    for year, month in months:
        start, end = rating.month_bounds(year, month, tz)
        result = rating.rate(
            versions=[projected],
            intervals=intervals.within(start, end),
            period_start=start,
            period_end=end,
            tz=tz,
            market_prices=prices,
        )
        totals.append(result.total)
    return tuple(totals)


def plan_comparison(
    *, contract: Contract, today: dt.date, declared_annual_kwh: Decimal | None = None
) -> PlanComparison:
    """Cost of the last 12 full months on every tariff the customer can choose, cheapest first.

    ``contract`` must come with account, customer, supply point and tariff loaded (as
    ``selectors.contract_for_user`` returns it). Tariffs that cannot be priced (a dynamic tariff
    without market prices for the whole year, no price version in force today, inconsistent
    prices) are listed last with the reason instead of failing the page.
    """
    local = clock.local_zone()
    period_start, period_end = comparison_period(today)
    months = _months(period_start, period_end)
    holidays = tariff_selectors.holidays()
    segment = contract.account.customer.segment
    choosable = list(tariff_selectors.available_tariffs(segment=segment, on=today))
    tariffs = list(choosable)
    if all(t.pk != contract.tariff_id for t in tariffs):
        current = tariff_selectors.tariffs_with_prices().filter(pk=contract.tariff_id).first()
        if current is not None:
            tariffs.append(current)
    choosable_ids = {t.pk for t in choosable}

    # Load a little more than the local year so any tariff zone's months are covered.
    load_start = _midnight(period_start, local) - dt.timedelta(days=1)
    load_end = _midnight(period_end, local) + dt.timedelta(days=1)
    raw = _reading_intervals(
        supply_point_id=contract.supply_point_id, start=load_start, end=load_end
    )
    year_start, year_end = _midnight(period_start, local), _midnight(period_end, local)
    intervals = _Intervals(raw)
    in_year = intervals.within(year_start, year_end)
    source: Source = "READINGS" if in_year else "PROFILE"
    annual_kwh = None
    if not in_year:
        annual_kwh = annual_kwh_for(contract, declared_annual_kwh)
        intervals = _Intervals(
            _profile_intervals(
                start=period_start,
                end=period_end,
                tz=local,
                annual_kwh=annual_kwh,
                holidays=holidays,
            )
        )
        in_year = intervals.within(year_start, year_end)
    total_kwh = sum((item.kwh_import for item in in_year), Decimal(0))

    market_cache: dict[tuple[str, dt.datetime, dt.datetime], dict[dt.datetime, Decimal]] = {}
    costs: list[TariffCost] = []
    for tariff in tariffs:
        blank = TariffCost(
            tariff=tariff,
            is_current=tariff.pk == contract.tariff_id,
            is_choosable=tariff.pk in choosable_ids,
            is_dynamic=tariff_selectors.is_dynamic(tariff),
            total=None,
        )
        version = tariff_selectors.version_in_force(tariff, today)
        if version is None:
            costs.append(
                dataclasses.replace(blank, not_priced_reason=_("no prices in force today"))
            )
            continue
        try:
            monthly = _rate_year(
                tariff=tariff,
                version=version,
                months=months,
                intervals=intervals,
                holidays=holidays,
                market_cache=market_cache,
            )
        except rating.MissingMarketPrice:
            reason = _("not enough price history")
        except (rating.RatingError, ValueError):
            reason = _("prices incomplete")
        else:
            total = sum(monthly, Decimal(0))
            costs.append(dataclasses.replace(blank, total=total, monthly=monthly))
            continue
        costs.append(dataclasses.replace(blank, not_priced_reason=reason))

    current_total = next((c.total for c in costs if c.is_current), None)
    rows = [_with_difference(cost, current_total) for cost in costs]
    rows.sort(
        key=lambda row: (
            row.total is None,
            row.total if row.total is not None else Decimal(0),
            row.tariff.name,
            row.tariff.pk,
        )
    )
    return PlanComparison(
        contract=contract,
        period_start=period_start,
        period_end=period_end,
        source=source,
        total_kwh=total_kwh,
        annual_kwh=annual_kwh,
        readings_from=in_year[0].start if source == "READINGS" and in_year else None,
        readings_to=(
            in_year[-1].start + dt.timedelta(minutes=in_year[-1].minutes)
            if source == "READINGS" and in_year
            else None
        ),
        rows=tuple(rows),
    )


def _with_difference(cost: TariffCost, current_total: Decimal | None) -> TariffCost:
    if cost.total is None or current_total is None:
        return cost
    difference = cost.total - current_total
    percent = None
    if current_total:
        percent = (difference * 100 / current_total).quantize(_PERCENT, rounding=ROUND_HALF_UP)
    return dataclasses.replace(cost, difference=difference, difference_percent=percent)
