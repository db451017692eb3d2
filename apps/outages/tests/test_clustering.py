"""Outage clustering on generated meter-event streams (pure: no database, no clock).

The generated network: substation ``s`` (1, 2) → feeders ``s*10+f`` (f = 1..3) →
transformers ``feeder*10+t`` (t = 1..3) → supply points ``transformer*100+p``
(p = 1..4). So a transformer serves 4 supply points, a feeder 12, a substation 36.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.outages.clustering import (
    LOST,
    RESTORED,
    Event,
    Incident,
    Interruption,
    Level,
    Node,
    Thresholds,
    Topology,
    detect,
    interruptions_of,
)

T0 = dt.datetime(2026, 3, 29, 0, 58, tzinfo=dt.UTC)  # the night Madrid moves to summer time


def minutes(value: float) -> dt.timedelta:
    return dt.timedelta(minutes=value)


def network(points_per_transformer: int = 4) -> Topology:
    transformer_of: dict[int, int] = {}
    feeder_of: dict[int, int] = {}
    substation_of: dict[int, int] = {}
    for substation in (1, 2):
        for f in (1, 2, 3):
            feeder = substation * 10 + f
            substation_of[feeder] = substation
            for t in (1, 2, 3):
                transformer = feeder * 10 + t
                feeder_of[transformer] = feeder
                for p in range(1, points_per_transformer + 1):
                    transformer_of[transformer * 100 + p] = transformer
    return Topology.build(
        transformer_of=transformer_of, feeder_of=feeder_of, substation_of=substation_of
    )


NET = network()


def points_of(transformer: int, count: int = 4) -> list[int]:
    return [transformer * 100 + p for p in range(1, count + 1)]


def loss(points: list[int], *, at: dt.datetime, spread_s: int = 90, seed: int = 1) -> list[Event]:
    """Each point loses supply at ``at`` plus a jitter of up to ``spread_s`` seconds."""
    rng = random.Random(seed)
    return [
        Event(point, LOST, at + dt.timedelta(seconds=rng.randint(0, spread_s))) for point in points
    ]


def restore(points: list[int], *, at: dt.datetime) -> list[Event]:
    return [Event(point, RESTORED, at) for point in points]


def only(incidents: tuple[Incident, ...]) -> Incident:
    assert len(incidents) == 1, incidents
    return incidents[0]


def test_a_transformer_outage_is_placed_at_the_transformer() -> None:
    events = loss(points_of(111, 3), at=T0)  # 3 of transformer 111's 4 points
    result = detect(events=events, topology=NET, now=T0 + minutes(2))

    incident = only(result.incidents)
    assert incident.node == Node(Level.TRANSFORMER, 111)
    assert incident.supply_point_ids == frozenset({11101, 11102, 11103})
    assert incident.points_under == 4
    assert incident.confidence == Decimal("0.750")
    assert incident.started_at == min(e.at for e in events)
    assert incident.restored_at is None
    assert result.pending == frozenset()


def test_a_feeder_outage_is_placed_at_the_feeder_not_its_transformers() -> None:
    # 10 of feeder 11's 12 points (all of 111 and 112, two of 113), over three minutes.
    points = points_of(111) + points_of(112) + points_of(113, 2)
    result = detect(events=loss(points, at=T0, spread_s=180), topology=NET, now=T0 + minutes(4))

    incident = only(result.incidents)
    assert incident.node == Node(Level.FEEDER, 11)
    assert incident.points_under == 12
    assert incident.confidence == Decimal("0.833")
    assert len(incident.interruptions) == 10


def test_a_whole_substation_going_dark_is_one_substation_outage() -> None:
    points = [p for f in (21, 22, 23) for t in (1, 2, 3) for p in points_of(f * 10 + t)]
    result = detect(events=loss(points, at=T0, spread_s=120), topology=NET, now=T0 + minutes(3))

    incident = only(result.incidents)
    assert incident.node == Node(Level.SUBSTATION, 2)
    assert incident.confidence == Decimal("1.000")


def test_two_simultaneous_unrelated_outages_stay_two() -> None:
    # Transformer 111 (feeder 11) and transformer 121 (feeder 12) in the same minute: each
    # feeder loses a third of its points and the substation 8 of 36, so neither is higher up.
    events = loss(points_of(111), at=T0, seed=1) + loss(points_of(121), at=T0, seed=2)
    result = detect(events=events, topology=NET, now=T0 + minutes(3))

    assert sorted(i.node for i in result.incidents) == [
        Node(Level.TRANSFORMER, 111),
        Node(Level.TRANSFORMER, 121),
    ]
    assert {i.supply_point_ids for i in result.incidents} == {
        frozenset(points_of(111)),
        frozenset(points_of(121)),
    }


def test_outages_in_two_substations_at_once_are_separate() -> None:
    events = loss(points_of(111), at=T0) + loss(points_of(231), at=T0 + minutes(1))
    result = detect(events=events, topology=NET, now=T0 + minutes(10))

    assert sorted(i.node for i in result.incidents) == [
        Node(Level.TRANSFORMER, 111),
        Node(Level.TRANSFORMER, 231),
    ]


def test_a_single_premise_fault_stays_per_premise_once_its_neighbours_had_time() -> None:
    events = [Event(11101, LOST, T0)]

    early = detect(events=events, topology=NET, now=T0 + minutes(4))
    assert early.incidents == ()
    assert early.pending == frozenset({11101})

    settled = detect(events=events, topology=NET, now=T0 + minutes(5))
    incident = only(settled.incidents)
    assert incident.node == Node(Level.SUPPLY_POINT, 11101)
    assert incident.confidence == Decimal("1.000")
    assert settled.pending == frozenset()


def test_a_supply_point_not_on_the_network_map_is_still_a_single_premise_outage() -> None:
    result = detect(events=[Event(999, LOST, T0)], topology=NET, now=T0 + minutes(6))

    assert only(result.incidents).node == Node(Level.SUPPLY_POINT, 999)


def test_a_flapping_meter_is_flagged_and_makes_no_outage() -> None:
    events: list[Event] = []
    for k in range(5):  # off for a minute every four minutes
        start = T0 + minutes(4 * k)
        events += [Event(11101, LOST, start), Event(11101, RESTORED, start + minutes(1))]
    result = detect(events=events, topology=NET, now=T0 + minutes(40))

    assert result.incidents == ()
    assert result.flapping == frozenset({11101})


def test_a_flapping_meter_during_a_transformer_outage_counts_once() -> None:
    flaps: list[Event] = []
    for k in range(4):
        start = T0 - minutes(10) + minutes(3 * k)
        flaps += [Event(11101, LOST, start), Event(11101, RESTORED, start + minutes(0.5))]
    outage = loss(points_of(111)[1:], at=T0)  # the other three points of transformer 111
    result = detect(events=flaps + outage, topology=NET, now=T0 + minutes(6))

    incident = only(result.incidents)
    assert incident.node == Node(Level.TRANSFORMER, 111)
    assert incident.supply_point_ids == frozenset(points_of(111))
    assert incident.confidence == Decimal("1.000")


def test_a_reclosing_sequence_is_one_momentary_outage() -> None:
    events: list[Event] = []
    for k in range(3):  # three trips 20 s apart, back after 5 s each
        start = T0 + dt.timedelta(seconds=20 * k)
        events += loss(points_of(111), at=start, spread_s=2, seed=k)
        events += restore(points_of(111), at=start + dt.timedelta(seconds=5))
    result = detect(events=events, topology=NET, now=T0 + minutes(10))

    incident = only(result.incidents)
    assert incident.node == Node(Level.TRANSFORMER, 111)
    assert all(i.losses == 3 for i in incident.interruptions)
    assert incident.restored_at == T0 + dt.timedelta(seconds=45)
    assert result.flapping == frozenset()


def test_late_reporting_meters_join_the_outage() -> None:
    a, b, c, d = points_of(111)
    events = [
        Event(a, LOST, T0),
        Event(b, LOST, T0),
        Event(c, LOST, T0 + minutes(4)),  # three within five minutes: an outage
        Event(d, LOST, T0 + minutes(8)),  # within five minutes of the last: a straggler
    ]
    result = detect(events=events, topology=NET, now=T0 + minutes(20))

    incident = only(result.incidents)
    assert incident.node == Node(Level.TRANSFORMER, 111)
    assert incident.supply_point_ids == frozenset(points_of(111))
    assert incident.confidence == Decimal("1.000")


def test_three_points_under_a_big_transformer_are_enough_with_low_confidence() -> None:
    big = network(points_per_transformer=20)
    events = loss([11101, 11107, 11115], at=T0)
    result = detect(events=events, topology=big, now=T0 + minutes(2))

    incident = only(result.incidents)
    assert incident.node == Node(Level.TRANSFORMER, 111)
    assert incident.confidence == Decimal("0.150")


def test_two_points_under_a_big_transformer_are_two_premise_faults() -> None:
    big = network(points_per_transformer=20)
    result = detect(events=loss([11101, 11107], at=T0), topology=big, now=T0 + minutes(10))

    assert sorted(i.node for i in result.incidents) == [
        Node(Level.SUPPLY_POINT, 11101),
        Node(Level.SUPPLY_POINT, 11107),
    ]


def test_losses_far_apart_in_time_are_not_one_outage() -> None:
    events = [Event(11101, LOST, T0), Event(11102, LOST, T0 + minutes(20))]
    result = detect(events=events, topology=NET, now=T0 + minutes(30))

    assert sorted(i.node for i in result.incidents) == [
        Node(Level.SUPPLY_POINT, 11101),
        Node(Level.SUPPLY_POINT, 11102),
    ]


def test_thresholds_are_configurable() -> None:
    strict = Thresholds(min_share=Decimal("0.8"), min_points=4)
    result = detect(
        events=loss(points_of(111, 3), at=T0), topology=NET, now=T0 + minutes(10), thresholds=strict
    )
    assert all(i.node.level == Level.SUPPLY_POINT for i in result.incidents)
    assert len(result.incidents) == 3


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_points_any"):
        Thresholds(min_points_any=1)
    with pytest.raises(ValueError, match="min_share"):
        Thresholds(min_share=Decimal("1.5"))


def test_restorations_give_each_point_its_own_end() -> None:
    events = loss(points_of(111), at=T0, spread_s=0)
    events += [Event(11101, RESTORED, T0 + minutes(30)), Event(11102, RESTORED, T0 + minutes(45))]
    result = detect(events=events, topology=NET, now=T0 + minutes(50))

    ends = {i.supply_point_id: i.restored_at for i in only(result.incidents).interruptions}
    assert ends == {
        11101: T0 + minutes(30),
        11102: T0 + minutes(45),
        11103: None,
        11104: None,
    }


def test_odd_messages_are_ignored() -> None:
    events = [
        Event(11101, RESTORED, T0),  # restored without a loss we saw
        Event(11101, LOST, T0 + minutes(1)),
        Event(11101, LOST, T0 + minutes(2)),  # repeated loss while still off
        Event(11101, "TAMPER", T0 + minutes(3)),
        Event(11101, RESTORED, T0 + minutes(20)),
    ]
    assert interruptions_of(events) == {
        11101: [Interruption(11101, T0 + minutes(1), T0 + minutes(20), losses=1)]
    }


def test_events_after_now_are_not_seen() -> None:
    events = loss(points_of(111), at=T0 + minutes(10))
    assert detect(events=events, topology=NET, now=T0).incidents == ()


def test_replaying_the_same_events_in_any_order_gives_the_same_result() -> None:
    events = (
        loss(points_of(111), at=T0)
        + loss(points_of(121), at=T0)
        + [Event(23101, LOST, T0 - minutes(30))]
        + restore(points_of(111, 2), at=T0 + minutes(40))
    )
    first = detect(events=events, topology=NET, now=T0 + minutes(45))
    shuffled = list(events) * 2  # every message delivered twice, in another order
    random.Random(7).shuffle(shuffled)
    again = detect(events=shuffled, topology=NET, now=T0 + minutes(45))

    assert again == first
    assert len(first.incidents) == 3


event_strategy = st.builds(
    Event,
    supply_point_id=st.sampled_from([*points_of(111), *points_of(112), *points_of(121), 999]),
    kind=st.sampled_from([LOST, RESTORED]),
    at=st.integers(min_value=0, max_value=3600).map(lambda s: T0 + dt.timedelta(seconds=s)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(event_strategy, max_size=60), st.randoms(use_true_random=False))
def test_any_stream_places_each_interruption_at_most_once_under_its_node(
    events: list[Event], rng: random.Random
) -> None:
    now = T0 + dt.timedelta(hours=2)
    result = detect(events=events, topology=NET, now=now)

    seen: set[tuple[int, dt.datetime]] = set()
    for incident in result.incidents:
        for item in incident.interruptions:
            assert item.key not in seen
            seen.add(item.key)
            assert item.key in result.interruptions
            node = NET.node_at(item.supply_point_id, incident.node.level)
            assert node == incident.node
        assert Decimal(0) < incident.confidence <= Decimal(1)
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert detect(events=shuffled, topology=NET, now=now) == result
