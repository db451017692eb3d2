"""Demonstration data for `seed_demo`: tariffs, customers, contracts, a year of readings.

Every step looks for what it would create first, so running it again changes nothing
(readings go through the ingestion service, which stores nothing twice).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

from allauth.account.models import EmailAddress
from django.db import transaction

from apps.accounts.models import Account, Customer, User
from apps.accounts.services import customer_create_with_account, membership_add
from apps.contracts.models import Contract, TermsVersion
from apps.contracts.services import contract_create, contract_transition
from apps.core import clock
from apps.metering.identifiers import make_cups
from apps.metering.ingestion import CandidateRow, ingest_candidates
from apps.metering.models import IntervalReading, Premise, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.portal.demo_data import hourly_market_prices, hourly_readings
from apps.tariffs.models import EnergyRate, Holiday, MarketPrice, PriceVersion, Tariff, TaxRate

MADRID = ZoneInfo("Europe/Madrid")
D = Decimal
SEED_LABEL = "system:seed_demo"
TAX_BASE = [
    "STANDING_CHARGE",
    "FIXED_CHARGE",
    "ENERGY",
    "DYNAMIC_ENERGY",
    "DISCOUNT",
    "EXPORT_CREDIT",
]

# Spanish 2.0TD-like periods: P1 peak 10-14 and 18-22, P2 8-10, 14-18 and 22-24, P3 night.
_TOU_DAY = ["P3"] * 8 + ["P2"] * 2 + ["P1"] * 4 + ["P2"] * 4 + ["P1"] * 4 + ["P2"] * 2
TOU_WEEKDAY = [_TOU_DAY] * 12
TOU_WEEKEND = [["P3"] * 24] * 12

NATIONAL_HOLIDAYS = {
    (1, 1): "Año Nuevo",
    (1, 6): "Epifanía del Señor",
    (5, 1): "Fiesta del Trabajo",
    (8, 15): "Asunción de la Virgen",
    (10, 12): "Fiesta Nacional de España",
    (11, 1): "Todos los Santos",
    (12, 6): "Día de la Constitución",
    (12, 8): "Inmaculada Concepción",
    (12, 25): "Natividad del Señor",
}
GOOD_FRIDAYS = {2025: dt.date(2025, 4, 18), 2026: dt.date(2026, 4, 3), 2027: dt.date(2027, 3, 26)}


def _taxes(version: PriceVersion) -> None:
    TaxRate.objects.get_or_create(
        version=version,
        code="IEE",
        defaults={
            "position": 1,
            "name": "Impuesto especial sobre la electricidad",
            "rate_percent": D("5.11269632"),
            "base": TAX_BASE,
        },
    )
    TaxRate.objects.get_or_create(
        version=version,
        code="VAT",
        defaults={
            "position": 2,
            "name": "IVA",
            "rate_percent": D("21"),
            "base": [*TAX_BASE, "IEE"],
        },
    )


def _version(
    tariff: Tariff,
    *,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    kind: str,
    standing: str,
    rates: Sequence[tuple[str, str, int, str | None, str]],
    export: str | None = None,
    **extra: object,
) -> PriceVersion:
    version, created = PriceVersion.objects.get_or_create(
        tariff=tariff,
        valid_from=valid_from,
        defaults={
            "valid_to": valid_to,
            "energy_kind": kind,
            "standing_charge_per_day": D(standing),
            "export_rate": D(export) if export else None,
            "label": f"{tariff.name} {valid_from:%Y-%m}",
            **extra,
        },
    )
    if created:
        for period, name, tier, upto, rate in rates:
            EnergyRate.objects.create(
                version=version,
                period=period,
                period_name=name,
                tier=tier,
                upto_kwh=D(upto) if upto else None,
                rate=D(rate),
            )
        _taxes(version)
    return version


def seed_tariffs() -> dict[str, Tariff]:
    for year in (2025, 2026, 2027):
        for (month, day), name in NATIONAL_HOLIDAYS.items():
            Holiday.objects.get_or_create(
                region="ES", date=dt.date(year, month, day), defaults={"name": name}
            )
        Holiday.objects.get_or_create(
            region="ES", date=GOOD_FRIDAYS[year], defaults={"name": "Viernes Santo"}
        )
    start = dt.date(2025, 1, 1)
    specs = {
        "fijo": (
            "Wattline Fijo",
            "One price at every hour. Simple and predictable.",
            "RESIDENTIAL",
        ),
        "tres-periodos": (
            "Wattline Tres Periodos",
            "Cheaper at night and at weekends: shift the washing machine and save.",
            "RESIDENTIAL",
        ),
        "indexada": (
            "Wattline Indexada",
            "Follows the hourly wholesale price, with a cap that protects you from spikes.",
            "ALL",
        ),
        "bloques": (
            "Wattline Bloques",
            "The first kilowatt-hours of the month are the cheapest.",
            "RESIDENTIAL",
        ),
        "negocio": ("Wattline Negocio", "A flat price for shops and small businesses.", "SME"),
    }
    tariffs = {}
    for code, (name, description, segment) in specs.items():
        tariffs[code], _ = Tariff.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "segment": segment,
                "contract_months": 12 if code != "indexada" else 0,
                "exit_fee": D("30.00") if code in ("fijo", "negocio") else D("0"),
                "green_share_percent": D("100") if code != "negocio" else D("60"),
                "time_zone": "Europe/Madrid",
                "conditions": "Prices include no taxes; electricity tax and VAT are added.",
            },
        )
    flat = [("ALL", "", 1, None, "0.145000")]
    _version(
        tariffs["fijo"],
        valid_from=start,
        valid_to=dt.date(2026, 7, 1),
        kind="FLAT",
        standing="0.300000",
        rates=flat,
        export="0.050000",
    )
    _version(
        tariffs["fijo"],
        valid_from=dt.date(2026, 7, 1),
        kind="FLAT",
        standing="0.300000",
        rates=[("ALL", "", 1, None, "0.139000")],
        export="0.050000",
    )
    _version(
        tariffs["tres-periodos"],
        valid_from=start,
        kind="TIME_OF_USE",
        standing="0.320000",
        rates=[
            ("P1", "Peak", 1, None, "0.210000"),
            ("P2", "Shoulder", 1, None, "0.140000"),
            ("P3", "Off-peak", 1, None, "0.090000"),
        ],
        export="0.060000",
        weekday_schedule=TOU_WEEKDAY,
        weekend_schedule=TOU_WEEKEND,
    )
    _version(
        tariffs["indexada"],
        valid_from=start,
        kind="DYNAMIC",
        standing="0.280000",
        rates=[],
        export="0.040000",
        dynamic_factor=D("1"),
        dynamic_margin=D("0.025"),
        dynamic_floor=D("0"),
        dynamic_cap=D("0.400000"),
    )
    _version(
        tariffs["bloques"],
        valid_from=start,
        kind="TIERED",
        standing="0.250000",
        rates=[
            ("ALL", "", 1, "150", "0.120000"),
            ("ALL", "", 2, "400", "0.150000"),
            ("ALL", "", 3, None, "0.180000"),
        ],
    )
    _version(
        tariffs["negocio"],
        valid_from=start,
        kind="FLAT",
        standing="0.600000",
        rates=[("ALL", "", 1, None, "0.135000")],
    )
    return tariffs


def seed_market_prices(*, until: dt.datetime) -> int:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    hours = int((until - start).total_seconds() // 3600) + 48
    have = set(MarketPrice.objects.filter(series="ES-DA").values_list("starts_at", flat=True))
    rows = [
        MarketPrice(series="ES-DA", starts_at=at, price_per_kwh=price)
        for at, price in hourly_market_prices(start=start, hours=hours, seed=2025)
        if at not in have
    ]
    MarketPrice.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    return len(rows)


def seed_terms(now: dt.datetime) -> TermsVersion:
    terms, _ = TermsVersion.objects.get_or_create(
        version="2025.1",
        defaults={
            "title": "Wattline supply terms",
            "body": (
                "1. We supply electricity to your supply point from the start date you choose.\n"
                "2. You may cancel within 14 days of signing at no cost.\n"
                "3. Prices are those of your tariff's price version in force each day.\n"
                "4. Bills are monthly; you can pay by card, bank transfer or direct debit."
            ),
            "published_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        },
    )
    return terms


def _supply_point(serial: int, account: Account, kw: str) -> SupplyPoint:
    cups = make_cups(21, serial)
    existing = SupplyPoint.objects.filter(external_id=cups).first()
    if existing:
        return existing
    premise = Premise.objects.create(address=account.billing_address)
    return SupplyPoint.objects.create(external_id=cups, premise=premise, contracted_power_kw=D(kw))


def _customer(
    *, name: str, email: str, line1: str, postcode: str, city: str, segment: str, owner: User | None
) -> Account:
    customer = Customer.objects.filter(name=name, email=email).first()
    if customer is not None:
        return customer.accounts.order_by("id").first()  # type: ignore[return-value]
    return customer_create_with_account(
        name=name,
        email=email,
        line1=line1,
        postcode=postcode,
        city=city,
        segment=segment,
        kind=Customer.Kind.BUSINESS if segment == "SME" else Customer.Kind.PERSON,
        owner=owner,
        actor=None,
    )


def _active_contract(
    account: Account, supply_point: SupplyPoint, tariff: Tariff, start: dt.date, now: dt.datetime
) -> Contract:
    contract = Contract.objects.filter(supply_point=supply_point, account=account).first()
    if contract is None:
        contract = contract_create(
            account=account,
            supply_point=supply_point,
            tariff=tariff,
            start_date=start,
            actor=None,
            actor_label=SEED_LABEL,
            now=now,
        )
    if contract.status == Contract.Status.PENDING and contract.start_date <= now.date():
        contract = contract_transition(
            contract=contract,
            to_status=Contract.Status.ACTIVE,
            actor=None,
            actor_label=SEED_LABEL,
            reason="Demo data",
            now=now,
        )
    return contract


def _readings(
    supply_point: SupplyPoint,
    *,
    start: dt.datetime,
    end: dt.datetime,
    annual_kwh: float,
    seed: int,
    solar_kwp: float = 0.0,
) -> int:
    latest = (
        IntervalReading.objects.filter(supply_point=supply_point)
        .order_by("-interval_start")
        .values_list("interval_start", flat=True)
        .first()
    )
    begin = latest + dt.timedelta(hours=1) if latest else start
    hours = int((end - begin).total_seconds() // 3600)
    if hours <= 0:
        return 0
    ensure_reading_partitions(first=begin.date(), last=end.date())
    series = hourly_readings(
        start=start,
        hours=int((end - start).total_seconds() // 3600),
        annual_kwh=annual_kwh,
        seed=seed,
        solar_kwp=solar_kwp,
    )
    candidates = (
        CandidateRow(
            n, supply_point.external_id, at.isoformat(), "60", str(kwh_in), str(kwh_out), "ACTUAL"
        )
        for n, (at, kwh_in, kwh_out) in enumerate(series, start=2)
        if at >= begin
    )
    report = ingest_candidates(
        candidates, source="CSV", filename="seed_demo", actor_label=SEED_LABEL
    )
    return report.inserted


def seed_customers(
    *, tariffs: dict[str, Tariff], customer_user: User, now: dt.datetime
) -> list[str]:
    start = dt.date(2025, 1, 1)
    local_now = now.astimezone(MADRID)
    readings_start = (
        (dt.datetime(local_now.year - 1, local_now.month, 1, tzinfo=MADRID) - dt.timedelta(days=1))
        .replace(day=1)
        .astimezone(dt.UTC)
    )
    readings_end = now.replace(minute=0, second=0, microsecond=0)
    lines = []

    ana = _customer(
        name="Ana García",
        email="customer@demo.wattline.test",
        line1="Calle Mayor 12, 3º B",
        postcode="28013",
        city="Madrid",
        segment="RESIDENTIAL",
        owner=customer_user,
    )
    home = _supply_point(1, ana, "4.600")
    _active_contract(ana, home, tariffs["tres-periodos"], start, now)
    stored = _readings(
        home, start=readings_start, end=readings_end, annual_kwh=4200, seed=1, solar_kwp=3.0
    )
    lines.append(
        f"  Ana García: {ana.number}, {home.external_id} on Tres Periodos with solar"
        f" ({stored} new readings)"
    )

    holiday_account = Account.objects.filter(customer=ana.customer).exclude(pk=ana.pk).first()
    if holiday_account is None:
        from apps.accounts.services import account_create

        holiday_account = account_create(
            customer=ana.customer,
            line1="Avenida del Mar 4",
            postcode="03001",
            city="Alicante",
            owner=customer_user,
            actor=None,
        )
    cottage = _supply_point(2, holiday_account, "3.450")
    _active_contract(holiday_account, cottage, tariffs["fijo"], start, now)
    lines.append(
        f"  Ana García (holiday home): {holiday_account.number}, {cottage.external_id} on Fijo"
    )

    carmen = _customer(
        name="Carmen López",
        email="carmen@example.com",
        line1="Carrer de Mallorca 200",
        postcode="08036",
        city="Barcelona",
        segment="RESIDENTIAL",
        owner=None,
    )
    flat = _supply_point(3, carmen, "5.750")
    _active_contract(carmen, flat, tariffs["indexada"], start, now)
    stored = _readings(flat, start=readings_start, end=readings_end, annual_kwh=3100, seed=2)
    lines.append(
        f"  Carmen López: {carmen.number}, {flat.external_id} on Indexada ({stored} new readings)"
    )

    bakery = _customer(
        name="Panadería Sol S.L.",
        email="hola@panaderiasol.example",
        line1="Calle Feria 33",
        postcode="41003",
        city="Sevilla",
        segment="SME",
        owner=None,
    )
    shop = _supply_point(4, bakery, "15.000")
    _active_contract(bakery, shop, tariffs["negocio"], start, now)
    stored = _readings(shop, start=readings_start, end=readings_end, annual_kwh=18000, seed=3)
    lines.append(
        f"  Panadería Sol S.L.: {bakery.number}, {shop.external_id} on Negocio"
        f" ({stored} new readings)"
    )
    return lines


def seed_all(*, customer_user: User) -> list[str]:
    now = clock.now()
    with transaction.atomic():
        tariffs = seed_tariffs()
        seed_terms(now)
        seed_market_prices(until=now)
        if not EmailAddress.objects.filter(user=customer_user, verified=True).exists():
            EmailAddress.objects.get_or_create(
                user=customer_user,
                email=customer_user.email,
                defaults={"verified": True, "primary": True},
            )
    lines = seed_customers(tariffs=tariffs, customer_user=customer_user, now=now)
    from django.core.management import call_command

    from apps.outages.services import network_seed_demo

    network = network_seed_demo()
    lines.append(f"  Network: {network}")
    call_command("seed_crews", verbosity=0)
    lines.append("  Field crews for appointments: created (idempotent)")
    try:
        from apps.contracts.segmentation import customer_segments_refresh

        for customer in Customer.objects.order_by("id"):
            customer_segments_refresh(customer=customer, now=now)
    except ImportError:  # pragma: no cover - segmentation lands with the accounts pages
        pass
    lines.append(f"  Bills: {seed_bills(now=now)}")
    _ = membership_add  # members are added through customer_create_with_account(owner=...)
    return lines


def seed_bills(*, now: dt.datetime) -> str:
    """Bill last month for the demo accounts (billing day 1) through a real bill run, once.

    Without a broker the run's tasks execute in-process; with one, a worker does them (the
    calls below then find their chunks done). Safe to repeat: a run exists only once.
    """
    from apps.billing import run as runs
    from apps.billing.models import Bill, BillRun
    from apps.contracts.services import add_months

    today = now.astimezone(clock.local_zone()).date()
    period_start = add_months(today.replace(day=1), -1)
    bill_run = BillRun.objects.filter(billing_day=1, period_start=period_start).first()
    if bill_run is None:
        bill_run = runs.bill_run_create(billing_day=1, period_start=period_start, actor=None)
    for chunk in bill_run.chunks.filter(phase="PREVIEW").order_by("number"):
        runs.bill_run_preview_chunk(chunk_id=chunk.pk)
    bill_run.refresh_from_db()
    if bill_run.status == BillRun.Status.PREVIEWED:
        runs.bill_run_issue(run=bill_run, actor=None)
    for chunk in bill_run.chunks.filter(phase="ISSUE").order_by("number"):
        runs.bill_run_issue_chunk(chunk_id=chunk.pk)
    issued = Bill.objects.filter(run=bill_run, status=Bill.Status.ISSUED).count()
    return f"{issued} issued for {period_start:%B %Y} (idempotent)"
