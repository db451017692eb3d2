"""A month's bill run for N accounts through real Celery workers and PostgreSQL.

Generates, once (reused on later runs), N accounts, each with a supply point and an
active contract on one of three tariffs (flat, time-of-use, tiered; all with a standing
charge and 21% VAT), and hourly readings for November 2026 (720 per supply point: 72
million for 100,000 accounts) in the benchmark's own tuned embedded PostgreSQL
(database ``wattline_billbench``; see _setup.py). Then it clears earlier bills, starts
``--workers`` Celery worker processes on Redis, runs the real bill run (preview, then
issue) and prints the time of each phase, ending with one line
``bills_per_s=<number> total_s=<number>``.

    python benchmarks/bill_run.py --accounts 100000 [--workers 2] [--chunk-size 1000]

PDF rendering is switched off here (WATTLINE_BILLING_RENDER_PDFS=false); its rate is
measured by bench_billing_pages.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import _setup

ROOT = _setup.ROOT
PERIOD_START = dt.date(2026, 11, 1)
PERIOD_END = dt.date(2026, 12, 1)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
TARIFFS = ("BENCH-FLAT", "BENCH-TOU", "BENCH-TIERED")


def _database_url() -> str:
    url = os.environ.get("BENCH_BILLING_DATABASE_URL")
    if url:
        return url
    head, _name, sep, query = _setup._split(_setup.bench_database_url())
    return f"{head}/wattline_billbench{sep}{query}"


def _prepare_environment() -> None:
    os.environ["BENCH_DATABASE_URL"] = _database_url()
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["WATTLINE_BILLING_RENDER_PDFS"] = "false"
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("WATTLINE_LOG_LEVEL", "WARNING")
    _setup.setup_django()


def _tariffs() -> list[int]:
    from decimal import Decimal

    from apps.tariffs.models import EnergyRate, PriceVersion, Tariff, TaxRate

    ids = []
    tou_day = [["P2"] * 8 + ["P1"] * 16] * 12
    for code in TARIFFS:
        tariff, created = Tariff.objects.get_or_create(
            code=code, defaults={"name": code.replace("-", " ").title(), "is_public": False}
        )
        ids.append(tariff.pk)
        if not created:
            continue
        kind = {
            "BENCH-FLAT": PriceVersion.EnergyKind.FLAT,
            "BENCH-TOU": PriceVersion.EnergyKind.TIME_OF_USE,
            "BENCH-TIERED": PriceVersion.EnergyKind.TIERED,
        }[code]
        version = PriceVersion.objects.create(
            tariff=tariff,
            valid_from=dt.date(2025, 1, 1),
            energy_kind=kind,
            standing_charge_per_day=Decimal("0.120000"),
            weekday_schedule=tou_day if code == "BENCH-TOU" else None,
        )
        if code == "BENCH-FLAT":
            EnergyRate.objects.create(version=version, rate=Decimal("0.150000"))
        elif code == "BENCH-TOU":
            EnergyRate.objects.create(version=version, period="P1", rate=Decimal("0.200000"))
            EnergyRate.objects.create(version=version, period="P2", rate=Decimal("0.100000"))
        else:
            EnergyRate.objects.create(
                version=version, tier=1, upto_kwh=Decimal("300"), rate=Decimal("0.110000")
            )
            EnergyRate.objects.create(version=version, tier=2, rate=Decimal("0.170000"))
        TaxRate.objects.create(
            version=version,
            code="VAT",
            name="VAT",
            rate_percent=Decimal("21"),
            base=["STANDING_CHARGE", "ENERGY"],
        )
    return ids


def _generate(accounts: int) -> float:
    """Create what is missing for ``accounts`` accounts; returns the seconds spent."""
    from django.db import connection

    from apps.accounts.models import Account, Address, Customer
    from apps.contracts.models import Contract
    from apps.metering.identifiers import make_cups
    from apps.metering.models import Premise, SupplyPoint
    from apps.metering.partitions import ensure_reading_partitions

    started = time.perf_counter()
    tariff_ids = _tariffs()
    have = Account.objects.filter(number__startswith="BB").count()
    if have < accounts:
        print(f"generating accounts {have + 1}..{accounts}", flush=True)
        batch = 5000
        for low in range(have, accounts, batch):
            serials = range(low + 1, min(low + batch, accounts) + 1)
            addresses = Address.objects.bulk_create(
                [
                    Address(line1=f"Calle Bench {n}", postcode="28013", city="Madrid")
                    for n in serials
                ]
            )
            customers = Customer.objects.bulk_create(
                [
                    Customer(name=f"Bench Customer {n}", email=f"bench{n}@bench.test")
                    for n in serials
                ]
            )
            account_rows = Account.objects.bulk_create(
                [
                    Account(number=f"BB{n:08d}", customer=c, billing_address=a, billing_day=1)
                    for n, c, a in zip(serials, customers, addresses, strict=True)
                ]
            )
            premises = Premise.objects.bulk_create([Premise(address=a) for a in addresses])
            points = SupplyPoint.objects.bulk_create(
                [
                    SupplyPoint(external_id=make_cups(7777, n), premise=p)
                    for n, p in zip(serials, premises, strict=True)
                ]
            )
            Contract.objects.bulk_create(
                [
                    Contract(
                        number=f"CB{n:09d}",
                        account=account,
                        supply_point=point,
                        tariff_id=tariff_ids[n % 3],
                        start_date=dt.date(2025, 1, 1),
                        status=Contract.Status.ACTIVE,
                    )
                    for n, account, point in zip(serials, account_rows, points, strict=True)
                ]
            )
    ensure_reading_partitions(first=PERIOD_START - dt.timedelta(days=1), last=PERIOD_END)
    point_ids = list(
        SupplyPoint.objects.filter(external_id__startswith=make_cups(7777, 1)[:8])
        .order_by("pk")
        .values_list("pk", flat=True)[:accounts]
    )
    url = os.environ["DATABASE_URL"]
    first_hour = dt.datetime.combine(PERIOD_START, dt.time.min, tzinfo=dt.UTC) - dt.timedelta(
        hours=1
    )
    days = (PERIOD_END - PERIOD_START).days
    last_point = point_ids[-1]

    def load(day: int) -> bool:
        """One day's readings of every supply point, as a daily head-end file arrives."""
        import psycopg

        day_start = first_hour + dt.timedelta(days=day)
        with psycopg.connect(url, autocommit=True) as conn:
            present = conn.execute(
                "SELECT 1 FROM metering_intervalreading WHERE supply_point_id = %s "
                "AND interval_start = %s",
                [last_point, day_start + dt.timedelta(hours=23)],
            ).fetchone()
            if present:
                return False
            conn.execute("SET synchronous_commit = off")
            conn.execute(
                """
                INSERT INTO metering_intervalreading
                    (supply_point_id, interval_start, duration_minutes, kwh_import,
                     kwh_export, quality, source, received_at)
                SELECT sp, t, 60,
                       ((sp * 7919 + (extract(epoch FROM t)::bigint / 3600) * 104729)
                        %% 1500)::numeric / 1000,
                       0, 'ACTUAL', 'bench', %s
                  FROM unnest(%s::bigint[]) AS sp,
                       generate_series(%s::timestamptz, %s::timestamptz, interval '1 hour') AS t
                 ORDER BY sp, t
                ON CONFLICT DO NOTHING
                """,
                [
                    day_start + dt.timedelta(days=1),
                    point_ids,
                    day_start,
                    day_start + dt.timedelta(hours=23),
                ],
            )
        return True

    with ThreadPoolExecutor(max_workers=2) as pool:
        loaded = sum(pool.map(load, range(days)))
    if loaded:
        print(f"loaded {loaded} days of hourly readings for {len(point_ids)} supply points")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE metering_intervalreading")
    return time.perf_counter() - started


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE billing_billline, billing_billissue, billing_ledgerentry, billing_payment, "
            "billing_dunningnotice, billing_bill, billing_billrunchunk, billing_billrun, "
            "billing_invoiceseries CASCADE"
        )
        cursor.execute(
            "DELETE FROM auditlog_logentry WHERE content_type_id IN "
            "(SELECT id FROM django_content_type WHERE app_label = 'billing')"
        )


def _start_workers(count: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"]}
    log = (ROOT / "var" / "bench-billing-worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(count),
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
    raise SystemExit("the Celery workers did not start (see var/bench-billing-worker.log)")


def _wait_for(run_id: int, status: str, *, timeout: float) -> None:
    from apps.billing.models import BillRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if BillRun.objects.filter(pk=run_id, status=status).exists():
            return
        time.sleep(0.2)
    raise SystemExit(f"run {run_id} did not reach {status} within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()
    _prepare_environment()
    generated = _generate(args.accounts)
    print(f"data ready in {generated:.1f} s (reused when already there)", flush=True)
    _reset()
    from django.db.models import Sum

    from apps.billing import run as runs
    from apps.billing.models import Bill, BillRunChunk, LedgerEntry
    from config.celery import app

    app.control.purge()
    worker = _start_workers(args.workers)
    try:
        started = time.perf_counter()
        bill_run = runs.bill_run_create(
            billing_day=1, period_start=PERIOD_START, actor=None, chunk_size=args.chunk_size
        )
        _wait_for(bill_run.pk, "PREVIEWED", timeout=1800)
        previewed = time.perf_counter()
        bill_run.refresh_from_db()
        runs.bill_run_issue(run=bill_run, actor=None)
        _wait_for(bill_run.pk, "ISSUED", timeout=1800)
        issued = time.perf_counter()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    bills = Bill.objects.filter(run=bill_run, status=Bill.Status.ISSUED).count()
    held = Bill.objects.filter(run=bill_run, status=Bill.Status.HELD).count()
    total = Bill.objects.filter(run=bill_run).aggregate(total=Sum("total"))["total"]
    chunks = BillRunChunk.objects.filter(run=bill_run)
    compute = sum(c.seconds.get("compute", 0) for c in chunks if c.phase == "PREVIEW")
    store = sum(c.seconds.get("store", 0) for c in chunks if c.phase == "PREVIEW")
    issue = sum(c.seconds.get("issue", 0) for c in chunks if c.phase == "ISSUE")
    ledger = LedgerEntry.objects.filter(bill__run=bill_run).count()
    elapsed = issued - started
    print(f"accounts={bill_run.accounts_total} bills_issued={bills} held={held} ledger={ledger}")
    print(f"amount_total={total}")
    print(f"preview_s={previewed - started:.1f} issue_s={issued - previewed:.1f}")
    print(
        f"worker_seconds: aggregate_and_rate={compute:.1f} store={store:.1f} issue={issue:.1f} "
        f"(summed over {args.workers} workers)"
    )
    print(f"bills_per_s={bills / elapsed:.0f} total_s={elapsed:.1f}")


if __name__ == "__main__":
    main()
