"""Explain a bill's energy lines reading by reading: plain data in, plain rows out.

For each contract of a bill the rating engine (``apps.tariffs.rating``) prices the period's
readings into ENERGY, DYNAMIC_ENERGY and EXPORT_CREDIT lines. This module repeats the
engine's classification for every single reading, so a customer can see which time-of-use
period, tier and price version each one fell in and what it cost, unrounded:

* readings are cut at the same slot boundaries as the engine (every UTC-hour and local-hour
  start, price-version changes and energy-discount edges), with the same pro-rata shares;
* a slot's period comes from ``EnergyStructure.period_at`` on its local date, month and hour;
  its version is the one in force at the slot's start;
* tiers: the engine splits each (version, discount window, period) group's kWh across the
  tiers in proportion to the blocks of the period's total import. Each reading gets the same
  proportions, and the group's last reading takes the remainder of every tier, so each
  tier's readings add up *exactly* to the line's quantity;
* amounts are kWh x unit price, never rounded, so for every line
  ``round_money(sum(row.amount)) == line.amount`` to the cent.

No Django, no database, no clock: the caller loads readings, versions, market prices and
discounts (the same inputs it gives ``rating.rate``). See docs/decisions/0713-bill-documents.md.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from itertools import pairwise
from zoneinfo import ZoneInfo

from apps.core.money import round_money
from apps.tariffs import rating

ZERO = Decimal(0)
#: Same working precision and grid as the rating engine's money context and ``share``.
PRECISION = 50
ENERGY_QUANTUM = Decimal("1e-9")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_US = dt.timedelta(microseconds=1)
MINUTE_US = 60_000_000
HOUR_US = 3_600_000_000
FOREVER_US = 2**62
EXPLAINED_COMPONENTS = (rating.ENERGY, rating.DYNAMIC_ENERGY, rating.EXPORT_CREDIT)


class ExplanationError(ValueError):
    """The inputs cannot be explained (no price version in force, a missing market price)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored interval reading: energy over [start, start + minutes)."""

    start: dt.datetime
    minutes: int
    kwh_import: Decimal
    kwh_export: Decimal = ZERO
    quality: str = ""


@dataclass(frozen=True, slots=True)
class ContractPeriod:
    """What the engine rated for one contract of a bill (the inputs of ``rating.rate``)."""

    contract_number: str
    cups: str
    period_start: dt.datetime
    period_end: dt.datetime
    tz: ZoneInfo
    versions: Sequence[rating.PriceVersion]
    readings: Sequence[Reading]
    market_prices: Mapping[dt.datetime, Decimal] | None = None
    discounts: Sequence[rating.Discount] = ()


@dataclass(frozen=True, slots=True)
class Row:
    """One reading's share of one line: kWh, unit price and its unrounded amount."""

    contract_number: str
    cups: str
    component: str
    interval_start: dt.datetime
    minutes: int
    kwh: Decimal
    quality: str
    period: str
    tier: int | None
    version_label: str
    unit_price: Decimal | None
    amount: Decimal
    #: The window of the line this row belongs to (as the engine dates its lines).
    line_starts_at: dt.datetime
    line_ends_at: dt.datetime

    @property
    def line_key(self) -> LineKey:
        return (
            self.contract_number,
            self.component,
            self.period,
            self.tier,
            self.version_label,
            self.line_starts_at,
            self.line_ends_at,
        )


LineKey = tuple[str, str, str, int | None, str, dt.datetime, dt.datetime]


@dataclass(frozen=True, slots=True)
class Line:
    """A bill line as stored (only what matching and the summary need)."""

    position: int
    contract_number: str
    component: str
    period: str
    tier: int | None
    version_label: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    starts_at: dt.datetime
    ends_at: dt.datetime
    label: str = ""

    @property
    def key(self) -> LineKey:
        return (
            self.contract_number,
            self.component,
            self.period,
            self.tier,
            self.version_label,
            self.starts_at.astimezone(dt.UTC),
            self.ends_at.astimezone(dt.UTC),
        )


@dataclass(frozen=True, slots=True)
class LineSummary:
    """One bill line next to the sums of its explanation rows."""

    line: Line
    explained: bool  # an interval-priced line (ENERGY, DYNAMIC_ENERGY, EXPORT_CREDIT)
    rows: int = 0
    kwh: Decimal = ZERO
    amount: Decimal = ZERO  # unrounded sum of the rows

    @property
    def rounded(self) -> Decimal:
        return round_money(self.amount)

    @property
    def matches(self) -> bool:
        return not self.explained or self.rounded == self.line.amount


@dataclass(slots=True)
class _Piece:
    reading: int
    slot_start: int
    kwh_import: Decimal
    kwh_export: Decimal
    allocations: list[tuple[int, Decimal]] = field(default_factory=list)


# -- time helpers ------------------------------------------------------------------------------


def _to_us(value: dt.datetime) -> int:
    return (value - EPOCH) // ONE_US


def _from_us(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def _offset_us(us: int, tz: ZoneInfo) -> int:
    offset = _from_us(us).astimezone(tz).utcoffset()
    assert offset is not None
    return offset // ONE_US


def _local_cuts(first: int, last: int, tz: ZoneInfo) -> set[int]:
    """Every UTC-hour start, local-hour start and offset change strictly inside (first, last)."""
    cuts = set(range(first - first % HOUR_US + HOUR_US, last, HOUR_US))
    offset_first, offset_last = _offset_us(first, tz), _offset_us(last - 1, tz)
    if offset_first == offset_last and offset_first % HOUR_US == 0:
        return cuts  # whole-hour offset, no change: local hours start with UTC hours
    previous = offset_first
    for minute in range(first + MINUTE_US, last, MINUTE_US):
        offset = _offset_us(minute, tz)
        if offset != previous or (minute + offset) % HOUR_US == 0:
            cuts.add(minute)
        previous = offset
    return cuts


def _share(whole: Decimal, part: int | Decimal, of: int | Decimal) -> Decimal:
    return (whole * part / of).quantize(ENERGY_QUANTUM, rounding=ROUND_HALF_EVEN)


# -- the explanation ---------------------------------------------------------------------------


class _Explainer:
    def __init__(self, contract: ContractPeriod) -> None:
        self.contract = contract
        self.start = _to_us(contract.period_start)
        self.end = _to_us(contract.period_end)
        if self.end <= self.start:
            raise ExplanationError("period_end must be after period_start.")
        self.spans = self._spans(contract.versions)
        self.span_starts = [start for start, _end, _version in self.spans]
        edges: set[int] = set()
        for discount in contract.discounts:
            if discount.kind == "ENERGY_PERCENT":
                edges.add(_to_us(discount.valid_from))
                edges.add(FOREVER_US if discount.valid_to is None else _to_us(discount.valid_to))
        self.edges = sorted(edge for edge in edges if self.start < edge < self.end)
        self.fixed_cuts = set(self.span_starts[1:]) | set(self.edges)

    def _spans(
        self, versions: Sequence[rating.PriceVersion]
    ) -> list[tuple[int, int, rating.PriceVersion]]:
        ordered = sorted(
            (
                (
                    _to_us(v.valid_from),
                    FOREVER_US if v.valid_to is None else _to_us(v.valid_to),
                    v,
                )
                for v in versions
            ),
            key=lambda span: span[0],
        )
        spans = []
        cursor = self.start
        for start, end, version in ordered:
            if end <= self.start or start >= self.end:
                continue
            if start > cursor:
                raise ExplanationError(f"No price version in force at {_from_us(cursor)}.")
            spans.append((max(start, self.start), min(end, self.end), version))
            cursor = end
        if cursor < self.end:
            raise ExplanationError(f"No price version in force at {_from_us(cursor)}.")
        return spans

    def _window(self, slot_start: int) -> int:
        return bisect_right(self.edges, slot_start) if self.edges else 0

    def _window_span(self, version_index: int, window: int) -> tuple[int, int]:
        span_start, span_end, _version = self.spans[version_index]
        low = self.edges[window - 1] if window > 0 else self.start
        high = self.edges[window] if window < len(self.edges) else self.end
        return max(low, span_start), min(high, span_end)

    def _pieces(self) -> list[_Piece]:
        """Each reading cut at the engine's slot bounds, with the engine's pro-rata shares."""
        pieces: list[_Piece] = []
        tz = self.contract.tz
        for index, reading in enumerate(self.contract.readings):
            first = _to_us(reading.start)
            last = first + reading.minutes * MINUTE_US
            if last <= self.start or first >= self.end:
                continue
            cut_from, cut_to = max(first, self.start), min(last, self.end)
            cuts = _local_cuts(first, last, tz) | {
                cut for cut in self.fixed_cuts if first < cut < last
            }
            bounds = sorted({cut_from, cut_to} | {c for c in cuts if cut_from < c < cut_to})
            if first >= self.start and len(bounds) == 2 and cut_to == last:
                pieces.append(_Piece(index, first, reading.kwh_import, reading.kwh_export))
                continue
            whole = cut_from == first and cut_to == last
            duration = last - first
            done_import = done_export = ZERO
            for low, high in pairwise(bounds):
                if whole and high == cut_to:
                    piece_import = reading.kwh_import - done_import
                    piece_export = reading.kwh_export - done_export
                else:
                    piece_import = _share(reading.kwh_import, high - low, duration)
                    piece_export = _share(reading.kwh_export, high - low, duration)
                done_import += piece_import
                done_export += piece_export
                pieces.append(_Piece(index, low, piece_import, piece_export))
        return pieces

    def _version_index(self, slot_start: int) -> int:
        return bisect_right(self.span_starts, slot_start) - 1

    def _local(self, slot_start: int) -> dt.datetime:
        return _from_us(slot_start).astimezone(self.contract.tz)

    def run(self) -> list[Row]:
        pieces = self._pieces()
        total_import = sum((piece.kwh_import for piece in pieces), ZERO)
        rows: list[Row] = []
        groups: dict[tuple[int, int, str], list[_Piece]] = {}
        dynamic: list[tuple[_Piece, int, int]] = []
        for piece in pieces:
            version_index = self._version_index(piece.slot_start)
            window = self._window(piece.slot_start)
            energy = self.spans[version_index][2].energy
            if isinstance(energy, rating.EnergyStructure):
                local = self._local(piece.slot_start)
                period = energy.period_at(local.date(), local.month, local.hour)
                groups.setdefault((version_index, window, period), []).append(piece)
            else:
                dynamic.append((piece, version_index, window))
        energy_rows = self._energy_rows(groups, total_import)
        rows.extend(energy_rows)
        rows.extend(self._dynamic_rows(dynamic))
        rows.extend(self._export_rows(pieces))
        return rows

    def _row(
        self,
        piece: _Piece,
        *,
        component: str,
        kwh: Decimal,
        period: str,
        tier: int | None,
        version_index: int,
        unit_price: Decimal | None,
        window: tuple[int, int],
    ) -> Row:
        reading = self.contract.readings[piece.reading]
        version = self.spans[version_index][2]
        return Row(
            contract_number=self.contract.contract_number,
            cups=self.contract.cups,
            component=component,
            interval_start=reading.start,
            minutes=reading.minutes,
            kwh=kwh,
            quality=reading.quality,
            period=period,
            tier=tier,
            version_label=version.label,
            unit_price=unit_price,
            amount=ZERO if unit_price is None else kwh * unit_price,
            line_starts_at=_from_us(window[0]),
            line_ends_at=_from_us(window[1]),
        )

    def _energy_rows(
        self, groups: Mapping[tuple[int, int, str], list[_Piece]], total_import: Decimal
    ) -> list[Row]:
        rows = []
        for (version_index, window, period), members in groups.items():
            version = self.spans[version_index][2]
            energy = version.energy
            assert isinstance(energy, rating.EnergyStructure)
            tiers = tuple(energy.periods[period])
            group_kwh = sum((piece.kwh_import for piece in members), ZERO)
            blocks = _tier_blocks(tiers, total_import)
            used = [number for number, block in enumerate(blocks) if block]
            window_span = self._window_span(version_index, window)
            if not group_kwh or not used:
                for piece in members:  # a group with no energy has no line
                    rows.append(
                        self._row(
                            piece,
                            component=rating.ENERGY,
                            kwh=piece.kwh_import,
                            period=period,
                            tier=None if len(tiers) == 1 else 1,
                            version_index=version_index,
                            unit_price=tiers[0].rate,
                            window=window_span,
                        )
                    )
                continue
            # The tier quantities exactly as the engine computes them for this group.
            quantities: dict[int, Decimal] = {}
            allocated = ZERO
            for position, number in enumerate(used):
                if position == len(used) - 1:
                    quantities[number] = group_kwh - allocated
                else:
                    quantities[number] = _share(group_kwh, blocks[number], total_import)
                allocated += quantities[number]
            _allocate(members, used, quantities, group_kwh)
            for piece in members:
                for tier_number, kwh in piece.allocations:
                    rows.append(
                        self._row(
                            piece,
                            component=rating.ENERGY,
                            kwh=kwh,
                            period=period,
                            tier=None if len(tiers) == 1 else tier_number + 1,
                            version_index=version_index,
                            unit_price=tiers[tier_number].rate,
                            window=window_span,
                        )
                    )
        return rows

    def _dynamic_rows(self, dynamic: Iterable[tuple[_Piece, int, int]]) -> list[Row]:
        rows = []
        prices = self.contract.market_prices or {}
        for piece, version_index, window in dynamic:
            energy = self.spans[version_index][2].energy
            assert isinstance(energy, rating.DynamicEnergy)
            hour = _from_us(piece.slot_start - piece.slot_start % HOUR_US)
            unit_price: Decimal | None = None
            if piece.kwh_import:
                market = prices.get(hour)
                if market is None:
                    raise ExplanationError(f"No market price for the hour starting {hour}.")
                unit_price = energy.unit_price(market)
            rows.append(
                self._row(
                    piece,
                    component=rating.DYNAMIC_ENERGY,
                    kwh=piece.kwh_import,
                    period="",
                    tier=None,
                    version_index=version_index,
                    unit_price=unit_price,
                    window=self._window_span(version_index, window),
                )
            )
        return rows

    def _export_rows(self, pieces: Iterable[_Piece]) -> list[Row]:
        rows = []
        for piece in pieces:
            if not piece.kwh_export:
                continue
            version_index = self._version_index(piece.slot_start)
            span_start, span_end, version = self.spans[version_index]
            if version.export_rate is None:
                continue
            rows.append(
                self._row(
                    piece,
                    component=rating.EXPORT_CREDIT,
                    kwh=piece.kwh_export,
                    period="",
                    tier=None,
                    version_index=version_index,
                    unit_price=-version.export_rate,
                    window=(span_start, span_end),
                )
            )
        return rows


def _tier_blocks(tiers: Sequence[rating.Tier], total: Decimal) -> list[Decimal]:
    """The part of ``total`` in each tier's block (the engine's URDB cumulative rule)."""
    blocks = []
    reached = ZERO
    for tier in tiers:
        ceiling = total if tier.upto_kwh is None else min(tier.upto_kwh, total)
        blocks.append(max(ceiling - reached, ZERO))
        reached = max(reached, ceiling)
    return blocks


def _allocate(
    members: Sequence[_Piece],
    used: Sequence[int],
    quantities: Mapping[int, Decimal],
    total: Decimal,
) -> None:
    """Share each piece's kWh across the used tiers so that every tier sums to its quantity.

    Each piece gets ``kwh x quantity / total`` of every tier but the last (on the engine's
    energy grid) and the rest in the last tier; the largest piece instead takes what is
    left of each tier, which makes every tier's column add up exactly.
    """
    if len(used) == 1:
        for piece in members:
            piece.allocations = [(used[0], piece.kwh_import)]
        return
    anchor = max(range(len(members)), key=lambda index: members[index].kwh_import)
    given = dict.fromkeys(used[:-1], ZERO)
    for index, piece in enumerate(members):
        if index == anchor:
            continue
        parts = [
            (number, _share(piece.kwh_import, quantities[number], total)) for number in used[:-1]
        ]
        for number, kwh in parts:
            given[number] += kwh
        piece.allocations = [
            *parts,
            (used[-1], piece.kwh_import - sum((k for _n, k in parts), ZERO)),
        ]
    piece = members[anchor]
    parts = [(number, quantities[number] - given[number]) for number in used[:-1]]
    piece.allocations = [*parts, (used[-1], piece.kwh_import - sum((k for _n, k in parts), ZERO))]


def explain(contracts: Iterable[ContractPeriod]) -> list[Row]:
    """Every reading of every contract, classified and priced like the rating engine.

    Rows come per contract in reading order; a reading gets one row per (component, tier)
    it contributes to, and a row for each zero reading. Raises ExplanationError when no price
    version covers the period or a dynamic price lacks an hour's market price.
    """
    rows: list[Row] = []
    with localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        for contract in contracts:
            explained = _Explainer(contract).run()
            explained.sort(
                key=lambda row: (
                    row.interval_start,
                    EXPLAINED_COMPONENTS.index(row.component),
                    row.tier or 0,
                )
            )
            rows.extend(explained)
    return rows


def summarise(rows: Iterable[Row], lines: Iterable[Line]) -> list[LineSummary]:
    """Each line (in position order) with the count, kWh and unrounded amount of its rows."""
    totals: dict[LineKey, list[Decimal]] = {}
    with localcontext() as ctx:
        ctx.prec = PRECISION
        for row in rows:
            key = (
                row.contract_number,
                row.component,
                row.period,
                row.tier,
                row.version_label,
                row.line_starts_at.astimezone(dt.UTC),
                row.line_ends_at.astimezone(dt.UTC),
            )
            entry = totals.setdefault(key, [ZERO, ZERO, ZERO])
            entry[0] += 1
            entry[1] += row.kwh
            entry[2] += row.amount
    summaries = []
    for line in sorted(lines, key=lambda line: line.position):
        if line.component not in EXPLAINED_COMPONENTS:
            summaries.append(LineSummary(line=line, explained=False))
            continue
        count, kwh, amount = totals.get(line.key, [ZERO, ZERO, ZERO])
        summaries.append(
            LineSummary(line=line, explained=True, rows=int(count), kwh=kwh, amount=amount)
        )
    return summaries


def negated(rows: Iterable[Row]) -> list[Row]:
    """The rows of a credit note: the original's rows with kWh and amounts negated."""
    return [replace(row, kwh=-row.kwh, amount=-row.amount) for row in rows]
