"""Reads of contracts shared by several callers (portal pages, admin, billing, comparison)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.models import Account, User
from apps.accounts.selectors import accounts_for_user
from apps.contracts.models import (
    LIVE_STATUSES,
    Contract,
    ContractDiscount,
    ContractStatusChange,
    TermsVersion,
)
from apps.metering.models import SupplyPoint
from apps.tariffs import rating


def _with_relations(queryset: QuerySet[Contract]) -> QuerySet[Contract]:
    return queryset.select_related(
        "account__customer", "supply_point__premise__address", "tariff", "previous"
    )


def contracts_for_account(account: Account) -> QuerySet[Contract]:
    """Every contract of ``account``, newest start first."""
    return _with_relations(Contract.objects.filter(account=account)).order_by("-start_date", "-id")


def contract_for_user(user: User, contract_id: int | str) -> Contract:
    """The contract ``contract_id`` if it belongs to an account ``user`` is a member of.

    Raises ``Http404`` otherwise, so another customer's contract looks like no contract.
    """
    try:
        pk = int(contract_id)
    except (TypeError, ValueError):
        raise Http404("No such contract") from None
    contract = (
        _with_relations(Contract.objects.filter(pk=pk, account__in=accounts_for_user(user)))
        .order_by("id")
        .first()
    )
    if contract is None:
        raise Http404("No such contract")
    return contract


def status_history(contract: Contract) -> list[ContractStatusChange]:
    """The contract's status changes, oldest first."""
    return list(
        contract.status_changes.select_related("actor").order_by("changed_at", "id")  # type: ignore[attr-defined]
    )


def discounts_of(contract: Contract) -> list[ContractDiscount]:
    return list(contract.discounts.order_by("valid_from", "id"))  # type: ignore[attr-defined]


def current_terms(*, now: dt.datetime) -> TermsVersion | None:
    """The terms version in force at ``now``: the latest one already published."""
    return (
        TermsVersion.objects.filter(published_at__lte=now).order_by("-published_at", "-id").first()
    )


def terms_version(pk: int) -> TermsVersion | None:
    """The terms version with id ``pk`` (the one a form was rendered with), if it exists."""
    return TermsVersion.objects.filter(pk=pk).order_by("id").first()


def supply_points_for_account(account: Account) -> list[SupplyPoint]:
    """Supply points ``account`` has (or had) a contract for, by CUPS."""
    contracts = (
        Contract.objects.filter(account=account)
        .select_related("supply_point__premise__address")
        .order_by("supply_point__external_id", "supply_point_id", "id")
    )
    seen: dict[int, SupplyPoint] = {}
    for contract in contracts:
        seen.setdefault(contract.supply_point_id, contract.supply_point)
    return list(seen.values())


def live_contracts_overlapping(
    *, supply_point_id: int, start_date: dt.date, end_date: dt.date | None
) -> list[Contract]:
    """Live contracts of the supply point whose [start, end) meets [start_date, end_date)."""
    queryset = Contract.objects.filter(
        supply_point_id=supply_point_id, status__in=LIVE_STATUSES
    ).filter(Q(end_date__isnull=True) | Q(end_date__gt=start_date))
    if end_date is not None:
        queryset = queryset.filter(start_date__lt=end_date)
    return list(queryset.select_related("supply_point").order_by("start_date", "id"))


def live_successor(contract: Contract) -> Contract | None:
    """The live contract that replaces ``contract`` after a switch, if any."""
    return (
        Contract.objects.filter(previous=contract, status__in=LIVE_STATUSES)
        .select_related("tariff")
        .order_by("id")
        .first()
    )


def _local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


def rating_discounts(
    *, contract: Contract, tz: ZoneInfo, discounts: list[ContractDiscount] | None = None
) -> tuple[rating.Discount, ...]:
    """The contract's discounts as rating-engine data (local dates → instants in ``tz``).

    Each becomes its own DISCOUNT line when passed to ``rating.rate(discounts=...)``.
    """
    rows = discounts_of(contract) if discounts is None else discounts
    kinds = {
        ContractDiscount.Kind.ENERGY_PERCENT: "ENERGY_PERCENT",
        ContractDiscount.Kind.DAILY_CREDIT: "DAILY_CREDIT",
    }
    return tuple(
        rating.Discount(
            kind=kinds[ContractDiscount.Kind(row.kind)],  # type: ignore[arg-type]
            value=row.value,
            valid_from=_local_midnight(row.valid_from, tz),
            valid_to=_local_midnight(row.valid_to, tz) if row.valid_to else None,
            label=row.label,
        )
        for row in rows
    )
