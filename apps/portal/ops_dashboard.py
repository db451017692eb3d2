"""Operations dashboard: energy delivered and estimated revenue, meters reporting or silent.

Staff only, with the second factor given and ``metering.view_intervalreading``
(operations, support, billing and field roles have it; a customer gets 403).

Figures are aggregated in PostgreSQL (decision 0542):

* **kWh delivered** — imported kWh of readings whose interval starts on the local
  day (today) or local month so far, attributed to the contract that covered the
  supply point on that day (the newest-starting one if ever two did), grouped by
  its tariff and by its customer's segment. kWh with no contract that day are
  shown as such.
* **Estimated revenue** — kWh × the plain average of the energy rates of the
  tariff's price version in force that day: no standing charges, taxes, tiers or
  time-of-use weighting, so it is an indication, not a bill. Dynamic tariffs have
  no stored rates and are not estimated. Rounded once per row, totals add rows.
* **Reporting vs silent** — supply points with a supplying contract today, and
  whether they sent a reading for an interval in the last 24 hours.

The month's finished days come from a daily roll-up (``SalesDay``): each day is summed
once (by the hourly ``portal.sum_sales_days`` task, or on the spot when the dashboard
finds it missing), and the last RECENT_DAYS days are summed again every hour to take in
late and corrected readings. Today's figures and the reporting count are read from the
readings and shared for a minute (the page refreshes every 60 s while visible).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from apps.accounts.models import Account, Customer
from apps.contracts.models import Contract
from apps.core import clock
from apps.core.money import round_energy, round_money
from apps.core.staff import staff_verified_required
from apps.metering.models import IntervalReading, SupplyPoint
from apps.portal.models import SalesDay, SalesDayComputed
from apps.tariffs.models import EnergyRate, PriceVersion, Tariff

PERMISSION = "metering.view_intervalreading"
#: Today's figures and the reporting count are shared by every look within a minute (the
#: page refreshes every 60 s).
LIVE_CACHE_SECONDS = 60
#: Finished days summed again every hour, for readings that arrive or are corrected late.
RECENT_DAYS = 3
ROLLUP_LOCK = 0x0573_A1E5  # pg_advisory_xact_lock key: one roll-up at a time
SILENT_SHOWN = 20
SUPPLYING_NOW = (Contract.Status.ACTIVE, Contract.Status.COOLING_OFF)
ZERO = Decimal(0)


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


# One row per (local day, tariff, segment): kWh, revenue before rounding, kWh without a
# price. The dashboard sums the rows of several days per (tariff, segment).
_SALES_SQL = f"""
WITH daily AS (
    SELECT r.supply_point_id, (r.interval_start AT TIME ZONE %(tz)s)::date AS day,
           SUM(r.kwh_import) AS kwh
    FROM {_table(IntervalReading)} r
    WHERE r.interval_start >= %(start)s AND r.interval_start < %(end)s
    GROUP BY 1, 2
), rates AS (
    SELECT version_id, AVG(rate) AS rate FROM {_table(EnergyRate)} GROUP BY version_id
)
SELECT d.day, t.id, t.name, cu.segment,
       SUM(d.kwh) AS kwh,
       COALESCE(SUM(d.kwh * er.rate), 0) AS revenue,
       COALESCE(SUM(d.kwh) FILTER (WHERE er.rate IS NULL), 0) AS unpriced_kwh
FROM daily d
LEFT JOIN LATERAL (
    SELECT c.tariff_id, c.account_id FROM {_table(Contract)} c
    WHERE c.supply_point_id = d.supply_point_id AND c.status <> 'CANCELLED'
      AND c.start_date <= d.day AND (c.end_date IS NULL OR c.end_date > d.day)
    ORDER BY c.start_date DESC, c.id DESC
    LIMIT 1
) c ON TRUE
LEFT JOIN {_table(Tariff)} t ON t.id = c.tariff_id
LEFT JOIN {_table(Account)} a ON a.id = c.account_id
LEFT JOIN {_table(Customer)} cu ON cu.id = a.customer_id
LEFT JOIN {_table(PriceVersion)} pv ON pv.tariff_id = c.tariff_id
     AND pv.valid_from <= d.day AND (pv.valid_to IS NULL OR pv.valid_to > d.day)
LEFT JOIN rates er ON er.version_id = pv.id
GROUP BY d.day, t.id, t.name, cu.segment
ORDER BY d.day, t.name NULLS LAST, t.id, cu.segment
"""  # noqa: S608 - table names come from the models; values are parameters

_REPORTING_SQL = f"""
WITH supplied AS (
    SELECT DISTINCT c.supply_point_id FROM {_table(Contract)} c
    WHERE c.status = ANY(%(statuses)s) AND c.start_date <= %(today)s
      AND (c.end_date IS NULL OR c.end_date > %(today)s)
), flagged AS (
    SELECT s.supply_point_id, EXISTS (
        SELECT 1 FROM {_table(IntervalReading)} r
        WHERE r.supply_point_id = s.supply_point_id
          AND r.interval_start >= %(since)s AND r.interval_start < %(until)s
    ) AS reporting
    FROM supplied s
)
SELECT COUNT(*), COUNT(*) FILTER (WHERE f.reporting),
       (ARRAY_AGG(sp.external_id ORDER BY sp.external_id, sp.id)
            FILTER (WHERE NOT f.reporting))[1:%(shown)s]
FROM flagged f
JOIN {_table(SupplyPoint)} sp ON sp.id = f.supply_point_id
"""  # noqa: S608 - table names come from the models; values are parameters


@dataclass(frozen=True, slots=True)
class _Raw:
    kwh: Decimal
    revenue: Decimal
    unpriced_kwh: Decimal


Key = tuple[int | None, str | None, str | None]  # tariff id, tariff name, segment


def _sales_by_day(*, first: dt.date, end: dt.date) -> list[tuple[dt.date, Key, _Raw]]:
    """Raw sums per local day in [first, end) and (tariff, segment), from the readings."""
    if first >= end:
        return []
    tz = clock.local_zone()
    params: dict[str, Any] = {
        "tz": str(tz),
        "start": clock.local_midnight(first, tz),
        "end": clock.local_midnight(end, tz),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SALES_SQL, params)
        return [
            (day, (tariff_id, name, segment), _Raw(kwh, revenue, unpriced))
            for day, tariff_id, name, segment, kwh, revenue, unpriced in cursor.fetchall()
        ]


def _summed(rows: Iterable[tuple[dt.date, Key, _Raw]]) -> dict[Key, _Raw]:
    sums: dict[Key, _Raw] = {}
    for _day, key, raw in rows:
        before = sums.get(key)
        sums[key] = (
            raw
            if before is None
            else _Raw(
                before.kwh + raw.kwh,
                before.revenue + raw.revenue,
                before.unpriced_kwh + raw.unpriced_kwh,
            )
        )
    return sums


def _sales(*, first: dt.date, end: dt.date) -> dict[Key, _Raw]:
    """Raw sums for local days [first, end) per (tariff, segment), from the readings."""
    return _summed(_sales_by_day(first=first, end=end))


def sales_days_sum(
    *, first: dt.date, end: dt.date, now: dt.datetime, missing_only: bool = False
) -> int:
    """Sum the local days [first, end) from the readings into the roll-up; days summed.

    Replaces what the roll-up held for those days (idempotent: running it again with the
    same readings stores the same rows), and marks each day complete, also a day with no
    readings. With ``missing_only``, only the days not summed yet. One roll-up at a time:
    the advisory lock is held while reading and writing, so a slower, older sum never
    overwrites a newer one, and a second viewer waiting for the same missing days finds
    them done instead of summing them again.
    """
    if first >= end:
        return 0
    summed = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        runs = _missing_runs(first=first, end=end) if missing_only else [(first, end)]
        for run_first, run_end in runs:
            _store_days(first=run_first, end=run_end, now=now)
            summed += (run_end - run_first).days
    return summed


def _missing_runs(*, first: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The runs of consecutive days in [first, end) that are not summed yet."""
    done = set(
        SalesDayComputed.objects.filter(day__gte=first, day__lt=end).values_list("day", flat=True)
    )
    runs: list[tuple[dt.date, dt.date]] = []
    day = first
    while day < end:
        if day in done:
            day += dt.timedelta(days=1)
            continue
        run_end = day
        while run_end < end and run_end not in done:
            run_end += dt.timedelta(days=1)
        runs.append((day, run_end))
        day = run_end
    return runs


def _store_days(*, first: dt.date, end: dt.date, now: dt.datetime) -> None:
    rows = _sales_by_day(first=first, end=end)
    SalesDay.objects.filter(day__gte=first, day__lt=end).delete()
    SalesDay.objects.bulk_create(
        SalesDay(
            day=day,
            tariff_id=tariff_id,
            tariff_name=name or "",
            segment=segment or "",
            kwh=raw.kwh,
            revenue=raw.revenue,
            unpriced_kwh=raw.unpriced_kwh,
        )
        for day, (tariff_id, name, segment), raw in rows
    )
    SalesDayComputed.objects.bulk_create(
        [
            SalesDayComputed(day=first + dt.timedelta(days=n), computed_at=now)
            for n in range((end - first).days)
        ],
        update_conflicts=True,
        unique_fields=["day"],
        update_fields=["computed_at"],
    )


def _earlier_days(*, first: dt.date, end: dt.date, now: dt.datetime) -> dict[Key, _Raw]:
    """Sums for the finished days [first, end) from the roll-up, summing missing days first."""
    if first >= end:
        return {}
    if _missing_runs(first=first, end=end):
        sales_days_sum(first=first, end=end, now=now, missing_only=True)
    stored = SalesDay.objects.filter(day__gte=first, day__lt=end).values_list(
        "day", "tariff_id", "tariff_name", "segment", "kwh", "revenue", "unpriced_kwh"
    )
    return _summed(
        (day, (tariff_id, name or None, segment or None), _Raw(kwh, revenue, unpriced))
        for day, tariff_id, name, segment, kwh, revenue, unpriced in stored
    )


def sales_days_refresh(*, today: dt.date, now: dt.datetime) -> int:
    """Sum again the last RECENT_DAYS finished days, where late and corrected readings land.

    Older days stay as summed; ``manage.py sum_sales_days --from DATE`` sums them again.
    """
    return sales_days_sum(first=today - dt.timedelta(days=RECENT_DAYS), end=today, now=now)


@dataclass(slots=True)
class SalesRow:
    label: str
    kwh_today: Decimal = ZERO
    kwh_month: Decimal = ZERO
    revenue_today: Decimal = ZERO  # rounded once, per row
    revenue_month: Decimal = ZERO
    unpriced_today: Decimal = ZERO
    unpriced_month: Decimal = ZERO


@dataclass(slots=True)
class SalesTable:
    rows: list[SalesRow]
    total: SalesRow


@dataclass(slots=True)
class OpsFigures:
    as_of: dt.datetime
    today: dt.date
    month_start: dt.date
    by_tariff: SalesTable
    by_segment: SalesTable
    supplied: int
    reporting: int
    silent: int
    silent_sample: list[str] = field(default_factory=list)


def _table_of(
    today: dict[Key, _Raw], earlier: dict[Key, _Raw], group: str, labels: dict[str, str]
) -> SalesTable:
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    order: list[str] = []
    for source, part in ((earlier, "earlier"), (today, "today")):
        for (tariff_id, name, segment), raw in source.items():
            key: str
            if group == "tariff":
                key = str(tariff_id) if tariff_id is not None else ""
                labels.setdefault(key, name or "")
            else:
                key = segment or ""
            if key not in sums:
                order.append(key)
            bucket = sums[key]
            bucket[f"kwh_{part}"] += raw.kwh
            bucket[f"revenue_{part}"] += raw.revenue
            bucket[f"unpriced_{part}"] += raw.unpriced_kwh

    def position(key: str) -> tuple[bool, str, str]:
        return (key == "", labels.get(key, key).lower(), key)  # "no contract" last

    rows = []
    for key in sorted(order, key=position):
        bucket = sums[key]
        rows.append(
            SalesRow(
                label=labels.get(key, key),
                kwh_today=round_energy(bucket["kwh_today"]),
                kwh_month=round_energy(bucket["kwh_today"] + bucket["kwh_earlier"]),
                revenue_today=round_money(bucket["revenue_today"]),
                revenue_month=round_money(bucket["revenue_today"] + bucket["revenue_earlier"]),
                unpriced_today=round_energy(bucket["unpriced_today"]),
                unpriced_month=round_energy(bucket["unpriced_today"] + bucket["unpriced_earlier"]),
            )
        )
    total = SalesRow(label="")
    for row in rows:
        total.kwh_today += row.kwh_today
        total.kwh_month += row.kwh_month
        total.revenue_today += row.revenue_today
        total.revenue_month += row.revenue_month
        total.unpriced_today += row.unpriced_today
        total.unpriced_month += row.unpriced_month
    return SalesTable(rows=rows, total=total)


def _reporting(*, today: dt.date, as_of: dt.datetime) -> tuple[int, int, list[str]]:
    """Supply points supplied today, how many sent a reading in the last 24 h, and a
    sample of the silent ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            _REPORTING_SQL,
            {
                "statuses": [str(s) for s in SUPPLYING_NOW],
                "today": today,
                "since": as_of - dt.timedelta(hours=24),
                "until": as_of,
                "shown": SILENT_SHOWN,
            },
        )
        supplied, reporting, silent_sample = cursor.fetchone()
    return supplied, reporting, list(silent_sample or [])


def ops_figures(*, as_of: dt.datetime) -> OpsFigures:
    """Everything the dashboard shows, as of ``as_of``.

    The month's finished days come from the daily roll-up (summed on the spot if a day is
    missing). Today's figures and the reporting count are read from the readings and
    shared by every look within the same minute.
    """
    tz = clock.local_zone()
    today = as_of.astimezone(tz).date()
    month_start = today.replace(day=1)
    tomorrow = today + dt.timedelta(days=1)
    earlier = _earlier_days(first=month_start, end=today, now=as_of)
    current, (supplied, reporting, silent_sample) = cast(
        "tuple[dict[Key, _Raw], tuple[int, int, list[str]]]",
        cache.get_or_set(
            f"ops:live:{as_of:%Y%m%d%H%M}",
            lambda: (
                _sales(first=today, end=tomorrow),
                _reporting(today=today, as_of=as_of),
            ),
            LIVE_CACHE_SECONDS,
        ),
    )
    no_contract = str(_("No contract that day"))
    tariff_labels = {"": no_contract}
    segment_labels = {**{str(k): str(v) for k, v in Customer.Segment.choices}, "": no_contract}
    return OpsFigures(
        as_of=as_of,
        today=today,
        month_start=month_start,
        by_tariff=_table_of(current, earlier, "tariff", tariff_labels),
        by_segment=_table_of(current, earlier, "segment", segment_labels),
        supplied=supplied,
        reporting=reporting,
        silent=supplied - reporting,
        silent_sample=silent_sample,
    )


def _context() -> dict[str, object]:
    return {
        "figures": ops_figures(as_of=clock.now()),
        "currency": settings.WATTLINE_CURRENCY,
        "recent_days": RECENT_DAYS,
    }


@staff_verified_required(PERMISSION)
def ops_dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/ops/dashboard.html", _context())


@staff_verified_required(PERMISSION)
def ops_dashboard_figures(request: HttpRequest) -> HttpResponse:
    """The figures alone, for the page's htmx refresh."""
    return render(request, "portal/ops/_figures.html", _context())
