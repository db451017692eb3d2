"""Infer outages from meter events: pure, deterministic, no Django and no clock.

Input: POWER_LOST / POWER_RESTORED events ``(supply point, kind, instant)``, the
network (supply point → transformer → feeder → substation, with how many supply
points each node serves), the thresholds, and ``now``. Output: the incidents the
events show, each at one node with a confidence (decision 0631).

1. **Interruptions.** Each supply point's events, in time order, become loss
   intervals ``[lost_at, restored_at)``. A restoration without a preceding loss
   and a repeated loss are ignored. Intervals separated by less than
   ``merge_gap`` are one interruption (a reclosing sequence), counting its
   ``losses``.
2. **Network incidents, top down.** For each level from substation to
   transformer, the interruptions not yet placed are grouped per node; the first
   time window (``window`` long, starting at an interruption's start) in which
   the node's share of supply points that lost supply is at least ``min_share``
   (and at least ``min_points_any`` points) makes an incident at that node. At
   transformer level ``min_points`` points are enough whatever the share. The
   group then takes in interruptions under the node that start within
   ``window`` of it (stragglers), up to ``max_spread`` in all. Going top down
   places each outage at the highest node whose share passes.
3. **What is left** is per supply point. A point whose left-over interruptions
   number ``flap_count`` within ``flap_window``, or one interruption made of
   ``flap_count`` losses, is *flapping*: no outage, only a flag. Any other
   left-over interruption becomes a single-supply-point incident once
   ``window`` has passed since it started (until then it is *pending*, as its
   neighbours may still report).

Everything is ordered by (time, id), so the same input gives the same output.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum

LOST = "POWER_LOST"
RESTORED = "POWER_RESTORED"


class Level(IntEnum):
    """Network levels, lowest first (the value orders them)."""

    SUPPLY_POINT = 0
    TRANSFORMER = 1
    FEEDER = 2
    SUBSTATION = 3


@dataclass(frozen=True, slots=True, order=True)
class Node:
    level: Level
    id: int


@dataclass(frozen=True, slots=True)
class Event:
    supply_point_id: int
    kind: str  # LOST or RESTORED
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Topology:
    """The part of the network the events touch.

    ``transformer_of`` maps supply points to transformers, ``feeder_of``
    transformers to feeders, ``substation_of`` feeders to substations;
    ``points_under`` says how many supply points each node serves.
    """

    transformer_of: Mapping[int, int]
    feeder_of: Mapping[int, int]
    substation_of: Mapping[int, int]
    points_under: Mapping[Node, int]

    @classmethod
    def build(
        cls,
        *,
        transformer_of: Mapping[int, int],
        feeder_of: Mapping[int, int],
        substation_of: Mapping[int, int],
    ) -> Topology:
        """A topology whose counts are taken from ``transformer_of`` (the whole network)."""
        counts: Counter[Node] = Counter()
        for transformer in transformer_of.values():
            counts[Node(Level.TRANSFORMER, transformer)] += 1
            feeder = feeder_of.get(transformer)
            if feeder is not None:
                counts[Node(Level.FEEDER, feeder)] += 1
                substation = substation_of.get(feeder)
                if substation is not None:
                    counts[Node(Level.SUBSTATION, substation)] += 1
        return cls(
            transformer_of=dict(transformer_of),
            feeder_of=dict(feeder_of),
            substation_of=dict(substation_of),
            points_under=dict(counts),
        )

    def node_at(self, supply_point_id: int, level: Level) -> Node | None:
        """The node above ``supply_point_id`` at ``level`` (None when not connected)."""
        if level == Level.SUPPLY_POINT:
            return Node(Level.SUPPLY_POINT, supply_point_id)
        node_id: int | None = self.transformer_of.get(supply_point_id)
        if node_id is not None and level >= Level.FEEDER:
            node_id = self.feeder_of.get(node_id)
        if node_id is not None and level >= Level.SUBSTATION:
            node_id = self.substation_of.get(node_id)
        return Node(level, node_id) if node_id is not None else None


@dataclass(frozen=True, slots=True)
class Thresholds:
    window: dt.timedelta = dt.timedelta(minutes=5)
    min_share: Decimal = Decimal("0.5")
    min_points: int = 3
    min_points_any: int = 2
    merge_gap: dt.timedelta = dt.timedelta(minutes=2)
    flap_count: int = 3
    flap_window: dt.timedelta = dt.timedelta(minutes=30)
    max_spread: dt.timedelta = dt.timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.window <= dt.timedelta(0):
            raise ValueError("window must be positive.")
        if not Decimal(0) < self.min_share <= Decimal(1):
            raise ValueError("min_share must be above 0 and at most 1.")
        if self.min_points_any < 2:
            raise ValueError("min_points_any must be at least 2 (one meter is one premise).")
        if self.min_points < self.min_points_any:
            raise ValueError("min_points must be at least min_points_any.")
        if self.flap_count < 2:
            raise ValueError("flap_count must be at least 2.")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Interruption:
    supply_point_id: int
    lost_at: dt.datetime
    restored_at: dt.datetime | None
    losses: int = 1

    @property
    def key(self) -> tuple[int, dt.datetime]:
        return (self.supply_point_id, self.lost_at)


@dataclass(frozen=True, slots=True)
class Incident:
    node: Node
    interruptions: tuple[Interruption, ...]
    points_under: int

    @property
    def started_at(self) -> dt.datetime:
        return min(i.lost_at for i in self.interruptions)

    @property
    def supply_point_ids(self) -> frozenset[int]:
        return frozenset(i.supply_point_id for i in self.interruptions)

    @property
    def confidence(self) -> Decimal:
        """Share of the node's supply points that reported the loss (0.001, at most 1)."""
        share = Decimal(len(self.supply_point_ids)) / Decimal(max(self.points_under, 1))
        return min(share, Decimal(1)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)

    @property
    def restored_at(self) -> dt.datetime | None:
        """When the last interruption ended, or None while any is open."""
        ends = [i.restored_at for i in self.interruptions]
        if any(end is None for end in ends):
            return None
        return max(end for end in ends if end is not None)


@dataclass(frozen=True, slots=True)
class Detection:
    incidents: tuple[Incident, ...]
    interruptions: Mapping[tuple[int, dt.datetime], Interruption]
    flapping: frozenset[int] = field(default_factory=frozenset)
    pending: frozenset[int] = field(default_factory=frozenset)


def interruptions_of(
    events: Iterable[Event], *, merge_gap: dt.timedelta = DEFAULT_THRESHOLDS.merge_gap
) -> dict[int, list[Interruption]]:
    """Each supply point's interruptions, in time order (step 1 of the module docstring)."""
    by_point: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind in (LOST, RESTORED):
            by_point[event.supply_point_id].append(event)
    result: dict[int, list[Interruption]] = {}
    for point in sorted(by_point):
        ordered = sorted(by_point[point], key=lambda e: (e.at, e.kind == RESTORED))
        done: list[Interruption] = []
        open_at: dt.datetime | None = None
        losses = 0
        for event in ordered:
            if event.kind == LOST:
                if open_at is not None:
                    continue  # still off: a repeated loss message
                previous = done[-1] if done else None
                if (
                    previous is not None
                    and previous.restored_at is not None
                    and event.at - previous.restored_at < merge_gap
                ):
                    done.pop()
                    open_at, losses = previous.lost_at, previous.losses + 1
                else:
                    open_at, losses = event.at, 1
            elif open_at is not None:
                done.append(Interruption(point, open_at, event.at, losses))
                open_at = None
        if open_at is not None:
            done.append(Interruption(point, open_at, None, losses))
        result[point] = done
    return result


def _qualifies(level: Level, affected: int, total: int, thresholds: Thresholds) -> bool:
    if affected < thresholds.min_points_any or total <= 0:
        return False
    if Decimal(affected) >= thresholds.min_share * Decimal(total):
        return True
    return level == Level.TRANSFORMER and affected >= thresholds.min_points


def _sort_key(item: Interruption) -> tuple[dt.datetime, int]:
    return (item.lost_at, item.supply_point_id)


def _clusters(
    node: Node, items: list[Interruption], total: int, thresholds: Thresholds
) -> list[Incident]:
    """Incidents at ``node`` among ``items`` (sorted by start), earliest first."""
    remaining = sorted(items, key=_sort_key)
    found: list[Incident] = []
    while True:
        span = _first_qualifying_window(node.level, remaining, total, thresholds)
        if span is None:
            return found
        first, last = span  # remaining[first:last] qualifies
        earliest, latest = remaining[first].lost_at, remaining[last - 1].lost_at
        limit = thresholds.max_spread
        while (
            first > 0
            and remaining[first - 1].lost_at > earliest - thresholds.window
            and latest - remaining[first - 1].lost_at <= limit
        ):
            first -= 1
            earliest = remaining[first].lost_at
        while (
            last < len(remaining)
            and remaining[last].lost_at < latest + thresholds.window
            and remaining[last].lost_at - earliest <= limit
        ):
            latest = remaining[last].lost_at
            last += 1
        found.append(Incident(node, tuple(remaining[first:last]), total))
        remaining = remaining[:first] + remaining[last:]


def _first_qualifying_window(
    level: Level, items: list[Interruption], total: int, thresholds: Thresholds
) -> tuple[int, int] | None:
    counts: Counter[int] = Counter()
    end = 0
    for start, item in enumerate(items):
        while end < len(items) and items[end].lost_at < item.lost_at + thresholds.window:
            counts[items[end].supply_point_id] += 1
            end += 1
        if _qualifies(level, len(counts), total, thresholds):
            return start, end
        counts[item.supply_point_id] -= 1
        if counts[item.supply_point_id] == 0:
            del counts[item.supply_point_id]
    return None


def _is_flapping(items: list[Interruption], thresholds: Thresholds) -> bool:
    if any(item.losses >= thresholds.flap_count for item in items):
        return True
    starts = sorted(item.lost_at for item in items)
    reach = thresholds.flap_count - 1
    return any(
        starts[i + reach] - starts[i] <= thresholds.flap_window for i in range(len(starts) - reach)
    )


def detect(
    *,
    events: Iterable[Event],
    topology: Topology,
    now: dt.datetime,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Detection:
    """The incidents ``events`` (up to ``now``) show; see the module docstring."""
    per_point = interruptions_of((e for e in events if e.at <= now), merge_gap=thresholds.merge_gap)
    every = {item.key: item for items in per_point.values() for item in items}
    unplaced = sorted(every.values(), key=_sort_key)
    incidents: list[Incident] = []
    for level in (Level.SUBSTATION, Level.FEEDER, Level.TRANSFORMER):
        by_node: dict[Node, list[Interruption]] = defaultdict(list)
        for item in unplaced:
            node = topology.node_at(item.supply_point_id, level)
            if node is not None:
                by_node[node].append(item)
        placed: set[tuple[int, dt.datetime]] = set()
        for node in sorted(by_node):
            total = topology.points_under.get(node, 0)
            for incident in _clusters(node, by_node[node], total, thresholds):
                incidents.append(incident)
                placed.update(i.key for i in incident.interruptions)
        unplaced = [item for item in unplaced if item.key not in placed]

    left: dict[int, list[Interruption]] = defaultdict(list)
    for item in unplaced:
        left[item.supply_point_id].append(item)
    flapping: set[int] = set()
    pending: set[int] = set()
    for point in sorted(left):
        items = left[point]
        if _is_flapping(items, thresholds):
            flapping.add(point)
            continue
        for item in items:
            if item.lost_at + thresholds.window <= now:
                incidents.append(Incident(Node(Level.SUPPLY_POINT, point), (item,), 1))
            else:
                pending.add(point)
    incidents.sort(key=lambda i: (i.started_at, i.node))
    return Detection(
        incidents=tuple(incidents),
        interruptions=every,
        flapping=frozenset(flapping),
        pending=frozenset(pending),
    )
