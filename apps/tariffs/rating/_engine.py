"""The rating engine: price metered intervals under effective-dated tariff versions.

How it works, in one pass:

1. The rated period is cut into *slots* at every local-hour start, UTC-hour start, price-version
   change and energy-discount edge. Inside a slot the version, the local month/hour/day and the
   market hour are fixed (the local grid is memoised per zone and period).
2. Each interval's energy is added to the slot it falls in; an interval straddling slots is
   split pro rata by time (pieces on a 1e-9 kWh grid), the last piece taking the remainder so
   no energy is lost or created.
3. Slots are grouped per (version, discount window, time-of-use period); tier blocks come from
   the period's total import and are shared out in proportion to each group's energy (same
   grid, remainder to the group's last tier).
4. Lines are priced and rounded once each; discounts, the minimum charge and taxes are computed
   from rounded lines.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ._calendar import (
    FOREVER_US,
    HOUR_US,
    SlotAttrs,
    days_in_month,
    from_us,
    local_days,
    local_grid,
    require_aware,
    to_us,
)
from ._model import (
    COMPONENTS,
    DAILY_CREDIT_KIND,
    DISCOUNT,
    DYNAMIC_ENERGY,
    ENERGY,
    ENERGY_PERCENT_KIND,
    EXPORT_CREDIT,
    FIXED_CHARGE,
    MINIMUM_CHARGE,
    STANDING_CHARGE,
    TAX,
    Discount,
    EnergyStructure,
    Interval,
    MissingMarketPrice,
    NoPriceInForce,
    PricedLine,
    PriceVersion,
    RatingResult,
    Tax,
    Tier,
    Unit,
)
from ._money import as_decimal, money_context, round_money, share

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_RANK = {component: rank for rank, component in enumerate(COMPONENTS)}


def rate(
    *,
    versions: Sequence[PriceVersion],
    intervals: Iterable[Interval],
    period_start: dt.datetime,
    period_end: dt.datetime,
    tz: ZoneInfo,
    market_prices: Mapping[dt.datetime, Decimal] | None = None,
    discounts: Sequence[Discount] = (),
) -> RatingResult:
    """Price ``intervals`` over [period_start, period_end) under ``versions``.

    ``tz`` is the tariff's zone: time-of-use schedules, local days (standing charge, daily
    credits) and months (fixed and minimum charges) are read in it. ``market_prices`` maps
    UTC hour starts to EUR/kWh and is needed only by DynamicEnergy versions. Intervals outside
    the period are ignored; intervals crossing its edges are cut pro rata by time.

    Raises:
        ValueError: a naive datetime, an empty or inverted period, overlapping versions.
        NoPriceInForce: some instant of the period is covered by no version.
        MissingMarketPrice: a dynamic version needs an hour's market price that is absent.
    """
    require_aware(period_start, field="period_start")
    require_aware(period_end, field="period_end")
    if period_end <= period_start:
        raise ValueError(
            f"period_end ({period_end.isoformat()}) must be after period_start "
            f"({period_start.isoformat()})."
        )
    with money_context():
        return _Rating(
            versions=versions,
            period=(to_us(period_start), to_us(period_end)),
            tz=tz,
            market_prices=market_prices,
            discounts=discounts,
        ).run(intervals)


class _Span(NamedTuple):
    start: int  # microseconds, clipped to the period
    end: int
    version: PriceVersion


class _Entry(NamedTuple):
    key: tuple[int, int, str, int, int]  # component rank, starts_at, period, tier, sequence
    version_index: int
    line: PricedLine


class _Rating:
    """State of one ``rate()`` call (kept private; the public surface is the function)."""

    def __init__(
        self,
        *,
        versions: Sequence[PriceVersion],
        period: tuple[int, int],
        tz: ZoneInfo,
        market_prices: Mapping[dt.datetime, Decimal] | None,
        discounts: Sequence[Discount],
    ) -> None:
        self.start, self.end = period
        self.tz = tz
        self.market_prices = market_prices
        self.spans = self._spans_in_force(versions)
        self.span_starts = [span.start for span in self.spans]
        for discount in discounts:
            if not isinstance(discount, Discount):
                raise TypeError(f"discounts must hold Discount objects, got {discount!r}.")
        self.discounts = tuple(discounts)
        edges: set[int] = set()
        for discount in self.discounts:
            if discount.kind == ENERGY_PERCENT_KIND:
                edges.update(self._window_us(discount.valid_from, discount.valid_to))
        self.window_edges = sorted(edge for edge in edges if self.start < edge < self.end)
        self.entries: list[_Entry] = []
        self.touched: list[int] = []

    # -- setup -------------------------------------------------------------------------------

    def _window_us(self, valid_from: dt.datetime, valid_to: dt.datetime | None) -> list[int]:
        return [to_us(valid_from), FOREVER_US if valid_to is None else to_us(valid_to)]

    def _spans_in_force(self, versions: Sequence[PriceVersion]) -> list[_Span]:
        ordered = []
        for version in versions:
            if not isinstance(version, PriceVersion):
                raise TypeError(f"versions must hold PriceVersion objects, got {version!r}.")
            start, end = self._window_us(version.valid_from, version.valid_to)
            ordered.append(_Span(start, end, version))
        ordered.sort(key=lambda span: span.start)
        for earlier, later in pairwise(ordered):
            if earlier.end > later.start:
                raise ValueError(
                    f"price versions {earlier.version.label!r} and {later.version.label!r} "
                    f"overlap at {from_us(later.start).isoformat()}."
                )
        spans: list[_Span] = []
        cursor = self.start
        for span in ordered:
            if span.end <= self.start or span.start >= self.end:
                continue
            if span.start > cursor:
                raise NoPriceInForce(from_us(cursor))
            spans.append(_Span(max(span.start, self.start), min(span.end, self.end), span.version))
            cursor = span.end
        if cursor < self.end:
            raise NoPriceInForce(from_us(cursor))
        return spans

    def _version_at(self, instant: int) -> int:
        return bisect_right(self.span_starts, instant) - 1

    def _window_span(self, version_index: int, window: int) -> tuple[int, int]:
        span = self.spans[version_index]
        low = self.window_edges[window - 1] if window > 0 else self.start
        high = self.window_edges[window] if window < len(self.window_edges) else self.end
        return max(low, span.start), min(high, span.end)

    # -- the pass ----------------------------------------------------------------------------

    def run(self, intervals: Iterable[Interval]) -> RatingResult:
        grid = local_grid(self.tz, self.start, self.end)
        extras = {span.start for span in self.spans[1:]} | set(self.window_edges)
        if extras.issubset(grid.bounds):
            bounds: Sequence[int] = grid.bounds
            attrs: Sequence[SlotAttrs] = grid.attrs
        else:
            bounds = sorted(set(grid.bounds) | extras)
            attrs = [grid.attrs[bisect_right(grid.bounds, bound) - 1] for bound in bounds[:-1]]
        imports, exports, touched = self._accumulate(intervals, bounds)
        # Only slots that received energy matter: a bill rated from a few aggregated
        # intervals touches a handful of a month's ~744 slots.
        self.touched = sorted(touched)
        total_import = sum((imports[slot] for slot in self.touched), ZERO)
        total_export = sum((exports[slot] for slot in self.touched), ZERO)
        self._energy_lines(bounds, attrs, imports, total_import)
        self._export_lines(bounds, exports)
        days = local_days(self.tz, self.start, self.end)
        month_groups = self._day_lines(days)
        self._discount_lines(days)
        self._minimum_line(month_groups)
        self._tax_lines()
        self.entries.sort(key=lambda entry: entry.key)
        lines = tuple(entry.line for entry in self.entries)
        subtotal = sum((line.amount for line in lines if line.component != TAX), ZERO)
        total = sum((line.amount for line in lines), ZERO)
        return RatingResult(lines, total, subtotal, total_import, total_export)

    def _accumulate(
        self, intervals: Iterable[Interval], bounds: Sequence[int]
    ) -> tuple[list[Decimal], list[Decimal], set[int]]:
        """Energy per slot (and the slots touched); straddling intervals are split pro rata."""
        start, end = self.start, self.end
        slots = len(bounds) - 1
        imports = [ZERO] * slots
        exports = [ZERO] * slots
        touched: set[int] = set()
        for interval in intervals:
            first, last = interval.span_us
            if last <= start or first >= end:
                continue
            index = bisect_right(bounds, first) - 1 if first >= start else 0
            if first >= start and last <= bounds[index + 1]:
                imports[index] += interval.kwh_import
                exports[index] += interval.kwh_export
                touched.add(index)
                continue
            cut_from, cut_to = max(first, start), min(last, end)
            whole = cut_from == first and cut_to == last
            duration = last - first
            done_import = done_export = ZERO
            while index < slots and bounds[index] < cut_to:
                low = max(bounds[index], cut_from)
                high = min(bounds[index + 1], cut_to)
                if whole and high == cut_to:
                    piece_import = interval.kwh_import - done_import
                    piece_export = interval.kwh_export - done_export
                else:
                    piece_import = share(interval.kwh_import, high - low, duration)
                    piece_export = share(interval.kwh_export, high - low, duration)
                done_import += piece_import
                done_export += piece_export
                imports[index] += piece_import
                exports[index] += piece_export
                touched.add(index)
                index += 1
        return imports, exports, touched

    def _slot_groups(
        self, bounds: Sequence[int], attrs: Sequence[SlotAttrs], imports: Sequence[Decimal]
    ) -> tuple[dict[tuple[int, int, str], Decimal], dict[tuple[int, int], list[Decimal]]]:
        """Import per (version, window, TOU period); kWh and money per dynamic (version, window)."""
        segments: dict[tuple[int, int, str], Decimal] = {}
        dynamic: dict[tuple[int, int], list[Decimal]] = {}
        market: dict[int, Decimal] = {}
        edges = self.window_edges
        spans = self.spans
        version_index = 0
        for slot in self.touched:
            kwh = imports[slot]
            if not kwh:
                continue
            slot_start = bounds[slot]
            while slot_start >= spans[version_index].end:
                version_index += 1
            window = bisect_right(edges, slot_start) if edges else 0
            energy = spans[version_index].version.energy
            if isinstance(energy, EnergyStructure):
                local = attrs[slot]
                key = (
                    version_index,
                    window,
                    energy.period_at(local.local_date, local.month, local.hour),
                )
                segments[key] = segments.get(key, ZERO) + kwh
            else:
                hour = slot_start - slot_start % HOUR_US
                price = market.get(hour)
                if price is None:
                    price = market[hour] = self._market_price(hour)
                totals = dynamic.setdefault((version_index, window), [ZERO, ZERO])
                totals[0] += kwh
                totals[1] += kwh * energy.unit_price(price)
        return segments, dynamic

    def _market_price(self, hour: int) -> Decimal:
        instant = from_us(hour)
        price = None if self.market_prices is None else self.market_prices.get(instant)
        if price is None:
            raise MissingMarketPrice(instant)
        if type(price) is Decimal and price.is_finite():
            return price
        return as_decimal(price, field=f"market price for {instant.isoformat()}")

    def _energy_lines(
        self,
        bounds: Sequence[int],
        attrs: Sequence[SlotAttrs],
        imports: Sequence[Decimal],
        total_import: Decimal,
    ) -> None:
        segments, dynamic = self._slot_groups(bounds, attrs, imports)
        blocks_cache: dict[tuple[Tier, ...], list[Decimal]] = {}
        for (version_index, window, period), kwh in sorted(segments.items()):
            version = self.spans[version_index].version
            assert isinstance(version.energy, EnergyStructure)
            tiers = tuple(version.energy.periods[period])
            blocks = blocks_cache.get(tiers)
            if blocks is None:
                blocks = blocks_cache[tiers] = _tier_blocks(tiers, total_import)
            used = [number for number, block in enumerate(blocks) if block]
            allocated = ZERO
            for position, number in enumerate(used):
                if position == len(used) - 1:
                    quantity = kwh - allocated
                else:
                    quantity = share(kwh, blocks[number], total_import)
                allocated += quantity
                if not quantity:
                    continue
                unit_price = tiers[number].rate
                self._add(
                    ENERGY,
                    version_index,
                    self._window_span(version_index, window),
                    quantity=quantity,
                    unit="kWh",
                    unit_price=unit_price,
                    amount=round_money(quantity * unit_price),
                    period=period,
                    tier=None if len(tiers) == 1 else number + 1,
                )
        for (version_index, window), (kwh, money) in sorted(dynamic.items()):
            self._add(
                DYNAMIC_ENERGY,
                version_index,
                self._window_span(version_index, window),
                quantity=kwh,
                unit="kWh",
                unit_price=money / kwh,
                amount=round_money(money),
            )

    def _export_lines(self, bounds: Sequence[int], exports: Sequence[Decimal]) -> None:
        per_version = [ZERO] * len(self.spans)
        version_index = 0
        for slot in self.touched:
            if not exports[slot]:
                continue
            while bounds[slot] >= self.spans[version_index].end:
                version_index += 1
            per_version[version_index] += exports[slot]
        for version_index, kwh in enumerate(per_version):
            span = self.spans[version_index]
            export_rate = span.version.export_rate
            if export_rate is None or not kwh:
                continue
            self._add(
                EXPORT_CREDIT,
                version_index,
                (span.start, span.end),
                quantity=kwh,
                unit="kWh",
                unit_price=-export_rate,
                amount=round_money(kwh * -export_rate),
            )

    def _day_lines(
        self, days: Sequence[tuple[dt.date, int, int]]
    ) -> dict[tuple[int, int, int], list[int]]:
        """Standing and fixed charges; returns day groups per (version, year, month)."""
        standing: dict[int, list[int]] = {}  # version -> [days, first start, last end]
        monthly: dict[tuple[int, int, int], list[int]] = {}
        for day, day_start, day_end in days:
            version_index = self._version_at(day_start)
            group = standing.setdefault(version_index, [0, day_start, day_end])
            group[0] += 1
            group[2] = day_end
            month = monthly.setdefault(
                (version_index, day.year, day.month), [0, day_start, day_end]
            )
            month[0] += 1
            month[2] = day_end
        for version_index, (count, first, last) in standing.items():
            charge = self.spans[version_index].version.standing_charge_per_day
            if charge:
                self._add(
                    STANDING_CHARGE,
                    version_index,
                    (first, last),
                    quantity=Decimal(count),
                    unit="day",
                    unit_price=charge,
                    amount=round_money(charge * count),
                )
        for (version_index, year, month_number), (count, first, last) in monthly.items():
            charge = self.spans[version_index].version.fixed_monthly_charge
            if charge:
                month_days = days_in_month(year, month_number)
                self._add(
                    FIXED_CHARGE,
                    version_index,
                    (first, last),
                    quantity=Decimal(count) / month_days,
                    unit="month",
                    unit_price=charge,
                    amount=round_money(charge * count / month_days),
                )
        return monthly

    def _discount_lines(self, days: Sequence[tuple[dt.date, int, int]]) -> None:
        energy_lines = [
            entry for entry in self.entries if entry.line.component in (ENERGY, DYNAMIC_ENERGY)
        ]
        for discount in self.discounts:
            valid_from, valid_to = self._window_us(discount.valid_from, discount.valid_to)
            if discount.kind == ENERGY_PERCENT_KIND:
                for entry in energy_lines:
                    line = entry.line
                    line_from, line_to = to_us(line.starts_at), to_us(line.ends_at)
                    if line.amount and valid_from <= line_from and line_to <= valid_to:
                        self._add(
                            DISCOUNT,
                            entry.version_index,
                            (line_from, line_to),
                            quantity=-discount.value,
                            unit="%",
                            unit_price=line.amount,
                            amount=round_money(-discount.value * line.amount / HUNDRED),
                            period=line.period,
                            tier=line.tier,
                            label=discount.label,
                        )
                continue
            assert discount.kind == DAILY_CREDIT_KIND
            credited: dict[int, list[int]] = {}
            for _day, day_start, day_end in days:
                if valid_from <= day_start < valid_to:
                    group = credited.setdefault(self._version_at(day_start), [0, day_start, 0])
                    group[0] += 1
                    group[2] = day_end
            for version_index, (count, first, last) in credited.items():
                if discount.value:
                    self._add(
                        DISCOUNT,
                        version_index,
                        (first, last),
                        quantity=Decimal(count),
                        unit="day",
                        unit_price=-discount.value,
                        amount=round_money(-discount.value * count),
                        label=discount.label,
                    )

    def _minimum_line(self, month_groups: Mapping[tuple[int, int, int], list[int]]) -> None:
        minimum = ZERO
        owner: int | None = None
        for (version_index, year, month_number), (count, _first, _last) in month_groups.items():
            monthly_minimum = self.spans[version_index].version.minimum_monthly_charge
            if monthly_minimum is None:
                continue
            minimum += monthly_minimum * count / days_in_month(year, month_number)
            owner = version_index if owner is None else max(owner, version_index)
        if owner is None:
            return
        required = round_money(minimum)
        subtotal = sum((entry.line.amount for entry in self.entries), ZERO)
        if subtotal < required:
            shortfall = required - subtotal
            self._add(
                MINIMUM_CHARGE,
                owner,
                (self.start, self.end),
                quantity=Decimal(1),
                unit="month",
                unit_price=shortfall,
                amount=shortfall,
            )

    def _tax_lines(self) -> None:
        regimes: dict[tuple[Tax, ...], list[int]] = {}
        for version_index, span in enumerate(self.spans):
            regimes.setdefault(span.version.taxes, []).append(version_index)
        for taxes, members in regimes.items():
            if not taxes:
                continue
            member_set = set(members)
            lines = [entry.line for entry in self.entries if entry.version_index in member_set]
            labels = dict.fromkeys(self.spans[index].version.label for index in members)
            version_label = ", ".join(label for label in labels if label)
            window = (
                min(self.spans[index].start for index in members),
                max(self.spans[index].end for index in members),
            )
            applied: dict[str, Decimal] = {}
            for tax in taxes:
                base = sum((line.amount for line in lines if line.component in tax.base), ZERO)
                base += sum((applied[code] for code in tax.base if code in applied), ZERO)
                if not base:
                    continue
                amount = round_money(base * tax.rate_percent / HUNDRED)
                applied[tax.code] = amount
                self._add(
                    TAX,
                    members[-1],
                    window,
                    quantity=tax.rate_percent,
                    unit="%",
                    unit_price=base,
                    amount=amount,
                    period=tax.code,
                    label=tax.name,
                    version_label=version_label,
                )

    def _add(
        self,
        component: str,
        version_index: int,
        window: tuple[int, int],
        *,
        quantity: Decimal,
        unit: Unit,
        unit_price: Decimal,
        amount: Decimal,
        period: str = "",
        tier: int | None = None,
        label: str = "",
        version_label: str | None = None,
    ) -> None:
        line = PricedLine(
            component=component,
            period=period,
            tier=tier,
            version_label=(
                self.spans[version_index].version.label if version_label is None else version_label
            ),
            quantity=quantity,
            unit=unit,
            unit_price=unit_price,
            amount=amount,
            starts_at=from_us(window[0]),
            ends_at=from_us(window[1]),
            label=label,
        )
        sort_period = "" if component == TAX else period
        key = (_RANK[component], window[0], sort_period, tier or 0, len(self.entries))
        self.entries.append(_Entry(key, version_index, line))


def _tier_blocks(tiers: Sequence[Tier], total: Decimal) -> list[Decimal]:
    """The part of ``total`` that falls in each tier's block (URDB cumulative ``max``)."""
    blocks = []
    reached = ZERO
    for tier in tiers:
        ceiling = total if tier.upto_kwh is None else min(tier.upto_kwh, total)
        blocks.append(max(ceiling - reached, ZERO))
        reached = max(reached, ceiling)
    return blocks
