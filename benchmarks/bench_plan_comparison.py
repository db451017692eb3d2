"""Benchmark: the plan comparison page's service for a customer with a year of hourly data.

    python benchmarks/bench_plan_comparison.py [--runs 7] [--keep]

Creates a fresh, migrated database (Django's test-database machinery on the benchmark
server, dropped at the end unless --keep), then one customer with one supply point, a
year and a bit of hourly readings (bulk_create, reading partitions ensured first), an hourly
market-price series, and six tariffs the customer can choose: flat, flat with VAT and
electricity tax, tiered, two time-of-use (3 and 2 periods, weekend and holiday rules) and a
dynamic one with floor and cap. It then times ``apps.contracts.comparison.plan_comparison``
(12 months × 6 tariffs through the rating engine, readings and prices read from
PostgreSQL) and the whole page through the test client.

Prints its figures and ends with ``comparison_median_ms=<n>`` (target: under 1000).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django


def _build(today: dt.date) -> tuple[object, object]:
    from apps.accounts.models import Account, Address, Customer, Membership, User
    from apps.contracts import services
    from apps.metering.identifiers import make_cups
    from apps.metering.models import IntervalReading, Premise, SupplyPoint
    from apps.metering.partitions import ensure_reading_partitions
    from apps.tariffs.models import EnergyRate, Holiday, MarketPrice, PriceVersion, Tariff, TaxRate

    user = User.objects.create_user(email="bench@example.com", password="bench-password-123")  # noqa: S106
    customer = Customer.objects.create(name="Bench Customer", email="bench@example.com")
    address = Address.objects.create(line1="Calle Bench 1", postcode="28001", city="Madrid")
    account = Account.objects.create(number="A-BENCH-1", customer=customer, billing_address=address)
    Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
    premise = Premise.objects.create(address=address)
    point = SupplyPoint.objects.create(external_id=make_cups(9998, 1), premise=premise)

    for day, name in ((dt.date(2025, 5, 1), "Labour Day"), (dt.date(2025, 12, 25), "Christmas")):
        Holiday.objects.create(date=day, name=name)

    def version(tariff: Tariff, **kwargs: object) -> PriceVersion:
        return PriceVersion.objects.create(
            tariff=tariff,
            valid_from=dt.date(2024, 1, 1),
            standing_charge_per_day=Decimal("0.12"),
            **kwargs,
        )

    def taxes(pv: PriceVersion) -> None:
        TaxRate.objects.create(
            version=pv,
            position=1,
            code="IEE",
            name="Electricity tax",
            rate_percent=Decimal("5.11269632"),
            base=["STANDING_CHARGE", "ENERGY", "DYNAMIC_ENERGY"],
        )
        TaxRate.objects.create(
            version=pv,
            position=2,
            code="VAT",
            name="VAT",
            rate_percent=Decimal("21"),
            base=["STANDING_CHARGE", "ENERGY", "DYNAMIC_ENERGY", "IEE"],
        )

    tariffs = []
    flat = Tariff.objects.create(code="bench-flat", name="Flat")
    pv = version(flat)
    EnergyRate.objects.create(version=pv, rate=Decimal("0.15"))
    tariffs.append(flat)

    flat_taxed = Tariff.objects.create(code="bench-flat-taxed", name="Flat with taxes")
    pv = version(flat_taxed)
    EnergyRate.objects.create(version=pv, rate=Decimal("0.13"))
    taxes(pv)
    tariffs.append(flat_taxed)

    tiered = Tariff.objects.create(code="bench-tiered", name="Tiered")
    pv = version(tiered, energy_kind=PriceVersion.EnergyKind.TIERED)
    EnergyRate.objects.create(version=pv, tier=1, upto_kwh=Decimal("150"), rate=Decimal("0.11"))
    EnergyRate.objects.create(version=pv, tier=2, upto_kwh=Decimal("400"), rate=Decimal("0.16"))
    EnergyRate.objects.create(version=pv, tier=3, rate=Decimal("0.21"))
    taxes(pv)
    tariffs.append(tiered)

    p3 = ["P3"] * 8 + ["P2"] * 2 + ["P1"] * 4 + ["P2"] * 4 + ["P1"] * 4 + ["P2"] * 2
    tou3 = Tariff.objects.create(code="bench-tou3", name="Three periods")
    pv = version(
        tou3,
        energy_kind=PriceVersion.EnergyKind.TIME_OF_USE,
        weekday_schedule=[p3] * 12,
        weekend_schedule=[["P3"] * 24] * 12,
    )
    for period, rate in (("P1", "0.24"), ("P2", "0.15"), ("P3", "0.08")):
        EnergyRate.objects.create(version=pv, period=period, rate=Decimal(rate))
    taxes(pv)
    tariffs.append(tou3)

    night = ["O"] * 7 + ["D"] * 16 + ["O"]
    tou2 = Tariff.objects.create(code="bench-tou2", name="Night saver")
    pv = version(
        tou2,
        energy_kind=PriceVersion.EnergyKind.TIME_OF_USE,
        weekday_schedule=[night] * 12,
        weekend_schedule=[night[:10] + ["O"] * 14] * 12,
    )
    for period, rate in (("D", "0.19"), ("O", "0.09")):
        EnergyRate.objects.create(version=pv, period=period, rate=Decimal(rate))
    tariffs.append(tou2)

    dynamic = Tariff.objects.create(code="bench-dynamic", name="Market price")
    pv = version(
        dynamic,
        energy_kind=PriceVersion.EnergyKind.DYNAMIC,
        dynamic_factor=Decimal("1.1"),
        dynamic_margin=Decimal("0.03"),
        dynamic_floor=Decimal("0.02"),
        dynamic_cap=Decimal("0.40"),
    )
    taxes(pv)
    tariffs.append(dynamic)

    # Hourly data from two days before the comparison year up to today.
    year_start = today.replace(day=1).replace(year=today.year - 1)
    first = dt.datetime.combine(year_start - dt.timedelta(days=2), dt.time.min, tzinfo=dt.UTC)
    last = dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)
    ensure_reading_partitions(first=first.date(), last=last.date())
    rng = random.Random(42)
    readings = []
    prices = []
    instant = first
    while instant < last:
        hour = (instant.hour + 1) % 24
        base = 0.15 + (0.45 if 19 <= hour <= 22 else 0.2 if 7 <= hour <= 9 else 0.0)
        kwh = Decimal(f"{base + rng.random() * 0.3:.3f}")
        readings.append(
            IntervalReading(
                supply_point=point,
                interval_start=instant,
                duration_minutes=60,
                kwh_import=kwh,
                received_at=last,
            )
        )
        prices.append(
            MarketPrice(
                series="ES-DA",
                starts_at=instant,
                price_per_kwh=Decimal(f"{0.04 + rng.random() * 0.12:.6f}"),
            )
        )
        instant += dt.timedelta(hours=1)
    IntervalReading.objects.bulk_create(readings, batch_size=5000)
    MarketPrice.objects.bulk_create(prices, batch_size=5000)

    contract = services.contract_create(
        account=account,
        supply_point=point,
        tariff=flat,
        start_date=dt.date(2025, 1, 1),
        actor=None,
        actor_label="system:bench",
        now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )
    print(
        f"data: 1 supply point, {len(readings)} hourly readings, {len(prices)} market prices, "
        f"{len(tariffs)} tariffs"
    )
    return user, contract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    args = parser.parse_args()

    setup_django(migrate=False)
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    started = time.perf_counter()
    name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=False, serialize=False
    )
    print(f"fresh database {name} migrated in {time.perf_counter() - started:.1f} s")
    try:
        from django.test import Client

        from apps.contracts.comparison import plan_comparison
        from apps.contracts.models import Contract
        from apps.core import clock

        today = clock.today()
        user, built = _build(today)

        def load() -> Contract:
            return Contract.objects.select_related(
                "account__customer", "supply_point", "tariff"
            ).get(pk=built.pk)  # type: ignore[attr-defined]

        timings = []
        cpu = []
        result = None
        for _ in range(args.runs + 1):
            contract = load()
            began, began_cpu = time.perf_counter(), time.process_time()
            result = plan_comparison(contract=contract, today=today)
            timings.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        assert result is not None
        cold, warm = timings[0], timings[1:]
        for row in result.rows:
            total = "-" if row.total is None else f"{row.total:.2f}"
            print(f"  {row.tariff.name:<18} {total:>10}  {row.not_priced_reason}")
        print(f"period={result.period_start}..{result.last_day} source={result.source}")
        print(f"kwh_compared={result.total_kwh}")
        print(f"comparison_first_ms={cold:.0f}")
        print(f"comparison_runs_ms={','.join(f'{t:.0f}' for t in warm)}")
        # Python CPU time of this process (excludes PostgreSQL's side); steadier on a busy host.
        print(f"comparison_cpu_median_ms={statistics.median(cpu[1:]):.0f}")

        client = Client()
        client.force_login(user)
        pages = []
        for _ in range(args.runs):
            began = time.perf_counter()
            response = client.get(f"/my/contracts/{built.pk}/compare/")  # type: ignore[attr-defined]
            pages.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
        print(f"page_median_ms={statistics.median(pages):.0f}")

        if args.profile:
            profiler = cProfile.Profile()
            contract = load()
            profiler.enable()
            plan_comparison(contract=contract, today=today)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            print(out.getvalue())
        print(f"comparison_median_ms={statistics.median(warm):.0f}")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
