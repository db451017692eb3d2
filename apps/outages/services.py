"""Outage use cases: detection from meter events, customer reports, staff updates and
transitions, planned maintenance, notifications, and the demo network.

Detection (decision 0630) runs :mod:`apps.outages.clustering` over the meter events
of the last ``lookback`` and reconciles what it finds with what is stored:

* every interruption is stored once (unique supply point + ``lost_at``), so the
  same events never make a second outage: an incident whose interruptions are
  already stored updates the outage that holds them;
* an incident under an active outage's node joins it; an incident higher up the
  network than the outage it matches moves the outage up (and takes in the
  supply points below, as *inferred*); incidents touching several stored
  outages merge them into the oldest; a customer-reported (suspected) outage
  below the incident is merged into it;
* restorations close each supply point at its own ``restored_at``; an outage ends
  when none is left without supply (inferred points close with the last meter).

Every status move goes through the transition table (:data:`TRANSITIONS`) and
writes a timeline entry (``OutageUpdate``); notifications are sent after commit
by tasks, once per event key.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from auditlog.context import auditlog_value, set_actor
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Value
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import Account, User
from apps.accounts.selectors import accounts_for_user
from apps.core import clock
from apps.core.models import Notification
from apps.core.notifications import notification_send
from apps.metering.models import MeterEvent, SupplyPoint
from apps.outages import clustering, reliability, selectors
from apps.outages.models import (
    LEVEL_RANK,
    Feeder,
    Level,
    Outage,
    OutagePoint,
    OutageReport,
    OutageUpdate,
    Substation,
    SupplyPointConnection,
    Transformer,
)

Status = Outage.Status
Kind = OutageUpdate.Kind

SYSTEM_DETECTION: Final = "system:outage-detection"
SYSTEM_PLANNER: Final = "system:planned-outages"
DETECTION_LOCK: Final = 6_300_001  # pg advisory lock: one detection run at a time
REPORT_LOCK_NAMESPACE: Final = 6301  # pg advisory lock (namespace, supply point id)
DEFAULT_LOOKBACK: Final = dt.timedelta(hours=24)
#: A customer report this long before the meters confirm an outage below it is merged into it.
SUSPECT_MERGE_WINDOW: Final = dt.timedelta(hours=6)
#: Planned work is announced to customers once it is this close (decision 0634).
ANNOUNCE_AHEAD: Final = dt.timedelta(days=14)
MAX_PLANNED_DURATION: Final = dt.timedelta(hours=72)
DESCRIPTION_MAX: Final = 1000
MOMENTARY: Final = reliability.MOMENTARY_LIMIT

#: Which status may follow which. Anything else is refused (decision 0632).
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    Status.SCHEDULED: frozenset({Status.ACTIVE, Status.CANCELLED}),
    Status.SUSPECTED: frozenset({Status.ACTIVE, Status.CANCELLED, Status.MERGED}),
    Status.ACTIVE: frozenset({Status.RESTORED, Status.MERGED}),
    Status.RESTORED: frozenset({Status.ACTIVE, Status.MERGED}),
    Status.CANCELLED: frozenset(),
    Status.MERGED: frozenset(),
}
#: The moves staff make by hand; the others are made by detection and planned-work starts.
STAFF_MOVES: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        (Status.SUSPECTED, Status.ACTIVE),
        (Status.SUSPECTED, Status.CANCELLED),
        (Status.SCHEDULED, Status.CANCELLED),
        (Status.ACTIVE, Status.RESTORED),
    }
)

LEVEL_OF: Final = {
    clustering.Level.SUPPLY_POINT: Level.SUPPLY_POINT,
    clustering.Level.TRANSFORMER: Level.TRANSFORMER,
    clustering.Level.FEEDER: Level.FEEDER,
    clustering.Level.SUBSTATION: Level.SUBSTATION,
}


# --------------------------------------------------------------------------------------------
# Exceptions: each names the form field at fault (None when it is the whole request).
# --------------------------------------------------------------------------------------------


class OutageError(Exception):
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class IllegalTransition(OutageError):
    """The transition table (or the staff moves) do not allow this status change."""


class OutageClosed(OutageError):
    """The outage is over (restored, cancelled or merged): it takes no more updates."""


class InvalidEstimate(OutageError):
    field = "estimated_restoration_at"


class EmptyUpdate(OutageError):
    field = "note"


class InvalidRestorationTime(OutageError):
    field = "at"


class ReportRefused(OutageError):
    field = "supply_point"


class InvalidPlannedOutage(OutageError):
    """A planned outage with a bad node, window or description."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


_NO_AUDIT_CONTEXT: Final = {"actor": None, "signal_duid": ("outages:no-context", 0.0)}


@contextmanager
def _acting_as(actor: User | None) -> Iterator[None]:
    """Attribute audit entries written inside to ``actor``, then restore the previous context."""
    try:
        previous = auditlog_value.get()
    except LookupError:
        previous = None
    try:
        with set_actor(actor):
            yield
    finally:
        auditlog_value.set(previous if previous is not None else dict(_NO_AUDIT_CONTEXT))


def actor_label_for(user: User | None, *, role: str = "staff") -> str:
    return SYSTEM_DETECTION if user is None else f"{role}:{user.email}"[:80]


def _try_lock(key: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _lock(namespace: int, key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])


def detection_thresholds() -> clustering.Thresholds:
    """Thresholds from ``settings.WATTLINE_OUTAGE_DETECTION`` (optional), else the defaults."""
    conf: dict[str, Any] = dict(getattr(settings, "WATTLINE_OUTAGE_DETECTION", {}) or {})
    base = clustering.DEFAULT_THRESHOLDS

    def minutes(name: str, default: dt.timedelta) -> dt.timedelta:
        return dt.timedelta(minutes=conf[name]) if name in conf else default

    return clustering.Thresholds(
        window=minutes("WINDOW_MINUTES", base.window),
        min_share=Decimal(str(conf.get("MIN_SHARE", base.min_share))),
        min_points=int(conf.get("MIN_POINTS", base.min_points)),
        min_points_any=int(conf.get("MIN_POINTS_ANY", base.min_points_any)),
        merge_gap=minutes("MERGE_GAP_MINUTES", base.merge_gap),
        flap_count=int(conf.get("FLAP_COUNT", base.flap_count)),
        flap_window=minutes("FLAP_WINDOW_MINUTES", base.flap_window),
        max_spread=minutes("MAX_SPREAD_MINUTES", base.max_spread),
    )


def detection_lookback() -> dt.timedelta:
    conf: dict[str, Any] = dict(getattr(settings, "WATTLINE_OUTAGE_DETECTION", {}) or {})
    return dt.timedelta(hours=conf.get("LOOKBACK_HOURS", DEFAULT_LOOKBACK.total_seconds() / 3600))


def _move(
    outage: Outage,
    to_status: str,
    *,
    kind: str,
    at: dt.datetime,
    actor: User | None,
    actor_label: str,
    note: str = "",
) -> OutageUpdate:
    """Change ``outage.status`` if the table allows it and write the timeline entry."""
    if to_status not in TRANSITIONS[outage.status]:
        raise IllegalTransition(
            _("An outage that is %(current)s cannot become %(new)s.")
            % {
                "current": Status(outage.status).label,
                "new": Status(to_status).label,
            },
            field=None,
        )
    outage.status = to_status
    outage.save()
    return _entry(outage, kind=kind, at=at, actor=actor, actor_label=actor_label, note=note)


def _entry(
    outage: Outage,
    *,
    kind: str,
    at: dt.datetime,
    actor: User | None,
    actor_label: str,
    note: str = "",
    **extra: Any,
) -> OutageUpdate:
    return OutageUpdate.objects.create(
        outage=outage,
        kind=kind,
        status=outage.status,
        note=note,
        created_at=at,
        actor=actor,
        actor_label=actor_label,
        **extra,
    )


def _path_of(node: clustering.Node, topology: clustering.Topology) -> dict[str, int | None]:
    """The node and its ancestors as outage fields (supply point, transformer, feeder, ...)."""
    path: dict[str, int | None] = dict.fromkeys(
        ("supply_point", "transformer", "feeder", "substation")
    )
    if node.level == clustering.Level.SUPPLY_POINT:
        path["supply_point"] = node.id
        path["transformer"] = topology.transformer_of.get(node.id)
    elif node.level == clustering.Level.TRANSFORMER:
        path["transformer"] = node.id
    elif node.level == clustering.Level.FEEDER:
        path["feeder"] = node.id
    else:
        path["substation"] = node.id
    if path["transformer"] is not None:
        path["feeder"] = topology.feeder_of.get(path["transformer"])
    if path["feeder"] is not None and path["substation"] is None:
        path["substation"] = topology.substation_of.get(path["feeder"])
    return path


def _node_fields(level: str, path: dict[str, int | None]) -> dict[str, Any]:
    """Outage field values locating it at ``level`` with the ancestors in ``path``."""
    rank = LEVEL_RANK[Level(level)]
    return {
        "level": level,
        "supply_point_id": path["supply_point"] if rank == 0 else None,
        "transformer_id": path["transformer"] if rank <= 1 else None,
        "feeder_id": path["feeder"] if rank <= 2 else None,
        "substation_id": path["substation"],
    }


def _path_from_db(level: str, node_id: int) -> dict[str, int | None]:
    """Like :func:`_path_of`, read from the database; ``LookupError`` for an unknown node."""
    path: dict[str, int | None] = dict.fromkeys(
        ("supply_point", "transformer", "feeder", "substation")
    )
    if level == Level.SUPPLY_POINT:
        if not SupplyPoint.objects.filter(pk=node_id).exists():
            raise LookupError(node_id)
        path.update(selectors.node_path(node_id))
        path["supply_point"] = node_id
    elif level == Level.TRANSFORMER:
        row = Transformer.objects.filter(pk=node_id).values_list(
            "feeder_id", "feeder__substation_id"
        )
        if not row:
            raise LookupError(node_id)
        path["transformer"] = node_id
        path["feeder"], path["substation"] = row[0]
    elif level == Level.FEEDER:
        substation = Feeder.objects.filter(pk=node_id).values_list("substation_id", flat=True)
        if not substation:
            raise LookupError(node_id)
        path["feeder"], path["substation"] = node_id, substation[0]
    elif level == Level.SUBSTATION:
        if not Substation.objects.filter(pk=node_id).exists():
            raise LookupError(node_id)
        path["substation"] = node_id
    else:
        raise LookupError(level)
    return path


def _covering(level: str, path: dict[str, int | None]) -> Q:
    """Outages located at the node (``level`` in ``path``) or above it."""
    rank = LEVEL_RANK[Level(level)]
    condition = Q(pk__in=[])
    if rank == 0 and path["supply_point"] is not None:
        condition |= Q(level=Level.SUPPLY_POINT, supply_point_id=path["supply_point"])
    if rank <= 1 and path["transformer"] is not None:
        condition |= Q(level=Level.TRANSFORMER, transformer_id=path["transformer"])
    if rank <= 2 and path["feeder"] is not None:
        condition |= Q(level=Level.FEEDER, feeder_id=path["feeder"])
    if path["substation"] is not None:
        condition |= Q(level=Level.SUBSTATION, substation_id=path["substation"])
    return condition


def _node_id(outage: Outage) -> int:
    value = {
        Level.SUPPLY_POINT: outage.supply_point_id,
        Level.TRANSFORMER: outage.transformer_id,
        Level.FEEDER: outage.feeder_id,
        Level.SUBSTATION: outage.substation_id,
    }[Level(outage.level)]
    assert value is not None
    return value


def _infer_points(
    outage: Outage, *, source: str, lost_at: dt.datetime, restored_at: dt.datetime | None
) -> int:
    """Add every supply point under the outage's node that has no open interruption yet."""
    under = selectors.supply_point_ids_under(outage.level, _node_id(outage))
    have = set(OutagePoint.objects.filter(outage=outage).values_list("supply_point_id", flat=True))
    busy = set(
        OutagePoint.objects.filter(supply_point_id__in=under, restored_at__isnull=True).values_list(
            "supply_point_id", flat=True
        )
    )
    rows = [
        OutagePoint(
            outage=outage,
            supply_point_id=supply_point_id,
            lost_at=lost_at,
            restored_at=restored_at,
            source=source,
        )
        for supply_point_id in under
        if supply_point_id not in have and supply_point_id not in busy
    ]
    created = OutagePoint.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(created)


def _refresh_confidence(outage: Outage) -> None:
    if outage.level == Level.SUPPLY_POINT:
        has_meter = OutagePoint.objects.filter(
            outage=outage, source=OutagePoint.Source.METER
        ).exists()
        outage.confidence = Decimal("1.000") if has_meter else Decimal(0)
        return
    reported = (
        OutagePoint.objects.filter(outage=outage, source=OutagePoint.Source.METER)
        .values("supply_point_id")
        .distinct()
        .count()
    )
    total = max(selectors.count_under(outage.level, _node_id(outage)), 1)
    share = min(Decimal(reported) / Decimal(total), Decimal(1)).quantize(Decimal("0.001"))
    outage.confidence = share


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DetectionRun:
    """What one detection run did (the task logs it)."""

    skipped: bool = False
    events: int = 0
    incidents: int = 0
    created: list[int] = field(default_factory=list)
    extended: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    points_created: int = 0
    points_closed: int = 0
    flapping: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    changed: set[int] = field(default_factory=set)


def outages_detect(
    *,
    now: dt.datetime,
    thresholds: clustering.Thresholds | None = None,
    lookback: dt.timedelta | None = None,
) -> DetectionRun:
    """Turn the meter events of the last ``lookback`` before ``now`` into outages.

    Idempotent: running it again on the same events at the same ``now`` changes
    nothing. One run at a time (a PostgreSQL advisory lock); a run that finds the
    lock taken returns at once with ``skipped`` set. Starts planned work whose
    window opened. Customers are notified after commit. Raises nothing for odd
    events: a restoration without a loss, or a repeated loss, is ignored.
    """
    thresholds = thresholds or detection_thresholds()
    lookback = lookback or detection_lookback()
    clock.require_aware(now, field="now")
    run = DetectionRun()
    with transaction.atomic(), _acting_as(None):
        if not _try_lock(DETECTION_LOCK):
            run.skipped = True
            return run
        _start_planned(now=now, run=run)
        since = now - lookback
        rows = (
            MeterEvent.objects.filter(
                kind__in=[MeterEvent.Kind.POWER_LOST, MeterEvent.Kind.POWER_RESTORED],
                occurred_at__gt=since,
                occurred_at__lte=now,
            )
            .order_by("occurred_at", "id")
            .values_list("supply_point_id", "kind", "occurred_at")
        )
        events = [clustering.Event(sp, kind, at) for sp, kind, at in rows]
        run.events = len(events)
        topology = selectors.topology_for({event.supply_point_id for event in events})
        detection = clustering.detect(
            events=events, topology=topology, now=now, thresholds=thresholds
        )
        run.incidents = len(detection.incidents)
        run.flapping = sorted(detection.flapping)
        run.pending = sorted(detection.pending)
        known = _Known.read(detection)
        for incident in detection.incidents:
            if known.unchanged(incident, topology=topology, thresholds=thresholds, now=now):
                continue
            _apply_incident(incident, topology=topology, thresholds=thresholds, now=now, run=run)
        _close_points(detection=detection, since=since, now=now, run=run)
        _finish_outages(now=now, run=run)
        changed = sorted(run.changed)
        if changed:
            transaction.on_commit(lambda: _enqueue_notifications(changed))
    return run


def _enqueue_notifications(outage_ids: list[int]) -> None:
    from apps.outages import tasks

    for outage_id in outage_ids:
        tasks.notify_outage.delay(outage_id)


_NODE_FIELD: Final = {
    Level.SUPPLY_POINT: "supply_point",
    Level.TRANSFORMER: "transformer",
    Level.FEEDER: "feeder",
    Level.SUBSTATION: "substation",
}


@dataclass(slots=True)
class _Known:
    """What is stored, read once per run, so incidents that would change nothing are skipped
    without a query each. :meth:`unchanged` is true exactly when :func:`_apply_incident`
    would find the incident's interruptions all stored in one outage at its level or above,
    and no other outage to join or merge."""

    owner_of: dict[tuple[int, dt.datetime], int]
    outages: dict[int, tuple[str, str]]  # id → (status, level)
    open_rows: list[tuple[int, str, str, dict[str, int | None], dt.datetime]]

    @classmethod
    def read(cls, detection: clustering.Detection) -> _Known:
        keys = {item.key for i in detection.incidents for item in i.interruptions}
        owner_of: dict[tuple[int, dt.datetime], int] = {}
        if keys:
            for supply_point_id, lost_at, outage_id in OutagePoint.objects.filter(
                supply_point_id__in={key[0] for key in keys},
                lost_at__gte=min(key[1] for key in keys),
                lost_at__lte=max(key[1] for key in keys),
            ).values_list("supply_point_id", "lost_at", "outage_id"):
                if (supply_point_id, lost_at) in keys:
                    owner_of[(supply_point_id, lost_at)] = outage_id
        outages = {
            pk: (status, level)
            for pk, status, level in Outage.objects.filter(
                pk__in=set(owner_of.values())
            ).values_list("pk", "status", "level")
        }
        open_rows: list[tuple[int, str, str, dict[str, int | None], dt.datetime]] = [
            (
                pk,
                status,
                level,
                {"supply_point": sp, "transformer": t, "feeder": f, "substation": sub},
                started_at,
            )
            for pk, status, level, sp, t, f, sub, started_at in Outage.objects.filter(
                status__in=[Status.ACTIVE, Status.SUSPECTED]
            ).values_list(
                "pk",
                "status",
                "level",
                "supply_point_id",
                "transformer_id",
                "feeder_id",
                "substation_id",
                "started_at",
            )
        ]
        return cls(owner_of=owner_of, outages=outages, open_rows=open_rows)

    def unchanged(
        self,
        incident: clustering.Incident,
        *,
        topology: clustering.Topology,
        thresholds: clustering.Thresholds,
        now: dt.datetime,
    ) -> bool:
        owners = {self.owner_of.get(item.key) for item in incident.interruptions}
        if len(owners) != 1 or None in owners:
            return False
        owner = owners.pop()
        assert owner is not None
        status, owner_level = self.outages[owner]
        level = LEVEL_OF[incident.node.level]
        if status not in (Status.ACTIVE, Status.RESTORED):
            return False
        if LEVEL_RANK[level] > LEVEL_RANK[Level(owner_level)]:
            return False
        path = _path_of(incident.node, topology)
        below = _NODE_FIELD[level]
        for pk, other_status, other_level, fields, started_at in self.open_rows:
            if pk == owner:
                continue
            field = _NODE_FIELD[Level(other_level)]
            if (
                other_status == Status.ACTIVE
                and LEVEL_RANK[Level(other_level)] >= LEVEL_RANK[level]
                and fields[field] is not None
                and fields[field] == path[field]
                and started_at <= incident.started_at + thresholds.window
            ):
                return False
            if (
                other_status == Status.SUSPECTED
                and other_level == Level.SUPPLY_POINT
                and fields[below] == incident.node.id
                and incident.started_at - SUSPECT_MERGE_WINDOW <= started_at <= now
            ):
                return False
        return True


def _apply_incident(
    incident: clustering.Incident,
    *,
    topology: clustering.Topology,
    thresholds: clustering.Thresholds,
    now: dt.datetime,
    run: DetectionRun,
) -> None:
    level = LEVEL_OF[incident.node.level]
    path = _path_of(incident.node, topology)
    supply_points = incident.supply_point_ids
    keys = {item.key for item in incident.interruptions}
    latest = max(item.lost_at for item in incident.interruptions)
    stored = {
        (p.supply_point_id, p.lost_at): p
        for p in OutagePoint.objects.filter(
            supply_point_id__in=supply_points,
            lost_at__gte=incident.started_at,
            lost_at__lte=latest,
        )
    }
    stored = {key: point for key, point in stored.items() if key in keys}
    candidates = {point.outage_id for point in stored.values()}
    candidates |= set(
        Outage.objects.filter(
            _covering(level, path),
            status=Status.ACTIVE,
            started_at__lte=incident.started_at + thresholds.window,
        ).values_list("pk", flat=True)
    )
    below = {
        Level.SUPPLY_POINT: "supply_point_id",
        Level.TRANSFORMER: "transformer_id",
        Level.FEEDER: "feeder_id",
        Level.SUBSTATION: "substation_id",
    }[level]
    candidates |= set(
        Outage.objects.filter(
            status=Status.SUSPECTED,
            level=Level.SUPPLY_POINT,
            started_at__gte=incident.started_at - SUSPECT_MERGE_WINDOW,
            started_at__lte=now,
            **{below: incident.node.id},
        ).values_list("pk", flat=True)
    )
    outages = list(
        Outage.objects.select_for_update()
        .filter(pk__in=candidates)
        .exclude(status__in=[Status.MERGED, Status.CANCELLED])
        .order_by("id")
    )
    confirmed = [o for o in outages if o.status != Status.SUSPECTED]
    target = confirmed[0] if confirmed else (outages[0] if outages else None)
    changed = False
    moved_up = False
    if target is None:
        target = Outage.objects.create(
            kind=Outage.Kind.UNPLANNED,
            status=Status.ACTIVE,
            source=Outage.Source.METER_EVENTS,
            started_at=incident.started_at,
            detected_at=now,
            confidence=incident.confidence,
            **_node_fields(level, path),
        )
        _entry(target, kind=Kind.DETECTED, at=now, actor=None, actor_label=SYSTEM_DETECTION)
        run.created.append(target.pk)
        moved_up = changed = True
    else:
        if LEVEL_RANK[level] > LEVEL_RANK[Level(target.level)]:
            for name, value in _node_fields(level, path).items():
                setattr(target, name, value)
            moved_up = changed = True
        if incident.started_at < target.started_at:
            target.started_at = incident.started_at
        if target.status == Status.SUSPECTED:
            _move(
                target,
                Status.ACTIVE,
                kind=Kind.CONFIRMED,
                at=now,
                actor=None,
                actor_label=SYSTEM_DETECTION,
                note=_("Meters confirm the loss of supply."),
            )
            changed = True
        if moved_up:
            target.save()
            _entry(
                target,
                kind=Kind.EXTENDED,
                at=now,
                actor=None,
                actor_label=SYSTEM_DETECTION,
                note=_("The outage now covers %(node)s.") % {"node": selectors.node_label(target)},
            )
            run.extended.append(target.pk)
    for other in outages:
        if other.pk != target.pk:
            _merge(other, into=target, now=now)
            run.merged.append(other.pk)
            changed = True

    open_by_point = {
        p.supply_point_id: p
        for p in OutagePoint.objects.select_for_update().filter(
            supply_point_id__in=supply_points, restored_at__isnull=True
        )
    }
    new_points: list[OutagePoint] = []
    for item in sorted(incident.interruptions, key=lambda i: (i.lost_at, i.supply_point_id)):
        if item.key in stored:
            continue
        open_point = open_by_point.get(item.supply_point_id)
        if open_point is not None:
            if open_point.outage_id == target.pk and open_point.source != OutagePoint.Source.METER:
                # The meter confirms an inferred (or planned, or staff) interruption: its own times.
                open_point.lost_at = item.lost_at
                open_point.restored_at = item.restored_at
                open_point.source = OutagePoint.Source.METER
                open_point.save()
                changed = True
                if item.restored_at is not None:
                    del open_by_point[item.supply_point_id]
                continue
            if item.restored_at is None or item.restored_at > open_point.lost_at:
                continue  # already without supply in another record
        point = OutagePoint(
            outage=target,
            supply_point_id=item.supply_point_id,
            lost_at=item.lost_at,
            restored_at=item.restored_at,
            source=OutagePoint.Source.METER,
        )
        new_points.append(point)
        if item.restored_at is None:
            open_by_point[item.supply_point_id] = point
    if new_points:
        OutagePoint.objects.bulk_create(new_points)
        run.points_created += len(new_points)
        changed = True
    if moved_up and target.level != Level.SUPPLY_POINT:
        run.points_created += _infer_points(
            target,
            source=OutagePoint.Source.INFERRED,
            lost_at=target.started_at,
            restored_at=incident.restored_at,
        )
    if (
        target.status == Status.RESTORED
        and OutagePoint.objects.filter(outage=target, restored_at__isnull=True).exists()
    ):
        target.ended_at = None
        _move(
            target,
            Status.ACTIVE,
            kind=Kind.REOPENED,
            at=now,
            actor=None,
            actor_label=SYSTEM_DETECTION,
        )
        run.reopened.append(target.pk)
        changed = True
    if changed:
        _refresh_confidence(target)
        target.save()
        run.changed.add(target.pk)


def _merge(other: Outage, *, into: Outage, now: dt.datetime) -> None:
    """Move ``other``'s interruptions and reports into ``into`` and mark it MERGED."""
    OutagePoint.objects.filter(outage=other).update(outage=into)
    taken = set(OutageReport.objects.filter(outage=into).values_list("supply_point_id", flat=True))
    OutageReport.objects.filter(outage=other).exclude(supply_point_id__in=taken).update(outage=into)
    if into.estimated_restoration_at is None and other.estimated_restoration_at is not None:
        into.estimated_restoration_at = other.estimated_restoration_at
    if into.cause == Outage.Cause.UNKNOWN and other.cause != Outage.Cause.UNKNOWN:
        into.cause = other.cause
    if not into.crew and other.crew:
        into.crew = other.crew
    if other.started_at < into.started_at:
        into.started_at = other.started_at
    into.save()
    other.merged_into = into
    _move(
        other,
        Status.MERGED,
        kind=Kind.MERGED,
        at=now,
        actor=None,
        actor_label=SYSTEM_DETECTION,
        note=_("Now followed as %(reference)s.") % {"reference": into.reference},
    )
    _entry(
        into,
        kind=Kind.MERGED,
        at=now,
        actor=None,
        actor_label=SYSTEM_DETECTION,
        note=_("%(reference)s is part of this outage.") % {"reference": other.reference},
    )


def _close_points(
    *,
    detection: clustering.Detection,
    since: dt.datetime,
    now: dt.datetime,
    run: DetectionRun,
) -> None:
    """Give open interruptions of active outages their restoration time, when known.

    An interruption the detection saw takes the end it computed; any other (inferred,
    planned, staff, or older than the lookback) ends at the supply point's first
    POWER_RESTORED event after it began.
    """
    open_points = list(
        OutagePoint.objects.select_for_update()
        .filter(restored_at__isnull=True, outage__status=Status.ACTIVE)
        .order_by("id")
    )
    closing: list[OutagePoint] = []
    unknown: list[OutagePoint] = []
    for point in open_points:
        seen = detection.interruptions.get((point.supply_point_id, point.lost_at))
        if seen is not None and point.lost_at > since:
            if seen.restored_at is not None:
                point.restored_at = seen.restored_at
                closing.append(point)
        else:
            unknown.append(point)
    if unknown:
        restores: dict[int, list[dt.datetime]] = defaultdict(list)
        for supply_point_id, at in (
            MeterEvent.objects.filter(
                kind=MeterEvent.Kind.POWER_RESTORED,
                supply_point_id__in={p.supply_point_id for p in unknown},
                occurred_at__gte=min(p.lost_at for p in unknown),
                occurred_at__lte=now,
            )
            .order_by("supply_point_id", "occurred_at", "id")
            .values_list("supply_point_id", "occurred_at")
        ):
            restores[supply_point_id].append(at)
        for point in unknown:
            after = [at for at in restores.get(point.supply_point_id, []) if at >= point.lost_at]
            if after:
                point.restored_at = after[0]
                closing.append(point)
    if closing:
        OutagePoint.objects.bulk_update(closing, ["restored_at"], batch_size=1000)
        run.points_closed += len(closing)
        run.changed.update(point.outage_id for point in closing)


def _finish_outages(*, now: dt.datetime, run: DetectionRun) -> None:
    """Close what the meters imply and end active outages without supply points still off.

    When every meter that reported is back, the points inferred with them close at the
    last meter's restoration; planned work no meter reported closes at its planned end.
    """
    meter = Q(source=OutagePoint.Source.METER)
    off = Q(restored_at__isnull=True)
    stats = {
        row["outage_id"]: row
        for row in OutagePoint.objects.filter(outage__status=Status.ACTIVE)
        .values("outage_id", "outage__kind", "outage__planned_end_at")
        .annotate(
            off=Count("id", filter=off),
            meter=Count("id", filter=meter),
            meter_off=Count("id", filter=meter & off),
            meter_back=Max("restored_at", filter=meter),
            back=Max("restored_at"),
        )
        .order_by("outage_id")
    }
    candidates = [
        pk
        for pk, row in stats.items()
        if not row["off"]
        or (row["meter"] and not row["meter_off"])
        or (
            not row["meter"]
            and row["outage__kind"] == Outage.Kind.PLANNED
            and row["outage__planned_end_at"] <= now
        )
    ]
    for outage in (
        Outage.objects.select_for_update()
        .filter(pk__in=candidates, status=Status.ACTIVE)
        .order_by("id")
    ):
        row = stats[outage.pk]
        still_off = OutagePoint.objects.filter(outage=outage, restored_at__isnull=True)
        ends = [row["back"]] if row["back"] else []
        closed = 0
        if row["off"] and row["meter"] and not row["meter_off"]:
            closed = still_off.filter(lost_at__lte=row["meter_back"]).update(
                restored_at=row["meter_back"]
            )
            ends.append(row["meter_back"])
        elif (
            row["off"]
            and not row["meter"]
            and outage.kind == Outage.Kind.PLANNED
            and outage.planned_end_at is not None
            and outage.planned_end_at <= now
        ):
            closed = still_off.filter(lost_at__lte=outage.planned_end_at).update(
                restored_at=outage.planned_end_at
            )
            ends.append(outage.planned_end_at)
        if closed:
            run.points_closed += closed
            run.changed.add(outage.pk)
        if closed != row["off"]:
            continue
        outage.ended_at = max(ends)
        _move(
            outage,
            Status.RESTORED,
            kind=Kind.RESTORED,
            at=now,
            actor=None,
            actor_label=SYSTEM_DETECTION,
        )
        run.restored.append(outage.pk)
        run.changed.add(outage.pk)


def _start_planned(*, now: dt.datetime, run: DetectionRun) -> None:
    """Planned work whose window has opened becomes active, with its supply points off."""
    for outage in (
        Outage.objects.select_for_update()
        .filter(kind=Outage.Kind.PLANNED, status=Status.SCHEDULED, started_at__lte=now)
        .order_by("started_at", "id")
    ):
        _move(
            outage,
            Status.ACTIVE,
            kind=Kind.STARTED,
            at=now,
            actor=None,
            actor_label=SYSTEM_PLANNER,
        )
        run.points_created += _infer_points(
            outage, source=OutagePoint.Source.PLANNED, lost_at=outage.started_at, restored_at=None
        )
        run.started.append(outage.pk)
        run.changed.add(outage.pk)


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportResult:
    report: OutageReport
    created: bool  # False when this premise had already reported this outage

    @property
    def outage(self) -> Outage:
        return self.report.outage


def outage_report_create(
    *, user: User, account: Account, supply_point_id: int, description: str, now: dt.datetime
) -> ReportResult:
    """A customer reports no power at one of their premises.

    The report joins the outage already known to affect the supply point (an
    active one that interrupted it or covers its node, or a suspected one there);
    otherwise it opens a SUSPECTED outage at that supply point. Reporting the
    same outage twice for a premise returns the first report.

    Raises ``ReportRefused`` (field ``supply_point``) when the supply point is not
    one ``account`` is supplied at or ``user`` is not a member of ``account``, and
    ``OutageError`` (field ``description``) for a description over 1000 characters.
    """
    if not accounts_for_user(user).filter(pk=account.pk).exists():
        raise ReportRefused(_("You cannot report for this account."))
    if supply_point_id not in {sp.pk for sp in selectors.customer_supply_points(account)}:
        raise ReportRefused(_("Choose one of your own addresses."))
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise OutageError(
            _("Describe what you see in at most %(max)d characters.") % {"max": DESCRIPTION_MAX},
            field="description",
        )
    label = actor_label_for(user, role="customer")
    with transaction.atomic(), _acting_as(user):
        _lock(REPORT_LOCK_NAMESPACE, supply_point_id)
        path = selectors.node_path(supply_point_id)
        outage = selectors.known_outage_for(supply_point_id, path=path)
        if outage is None:
            path["supply_point"] = supply_point_id
            outage = Outage.objects.create(
                kind=Outage.Kind.UNPLANNED,
                status=Status.SUSPECTED,
                source=Outage.Source.CUSTOMER_REPORT,
                started_at=now,
                detected_at=now,
                **_node_fields(Level.SUPPLY_POINT, path),
            )
            _entry(outage, kind=Kind.REPORTED, at=now, actor=user, actor_label=label)
        existing = (
            OutageReport.objects.filter(outage=outage, supply_point_id=supply_point_id)
            .select_related("outage")
            .first()
        )
        if existing is not None:
            return ReportResult(existing, created=False)
        report = OutageReport.objects.create(
            outage=outage,
            supply_point_id=supply_point_id,
            account=account,
            user=user,
            description=description,
            reported_at=now,
        )
    return ReportResult(report, created=True)


# --------------------------------------------------------------------------------------------
# Staff
# --------------------------------------------------------------------------------------------


def outage_post_update(
    *,
    outage_id: int,
    actor: User,
    now: dt.datetime,
    note: str = "",
    cause: str = "",
    crew: str | None = None,
    estimated_restoration_at: dt.datetime | None = None,
) -> OutageUpdate:
    """Staff add a timeline entry: a public note, the cause, the crew, a new estimate.

    Affected customers are told about a new estimate (after commit, once per update).
    Raises ``OutageClosed`` when the outage is restored, cancelled or merged,
    ``InvalidEstimate`` for an estimate not after ``now``, ``OutageError`` (field
    ``cause``) for an unknown cause and ``EmptyUpdate`` when nothing would change.
    """
    note = (note or "").strip()
    if cause and cause not in Outage.Cause.values:
        raise OutageError(_("Choose a cause from the list."), field="cause")
    if estimated_restoration_at is not None:
        clock.require_aware(estimated_restoration_at, field="estimated_restoration_at")
        if estimated_restoration_at <= now:
            raise InvalidEstimate(_("The estimated restoration must be in the future."))
    with transaction.atomic(), _acting_as(actor):
        outage = Outage.objects.select_for_update().get(pk=outage_id)
        if outage.status not in (Status.SCHEDULED, Status.SUSPECTED, Status.ACTIVE):
            raise OutageClosed(
                _("This outage is %(status)s: it takes no more updates.")
                % {"status": Status(outage.status).label.lower()}
            )
        new_cause = cause if cause and cause != outage.cause else ""
        new_crew = crew.strip() if crew is not None and crew.strip() != outage.crew else None
        new_estimate = (
            estimated_restoration_at
            if estimated_restoration_at is not None
            and estimated_restoration_at != outage.estimated_restoration_at
            else None
        )
        if not note and not new_cause and new_crew is None and new_estimate is None:
            raise EmptyUpdate(_("Write a note or change the cause, crew or estimate."))
        if new_cause:
            outage.cause = new_cause
        if new_crew is not None:
            outage.crew = new_crew
        if new_estimate is not None:
            outage.estimated_restoration_at = new_estimate
        outage.save()
        update = _entry(
            outage,
            kind=Kind.NOTE,
            at=now,
            actor=actor,
            actor_label=actor_label_for(actor),
            note=note,
            cause=new_cause,
            crew=new_crew or "",
            estimated_restoration_at=new_estimate,
        )
        if new_estimate is not None and outage.status in (Status.ACTIVE, Status.SCHEDULED):
            outage_pk, update_pk = outage.pk, update.pk

            def _enqueue() -> None:
                from apps.outages import tasks

                tasks.notify_estimate.delay(outage_pk, update_pk)

            transaction.on_commit(_enqueue)
    return update


def outage_transition(
    *,
    outage_id: int,
    to_status: str,
    actor: User,
    now: dt.datetime,
    note: str = "",
    at: dt.datetime | None = None,
) -> Outage:
    """A staff status change: confirm or cancel a suspected outage, cancel planned work,
    or declare an active outage restored (every supply point still off is closed at ``at``,
    default ``now``).

    Raises ``IllegalTransition`` for any other move, ``InvalidRestorationTime`` when
    ``at`` is before the outage started or in the future.
    """
    note = (note or "").strip()
    with transaction.atomic(), _acting_as(actor):
        outage = Outage.objects.select_for_update().get(pk=outage_id)
        if (outage.status, to_status) not in STAFF_MOVES:
            raise IllegalTransition(
                _("An outage that is %(current)s cannot be set to %(new)s by hand.")
                % {
                    "current": Status(outage.status).label.lower(),
                    "new": Status(to_status).label.lower(),
                }
            )
        label = actor_label_for(actor)
        when = at or now
        if to_status == Status.RESTORED:
            clock.require_aware(when, field="at")
            if when < outage.started_at or when > now:
                raise InvalidRestorationTime(
                    _("The restoration time must be between the start of the outage and now.")
                )
            OutagePoint.objects.filter(outage=outage, restored_at__isnull=True).update(
                restored_at=Greatest(F("lost_at"), Value(when))
            )
            outage.ended_at = OutagePoint.objects.filter(outage=outage).aggregate(
                end=Max("restored_at")
            )["end"] or max(when, outage.started_at)
            _move(
                outage,
                to_status,
                kind=Kind.RESTORED,
                at=now,
                actor=actor,
                actor_label=label,
                note=note,
            )
            _notify_on_commit([outage.pk])
        elif to_status == Status.ACTIVE:  # a suspected outage confirmed by staff
            reported = list(
                OutageReport.objects.filter(outage=outage)
                .order_by("reported_at", "id")
                .values_list("supply_point_id", flat=True)
            )
            busy = set(
                OutagePoint.objects.filter(
                    supply_point_id__in=reported, restored_at__isnull=True
                ).values_list("supply_point_id", flat=True)
            )
            OutagePoint.objects.bulk_create(
                [
                    OutagePoint(
                        outage=outage,
                        supply_point_id=supply_point_id,
                        lost_at=outage.started_at,
                        source=OutagePoint.Source.STAFF,
                    )
                    for supply_point_id in dict.fromkeys(reported)
                    if supply_point_id not in busy
                ],
                ignore_conflicts=True,
            )
            _move(
                outage,
                to_status,
                kind=Kind.CONFIRMED,
                at=now,
                actor=actor,
                actor_label=label,
                note=note,
            )
            _notify_on_commit([outage.pk])
        else:
            was_announced = outage.announced_at is not None
            _move(
                outage,
                to_status,
                kind=Kind.CANCELLED,
                at=now,
                actor=actor,
                actor_label=label,
                note=note,
            )
            if was_announced:
                outage_pk = outage.pk

                def _enqueue() -> None:
                    from apps.outages import tasks

                    tasks.notify_planned_cancelled.delay(outage_pk)

                transaction.on_commit(_enqueue)
    return outage


def _notify_on_commit(outage_ids: list[int]) -> None:
    transaction.on_commit(lambda: _enqueue_notifications(outage_ids))


def planned_outage_create(
    *,
    level: str,
    node_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    description: str,
    actor: User,
    now: dt.datetime,
) -> Outage:
    """Schedule maintenance at a network node for ``[starts_at, ends_at)``.

    Customers under the node are told ahead (:func:`planned_outages_announce`).
    Raises ``InvalidPlannedOutage`` with field ``node`` (unknown node or not a
    network node), ``starts_at`` (not in the future), ``ends_at`` (not after the
    start, or more than 72 hours later) or ``description`` (missing or too long).
    """
    if level not in (Level.TRANSFORMER, Level.FEEDER, Level.SUBSTATION):
        raise InvalidPlannedOutage(_("Choose a transformer, feeder or substation."), field="node")
    clock.require_aware(starts_at, field="starts_at")
    clock.require_aware(ends_at, field="ends_at")
    if starts_at <= now:
        raise InvalidPlannedOutage(_("The work must start in the future."), field="starts_at")
    if ends_at <= starts_at:
        raise InvalidPlannedOutage(_("The end must be after the start."), field="ends_at")
    if ends_at - starts_at > MAX_PLANNED_DURATION:
        raise InvalidPlannedOutage(
            _("Planned work may last at most 72 hours; split longer work."), field="ends_at"
        )
    description = (description or "").strip()
    if not description or len(description) > 300:
        raise InvalidPlannedOutage(
            _("Describe the work for customers in 1 to 300 characters."), field="description"
        )
    try:
        path = _path_from_db(level, node_id)
    except LookupError:
        raise InvalidPlannedOutage(_("This network node does not exist."), field="node") from None
    with transaction.atomic(), _acting_as(actor):
        outage = Outage.objects.create(
            kind=Outage.Kind.PLANNED,
            status=Status.SCHEDULED,
            source=Outage.Source.STAFF,
            started_at=starts_at,
            planned_end_at=ends_at,
            estimated_restoration_at=ends_at,
            detected_at=now,
            cause=Outage.Cause.MAINTENANCE,
            description=description,
            **_node_fields(level, path),
        )
        _entry(
            outage,
            kind=Kind.PLANNED,
            at=now,
            actor=actor,
            actor_label=actor_label_for(actor),
            note=description,
            estimated_restoration_at=ends_at,
        )

        def _enqueue() -> None:
            from apps.outages import tasks

            tasks.announce_planned.delay()

        transaction.on_commit(_enqueue)
    return outage


# --------------------------------------------------------------------------------------------
# Notifications (called by tasks; idempotent through their dedupe keys)
# --------------------------------------------------------------------------------------------

NOTIFICATION_KIND_DETECTED: Final = "outage.detected"
NOTIFICATION_KIND_RESTORED: Final = "outage.restored"
NOTIFICATION_KIND_ESTIMATE: Final = "outage.estimate"
NOTIFICATION_KIND_PLANNED: Final = "outage.planned"


def _local(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value, clock.local_zone()), "DATETIME_FORMAT")


def _outages_url() -> str:
    return reverse("outages:home")


@dataclass(frozen=True, slots=True)
class _Message:
    recipient: selectors.Recipient
    kind: str
    key: str
    build: Any  # () -> (title, body), called in the recipient's language


def _send(messages: Iterable[_Message]) -> int:
    """Send the messages not sent before; returns how many were new."""
    pending = list(messages)
    if not pending:
        return 0
    already = set(
        Notification.objects.filter(
            user__in={m.recipient.user.pk for m in pending},
            dedupe_key__in={m.key for m in pending},
        ).values_list("user_id", "dedupe_key")
    )
    sent = 0
    for message in pending:
        user = message.recipient.user
        if (user.pk, message.key) in already:
            continue
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            title, body = message.build()
        result = notification_send(
            user=user,
            kind=message.kind,
            title=str(title),
            body=str(body),
            url=_outages_url(),
            dedupe_key=message.key,
            email=message.recipient.email,
        )
        already.add((user.pk, message.key))
        sent += int(result.created)
    return sent


def _current(outage: Outage) -> Outage:
    seen = 0
    while outage.status == Status.MERGED and outage.merged_into_id and seen < 10:
        outage = Outage.objects.get(pk=outage.merged_into_id)
        seen += 1
    return outage


def outage_notify(*, outage_id: int) -> int:
    """Tell customers about their supply points in the outage: off (detected) or back on.

    Once per interrupted supply point and event (keys ``outage-point:<id>:detected``
    and ``…:restored``); momentary interruptions (under 5 minutes) are not announced.
    Returns how many notifications were new.
    """
    outage = Outage.objects.filter(pk=outage_id).first()
    if outage is None:
        return 0
    outage = _current(outage)
    points = list(
        OutagePoint.objects.filter(outage=outage)
        .order_by("id")
        .values_list("pk", "supply_point_id", "lost_at", "restored_at")
    )
    recipients = selectors.recipients_at(p[1] for p in points)
    estimate = outage.estimated_restoration_at
    messages: list[_Message] = []
    for point_id, supply_point_id, lost_at, restored_at in points:
        for recipient in recipients.get(supply_point_id, []):
            if restored_at is None:
                if outage.status != Status.ACTIVE:
                    continue
                messages.append(
                    _Message(
                        recipient,
                        NOTIFICATION_KIND_DETECTED,
                        f"outage-point:{point_id}:detected",
                        _detected_message(recipient.address, lost_at, estimate, outage),
                    )
                )
            elif restored_at - lost_at >= MOMENTARY:
                messages.append(
                    _Message(
                        recipient,
                        NOTIFICATION_KIND_RESTORED,
                        f"outage-point:{point_id}:restored",
                        _restored_message(recipient.address, lost_at, restored_at),
                    )
                )
    return _send(messages)


def _detected_message(
    address: str, lost_at: dt.datetime, estimate: dt.datetime | None, outage: Outage
) -> Any:
    def build() -> tuple[str, str]:
        if outage.kind == Outage.Kind.PLANNED:
            title = _("Planned work has started at %(address)s") % {"address": address}
        else:
            title = _("Power cut at %(address)s") % {"address": address}
        body = _("There is no power at %(address)s since %(at)s (%(reference)s).") % {
            "address": address,
            "at": _local(lost_at),
            "reference": outage.reference,
        }
        if estimate is not None:
            body += " " + _("We expect power back by %(at)s.") % {"at": _local(estimate)}
        body += " " + _("Follow the restoration on the outages page.")
        return title, body

    return build


def _restored_message(address: str, lost_at: dt.datetime, restored_at: dt.datetime) -> Any:
    def build() -> tuple[str, str]:
        title = _("Power is back at %(address)s") % {"address": address}
        body = _("Power was restored at %(address)s at %(back)s, after a cut from %(lost)s.") % {
            "address": address,
            "back": _local(restored_at),
            "lost": _local(lost_at),
        }
        return title, body

    return build


def outage_notify_estimate(*, outage_id: int, update_id: int) -> int:
    """Tell customers still without supply about the new estimate of ``update_id`` (once)."""
    update = (
        OutageUpdate.objects.filter(pk=update_id, outage_id=outage_id)
        .select_related("outage")
        .first()
    )
    if update is None or update.estimated_restoration_at is None:
        return 0
    outage = update.outage
    if outage.status == Status.ACTIVE:
        supply_points = set(
            OutagePoint.objects.filter(outage=outage, restored_at__isnull=True).values_list(
                "supply_point_id", flat=True
            )
        )
    elif outage.status == Status.SCHEDULED:
        supply_points = set(selectors.supply_point_ids_under(outage.level, _node_id(outage)))
    else:
        return 0
    estimate = update.estimated_restoration_at
    messages = []
    seen: set[int] = set()
    for _point, recipients in sorted(selectors.recipients_at(supply_points).items()):
        for recipient in recipients:
            if recipient.user.pk in seen:
                continue
            seen.add(recipient.user.pk)

            def build(address: str = recipient.address) -> tuple[str, str]:
                title = _("New restoration estimate: %(at)s") % {"at": _local(estimate)}
                body = _("We now expect power back at %(address)s by %(at)s (%(reference)s).") % {
                    "address": address,
                    "at": _local(estimate),
                    "reference": outage.reference,
                }
                if update.note:
                    body += "\n\n" + update.note
                return title, body

            messages.append(
                _Message(
                    recipient,
                    NOTIFICATION_KIND_ESTIMATE,
                    f"outage:{outage.pk}:estimate:{update.pk}",
                    build,
                )
            )
    return _send(messages)


def planned_outages_announce(*, now: dt.datetime, ahead: dt.timedelta = ANNOUNCE_AHEAD) -> int:
    """Tell customers under scheduled maintenance starting within ``ahead`` (once per window).

    The key includes the window, so moved work is announced again. Returns how many
    notifications were new.
    """
    sent = 0
    for outage in Outage.objects.filter(
        kind=Outage.Kind.PLANNED,
        status=Status.SCHEDULED,
        started_at__gt=now,
        started_at__lte=now + ahead,
    ).order_by("started_at", "id"):
        assert outage.planned_end_at is not None
        window = f"{int(outage.started_at.timestamp())}-{int(outage.planned_end_at.timestamp())}"
        key = f"outage:{outage.pk}:planned:{window}"
        recipients = selectors.recipients_at(
            selectors.supply_point_ids_under(outage.level, _node_id(outage))
        )
        messages = []
        for _point, rows in sorted(recipients.items()):
            for recipient in rows:

                def build(
                    address: str = recipient.address, outage: Outage = outage
                ) -> tuple[str, str]:
                    assert outage.planned_end_at is not None
                    title = _("Planned power cut at %(address)s") % {"address": address}
                    body = _(
                        "To maintain the network, supply to %(address)s will be interrupted "
                        "from %(start)s to %(end)s."
                    ) % {
                        "address": address,
                        "start": _local(outage.started_at),
                        "end": _local(outage.planned_end_at),
                    }
                    if outage.description:
                        body += "\n\n" + outage.description
                    return title, body

                messages.append(_Message(recipient, NOTIFICATION_KIND_PLANNED, key, build))
        sent += _send(messages)
        if outage.announced_at is None:
            Outage.objects.filter(pk=outage.pk, announced_at__isnull=True).update(announced_at=now)
    return sent


def planned_outage_notify_cancelled(*, outage_id: int) -> int:
    """Tell customers who were told about cancelled maintenance that it is off (once)."""
    outage = Outage.objects.filter(
        pk=outage_id, kind=Outage.Kind.PLANNED, status=Status.CANCELLED
    ).first()
    if outage is None:
        return 0
    recipients = selectors.recipients_at(
        selectors.supply_point_ids_under(outage.level, _node_id(outage))
    )
    messages = []
    for _point, rows in sorted(recipients.items()):
        for recipient in rows:

            def build(address: str = recipient.address) -> tuple[str, str]:
                title = _("Planned power cut cancelled at %(address)s") % {"address": address}
                body = _(
                    "The maintenance planned at %(address)s from %(start)s will not happen."
                ) % {
                    "address": address,
                    "start": _local(outage.started_at),
                }
                return title, body

            messages.append(
                _Message(
                    recipient,
                    NOTIFICATION_KIND_PLANNED,
                    f"outage:{outage.pk}:planned-cancelled",
                    build,
                )
            )
    return _send(messages)


# --------------------------------------------------------------------------------------------
# Reliability (reads; the arithmetic is in apps.outages.reliability)
# --------------------------------------------------------------------------------------------


def reliability_for(
    *,
    area: selectors.Area,
    period_start: dt.date,
    period_end: dt.date,
    as_of: dt.datetime,
    include_planned: bool = True,
) -> reliability.ReliabilityReport | None:
    """IEEE 1366 indices of ``area`` for local days ``[period_start, period_end)``.

    Interruptions still open count up to ``as_of``. None when the area serves no
    supply point. Raises ``ValueError`` when ``period_end`` is not after ``period_start``.
    """
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start.")
    served = selectors.customers_served(area)
    if served == 0:
        return None
    tz = clock.local_zone()
    history_start = reliability.years_before(period_start, reliability.HISTORY_YEARS)
    rows = selectors.interruption_rows(
        area,
        start=clock.local_midnight(history_start, tz),
        end=clock.local_midnight(period_end, tz),
        include_planned=include_planned,
    )
    interruptions = [
        reliability.CustomerInterruption(
            customer_id=supply_point_id,
            started_at=lost_at,
            ended_at=restored_at if restored_at is not None else max(as_of, lost_at),
        )
        for supply_point_id, lost_at, restored_at in rows
    ]
    return reliability.reliability_report(
        interruptions,
        customers_served=served,
        period_start=period_start,
        period_end=period_end,
        tz=tz,
    )


# --------------------------------------------------------------------------------------------
# Demo network
# --------------------------------------------------------------------------------------------


def network_seed_demo(*, actor: User | None = None) -> dict[str, int]:
    """A small network (1 substation, 2 feeders, 4 transformers) feeding every supply point
    not yet connected, round robin. Idempotent: codes are reused, connections kept."""
    with transaction.atomic(), _acting_as(actor):
        substation, _created = Substation.objects.get_or_create(
            code="SUB-DEMO", defaults={"name": "Centro", "region": "Madrid"}
        )
        transformers: list[Transformer] = []
        for feeder_number in (1, 2):
            feeder, _created = Feeder.objects.get_or_create(
                code=f"FDR-DEMO-{feeder_number}",
                defaults={"name": f"Feeder {feeder_number}", "substation": substation},
            )
            for transformer_number in (1, 2):
                code = f"TR-DEMO-{feeder_number}{transformer_number}"
                transformer, _created = Transformer.objects.get_or_create(
                    code=code, defaults={"name": f"Transformer {code[-2:]}", "feeder": feeder}
                )
                transformers.append(transformer)
        loose = list(
            SupplyPoint.objects.filter(network_connection__isnull=True)
            .order_by("external_id", "id")
            .values_list("pk", flat=True)
        )
        SupplyPointConnection.objects.bulk_create(
            [
                SupplyPointConnection(
                    supply_point_id=supply_point_id,
                    transformer=transformers[index % len(transformers)],
                )
                for index, supply_point_id in enumerate(loose)
            ],
            ignore_conflicts=True,
        )
    return {"transformers": len(transformers), "connected": len(loose)}
