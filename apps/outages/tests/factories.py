"""Builders for outage tests: a network in the database, customers on it, meter events."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from apps.accounts.models import Account, User
from apps.contracts.tests.factories import make_account, make_contract, make_tariff
from apps.metering.identifiers import make_cups
from apps.metering.models import MeterEvent, Premise, SupplyPoint
from apps.outages.models import Feeder, Substation, SupplyPointConnection, Transformer
from apps.tariffs.models import Tariff

_serials = itertools.count(500_000)


@dataclass
class Net:
    substation: Substation
    feeders: list[Feeder] = field(default_factory=list)
    transformers: list[Transformer] = field(default_factory=list)
    points: dict[str, list[SupplyPoint]] = field(default_factory=dict)  # transformer code → points

    def under(self, code: str) -> list[SupplyPoint]:
        return self.points[code]

    def feeder_points(self, index: int) -> list[SupplyPoint]:
        feeder = self.feeders[index]
        return [
            p for t in self.transformers if t.feeder_id == feeder.pk for p in self.points[t.code]
        ]


def make_point(line1: str = "Calle del Sol 7") -> SupplyPoint:
    from apps.contracts.tests.factories import make_address

    premise = Premise.objects.create(address=make_address(line1))
    return SupplyPoint.objects.create(external_id=make_cups(31, next(_serials)), premise=premise)


def build_network(
    *, code: str = "S1", feeders: int = 3, transformers: int = 3, points: int = 4
) -> Net:
    """Substation ``code`` → feeders ``{code}F{i}`` → transformers ``{code}F{i}T{j}`` → points.

    With the defaults a transformer serves 4 supply points, a feeder 12, the substation 36.
    """
    net = Net(substation=Substation.objects.create(code=code, name=f"Substation {code}"))
    for i in range(1, feeders + 1):
        feeder = Feeder.objects.create(
            code=f"{code}F{i}", name=f"Feeder {i}", substation=net.substation
        )
        net.feeders.append(feeder)
        for j in range(1, transformers + 1):
            transformer = Transformer.objects.create(code=f"{code}F{i}T{j}", feeder=feeder)
            net.transformers.append(transformer)
            net.points[transformer.code] = []
            for k in range(points):
                point = make_point(f"Calle {transformer.code} {k + 1}")
                SupplyPointConnection.objects.create(supply_point=point, transformer=transformer)
                net.points[transformer.code].append(point)
    return net


def tariff() -> Tariff:
    existing = Tariff.objects.filter(code="outage-flat").first()
    return existing or make_tariff("outage-flat")


def supply(user: User | None, point: SupplyPoint, *, name: str = "Ana García") -> Account:
    """An account (``user`` its owner) with an active contract at ``point``."""
    account = make_account(user, name=name)
    make_contract(
        account=account, supply_point=point, tariff=tariff(), start_date=dt.date(2025, 1, 1)
    )
    return account


def event(point: SupplyPoint, kind: str, at: dt.datetime) -> MeterEvent:
    return MeterEvent.objects.create(
        supply_point=point, kind=kind, occurred_at=at, received_at=at, source="test"
    )


def lose(points: list[SupplyPoint], at: dt.datetime, *, step_s: int = 10) -> None:
    for index, point in enumerate(points):
        event(point, MeterEvent.Kind.POWER_LOST, at + dt.timedelta(seconds=step_s * index))


def restore(points: list[SupplyPoint], at: dt.datetime) -> None:
    for point in points:
        event(point, MeterEvent.Kind.POWER_RESTORED, at)
