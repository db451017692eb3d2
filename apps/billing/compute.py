"""Computing the bills of a chunk of accounts: aggregate in SQL, price with the rating engine.

Readings are never loaded one by one. For every tariff the billing period's hours are
classified once, in Python, into *buckets*: the (price version, time-of-use period) an
hour belongs to. PostgreSQL then sums each supply point's readings per bucket in one
grouped query for the whole chunk, and the rating engine prices one representative
interval per bucket (an interval placed in an hour of that bucket carrying the bucket's
energy). The engine groups energy by exactly that key, so the lines are the same as
when rating every reading, to the cent; see docs/decisions/0714-bill-run.md.

Buckets fall back to one per hour where a bucket key is not enough: dynamic tariffs
(priced hour by hour) and contracts whose energy discount starts or ends mid-period.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.accounts.models import Account
from apps.billing.models import Bill, BillIssue
from apps.contracts.models import Contract, ContractDiscount
from apps.contracts.selectors import rating_discounts
from apps.core.clock import local_midnight
from apps.core.money import round_energy
from apps.tariffs import rating
from apps.tariffs import selectors as tariff_selectors
from apps.tariffs.models import Tariff

HOUR = dt.timedelta(hours=1)
ZERO = Decimal(0)
#: Contract statuses that mean supply happened (an ENDED contract still gets its last bill).
BILLABLE_STATUSES = (
    Contract.Status.COOLING_OFF,
    Contract.Status.ACTIVE,
    Contract.Status.ENDED,
)


@dataclass(slots=True)
class Scheme:
    """How the hours of [start, end) fall into buckets for one tariff (or hour by hour)."""

    start: dt.datetime
    codes: list[int]  # bucket of each hour slot
    slots_of: list[list[int]]  # hour slots of each bucket, ascending

    @classmethod
    def hourly(cls, start: dt.datetime, hours: int) -> Scheme:
        return cls(start, list(range(hours)), [[slot] for slot in range(hours)])

    def representative(self, code: int, first_slot: int) -> dt.datetime | None:
        """Start of the first hour of bucket ``code`` at or after ``first_slot``."""
        slots = self.slots_of[code]
        index = bisect_left(slots, first_slot)
        if index == len(slots):
            return None
        return self.start + slots[index] * HOUR


def tariff_scheme(
    versions: Sequence[rating.PriceVersion], *, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> Scheme | None:
    """Buckets of (version, TOU period) per hour; None when the tariff must go hour by hour."""
    hours = int((end - start) / HOUR)
    keys: dict[tuple[int, str], int] = {}
    codes: list[int] = []
    slots_of: list[list[int]] = []
    ordered = sorted(versions, key=lambda v: v.valid_from)
    for slot in range(hours):
        instant = start + slot * HOUR
        version_index = next(
            (
                i
                for i, v in enumerate(ordered)
                if v.valid_from <= instant and (v.valid_to is None or instant < v.valid_to)
            ),
            -1,
        )
        period = ""
        if version_index >= 0:
            energy = ordered[version_index].energy
            if isinstance(energy, rating.DynamicEnergy):
                return None
            local = instant.astimezone(tz)
            period = energy.period_at(local.date(), local.month, local.hour)
        key = (version_index, period)
        code = keys.get(key)
        if code is None:
            code = keys[key] = len(slots_of)
            slots_of.append([])
        codes.append(code)
        slots_of[code].append(slot)
    return Scheme(start, codes, slots_of)


@dataclass(slots=True)
class Segment:
    """The part of one contract inside the billing period."""

    contract: ContractRow
    start: dt.datetime
    end: dt.datetime
    scheme: Scheme
    versions: list[rating.PriceVersion]
    discounts: tuple[rating.Discount, ...]
    tz: ZoneInfo
    dynamic: bool
    buckets: dict[int, list[Decimal]] = field(default_factory=dict)  # code -> [imp, exp]
    readings: int = 0
    estimated: int = 0
    minutes_read: int = 0

    @property
    def minutes_expected(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass(slots=True)
class ComputedBill:
    account_id: int
    bill: Bill
    lines: list[dict[str, object]]
    issues: list[tuple[str, str]]


def _discount_splits(
    discounts: Sequence[rating.Discount], start: dt.datetime, end: dt.datetime
) -> bool:
    """Whether an energy discount starts or ends strictly inside [start, end)."""
    for discount in discounts:
        if discount.kind != "ENERGY_PERCENT":
            continue
        for edge in (discount.valid_from, discount.valid_to):
            if edge is not None and start < edge < end:
                return True
    return False


class _TariffCache:
    def __init__(self, *, start: dt.datetime, end: dt.datetime) -> None:
        self.start, self.end = start, end
        self.holidays = tariff_selectors.holidays()
        self.entries: dict[int, tuple[Tariff, list[rating.PriceVersion], Scheme | None]] = {}
        self.market: dict[str, dict[dt.datetime, Decimal]] = {}
        self.summaries: dict[tuple[int, dt.date], dict[str, object]] = {}

    def get(self, tariff_id: int) -> tuple[Tariff, list[rating.PriceVersion], Scheme | None]:
        entry = self.entries.get(tariff_id)
        if entry is None:
            tariff = tariff_selectors.tariffs_with_prices().get(pk=tariff_id)
            tz = ZoneInfo(tariff.time_zone)
            versions = tariff_selectors.rating_versions(tariff, holiday_dates=self.holidays)
            scheme = tariff_scheme(versions, start=self.start, end=self.end, tz=tz)
            entry = self.entries[tariff_id] = (tariff, versions, scheme)
        return entry

    def rates_summary(self, tariff_id: int, on: dt.date) -> dict[str, object]:
        """Tariff name and the rates in force on ``on``, as copied onto bills (cached)."""
        key = (tariff_id, on)
        summary = self.summaries.get(key)
        if summary is None:
            tariff, _versions, _scheme = self.get(tariff_id)
            version = tariff_selectors.version_in_force(tariff, on)
            summary = self.summaries[key] = {
                "tariff": tariff.name,
                "tariff_code": tariff.code,
                "standing_charge_per_day": str(version.standing_charge_per_day) if version else "",
                "rates": [
                    {"period": r.period, "tier": r.tier, "rate": str(r.rate)}
                    for r in (version.energy_rates.all() if version else [])
                ],
            }
        return summary

    def market_prices(self, tariff: Tariff) -> dict[dt.datetime, Decimal]:
        series = tariff.versions.all()[0].market_series if tariff.versions.all() else "ES-DA"
        if series not in self.market:
            self.market[series] = tariff_selectors.market_prices(
                series=series, start=self.start, end=self.end
            )
        return self.market[series]


def _aggregate(segments: list[Segment], *, period_start: dt.datetime) -> None:
    """Sum each segment's readings per bucket: one grouped query per scheme."""
    by_scheme: dict[int, list[int]] = defaultdict(list)
    for index, segment in enumerate(segments):
        by_scheme[id(segment.scheme)].append(index)
    epoch = period_start.timestamp()
    with connection.cursor() as cursor:
        for indexes in by_scheme.values():
            scheme = segments[indexes[0]].scheme
            segs: list[Any] = [
                [segments[i].contract.supply_point_id for i in indexes],
                [segments[i].start for i in indexes],
                [segments[i].end for i in indexes],
                indexes,
            ]
            if len(scheme.slots_of) == 1:
                # One bucket for the whole period (flat and tiered prices): no hour arithmetic.
                code_sql, params = "0", segs
            else:
                # The hour slot from the epoch in integer arithmetic (cheaper than floor()).
                code_sql = (
                    "(%s::int[])[((date_part('epoch', r.interval_start)::int8 - %s) / 3600)::int4"
                    " + 1]"
                )
                params = [scheme.codes, int(epoch), *segs]
            cursor.execute(
                f"""
                SELECT seg.i, {code_sql} AS code,
                       sum(r.kwh_import), sum(r.kwh_export), count(*),
                       count(*) FILTER (WHERE r.quality = 'ESTIMATED'),
                       sum(r.duration_minutes)
                  FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::int[])
                       AS seg(sp, s, e, i)
                  JOIN metering_intervalreading r
                    ON r.supply_point_id = seg.sp
                   AND r.interval_start >= seg.s AND r.interval_start < seg.e
                 GROUP BY 1, 2
                """,  # noqa: S608 - code_sql is one of two constant strings
                params,
            )
            for seg_index, code, imp, exp, count, estimated, minutes in cursor.fetchall():
                segment = segments[seg_index]
                segment.buckets[code] = [imp, exp]
                segment.readings += count
                segment.estimated += estimated
                segment.minutes_read += minutes


def _register_regressions(
    supply_point_ids: list[int], start: dt.datetime, end: dt.datetime
) -> set[int]:
    """Supply points whose meter register went backwards inside [start, end)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT m.supply_point_id FROM (
                SELECT meter_id, register_kwh,
                       lag(register_kwh) OVER (PARTITION BY meter_id ORDER BY read_at) AS before
                  FROM metering_registerread
                 WHERE meter_id IN (SELECT id FROM metering_meter
                                     WHERE supply_point_id = ANY(%s))
                   AND read_at >= %s AND read_at < %s
            ) reads JOIN metering_meter m ON m.id = reads.meter_id
             WHERE reads.register_kwh < reads.before
            """,
            [supply_point_ids, start, end],
        )
        return {row[0] for row in cursor.fetchall()}


def _previous_bills(account_ids: list[int], period_start: dt.date) -> dict[int, tuple]:
    """Per account: (max kWh of the last 12 months, kWh and total of the latest bill)."""
    since = period_start.replace(year=period_start.year - 1)
    rows = (
        Bill.objects.filter(
            account_id__in=account_ids,
            kind=Bill.Kind.BILL,
            status=Bill.Status.ISSUED,
            period_start__lt=period_start,
        )
        .order_by("account_id", "-period_start", "-id")
        .values_list("account_id", "period_start", "kwh_import", "total")
    )
    result: dict[int, tuple] = {}
    for account_id, start, kwh, total in rows:
        entry = result.get(account_id)
        if entry is None:
            result[account_id] = (kwh if start >= since else None, kwh, total)
        elif start >= since and (entry[0] is None or kwh > entry[0]):
            result[account_id] = (kwh, entry[1], entry[2])
    return result


def _address_text(line1: str, line2: str, postcode: str, city: str, region: str) -> str:
    parts = [line1, line2, f"{postcode} {city}".strip(), region]
    return "\n".join(part for part in parts if part)


class AccountRow(NamedTuple):
    id: int
    number: str
    customer_name: str
    customer_tax_id: str
    address: str


class ContractRow(NamedTuple):
    id: int
    number: str
    account_id: int
    supply_point_id: int
    tariff_id: int
    start_date: dt.date
    end_date: dt.date | None
    cups: str
    address: str


def compute_bills(
    *,
    account_ids: Sequence[int],
    period_start: dt.date,
    period_end: dt.date,
    now: dt.datetime,
    tariffs: _TariffCache | None = None,
) -> tuple[list[ComputedBill], list[int]]:
    """Compute (unsaved) bills for ``account_ids`` over [period_start, period_end).

    Returns the computed bills and the ids of accounts skipped (no billable contract in
    the period, or a live bill for the period already exists). Never raises for one
    account's data: what cannot be priced becomes a held bill with its reasons.
    """
    tz = ZoneInfo(settings.TIME_ZONE)
    start = local_midnight(period_start, tz)
    end = local_midnight(period_end, tz)
    tariffs = tariffs or _TariffCache(start=start, end=end)
    ids = list(account_ids)
    already = set(
        Bill.objects.filter(
            account_id__in=ids,
            kind=Bill.Kind.BILL,
            period_start=period_start,
            status__in=[Bill.Status.DRAFT, Bill.Status.HELD, Bill.Status.ISSUED],
        ).values_list("account_id", flat=True)
    )
    # Plain rows, not model instances: a chunk reads thousands of them.
    accounts = {
        row[0]: AccountRow(row[0], row[1], row[2], row[3], _address_text(*row[4:]))
        for row in Account.objects.filter(pk__in=ids).values_list(
            "id",
            "number",
            "customer__name",
            "customer__tax_id",
            "billing_address__line1",
            "billing_address__line2",
            "billing_address__postcode",
            "billing_address__city",
            "billing_address__region",
        )
    }
    contracts = [
        ContractRow(*row[:8], _address_text(*row[8:]) if row[8] is not None else "")
        for row in Contract.objects.filter(
            account_id__in=ids,
            status__in=BILLABLE_STATUSES,
            start_date__lt=period_end,
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=period_start))
        .exclude(account_id__in=already)
        .order_by("account_id", "start_date", "id")
        .values_list(
            "id",
            "number",
            "account_id",
            "supply_point_id",
            "tariff_id",
            "start_date",
            "end_date",
            "supply_point__external_id",
            "supply_point__premise__address__line1",
            "supply_point__premise__address__line2",
            "supply_point__premise__address__postcode",
            "supply_point__premise__address__city",
            "supply_point__premise__address__region",
        )
    ]
    discount_rows: dict[int, list[ContractDiscount]] = defaultdict(list)
    for discount in ContractDiscount.objects.filter(
        contract_id__in=[c.id for c in contracts]
    ).order_by("valid_from", "id"):
        discount_rows[discount.contract_id].append(discount)
    segments_of: dict[int, list[Segment]] = defaultdict(list)
    all_segments: list[Segment] = []
    for contract in contracts:
        tariff, versions, scheme = tariffs.get(contract.tariff_id)
        tariff_tz = ZoneInfo(tariff.time_zone)
        seg_start = max(start, local_midnight(contract.start_date, tz))
        seg_end = (
            end if contract.end_date is None else min(end, local_midnight(contract.end_date, tz))
        )
        discounts = (
            rating_discounts(
                contract=Contract(id=contract.id),
                tz=tariff_tz,
                discounts=discount_rows[contract.id],
            )
            if contract.id in discount_rows
            else ()
        )
        exact = scheme is None or _discount_splits(discounts, seg_start, seg_end)
        segment = Segment(
            contract=contract,
            start=seg_start,
            end=seg_end,
            scheme=scheme
            if scheme is not None and not exact
            else Scheme.hourly(start, int((end - start) / HOUR)),
            versions=versions,
            discounts=discounts,
            tz=tariff_tz,
            dynamic=scheme is None,
        )
        segments_of[contract.account_id].append(segment)
        all_segments.append(segment)
    if all_segments:
        _aggregate(all_segments, period_start=start)
    regressions = (
        _register_regressions([s.contract.supply_point_id for s in all_segments], start, end)
        if all_segments
        else set()
    )
    previous = _previous_bills([a for a in ids if a in segments_of], period_start)
    skipped = [a for a in ids if a not in segments_of]
    results = [
        _bill_for(
            account=accounts[account_id],
            segments=segments_of[account_id],
            tariffs=tariffs,
            period_start=period_start,
            period_end=period_end,
            previous=previous.get(account_id),
            regressions=regressions,
            now=now,
        )
        for account_id in ids
        if account_id in segments_of
    ]
    return results, skipped


def _rate_segment(segment: Segment, tariffs: _TariffCache) -> rating.RatingResult:
    first_slot = int((segment.start - segment.scheme.start) / HOUR)
    intervals = []
    for code, (imp, exp) in sorted(segment.buckets.items()):
        at = segment.scheme.representative(code, first_slot)
        if at is None or (not imp and not exp):
            continue
        intervals.append(rating.Interval(at, 60, imp, exp))
    market = None
    if segment.dynamic:
        tariff, _versions, _scheme = tariffs.get(segment.contract.tariff_id)
        market = tariffs.market_prices(tariff)
    return rating.rate(
        versions=segment.versions,
        intervals=intervals,
        period_start=segment.start,
        period_end=segment.end,
        tz=segment.tz,
        market_prices=market,
        discounts=segment.discounts,
    )


def _bill_for(
    *,
    account: AccountRow,
    segments: list[Segment],
    tariffs: _TariffCache,
    period_start: dt.date,
    period_end: dt.date,
    previous: tuple | None,
    regressions: set[int],
    now: dt.datetime,
) -> ComputedBill:
    issues: list[tuple[str, str]] = []
    lines: list[dict[str, object]] = []
    supplies: list[dict[str, object]] = []
    kwh_import = kwh_export = subtotal = total = ZERO
    readings = estimated = minutes_expected = minutes_read = 0
    for segment in segments:
        contract = segment.contract
        readings += segment.readings
        estimated += segment.estimated
        minutes_expected += segment.minutes_expected
        minutes_read += segment.minutes_read
        cups = contract.cups
        if segment.readings == 0:
            issues.append(
                (
                    BillIssue.Code.NO_READINGS,
                    _("No readings for supply point %(cups)s in the period.") % {"cups": cups},
                )
            )
        if contract.supply_point_id in regressions:
            issues.append(
                (
                    BillIssue.Code.NEGATIVE_CONSUMPTION,
                    _("The meter register of %(cups)s goes backwards in the period.")
                    % {"cups": cups},
                )
            )
        try:
            result = _rate_segment(segment, tariffs)
        except rating.NoPriceInForce as exc:
            issues.append(
                (
                    BillIssue.Code.NO_PRICE,
                    _("Tariff %(tariff)s has no price in force from %(at)s.")
                    % {
                        "tariff": tariffs.get(contract.tariff_id)[0].name,
                        "at": exc.at.astimezone(segment.tz),
                    },
                )
            )
            continue
        except rating.MissingMarketPrice as exc:
            issues.append(
                (
                    BillIssue.Code.NO_PRICE,
                    _("No market price for the hour starting %(at)s.")
                    % {"at": exc.hour.astimezone(segment.tz)},
                )
            )
            continue
        except (ValueError, rating.RatingError) as exc:
            issues.append((BillIssue.Code.RATING_FAILED, str(exc)))
            continue
        kwh_import += result.kwh_import_total
        kwh_export += result.kwh_export_total
        subtotal += result.subtotal_before_tax
        total += result.total
        for line in result.lines:
            lines.append(
                {
                    "contract_number": contract.number,
                    "component": line.component,
                    "period": line.period,
                    "tier": line.tier,
                    "version_label": line.version_label[:120],
                    "label": line.label[:200],
                    "quantity": line.quantity,
                    "unit": line.unit,
                    "unit_price": line.unit_price,
                    "amount": line.amount,
                    "starts_at": line.starts_at,
                    "ends_at": line.ends_at,
                }
            )
        supplies.append(
            {
                "contract": contract.number,
                "cups": cups,
                "address": contract.address,
                "from": segment.start.astimezone(segment.tz).date().isoformat(),
                "to": segment.end.astimezone(segment.tz).date().isoformat(),
                **tariffs.rates_summary(
                    contract.tariff_id, segment.start.astimezone(segment.tz).date()
                ),
            }
        )
    if minutes_expected and readings:
        missing = max(minutes_expected - minutes_read, 0) * 100 / minutes_expected
        if missing > settings.BILLING_MAX_GAP_PERCENT:
            issues.append(
                (
                    BillIssue.Code.GAPS,
                    _("%(share).1f%% of the period has no readings (limit %(limit)s%%).")
                    % {"share": missing, "limit": settings.BILLING_MAX_GAP_PERCENT},
                )
            )
    if readings:
        share = estimated * 100 / readings
        if share > settings.BILLING_MAX_ESTIMATED_PERCENT:
            issues.append(
                (
                    BillIssue.Code.ESTIMATED_SHARE,
                    _("%(share).1f%% of the readings are estimated (limit %(limit)s%%).")
                    % {"share": share, "limit": settings.BILLING_MAX_ESTIMATED_PERCENT},
                )
            )
    if kwh_import < 0:
        issues.append(
            (
                BillIssue.Code.NEGATIVE_CONSUMPTION,
                _("The period's consumption is negative (%(kwh)s kWh).") % {"kwh": kwh_import},
            )
        )
    max_kwh = previous[0] if previous else None
    factor = settings.BILLING_HIGH_CONSUMPTION_FACTOR
    if max_kwh and kwh_import > max_kwh * factor:
        issues.append(
            (
                BillIssue.Code.HIGH_CONSUMPTION,
                _(
                    "%(kwh)s kWh is more than %(factor)s times the highest bill of the last "
                    "12 months (%(max)s kWh)."
                )
                % {"kwh": round_energy(kwh_import), "factor": factor, "max": max_kwh},
            )
        )
    low, high = Decimal(settings.BILLING_MIN_TOTAL), Decimal(settings.BILLING_MAX_TOTAL)
    if lines and not low <= total <= high:
        issues.append(
            (
                BillIssue.Code.IMPLAUSIBLE_TOTAL,
                _("The total %(total)s is outside the plausible range %(low)s to %(high)s.")
                % {"total": total, "low": low, "high": high},
            )
        )
    for position, row in enumerate(lines, start=1):
        row["position"] = position
    bill = Bill(
        kind=Bill.Kind.BILL,
        status=Bill.Status.HELD if issues else Bill.Status.DRAFT,
        account_id=account.id,
        period_start=period_start,
        period_end=period_end,
        account_number=account.number,
        customer_name=account.customer_name,
        customer_tax_id=account.customer_tax_id,
        billing_address=account.address,
        supply_summary=supplies,
        kwh_import=round_energy(kwh_import),
        kwh_export=round_energy(kwh_export),
        subtotal=subtotal,
        tax_total=total - subtotal,
        total=total,
        amount_due=total,
        readings_actual=readings - estimated,
        readings_estimated=estimated,
        minutes_expected=minutes_expected,
        minutes_read=minutes_read,
        previous_kwh=previous[1] if previous else None,
        previous_total=previous[2] if previous else None,
        computed_at=now,
    )
    return ComputedBill(account.id, bill, lines, issues)


def bill_fill_daily_usage(*, bill: Bill) -> Bill:
    """Store the bill's daily consumption (for its chart) once, from the readings it used.

    Run by the document task after issue, so the bill run itself stays set-based. A bill
    that already has its series, or a credit note, is returned unchanged.
    """
    if bill.daily_kwh or bill.kind != Bill.Kind.BILL or not bill.supply_summary:
        return bill
    from apps.metering import usage
    from apps.metering.selectors import supply_point_by_cups

    tz = ZoneInfo(settings.TIME_ZONE)
    days: dict[dt.date, Decimal] = defaultdict(Decimal)
    for supply in bill.supply_summary:
        point = supply_point_by_cups(str(supply.get("cups", "")))
        if point is None or not supply.get("from") or not supply.get("to"):
            continue
        start = local_midnight(dt.date.fromisoformat(str(supply["from"])), tz)
        end = local_midnight(dt.date.fromisoformat(str(supply["to"])), tz)
        for bucket in usage.daily_totals(supply_point_id=point.pk, start=start, end=end, tz=tz):
            days[bucket.day] += bucket.totals.kwh_import
    series = [[day.isoformat(), str(round_energy(kwh))] for day, kwh in sorted(days.items())]
    if series:
        Bill.objects.filter(pk=bill.pk, daily_kwh=[]).update(daily_kwh=series)
        bill.daily_kwh = series
    return bill
