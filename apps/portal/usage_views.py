"""Usage pages for customers: charts and tables, live figures, cost so far, insights, downloads.

Every page and endpoint here is scoped like the usage page: the supply point must have a
contract on one of the user's accounts (``apps.accounts.selectors.accounts_for_user``), else
404. Readings are shown only for the dates the user's own contracts cover, so a new occupant
never sees the previous occupant's use (docs/decisions/0521-usage-page.md).

The page data is built by the ``_…`` functions below, before rendering (no queries in
templates); aggregation happens in PostgreSQL (``apps.metering.usage``) and the cost so far
comes from the rating engine on the contract's price versions. Nothing here changes state.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.accounts import selectors as account_selectors
from apps.accounts.models import User
from apps.contracts import selectors as contract_selectors
from apps.contracts.models import Contract
from apps.core import clock
from apps.metering import espi, usage
from apps.metering import selectors as metering_selectors
from apps.metering.models import SupplyPoint
from apps.tariffs import rating
from apps.tariffs import selectors as tariff_selectors
from apps.tariffs.models import PriceVersion, Tariff

ZERO = Decimal(0)
ONE_DAY = dt.timedelta(days=1)
DAILY_DAYS = 30
MONTHS = 13
INSIGHT_DAYS = 30
LATEST_LOOKBACK = dt.timedelta(days=400)
DOWNLOAD_MAX_YEARS = 2
CSV_COLUMNS = (
    "supply_point",
    "interval_start",
    "duration_minutes",
    "kwh_import",
    "kwh_export",
    "quality",
)
TENTH = Decimal("0.1")


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


# --------------------------------------------------------------------------------------------
# Scope: whose supply point, and which dates of it the user may see
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageScope:
    """A supply point as one user may see it: the local days their own contracts cover."""

    supply_point: SupplyPoint
    contracts: tuple[Contract, ...]  # the user's contracts for it, newest start first
    first_day: dt.date | None  # None: no supplied contract, nothing to show
    end_day: dt.date | None  # first day not shown; None: open-ended
    tz: ZoneInfo

    def clamp_days(self, first: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
        """Local days [first, end) cut to the visible days (empty when nothing is visible)."""
        if self.first_day is None:
            return first, first
        low = max(first, self.first_day)
        high = end if self.end_day is None else min(end, self.end_day)
        return low, max(low, high)

    def clamp(self, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """Instants [start, end) cut to the visible days (an empty range when none are)."""
        if self.first_day is None:
            return start, start
        low = max(start, clock.local_midnight(self.first_day, self.tz))
        high = (
            end if self.end_day is None else min(end, clock.local_midnight(self.end_day, self.tz))
        )
        return low, max(low, high)

    def contract_in_force(self, day: dt.date) -> Contract | None:
        """The user's supplied (not cancelled) contract covering local ``day``, if any."""
        for contract in self.contracts:
            if (
                contract.status != Contract.Status.CANCELLED
                and contract.start_date <= day
                and (contract.end_date is None or day < contract.end_date)
            ):
                return contract
        return None

    def contract_on(self, day: dt.date) -> Contract | None:
        """The contract in force on ``day``; else the newest supplied one (for its tariff)."""
        supplied = [c for c in self.contracts if c.status != Contract.Status.CANCELLED]
        return self.contract_in_force(day) or (supplied[0] if supplied else None)


def _scope(user: User, supply_point_id: int, tz: ZoneInfo) -> UsageScope:
    """The supply point if it has a contract on one of ``user``'s accounts; Http404 otherwise.

    The visible days run from the first day of the user's earliest supplied (not cancelled)
    contract to the end of their latest one, so the previous or next occupant's readings at
    the same supply point stay private.
    """
    contracts = tuple(
        Contract.objects.filter(
            supply_point_id=supply_point_id,
            account__in=account_selectors.accounts_for_user(user).values("pk"),
        )
        .select_related("supply_point__premise__address", "account", "tariff")
        .order_by("-start_date", "-id")
    )
    if not contracts:
        raise Http404("No such supply point")
    supplied = [c for c in contracts if c.status != Contract.Status.CANCELLED]
    first_day = min((c.start_date for c in supplied), default=None)
    ends = [c.end_date for c in supplied]
    end_day = None
    if ends and all(end is not None for end in ends):
        end_day = max(cast(list[dt.date], ends))
    return UsageScope(contracts[0].supply_point, contracts, first_day, end_day, tz)


# --------------------------------------------------------------------------------------------
# Forms
# --------------------------------------------------------------------------------------------


class DayForm(forms.Form):
    """Which day the day chart shows, and at which resolution."""

    RESOLUTIONS = (("60", gettext_lazy("Hourly totals")), ("15", gettext_lazy("15-minute detail")))

    day = forms.DateField(
        label=gettext_lazy("Day"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    resolution = forms.ChoiceField(
        label=gettext_lazy("Detail"), choices=RESOLUTIONS, required=False
    )

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_day(self) -> dt.date:
        day = self.cleaned_data.get("day") or self.today
        if day > self.today:
            raise forms.ValidationError(_("Choose today or an earlier day."), code="future")
        return cast(dt.date, day)


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar date ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class DownloadForm(forms.Form):
    """The days of readings to download: first and last day included, at most two years."""

    start = forms.DateField(
        label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("Last day (included)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        if end < start:
            self.add_error("end", _("The last day must be the same as or after the first day."))
        elif end + ONE_DAY > add_years(start, DOWNLOAD_MAX_YEARS):
            latest = add_years(start, DOWNLOAD_MAX_YEARS) - ONE_DAY
            self.add_error(
                "end",
                _(
                    "Choose at most two years at a time: "
                    "from %(start)s the last day can be %(latest)s."
                )
                % {"start": date_format(start, "j M Y"), "latest": date_format(latest, "j M Y")},
            )
        return cleaned


# --------------------------------------------------------------------------------------------
# Page data
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a usage table (and one bar of its chart)."""

    label: str  # the row header in the table
    short_label: str  # the chart's axis label
    kwh_import: Decimal | None  # None: no readings
    kwh_export: Decimal | None
    estimated: int = 0  # estimated readings in it
    # Display text, formatted once in Python (cheaper than template filters on every row).
    import_text: str = "—"
    export_text: str = "—"
    estimated_text: str = ""


@dataclass
class Series:
    """A usage chart and the accessible table of the same numbers."""

    key: str
    heading: str
    caption: str
    column: str  # header of the first column
    rows: list[Row]
    show_export: bool
    summary: str = ""  # the chart's aria-label
    total_import: Decimal = ZERO
    total_export: Decimal = ZERO
    chart: dict[str, Any] = field(default_factory=dict)

    @property
    def chart_id(self) -> str:
        return f"usage-{self.key}-data"

    def finish(self, *, describe: str, unit_label: str) -> Series:
        """Compute totals, the chart data and its text summary."""
        for row in self.rows:
            if row.kwh_import is not None:
                row.import_text = number_format(row.kwh_import, 3)
                row.export_text = number_format(row.kwh_export or ZERO, 3)
            if row.estimated:
                row.estimated_text = ngettext(
                    "%(count)s estimated", "%(count)s estimated", row.estimated
                ) % {"count": row.estimated}
        measured = [row for row in self.rows if row.kwh_import is not None]
        self.total_import = sum((cast(Decimal, r.kwh_import) for r in measured), ZERO)
        self.total_export = sum((r.kwh_export or ZERO for r in measured), ZERO)
        self.chart = {
            "xLabel": self.column,
            "labels": [row.short_label for row in self.rows],
            "import": [row.kwh_import for row in self.rows],
            "export": [row.kwh_export for row in self.rows] if self.show_export else None,
            "importLabel": _("Imported (kWh)"),
            "exportLabel": _("Exported (kWh)"),
        }
        if not measured:
            self.summary = _("%(chart)s: no readings yet.") % {"chart": describe}
            return self
        top = max(measured, key=lambda row: cast(Decimal, row.kwh_import))
        self.summary = _(
            "%(chart)s: %(count)s %(unit)s with readings, %(total)s kWh in total; "
            "the most was %(top)s kWh (%(when)s). The table has the same numbers."
        ) % {
            "chart": describe,
            "count": len(measured),
            "unit": unit_label,
            "total": number_format(self.total_import, 3),
            "top": number_format(cast(Decimal, top.kwh_import), 3),
            "when": top.label,
        }
        return self


def _row_from(totals: usage.Totals | None, label: str, short: str) -> Row:
    if totals is None or totals.readings == 0:
        return Row(label, short, None, None)
    return Row(label, short, totals.kwh_import, totals.kwh_export, totals.estimated)


def _slot_labels(starts: Sequence[dt.datetime], tz: ZoneInfo) -> list[str]:
    """Local start times; a time that occurs twice (fall-back night) gets its zone name."""
    local = [start.astimezone(tz) for start in starts]
    plain = [f"{moment:%H:%M}" for moment in local]
    repeated = {label for label in plain if plain.count(label) > 1}
    return [
        f"{label} {moment.tzname()}" if label in repeated else label
        for label, moment in zip(plain, local, strict=True)
    ]


def _day_series(
    scope: UsageScope,
    *,
    day: dt.date,
    detail: bool,
    now: dt.datetime,
    tz: ZoneInfo,
    show_export: bool,
) -> tuple[Series, int | None]:
    """The chosen local day by hour (or by 15 minutes); returns it and the data's resolution."""
    start, end = clock.local_midnight(day, tz), clock.local_midnight(day + ONE_DAY, tz)
    q_start, q_end = scope.clamp(start, min(end, now))
    sp_id = scope.supply_point.pk
    buckets = usage.local_hour_buckets(supply_point_id=sp_id, start=q_start, end=q_end, tz=tz)
    resolutions = [b.totals.shortest_minutes for b in buckets if b.totals.shortest_minutes]
    resolution = min(resolutions) if resolutions else None
    show_export = show_export or any(b.totals.kwh_export > 0 for b in buckets)
    by_start: dict[dt.datetime, usage.Totals] = {b.start: b.totals for b in buckets}
    step = dt.timedelta(hours=1)
    if detail and resolution == 15:
        step = dt.timedelta(minutes=15)
        by_start = {
            row.start: usage.Totals(
                row.kwh_import,
                row.kwh_export,
                1,
                int(row.quality == usage.ESTIMATED),
                row.minutes,
                row.minutes,
            )
            for row in metering_selectors.interval_rows(
                supply_point_id=sp_id, start=q_start, end=q_end
            )
        }
    starts = []
    moment = start
    while moment < end and moment < now:
        starts.append(moment)
        moment += step
    labels = _slot_labels(starts, tz)
    rows = [
        _row_from(by_start.get(at.astimezone(dt.UTC)), label, label)
        for at, label in zip(starts, labels, strict=True)
    ]
    when = date_format(day, "l j F Y")
    if step.total_seconds() == 900:
        heading = _("%(day)s by 15 minutes") % {"day": when}
        describe = _("Bar chart of electricity used per 15 minutes on %(day)s") % {"day": when}
        unit = _("quarter hours")
    else:
        heading = _("%(day)s by hour") % {"day": when}
        describe = _("Bar chart of electricity used per hour on %(day)s") % {"day": when}
        unit = _("hours")
    series = Series(
        key="day",
        heading=heading,
        caption=_("Electricity used on %(day)s (times are local, %(zone)s)")
        % {"day": when, "zone": tz.key},
        column=_("Starting at"),
        rows=rows,
        show_export=show_export,
    )
    return series.finish(describe=describe, unit_label=unit), resolution


def _daily_series(
    scope: UsageScope, *, today: dt.date, tz: ZoneInfo, show_export: bool
) -> tuple[Series, usage.Totals]:
    """The last 30 local days, and today's totals so far (for the live card)."""
    first = today - dt.timedelta(days=DAILY_DAYS - 1)
    start, end = scope.clamp(
        clock.local_midnight(first, tz), clock.local_midnight(today + ONE_DAY, tz)
    )
    buckets = usage.daily_totals(supply_point_id=scope.supply_point.pk, start=start, end=end, tz=tz)
    by_day = {b.day: b.totals for b in buckets}
    days = [first + dt.timedelta(days=offset) for offset in range(DAILY_DAYS)]
    rows = [
        _row_from(by_day.get(day), date_format(day, "D j M Y"), date_format(day, "j M"))
        for day in days
    ]
    series = Series(
        key="days",
        heading=_("Last %(count)s days") % {"count": DAILY_DAYS},
        caption=_("Electricity used per day, %(first)s to %(last)s")
        % {"first": date_format(first, "j M Y"), "last": date_format(today, "j M Y")},
        column=_("Day"),
        rows=rows,
        show_export=show_export,
    )
    series.finish(
        describe=_("Bar chart of electricity used per day over the last %(count)s days")
        % {"count": DAILY_DAYS},
        unit_label=_("days"),
    )
    return series, by_day.get(today, usage.EMPTY)


def _month_shift(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _monthly_buckets(
    scope: UsageScope, *, today: dt.date, tz: ZoneInfo, stretches: Sequence[Stretch]
) -> tuple[list[dt.date], dict[dt.date, usage.MonthBucket]]:
    """The last 13 local months, each also counted up to its comparison stretch's end."""
    this_month = today.replace(day=1)
    months = [_month_shift(this_month, offset) for offset in range(1 - MONTHS, 1)]
    start, end = scope.clamp(
        clock.local_midnight(months[0], tz),
        clock.local_midnight(_month_shift(this_month, 1), tz),
    )
    buckets = usage.monthly_totals(
        supply_point_id=scope.supply_point.pk,
        start=start,
        end=end,
        tz=tz,
        cuts={stretch.month: stretch.end for stretch in stretches},
    )
    return months, {b.day: b for b in buckets}


def _monthly_series(
    months: list[dt.date], by_month: dict[dt.date, usage.MonthBucket], *, show_export: bool
) -> Series:
    rows = []
    for month in months:
        bucket = by_month.get(month)
        totals = bucket.totals if bucket else None
        rows.append(_row_from(totals, date_format(month, "F Y"), date_format(month, "M Y")))
    series = Series(
        key="months",
        heading=_("Last %(count)s months") % {"count": MONTHS},
        caption=_("Electricity used per month, %(first)s to %(last)s")
        % {"first": date_format(months[0], "F Y"), "last": date_format(months[-1], "F Y")},
        column=_("Month"),
        rows=rows,
        show_export=show_export,
    )
    return series.finish(
        describe=_("Bar chart of electricity used per month over the last %(count)s months")
        % {"count": MONTHS},
        unit_label=_("months"),
    )


@dataclass
class Comparison:
    name: str  # "This month so far", "Last month", ...
    label: str  # the stretch of time, in dates
    kwh: Decimal | None  # None: no readings in it
    change_kwh: Decimal | None = None  # this month minus this row
    change_percent: Decimal | None = None

    @property
    def change_abs(self) -> Decimal | None:
        return None if self.change_kwh is None else abs(self.change_kwh)


def _same_point_in(month: dt.date, cutoff_local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The instant in ``month`` at the same day of month and time as ``cutoff_local``."""
    following = _month_shift(month, 1)
    last_day = (following - ONE_DAY).day
    if cutoff_local.day > last_day:
        return clock.local_midnight(following, tz)
    moment = dt.datetime.combine(month.replace(day=cutoff_local.day), cutoff_local.time())
    return moment.replace(tzinfo=tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class Stretch:
    name: str
    label: str
    month: dt.date  # its month's first day
    end: dt.datetime  # it runs from the month's start to here


def _comparison_ranges(
    *, today: dt.date, cutoff: dt.datetime | None, tz: ZoneInfo
) -> list[Stretch]:
    """This month up to ``cutoff`` and the same stretch of last month and of a year ago.

    Like is compared with like: the same days of the month up to the same time of day, so a
    half-finished month is not set against a whole one.
    """
    this_month = today.replace(day=1)
    month_start = clock.local_midnight(this_month, tz)
    if cutoff is None or cutoff <= month_start:
        return []
    cutoff_local = cutoff.astimezone(tz)
    names = (_("This month so far"), _("Last month"), _("Same month last year"))
    months = (this_month, _month_shift(this_month, -1), _month_shift(this_month, -12))
    stretches = []
    for name, month in zip(names, months, strict=True):
        end = cutoff if month == this_month else _same_point_in(month, cutoff_local, tz)
        end_local = end.astimezone(tz)
        label = _("%(first)s to %(last)s, %(time)s") % {
            "first": date_format(month, "j M"),
            "last": date_format(end_local, "j M Y"),
            "time": f"{end_local:%H:%M}",
        }
        stretches.append(Stretch(name, label, month, end))
    return stretches


def _comparisons(
    stretches: Sequence[Stretch], by_month: dict[dt.date, usage.MonthBucket]
) -> list[Comparison]:
    rows = []
    for stretch in stretches:
        bucket = by_month.get(stretch.month)
        kwh = bucket.so_far_kwh_import if bucket and bucket.so_far_readings else None
        rows.append(Comparison(stretch.name, stretch.label, kwh))
    if not rows or rows[0].kwh is None:
        return rows
    current = rows[0].kwh
    for row in rows[1:]:
        if row.kwh is None:
            continue
        row.change_kwh = current - row.kwh
        if row.kwh:
            row.change_percent = (row.change_kwh * 100 / row.kwh).quantize(
                TENTH, rounding=ROUND_HALF_UP
            )
    return rows


# -- cost so far -----------------------------------------------------------------------------


def billing_period(today: dt.date, billing_day: int) -> tuple[dt.date, dt.date]:
    """The billing period [first day, next period's first day) that contains ``today``."""
    if today.day >= billing_day:
        first = today.replace(day=billing_day)
    else:
        first = _month_shift(today.replace(day=1), -1).replace(day=billing_day)
    return first, _month_shift(first.replace(day=1), 1).replace(day=billing_day)


@dataclass
class CostSoFar:
    first_day: dt.date
    last_day: dt.date  # included
    kwh_import: Decimal = ZERO
    kwh_export: Decimal = ZERO
    total: Decimal | None = None  # None: not estimated (see ``problem``)
    taxes: Decimal = ZERO
    currency: str = "EUR"
    problem: str = ""
    has_estimated_readings: bool = False


def _tariff_with_prices(tariff_id: int) -> Tariff:
    return tariff_selectors.tariffs_with_prices().get(pk=tariff_id)


def _market_prices_for(
    tariff: Tariff, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, Decimal] | None:
    """Hourly market prices each dynamic version of ``tariff`` needs in [start, end)."""
    tz = ZoneInfo(tariff.time_zone)
    dynamic = [v for v in tariff.versions.all() if v.energy_kind == PriceVersion.EnergyKind.DYNAMIC]
    if not dynamic:
        return None
    prices: dict[dt.datetime, Decimal] = {}
    for version in dynamic:
        low = max(start, clock.local_midnight(version.valid_from, tz))
        high = (
            end
            if version.valid_to is None
            else min(end, clock.local_midnight(version.valid_to, tz))
        )
        if low >= high:
            continue
        hour = low.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        prices.update(
            tariff_selectors.market_prices(series=version.market_series, start=hour, end=high)
        )
    return prices


def _cost_so_far(
    scope: UsageScope,
    *,
    today: dt.date,
    tz: ZoneInfo,
    tariffs: dict[int, Tariff],
    versions: dict[int, list[rating.PriceVersion]],
) -> CostSoFar | None:
    """Energy and estimated cost from the start of the billing period to the end of today."""
    current = scope.contract_in_force(today)
    if current is None:
        return None
    first, following = billing_period(today, current.account.billing_day)
    cost = CostSoFar(first_day=first, last_day=today, currency=tariffs[current.tariff_id].currency)
    period_end_day = min(following, today + ONE_DAY)
    total = ZERO
    problems: list[str] = []
    for contract in reversed(scope.contracts):  # oldest first
        if contract.status == Contract.Status.CANCELLED:
            continue
        start_day = max(first, contract.start_date)
        end_day = min(period_end_day, contract.end_date or period_end_day)
        if start_day >= end_day:
            continue
        tariff = tariffs[contract.tariff_id]
        tariff_tz = ZoneInfo(tariff.time_zone)
        period_start = clock.local_midnight(start_day, tariff_tz)
        period_end = clock.local_midnight(end_day, tariff_tz)
        start, end = scope.clamp(period_start, period_end)
        slots = usage.rating_slots(
            supply_point_id=scope.supply_point.pk, start=start, end=end, tz=tariff_tz
        )
        cost.kwh_import += sum((slot.kwh_import for slot in slots), ZERO)
        cost.kwh_export += sum((slot.kwh_export for slot in slots), ZERO)
        try:
            result = rating.rate(
                versions=versions[contract.tariff_id],
                intervals=[
                    rating.Interval(slot.start, slot.minutes, slot.kwh_import, slot.kwh_export)
                    for slot in slots
                ],
                period_start=period_start,
                period_end=period_end,
                tz=tariff_tz,
                market_prices=_market_prices_for(tariff, period_start, period_end),
                discounts=contract_selectors.rating_discounts(contract=contract, tz=tariff_tz),
            )
        except rating.MissingMarketPrice:
            problems.append(
                _(
                    "Your tariff follows the hourly market price, and some of those prices are "
                    "not published yet, so the cost can't be estimated yet."
                )
            )
            continue
        except (rating.NoPriceInForce, ValueError):
            problems.append(
                _(
                    "Your tariff's prices for these dates are not complete yet, so the cost can't "
                    "be estimated yet."
                )
            )
            continue
        total += result.total
        cost.taxes += result.amount_of(rating.TAX)
    if problems:
        cost.problem = problems[0]
    else:
        cost.total = total
    return cost


# -- insights --------------------------------------------------------------------------------


@dataclass
class PeriodShare:
    name: str
    kwh: Decimal
    percent: Decimal


@dataclass
class Insights:
    first_day: dt.date
    last_day: dt.date
    baseload_w: Decimal | None
    peak_hours: list[tuple[str, Decimal]]
    tou_shares: list[PeriodShare]
    tou_note: str


def _period_names(tariff: Tariff) -> dict[str, str]:
    names: dict[str, str] = {}
    for version in tariff.versions.all():
        for energy_rate in version.energy_rates.all():
            if energy_rate.period_name:
                names.setdefault(energy_rate.period, energy_rate.period_name)
    return names


def _tou_note(versions: Sequence[rating.PriceVersion], start: dt.datetime, end: dt.datetime) -> str:
    """Why there is no time-of-use split over [start, end); "" when there is one."""
    window = [
        v for v in versions if v.valid_from < end and (v.valid_to is None or v.valid_to > start)
    ]
    if any(isinstance(v.energy, rating.DynamicEnergy) for v in window):
        return _(
            "Your tariff's price follows the hourly market price, so there are no fixed "
            "time-of-use periods to split your use into."
        )
    if not any(
        isinstance(v.energy, rating.EnergyStructure) and len(v.energy.periods) > 1 for v in window
    ):
        return _(
            "Your tariff has the same price at every hour, so there are no time-of-use periods "
            "to split your use into."
        )
    return ""


def _tou_shares(
    hours: Sequence[usage.HourUse],
    *,
    tariff: Tariff,
    versions: Sequence[rating.PriceVersion],
) -> list[PeriodShare]:
    """Share of the use in each time-of-use period of the version in force on each day."""
    tz = ZoneInfo(tariff.time_zone)
    structure_on: dict[dt.date, rating.EnergyStructure | None] = {}
    sums: dict[str, Decimal] = {}
    for hour in hours:
        if hour.day not in structure_on:
            at = clock.local_midnight(hour.day, tz)
            energy = next(
                (
                    v.energy
                    for v in versions
                    if v.valid_from <= at and (v.valid_to is None or at < v.valid_to)
                ),
                None,
            )
            structure_on[hour.day] = energy if isinstance(energy, rating.EnergyStructure) else None
        structure = structure_on[hour.day]
        if structure is None:
            continue
        key = structure.period_at(hour.day, hour.day.month, hour.hour)
        sums[key] = sums.get(key, ZERO) + hour.kwh_import
    total = sum(sums.values(), ZERO)
    if not total:
        return []
    names = _period_names(tariff)
    return [
        PeriodShare(
            names.get(key, key),
            kwh,
            (kwh * 100 / total).quantize(TENTH, rounding=ROUND_HALF_UP),
        )
        for key, kwh in sorted(sums.items())
    ]


def _insights(
    scope: UsageScope,
    *,
    today: dt.date,
    tz: ZoneInfo,
    contract: Contract | None,
    tariffs: dict[int, Tariff],
    versions: dict[int, list[rating.PriceVersion]],
) -> Insights:
    """Baseload, peak hours and time-of-use split over the last 30 complete local days."""
    first = today - dt.timedelta(days=INSIGHT_DAYS)
    start, end = scope.clamp(clock.local_midnight(first, tz), clock.local_midnight(today, tz))
    tariff = tariffs.get(contract.tariff_id) if contract is not None else None
    if tariff is None:
        note = _("There is no contract to take time-of-use periods from.")
    else:
        note = _tou_note(versions[tariff.pk], start, end)
    # Time-of-use periods are read in the tariff's zone (normally the display zone).
    zone = ZoneInfo(tariff.time_zone) if tariff is not None and not note else tz
    figures = usage.insight_figures(
        supply_point_id=scope.supply_point.pk,
        start=start,
        end=end,
        tz=zone,
        with_hours=tariff is not None and not note,
    )
    shares: list[PeriodShare] = []
    if tariff is not None and not note:
        shares = _tou_shares(figures.hours, tariff=tariff, versions=versions[tariff.pk])
        if not shares:
            note = _("There are no readings in these days yet.")
    return Insights(
        first_day=first,
        last_day=today - ONE_DAY,
        baseload_w=(
            None
            if figures.baseload_w is None
            else figures.baseload_w.quantize(Decimal(1), ROUND_HALF_UP)
        ),
        peak_hours=[
            (f"{peak.hour:02d}:00–{(peak.hour + 1) % 24:02d}:00", peak.average_kwh)
            for peak in figures.peak_hours
        ],
        tou_shares=shares,
        tou_note=note,
    )


# -- live figures ------------------------------------------------------------------------------


def _live_context(
    scope: UsageScope,
    *,
    latest: usage.LatestReading | None,
    today_totals: usage.Totals,
    now: dt.datetime,
    tz: ZoneInfo,
) -> dict[str, Any]:
    return {
        "supply_point": scope.supply_point,
        "latest": latest,
        "latest_start": latest.start.astimezone(tz) if latest else None,
        "latest_end": latest.end.astimezone(tz) if latest else None,
        "today_totals": today_totals,
        "updated_at": now.astimezone(tz),
    }


def _latest(scope: UsageScope, now: dt.datetime) -> usage.LatestReading | None:
    start, end = scope.clamp(now - LATEST_LOOKBACK, now)
    return usage.latest_reading(supply_point_id=scope.supply_point.pk, start=start, end=end)


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


@login_required
def usage_index(request: HttpRequest) -> HttpResponse:
    """The supply points of the account the user is acting for, each linking to its usage."""
    user = _user(request)
    account = account_selectors.current_account(user, request.session)
    supply_points = contract_selectors.supply_points_for_account(account) if account else []
    return render(
        request,
        "portal/usage/index.html",
        {"account": account, "supply_points": supply_points},
    )


def _load_tariffs(
    contracts: Iterable[Contract],
) -> tuple[dict[int, Tariff], dict[int, list[rating.PriceVersion]]]:
    """The contracts' tariffs with prices (one set of queries) and their rating versions."""
    ids = {c.tariff_id for c in contracts if c.status != Contract.Status.CANCELLED}
    if not ids:
        return {}, {}
    tariffs = {
        t.pk: t for t in tariff_selectors.tariffs_with_prices().filter(pk__in=ids).order_by("id")
    }
    holiday_dates = tariff_selectors.holidays()
    versions: dict[int, list[rating.PriceVersion]] = {}
    for tariff in tariffs.values():
        try:
            versions[tariff.pk] = tariff_selectors.rating_versions(
                tariff, holiday_dates=holiday_dates
            )
        except ValueError:  # an inconsistent stored version: no estimate, the page still works
            versions[tariff.pk] = []
    return tariffs, versions


@login_required
def usage_page(request: HttpRequest, supply_point_id: int) -> HttpResponse:
    """Usage of one supply point: day, 30 days, 13 months, comparison, cost so far, insights."""
    tz = clock.local_zone()
    now = clock.now()
    today = clock.today(tz)
    scope = _scope(_user(request), supply_point_id, tz)
    day_form = DayForm(request.GET or None, today=today, initial={"day": today})
    day, detail = today, False
    if day_form.is_bound and day_form.is_valid():
        day = day_form.cleaned_data["day"]
        detail = day_form.cleaned_data.get("resolution") == "15"

    contract = scope.contract_on(today)
    tariffs, versions = _load_tariffs(scope.contracts)

    latest = _latest(scope, now)
    stretches = _comparison_ranges(
        today=today, cutoff=min(now, latest.end) if latest else None, tz=tz
    )
    months, by_month = _monthly_buckets(scope, today=today, tz=tz, stretches=stretches)
    solar = any(bucket.totals.kwh_export > 0 for bucket in by_month.values())
    day_series, resolution = _day_series(
        scope, day=day, detail=detail, now=now, tz=tz, show_export=solar
    )
    solar = solar or day_series.show_export
    daily, today_totals = _daily_series(scope, today=today, tz=tz, show_export=solar)
    monthly = _monthly_series(months, by_month, show_export=solar)
    cost = _cost_so_far(scope, today=today, tz=tz, tariffs=tariffs, versions=versions)
    insights = _insights(
        scope, today=today, tz=tz, contract=contract, tariffs=tariffs, versions=versions
    )
    base_url = reverse("usage:detail", args=[scope.supply_point.pk])
    context = {
        "scope": scope,
        "supply_point": scope.supply_point,
        "contract": contract,
        "tz": tz,
        "day": day,
        "today": today,
        "day_form": day_form,
        "detail": detail,
        "can_detail": resolution == 15,
        "previous_day": day - ONE_DAY,
        "next_day": day + ONE_DAY if day < today else None,
        "base_url": base_url,
        "series": [day_series, daily, monthly],
        "solar": solar,
        "comparisons": _comparisons(stretches, by_month),
        "cost": cost,
        "insights": insights,
        "download_form": DownloadForm(
            initial={"start": today - dt.timedelta(days=DAILY_DAYS), "end": today}
        ),
        **_live_context(scope, latest=latest, today_totals=today_totals, now=now, tz=tz),
    }
    return render(request, "portal/usage/detail.html", context)


@login_required
def usage_live(request: HttpRequest, supply_point_id: int) -> HttpResponse:
    """The live card (htmx fragment): latest reading and today's running total."""
    tz = clock.local_zone()
    now = clock.now()
    scope = _scope(_user(request), supply_point_id, tz)
    latest = _latest(scope, now)
    (today_totals,) = usage.totals_in_ranges(
        supply_point_id=scope.supply_point.pk,
        ranges=[scope.clamp(clock.local_midnight(clock.today(tz), tz), now)],
    )
    context = _live_context(scope, latest=latest, today_totals=today_totals, now=now, tz=tz)
    return render(request, "portal/usage/_live.html", context)


class _Echo:
    """A file-like object whose write returns the line (csv.writer into a generator)."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(
    rows: Iterator[tuple[dt.datetime, int, Decimal, Decimal, str]], *, cups: str, tz: ZoneInfo
) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(CSV_COLUMNS)
    for start, minutes, kwh_import, kwh_export, quality in rows:
        yield writer.writerow(
            (cups, start.astimezone(tz).isoformat(), minutes, kwh_import, kwh_export, quality)
        )


def _download_days(
    request: HttpRequest, scope: UsageScope
) -> tuple[dt.date, dt.date] | HttpResponse:
    """The chosen local days [first, end) cut to the visible ones, or the form with errors (400)."""
    form = DownloadForm(request.GET)
    if form.is_valid():
        first, end = scope.clamp_days(
            form.cleaned_data["start"], form.cleaned_data["end"] + ONE_DAY
        )
        if first < end:
            return first, end
        form.add_error(
            None,
            _(
                "None of these days is covered by your contracts for this supply point, "
                "so there is nothing to download."
            ),
        )
    context = {"supply_point": scope.supply_point, "download_form": form}
    return render(request, "portal/usage/download_form.html", context, status=400)


@login_required
def usage_download_csv(request: HttpRequest, supply_point_id: int) -> HttpResponseBase:
    """The readings of the chosen days as CSV, in the columns the CSV importer takes."""
    tz = clock.local_zone()
    scope = _scope(_user(request), supply_point_id, tz)
    chosen = _download_days(request, scope)
    if isinstance(chosen, HttpResponse):
        return chosen
    first, end = chosen
    cups = scope.supply_point.external_id
    rows = usage.readings_for_download(
        supply_point_id=scope.supply_point.pk,
        start=clock.local_midnight(first, tz),
        end=clock.local_midnight(end, tz),
    )
    response = StreamingHttpResponse(
        _csv_lines(rows, cups=cups, tz=tz), content_type="text/csv; charset=utf-8"
    )
    last = end - ONE_DAY
    response["Content-Disposition"] = (
        f'attachment; filename="usage-{cups}-{first.isoformat()}-{last.isoformat()}.csv"'
    )
    return response


@login_required
def usage_download_xml(request: HttpRequest, supply_point_id: int) -> HttpResponseBase:
    """The readings of the chosen days as a Green Button (NAESB ESPI 4.0) Atom feed."""
    tz = clock.local_zone()
    scope = _scope(_user(request), supply_point_id, tz)
    chosen = _download_days(request, scope)
    if isinstance(chosen, HttpResponse):
        return chosen
    first, end = chosen
    response = StreamingHttpResponse(
        espi.espi_feed_chunks(supply_point=scope.supply_point, start=first, end=end, tz=tz),
        content_type=f"{espi.CONTENT_TYPE}; charset=utf-8",
    )
    filename = espi.espi_filename(supply_point=scope.supply_point, start=first, end=end)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
