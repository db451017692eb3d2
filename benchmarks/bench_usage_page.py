"""Server time of the customer usage page for a supply point with 2 years of 15-minute data.

Creates, once, in the benchmarks' own database (``_setup.py``: ``BENCH_DATABASE_URL``, else
a tuned embedded PostgreSQL under var/bench-pgdata; never the development data) a
customer with an account, a supply point with a time-of-use contract and two years of
15-minute readings ending now (~70,000 rows, bulk-loaded with COPY into the monthly
partitions). Later runs reuse that data and only top it up to the current time.

Then it renders ``/my/usage/<id>/`` through Django's test Client with the customer signed in
(``force_login``), ``--runs`` times after ``--warmup`` untimed requests, and prints the median
and 95th percentile, ending with one line ``usage_page_median_ms=<number>``.

    python benchmarks/bench_usage_page.py [--runs 50] [--warmup 5] [--recreate]

Runs with DEBUG off (no query log kept), as in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import math
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_DEBUG", "0")

from benchmarks import _setup

_setup.setup_django()  # the benchmarks' own database, created and migrated

from allauth.account.models import EmailAddress  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.accounts.models import Address, Membership, User  # noqa: E402
from apps.accounts.services import customer_create_with_account, user_assign_role  # noqa: E402
from apps.contracts.models import Contract  # noqa: E402
from apps.core import clock  # noqa: E402
from apps.metering.identifiers import make_cups  # noqa: E402
from apps.metering.models import IntervalReading, Premise, SupplyPoint  # noqa: E402
from apps.metering.partitions import ensure_reading_partitions  # noqa: E402
from apps.tariffs.models import EnergyRate, PriceVersion, Tariff, TaxRate  # noqa: E402

EMAIL = "bench-usage@bench.wattline.test"
CUPS = make_cups(9990, 1)
TARIFF_CODE = "bench-usage-tou"
QUARTER = dt.timedelta(minutes=15)
YEARS = 2
# Share of a day's use by local hour: night base, morning and evening peaks.
SHAPE = [
    26,
    22,
    20,
    19,
    19,
    21,
    30,
    42,
    47,
    41,
    38,
    38,
    41,
    45,
    43,
    37,
    36,
    40,
    50,
    62,
    68,
    66,
    54,
    37,
]
WEEKDAY = ["P3"] * 8 + ["P2"] * 2 + ["P1"] * 4 + ["P2"] * 4 + ["P1"] * 4 + ["P2"] * 2


def _tariff() -> Tariff:
    tariff = Tariff.objects.filter(code=TARIFF_CODE).first()
    if tariff is not None:
        return tariff
    tariff = Tariff.objects.create(code=TARIFF_CODE, name="Benchmark time of use", is_public=False)
    version = PriceVersion.objects.create(
        tariff=tariff,
        valid_from=dt.date(2000, 1, 1),
        energy_kind=PriceVersion.EnergyKind.TIME_OF_USE,
        standing_charge_per_day=Decimal("0.104"),
        weekday_schedule=[WEEKDAY] * 12,
        weekend_schedule=[["P3"] * 24] * 12,
    )
    for period, name, rate in (
        ("P1", "Peak", "0.231"),
        ("P2", "Standard", "0.152"),
        ("P3", "Off-peak", "0.091"),
    ):
        EnergyRate.objects.create(
            version=version, period=period, period_name=name, rate=Decimal(rate)
        )
    TaxRate.objects.create(
        version=version,
        position=1,
        code="IEE",
        name="Electricity tax",
        rate_percent=Decimal("5.11269632"),
        base=["ENERGY", "STANDING_CHARGE"],
    )
    TaxRate.objects.create(
        version=version,
        position=2,
        code="VAT",
        name="VAT",
        rate_percent=Decimal(21),
        base=["ENERGY", "STANDING_CHARGE", "IEE"],
    )
    return tariff


def _customer_and_supply_point(first_day: dt.date) -> tuple[User, SupplyPoint]:
    user = User.objects.filter(email=EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=EMAIL, password=None)
        EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
        user_assign_role(user=user, role="customer")
    supply_point = SupplyPoint.objects.filter(external_id=CUPS).first()
    if supply_point is None:
        address = Address.objects.create(line1="Calle Benchmark 1", postcode="28001", city="Madrid")
        supply_point = SupplyPoint.objects.create(
            external_id=CUPS,
            premise=Premise.objects.create(address=address),
            contracted_power_kw=Decimal("5.75"),
        )
    if not Membership.objects.filter(user=user).exists():
        customer_create_with_account(
            name="Benchmark Customer",
            email=EMAIL,
            line1="Calle Benchmark 1",
            postcode="28001",
            city="Madrid",
            owner=user,
            actor=None,
        )
    account = Membership.objects.filter(user=user).order_by("id").first().account  # type: ignore[union-attr]
    if not Contract.objects.filter(supply_point=supply_point, account=account).exists():
        Contract.objects.create(
            number="BENCH-USAGE-1",
            account=account,
            supply_point=supply_point,
            tariff=_tariff(),
            start_date=first_day - dt.timedelta(days=10),
            status=Contract.Status.ACTIVE,
        )
    return user, supply_point


def _copy_readings(supply_point: SupplyPoint, start: dt.datetime, end: dt.datetime) -> int:
    """COPY 15-minute readings for [start, end) into the partitioned table."""
    if start >= end:
        return 0
    ensure_reading_partitions(first=start.date(), last=end.date())
    rng = random.Random(int(start.timestamp()))
    tz = clock.local_zone()
    buffer = io.StringIO()
    count = 0
    at = start
    while at < end:
        local = at.astimezone(tz)
        season = 1 + 0.25 * math.cos(2 * math.pi * (local.timetuple().tm_yday - 15) / 365)
        kwh = 10.0 / 4 * season * SHAPE[local.hour] / 1000 * rng.uniform(0.7, 1.4)
        buffer.write(
            f"{supply_point.pk}\t{at.isoformat()}\t15\t{kwh:.3f}\t0\tACTUAL\tbench\t{at.isoformat()}\n"
        )
        count += 1
        at += QUARTER
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor
        with raw.copy(
            "COPY metering_intervalreading (supply_point_id, interval_start, duration_minutes, "
            "kwh_import, kwh_export, quality, source, received_at) FROM STDIN"
        ) as copy:
            copy.write(buffer.getvalue())
    return count


def prepare(*, recreate: bool) -> tuple[User, SupplyPoint, int]:
    now = clock.now()
    end = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    first_day = clock.today() - dt.timedelta(days=365 * YEARS)
    start = clock.local_midnight(first_day)
    with transaction.atomic():
        user, supply_point = _customer_and_supply_point(first_day)
    readings = IntervalReading.objects.filter(supply_point=supply_point)
    if recreate:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM metering_intervalreading WHERE supply_point_id = %s", [supply_point.pk]
            )
    latest = readings.order_by("-interval_start").values_list("interval_start", flat=True).first()
    added = _copy_readings(supply_point, latest + QUARTER if latest else start, end)
    if added:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE metering_intervalreading")
    total = readings.filter(interval_start__gte=start).count()
    print(
        f"supply point {supply_point.external_id}: {total} readings of 15 minutes "
        f"({added} added now)"
    )
    return user, supply_point, total


def _time(client: Client, url: str, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")
    return timings


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--recreate", action="store_true", help="delete and reload the readings")
    args = parser.parse_args()
    user, supply_point, _total = prepare(recreate=args.recreate)

    client = Client()
    client.force_login(user)
    url = f"/my/usage/{supply_point.pk}/"
    _time(client, url, args.warmup)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    print(f"queries per page view: {len(queries)}")
    page = _time(client, url, args.runs)
    live = _time(client, f"/my/usage/{supply_point.pk}/live/", args.runs)
    print(
        f"usage page over {args.runs} runs: median {statistics.median(page):.1f} ms, "
        f"p95 {_p95(page):.1f} ms, min {min(page):.1f} ms"
    )
    print(f"live fragment: median {statistics.median(live):.1f} ms, p95 {_p95(live):.1f} ms")
    print(f"usage_page_p95_ms={_p95(page):.1f}")
    print(f"usage_page_median_ms={statistics.median(page):.1f}")


if __name__ == "__main__":
    main()
