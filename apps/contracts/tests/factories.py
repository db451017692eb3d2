"""Plain builders for contract tests: accounts, supply points, tariffs, terms, contracts."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

from apps.accounts.models import Account, Address, Customer, Membership, User
from apps.contracts.models import Contract, ContractStatusChange, TermsVersion
from apps.contracts.services import _next_contract_number
from apps.metering.identifiers import make_cups
from apps.metering.models import Premise, SupplyPoint
from apps.tariffs.models import EnergyRate, PriceVersion, Tariff, TaxRate

MADRID = ZoneInfo("Europe/Madrid")
_serials = itertools.count(1)


def madrid(*args: int) -> dt.datetime:
    """An aware Europe/Madrid datetime (year, month, day[, hour, minute])."""
    return dt.datetime(*args, tzinfo=MADRID)  # type: ignore[misc]


def make_address(line1: str = "Calle Mayor 1") -> Address:
    return Address.objects.create(line1=line1, postcode="28013", city="Madrid")


def make_account(
    user: User | None,
    *,
    name: str = "Ana García",
    segment: str = Customer.Segment.RESIDENTIAL,
    number: str | None = None,
    annual_kwh: Decimal | None = None,
) -> Account:
    customer = Customer.objects.create(
        name=name, email=f"{next(_serials)}@customer.example.com", segment=segment
    )
    if annual_kwh is not None:
        Customer.objects.filter(pk=customer.pk).update(annual_kwh=annual_kwh)
        customer.refresh_from_db()
    account = Account.objects.create(
        number=number or f"A{next(_serials):07d}", customer=customer, billing_address=make_address()
    )
    if user is not None:
        Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
    return account


def make_supply_point(serial: int | None = None) -> SupplyPoint:
    premise = Premise.objects.create(address=make_address("Calle del Sol 7"))
    return SupplyPoint.objects.create(
        external_id=make_cups(21, serial if serial is not None else next(_serials)),
        premise=premise,
    )


def make_tariff(
    code: str,
    *,
    name: str | None = None,
    rate: str | None = "0.150000",
    standing: str = "0.100000",
    segment: str = Tariff.Segment.ALL,
    contract_months: int = 0,
    exit_fee: str = "0",
    valid_from: dt.date = dt.date(2020, 1, 1),
    tou: dict[str, str] | None = None,
    weekday: list[list[str]] | None = None,
    weekend: list[list[str]] | None = None,
    dynamic: tuple[str, str] | None = None,
    market_series: str = "ES-DA",
    vat: str | None = None,
    is_public: bool = True,
) -> Tariff:
    """A tariff with one open-ended price version: flat ``rate``, ``tou`` periods, or dynamic
    (factor, margin)."""
    tariff = Tariff.objects.create(
        code=code,
        name=name or code.replace("-", " ").title(),
        segment=segment,
        contract_months=contract_months,
        exit_fee=Decimal(exit_fee),
        is_public=is_public,
    )
    kind = PriceVersion.EnergyKind.FLAT
    if tou is not None:
        kind = PriceVersion.EnergyKind.TIME_OF_USE
    elif dynamic is not None:
        kind = PriceVersion.EnergyKind.DYNAMIC
    version = PriceVersion.objects.create(
        tariff=tariff,
        valid_from=valid_from,
        energy_kind=kind,
        standing_charge_per_day=Decimal(standing),
        weekday_schedule=weekday,
        weekend_schedule=weekend,
        dynamic_factor=Decimal(dynamic[0]) if dynamic else None,
        dynamic_margin=Decimal(dynamic[1]) if dynamic else None,
        market_series=market_series,
    )
    if tou is not None:
        for period, period_rate in tou.items():
            EnergyRate.objects.create(
                version=version, period=period, period_name=period, rate=Decimal(period_rate)
            )
    elif dynamic is None and rate is not None:
        EnergyRate.objects.create(version=version, rate=Decimal(rate))
    if vat is not None:
        TaxRate.objects.create(
            version=version,
            code="VAT",
            name="VAT",
            rate_percent=Decimal(vat),
            base=["STANDING_CHARGE", "ENERGY", "DYNAMIC_ENERGY"],
        )
    return tariff


def make_terms(
    version: str = "1", *, published_at: dt.datetime | None = None, body: str = "Terms text."
) -> TermsVersion:
    return TermsVersion.objects.create(
        version=version,
        title="Supply terms",
        body=body,
        published_at=published_at or madrid(2025, 1, 1),
    )


def make_contract(
    *,
    account: Account,
    supply_point: SupplyPoint,
    tariff: Tariff,
    start_date: dt.date,
    end_date: dt.date | None = None,
    status: str = Contract.Status.ACTIVE,
    signed_at: dt.datetime | None = None,
    cooling_off_ends_at: dt.datetime | None = None,
    previous: Contract | None = None,
) -> Contract:
    """A contract stored directly in ``status`` (test set-up, not a use case)."""
    contract = Contract.objects.create(
        number=_next_contract_number(),
        account=account,
        supply_point=supply_point,
        tariff=tariff,
        start_date=start_date,
        end_date=end_date,
        status=status,
        signed_at=signed_at,
        cooling_off_ends_at=cooling_off_ends_at,
        previous=previous,
    )
    ContractStatusChange.objects.create(
        contract=contract,
        from_status="",
        to_status=status,
        changed_at=signed_at or madrid(2025, 1, 1),
        actor_label="test",
    )
    return contract
