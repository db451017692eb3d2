"""Test data for pages that combine contexts: customers with accounts, supply points, contracts.

Made through the services where one exists (customers, accounts, members), and
directly for rows whose services belong to other apps (tariffs, contracts).
"""

from __future__ import annotations

import datetime as dt
import itertools

from apps.accounts.models import Account, User
from apps.accounts.services import customer_create_with_account, membership_add
from apps.contracts.models import Contract
from apps.metering.identifiers import make_cups
from apps.metering.models import Premise, SupplyPoint
from apps.tariffs.models import Tariff

_serial = itertools.count(1)


def account_for(
    user: User | None,
    *,
    name: str = "Ana García",
    email: str | None = None,
    postcode: str = "28001",
    line1: str = "Calle de Alcalá 1",
    city: str = "Madrid",
    role: str = "OWNER",
) -> Account:
    """A new customer with one account; ``user`` (if any) acts for it with ``role``."""
    account = customer_create_with_account(
        name=name,
        email=email or (user.email if user else f"customer{next(_serial)}@example.com"),
        line1=line1,
        postcode=postcode,
        city=city,
        actor=None,
    )
    if user is not None:
        membership_add(account=account, user=user, role=role, actor=None)
    return account


def tariff(code: str = "flat-24", name: str = "Flat 24") -> Tariff:
    return Tariff.objects.get_or_create(code=code, defaults={"name": name})[0]


def supply_point(
    *, postcode: str = "08001", line1: str = "Carrer de Mallorca 10", city: str = "Barcelona"
) -> SupplyPoint:
    from apps.accounts.services import address_create

    address = address_create(line1=line1, postcode=postcode, city=city, actor=None)
    premise = Premise.objects.create(address=address)
    return SupplyPoint.objects.create(external_id=make_cups(21, next(_serial)), premise=premise)


def contract(
    account: Account,
    *,
    point: SupplyPoint | None = None,
    on: Tariff | None = None,
    start_date: dt.date = dt.date(2025, 1, 1),
    end_date: dt.date | None = None,
    status: str = Contract.Status.ACTIVE,
) -> Contract:
    return Contract.objects.create(
        number=f"TC{next(_serial):08d}",
        account=account,
        supply_point=point or supply_point(),
        tariff=on or tariff(),
        start_date=start_date,
        end_date=end_date,
        status=status,
    )
