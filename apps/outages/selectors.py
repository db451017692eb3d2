"""Reads of the network and of outages shared by services, views, tasks and admin.

Customer-facing reads take the user (or an account found through
``apps.accounts.selectors``) and raise ``Http404`` for anything outside it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.accounts.models import Account, CommunicationPreference, Membership, User
from apps.accounts.selectors import accounts_for_user
from apps.contracts.models import LIVE_STATUSES, Contract
from apps.metering.models import IntervalReading, SupplyPoint
from apps.outages import clustering
from apps.outages.models import (
    OPEN_STATUSES,
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

# -- network ---------------------------------------------------------------------------------


def topology_for(supply_point_ids: Iterable[int]) -> clustering.Topology:
    """The part of the network above ``supply_point_ids``, with full counts for those nodes."""
    ids = sorted(set(supply_point_ids))
    transformer_of = dict(
        SupplyPointConnection.objects.filter(supply_point_id__in=ids).values_list(
            "supply_point_id", "transformer_id"
        )
    )
    feeder_of = dict(Transformer.objects.values_list("id", "feeder_id"))
    substation_of = dict(Feeder.objects.values_list("id", "substation_id"))
    substations = {
        substation_of[feeder_of[t]] for t in set(transformer_of.values()) if t in feeder_of
    }
    per_transformer = (
        SupplyPointConnection.objects.filter(transformer__feeder__substation_id__in=substations)
        .values("transformer_id")
        .annotate(n=Count("id"))
        .values_list("transformer_id", "n")
    )
    points_under: dict[clustering.Node, int] = defaultdict(int)
    for transformer_id, count in per_transformer:
        feeder_id = feeder_of[transformer_id]
        points_under[clustering.Node(clustering.Level.TRANSFORMER, transformer_id)] += count
        points_under[clustering.Node(clustering.Level.FEEDER, feeder_id)] += count
        points_under[clustering.Node(clustering.Level.SUBSTATION, substation_of[feeder_id])] += (
            count
        )
    return clustering.Topology(
        transformer_of=transformer_of,
        feeder_of=feeder_of,
        substation_of=substation_of,
        points_under=dict(points_under),
    )


def supply_points_under(level: str, node_id: int) -> QuerySet[SupplyPointConnection]:
    """Connections of the supply points a node serves (the node itself for SUPPLY_POINT)."""
    connections = SupplyPointConnection.objects.all()
    if level == Level.TRANSFORMER:
        return connections.filter(transformer_id=node_id)
    if level == Level.FEEDER:
        return connections.filter(transformer__feeder_id=node_id)
    if level == Level.SUBSTATION:
        return connections.filter(transformer__feeder__substation_id=node_id)
    return connections.filter(supply_point_id=node_id)


def supply_point_ids_under(level: str, node_id: int) -> list[int]:
    if level == Level.SUPPLY_POINT:
        return [node_id]
    return list(
        supply_points_under(level, node_id)
        .order_by("supply_point_id")
        .values_list("supply_point_id", flat=True)
    )


def count_under(level: str, node_id: int) -> int:
    if level == Level.SUPPLY_POINT:
        return 1
    return supply_points_under(level, node_id).count()


def node_path(supply_point_id: int) -> dict[str, int | None]:
    """The supply point's transformer, feeder and substation ids (None when not connected)."""
    row = (
        SupplyPointConnection.objects.filter(supply_point_id=supply_point_id)
        .values_list(
            "transformer_id", "transformer__feeder_id", "transformer__feeder__substation_id"
        )
        .first()
    )
    transformer, feeder, substation = row if row else (None, None, None)
    return {"transformer": transformer, "feeder": feeder, "substation": substation}


def covering_q(supply_point_id: int, path: dict[str, int | None]) -> Q:
    """Outages located at the supply point or at a node above it."""
    condition = Q(level=Level.SUPPLY_POINT, supply_point_id=supply_point_id)
    if path["transformer"] is not None:
        condition |= Q(level=Level.TRANSFORMER, transformer_id=path["transformer"])
    if path["feeder"] is not None:
        condition |= Q(level=Level.FEEDER, feeder_id=path["feeder"])
    if path["substation"] is not None:
        condition |= Q(level=Level.SUBSTATION, substation_id=path["substation"])
    return condition


def node_label(outage: Outage) -> str:
    node = outage.node
    return str(node) if node is not None else ""


# -- who to tell -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    user: User
    email: bool
    supply_point_id: int
    address: str


def recipients_at(supply_point_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Supply point → members of the accounts with a live contract there (active users)."""
    ids = sorted(set(supply_point_ids))
    if not ids:
        return {}
    contracts = list(
        Contract.objects.filter(supply_point_id__in=ids, status__in=LIVE_STATUSES)
        .order_by("supply_point_id", "start_date", "id")
        .values_list("supply_point_id", "account_id", "account__customer_id")
    )
    addresses = {
        sp.pk: str(sp.premise.address)
        for sp in SupplyPoint.objects.filter(pk__in={row[0] for row in contracts})
        .select_related("premise__address")
        .order_by("id")
    }
    members: dict[int, list[User]] = defaultdict(list)
    for membership in (
        Membership.objects.filter(
            account_id__in={row[1] for row in contracts}, user__is_active=True
        )
        .select_related("user")
        .order_by("account_id", "user_id", "id")
    ):
        members[membership.account_id].append(membership.user)
    wants_email = dict(
        CommunicationPreference.objects.filter(
            customer_id__in={row[2] for row in contracts}
        ).values_list("customer_id", "email_notifications")
    )
    result: dict[int, list[Recipient]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    for supply_point_id, account_id, customer_id in contracts:
        for user in members[account_id]:
            if (supply_point_id, user.pk) in seen:
                continue
            seen.add((supply_point_id, user.pk))
            result[supply_point_id].append(
                Recipient(
                    user=user,
                    email=wants_email.get(customer_id, True),
                    supply_point_id=supply_point_id,
                    address=addresses.get(supply_point_id, ""),
                )
            )
    return dict(result)


# -- customers -------------------------------------------------------------------------------


def customer_supply_points(account: Account) -> list[SupplyPoint]:
    """Supply points ``account`` has a live contract for, with premise and address, by CUPS."""
    ids = Contract.objects.filter(account=account, status__in=LIVE_STATUSES).values(
        "supply_point_id"
    )
    return list(
        SupplyPoint.objects.filter(pk__in=ids)
        .select_related("premise__address")
        .order_by("external_id", "id")
    )


def _user_supply_point_ids(user: User) -> set[int]:
    return set(
        Contract.objects.filter(
            account__in=accounts_for_user(user), status__in=LIVE_STATUSES
        ).values_list("supply_point_id", flat=True)
    )


def outage_for_user(user: User, outage_id: int | str) -> Outage:
    """The outage if it affects (or affected) a supply point of ``user``'s accounts.

    Affecting means: it interrupted one of them, it is open or scheduled at a node
    above one of them, or the user's account reported it. ``Http404`` otherwise.
    """
    try:
        pk = int(outage_id)
    except (TypeError, ValueError):
        raise Http404("No such outage") from None
    outage = Outage.objects.filter(pk=pk).select_related("merged_into").first()
    if outage is None:
        raise Http404("No such outage")
    mine = _user_supply_point_ids(user)
    if OutagePoint.objects.filter(outage=outage, supply_point_id__in=mine).exists():
        return outage
    if OutageReport.objects.filter(outage=outage, account__in=accounts_for_user(user)).exists():
        return outage
    if outage.status in (*OPEN_STATUSES, Outage.Status.SCHEDULED):
        for supply_point_id in mine:
            if Outage.objects.filter(
                covering_q(supply_point_id, node_path(supply_point_id)), pk=outage.pk
            ).exists():
                return outage
    raise Http404("No such outage")


def report_for_user(user: User, report_id: int | str) -> OutageReport:
    """The report if one of ``user``'s accounts made it; ``Http404`` otherwise."""
    try:
        pk = int(report_id)
    except (TypeError, ValueError):
        raise Http404("No such report") from None
    report = (
        OutageReport.objects.filter(pk=pk, account__in=accounts_for_user(user))
        .select_related("outage", "supply_point__premise__address", "account")
        .first()
    )
    if report is None:
        raise Http404("No such report")
    return report


def public_timeline(outage: Outage) -> list[OutageUpdate]:
    """Timeline entries of the outage (and of outages merged into it), oldest first."""
    ids = [outage.pk, *Outage.objects.filter(merged_into=outage).values_list("pk", flat=True)]
    return list(OutageUpdate.objects.filter(outage_id__in=ids).order_by("created_at", "id"))


@dataclass(slots=True)
class PremiseStatus:
    """What the customer page says about one supply point."""

    supply_point: SupplyPoint
    outage: Outage | None = None
    point: OutagePoint | None = None  # this premise's interruption in that outage
    report: OutageReport | None = None  # this account's report of it
    restored: OutagePoint | None = None  # a recent interruption that ended
    restored_outage: Outage | None = None
    planned: list[Outage] = field(default_factory=list)
    timeline: list[OutageUpdate] = field(default_factory=list)

    @property
    def affected(self) -> bool:
        return self.outage is not None


RECENTLY_RESTORED = dt.timedelta(hours=24)
PLANNED_SHOWN_AHEAD = dt.timedelta(days=30)


def known_outage_for(
    supply_point_id: int, *, path: dict[str, int | None] | None = None
) -> Outage | None:
    """The open outage affecting the supply point: its own open interruption first, then an
    active outage at a node above it, then a suspected one reported there."""
    point = (
        OutagePoint.objects.filter(
            supply_point_id=supply_point_id,
            restored_at__isnull=True,
            outage__status=Outage.Status.ACTIVE,
        )
        .select_related("outage")
        .order_by("id")
        .first()
    )
    if point is not None:
        return point.outage
    covering = covering_q(supply_point_id, path or node_path(supply_point_id))
    active = (
        Outage.objects.filter(covering, status=Outage.Status.ACTIVE)
        .order_by("started_at", "id")
        .first()
    )
    if active is not None:
        return active
    return (
        Outage.objects.filter(
            Q(covering) | Q(reports__supply_point_id=supply_point_id),
            status=Outage.Status.SUSPECTED,
        )
        .order_by("started_at", "id")
        .first()
    )


def premise_statuses(account: Account, *, now: dt.datetime) -> list[PremiseStatus]:
    """For each supply point of ``account``: the outage affecting it, if any, and what's next."""
    result = []
    for supply_point in customer_supply_points(account):
        path = node_path(supply_point.pk)
        status = PremiseStatus(supply_point=supply_point)
        status.outage = known_outage_for(supply_point.pk, path=path)
        if status.outage is not None:
            status.point = (
                OutagePoint.objects.filter(outage=status.outage, supply_point=supply_point)
                .order_by("-lost_at", "-id")
                .first()
            )
            status.report = (
                OutageReport.objects.filter(
                    outage=status.outage, supply_point=supply_point, account=account
                )
                .order_by("id")
                .first()
            )
            status.timeline = public_timeline(status.outage)
        else:
            status.restored = (
                OutagePoint.objects.filter(
                    supply_point=supply_point,
                    restored_at__gte=now - RECENTLY_RESTORED,
                    restored_at__lte=now,
                )
                .exclude(outage__status=Outage.Status.CANCELLED)
                .select_related("outage")
                .order_by("-restored_at", "-id")
                .first()
            )
            if status.restored is not None:
                status.restored_outage = status.restored.outage
        status.planned = list(
            Outage.objects.filter(
                covering_q(supply_point.pk, path),
                kind=Outage.Kind.PLANNED,
                status=Outage.Status.SCHEDULED,
                started_at__gt=now,
                started_at__lte=now + PLANNED_SHOWN_AHEAD,
            ).order_by("started_at", "id")
        )
        result.append(status)
    return result


def reports_for_account(account: Account) -> list[OutageReport]:
    return list(
        OutageReport.objects.filter(account=account)
        .select_related("outage", "supply_point__premise__address")
        .order_by("-reported_at", "-id")[:20]
    )


# -- staff -----------------------------------------------------------------------------------


def current_outages(*, now: dt.datetime) -> list[Outage]:
    """Open outages and planned ones in the next 14 days, with their counts, oldest first.

    Annotated: ``points_total``, ``points_off`` (supply points still without supply),
    ``customers_off`` (of those, with a live contract), ``report_count``.
    """

    def counted(rows: QuerySet[Any], what: str = "id") -> Coalesce:
        subquery = (
            rows.filter(outage=OuterRef("pk"))
            .order_by()
            .values("outage")
            .annotate(n=Count(what, distinct=True))
            .values("n")
        )
        return Coalesce(Subquery(subquery), 0)

    points = OutagePoint.objects.all()
    off = points.filter(restored_at__isnull=True)
    outages = (
        Outage.objects.filter(
            Q(status__in=OPEN_STATUSES)
            | Q(status=Outage.Status.SCHEDULED, started_at__lte=now + dt.timedelta(days=14))
        )
        .select_related("substation", "feeder", "transformer", "supply_point")
        .annotate(
            points_total=counted(points),
            points_off=counted(off),
            customers_off=counted(
                off.filter(supply_point__contracts__status__in=LIVE_STATUSES), "supply_point"
            ),
            report_count=counted(OutageReport.objects.all()),
        )
        .order_by("started_at", "id")
    )
    return list(outages)


def outage_for_staff(outage_id: int) -> Outage:
    outage = (
        Outage.objects.filter(pk=outage_id)
        .select_related("substation", "feeder", "transformer", "supply_point", "merged_into")
        .first()
    )
    if outage is None:
        raise Http404("No such outage")
    return outage


def outage_points(outage: Outage, *, limit: int = 200) -> list[OutagePoint]:
    return list(
        OutagePoint.objects.filter(outage=outage)
        .select_related("supply_point__premise__address")
        .order_by("lost_at", "supply_point_id", "id")[:limit]
    )


def outage_point_counts(outage: Outage) -> dict[str, int]:
    return OutagePoint.objects.filter(outage=outage).aggregate(
        total=Count("id"),
        off=Count("id", filter=Q(restored_at__isnull=True)),
        reported=Count("id", filter=Q(source=OutagePoint.Source.METER)),
    )


def outage_reports(outage: Outage) -> list[OutageReport]:
    return list(
        OutageReport.objects.filter(outage=outage)
        .select_related("supply_point__premise__address", "account")
        .order_by("reported_at", "id")
    )


@dataclass(frozen=True, slots=True)
class SilentPoint:
    supply_point_id: int
    cups: str
    address: str
    last_reading_start: dt.datetime
    transformer: str
    under_open_outage: bool


SILENT_LOOKBACK = dt.timedelta(days=30)


def silent_supply_points(*, now: dt.datetime, limit: int = 50) -> tuple[int, list[SilentPoint]]:
    """Supply points whose last interval reading is older than 24 h (but within 30 days).

    A meter that was reporting and stopped may be off supply (an outage nobody
    reported) or have lost communication. Returns the count and the first ``limit``,
    the longest silent first.
    """
    table = connection.ops.quote_name(IntervalReading._meta.db_table)
    sql = f"""
        SELECT supply_point_id, MAX(interval_start) AS last_start
        FROM {table}
        WHERE interval_start >= %(since)s AND interval_start < %(now)s
        GROUP BY supply_point_id
        HAVING MAX(interval_start) < %(quiet_since)s
        ORDER BY last_start, supply_point_id
    """  # noqa: S608 - the table name comes from the model; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "since": now - SILENT_LOOKBACK,
                "now": now,
                "quiet_since": now - dt.timedelta(hours=24),
            },
        )
        rows = cursor.fetchall()
    shown = rows[:limit]
    points = {
        sp.pk: sp
        for sp in SupplyPoint.objects.filter(pk__in=[r[0] for r in shown])
        .select_related("premise__address", "network_connection__transformer")
        .order_by("id")
    }
    off = set(
        OutagePoint.objects.filter(
            supply_point_id__in=list(points), restored_at__isnull=True
        ).values_list("supply_point_id", flat=True)
    )
    result = []
    for supply_point_id, last_start in shown:
        sp = points[supply_point_id]
        connection_row = getattr(sp, "network_connection", None)
        result.append(
            SilentPoint(
                supply_point_id=supply_point_id,
                cups=sp.external_id,
                address=str(sp.premise.address),
                last_reading_start=last_start,
                transformer=str(connection_row.transformer) if connection_row else "",
                under_open_outage=supply_point_id in off,
            )
        )
    return len(rows), result


# -- reliability -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Area:
    key: str  # "all", "substation:<id>" or "feeder:<id>"
    label: str
    level: str | None
    node_id: int | None


ALL_AREAS = "all"


def areas() -> list[Area]:
    """The whole network, each substation and each feeder, for the reliability page."""
    result = [Area(ALL_AREAS, "", None, None)]
    for substation in Substation.objects.order_by("code", "id"):
        result.append(
            Area(f"substation:{substation.pk}", str(substation), Level.SUBSTATION, substation.pk)
        )
        for feeder in Feeder.objects.filter(substation=substation).order_by("code", "id"):
            result.append(Area(f"feeder:{feeder.pk}", f"— {feeder}", Level.FEEDER, feeder.pk))
    return result


def area_by_key(key: str) -> Area | None:
    return next((area for area in areas() if area.key == key), None)


def _area_connections(area: Area) -> QuerySet[SupplyPointConnection]:
    if area.level is None or area.node_id is None:
        return SupplyPointConnection.objects.all()
    return supply_points_under(area.level, area.node_id)


def customers_served(area: Area) -> int:
    """Supply points connected to the network in ``area`` (IEEE 1366 ``N_T``)."""
    return _area_connections(area).count()


def interruption_rows(
    area: Area, *, start: dt.datetime, end: dt.datetime, include_planned: bool
) -> list[tuple[int, dt.datetime, dt.datetime | None]]:
    """(supply point, lost_at, restored_at) of interruptions in ``area`` begun in [start, end)."""
    rows = OutagePoint.objects.filter(
        lost_at__gte=start,
        lost_at__lt=end,
        supply_point_id__in=_area_connections(area).values("supply_point_id"),
    ).exclude(outage__status__in=[Outage.Status.CANCELLED, Outage.Status.MERGED])
    if not include_planned:
        rows = rows.exclude(outage__kind=Outage.Kind.PLANNED)
    return list(
        rows.order_by("lost_at", "supply_point_id", "id").values_list(
            "supply_point_id", "lost_at", "restored_at"
        )
    )
