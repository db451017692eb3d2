"""Benchmark: bulk ingestion of interval readings through the real ingestion service.

    python benchmarks/ingest.py --readings 10000000 [--supply-points 10000] [--workers 3]

Generates head-end style daily files (every supply point's 15-minute readings
for one day: 10,000 × 96 ≈ 960,000 rows, ~60 MB) under benchmarks/data/,
ingests them with ``apps.metering.ingestion.ingest_candidates`` (checked rows
binary-COPYed straight into the partitioned table, conflicts through staging)
in ``--workers`` processes, then re-ingests one file to show that nothing new
is stored. Prints its figures and ends with ``readings_per_s=<number>``.

Three workers on two cores: each worker alternates between Python (reading and
checking a chunk) and its PostgreSQL backend (taking the COPY), so a third one
keeps both cores busy and evens out the last of the 11 files
(docs/decisions/0007-reading-ingestion.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import DATA, setup_django

INTERVAL = dt.timedelta(minutes=15)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HEADER = "supply_point,interval_start,duration_minutes,kwh_import,kwh_export,quality\n"


def cups_list(count: int) -> list[str]:
    from apps.metering.identifiers import make_cups

    return [make_cups(9999, serial) for serial in range(1, count + 1)]


def generate_files(cups: list[str], intervals: int) -> list[Path]:
    folder = DATA / f"ingest_{len(cups)}x{intervals}"
    folder.mkdir(parents=True, exist_ok=True)
    per_day = 96
    days = -(-intervals // per_day)
    files = []
    rng = random.Random(7)
    for day in range(days):
        path = folder / f"readings_{(START + dt.timedelta(days=day)).date()}.csv"
        files.append(path)
        if path.exists():
            continue
        first = day * per_day
        count = min(per_day, intervals - first)
        times = [(START + INTERVAL * (first + i)).isoformat() for i in range(count)]
        with path.open("w") as out:
            out.write(HEADER)
            for code in cups:
                base = rng.randint(50, 400)
                out.write(
                    "".join(
                        f"{code},{t},15,0.{(base + (i * 37) % 200):03d},0.000,ACTUAL\n"
                        for i, t in enumerate(times)
                    )
                )
    return files


def ensure_supply_points(cups: list[str]) -> None:
    from apps.accounts.models import Address
    from apps.metering.models import Premise, SupplyPoint

    existing = set(
        SupplyPoint.objects.filter(external_id__in=cups).values_list("external_id", flat=True)
    )
    missing = [c for c in cups if c not in existing]
    if not missing:
        return
    address = Address.objects.create(line1="Benchmark street 1", postcode="00000", city="Bench")
    premise = Premise.objects.create(address=address)
    SupplyPoint.objects.bulk_create(
        [SupplyPoint(external_id=c, premise=premise) for c in missing], batch_size=5000
    )


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine, if readable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ingest_file(path: str) -> tuple[str, int, int, int, float, float, float | None]:
    setup_django(migrate=False)
    from django.db import connection

    from apps.metering.ingestion import csv_candidates, ingest_candidates

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid  # type: ignore[union-attr]
    backend_began = _backend_cpu(backend)
    cpu_began = time.process_time()
    began = time.perf_counter()
    with open(path, newline="") as handle:
        report = ingest_candidates(csv_candidates(handle), source="CSV", filename=Path(path).name)
    elapsed = time.perf_counter() - began
    backend_now = _backend_cpu(backend)
    backend_cpu = (
        backend_now - backend_began
        if backend_now is not None and backend_began is not None
        else None
    )
    python_cpu = time.process_time() - cpu_began
    return (
        path,
        report.rows_total,
        report.inserted,
        report.invalid,
        elapsed,
        python_cpu,
        backend_cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--supply-points", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--keep", action="store_true", help="keep earlier readings (default: start empty)"
    )
    args = parser.parse_args()
    intervals = max(args.readings // args.supply_points, 1)

    setup_django()
    from django.db import connection

    from apps.metering.models import IntervalReading

    cups = cups_list(args.supply_points)
    ensure_supply_points(cups)
    t0 = time.perf_counter()
    files = generate_files(cups, intervals)
    print(
        f"data: {len(files)} files, {args.supply_points} supply points x {intervals} intervals "
        f"({time.perf_counter() - t0:.1f} s to generate or reuse)"
    )
    if not args.keep:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE metering_intervalreading, metering_readingrevision")
    # As in production, where metering.ensure_partitions runs ahead on beat.
    from apps.metering.partitions import ensure_reading_partitions

    last_day = (START + INTERVAL * intervals).date()
    ensure_reading_partitions(first=START.date(), last=last_day)
    connection.close()

    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(_ingest_file, [str(f) for f in files], chunksize=1)
    wall = time.perf_counter() - began
    rows = sum(r[1] for r in results)
    inserted = sum(r[2] for r in results)
    invalid = sum(r[3] for r in results)
    per_file = sorted(r[4] for r in results)
    print(
        f"ingested: {rows} rows, {inserted} new, {invalid} invalid, {wall:.1f} s wall "
        f"with {args.workers} workers; per file median {per_file[len(per_file) // 2]:.1f} s"
    )
    python_cpu = sum(r[5] for r in results)
    backend_cpus = [r[6] for r in results if r[6] is not None]
    if len(backend_cpus) == len(results):
        # What the run cost, whatever else the machine was doing: CPU seconds of the
        # workers and of their PostgreSQL backends, and the rate two otherwise idle
        # cores would give at that cost.
        cpu = python_cpu + sum(backend_cpus)
        print(
            f"cpu: {python_cpu:.1f} s Python + {sum(backend_cpus):.1f} s PostgreSQL backends"
            f" = {cpu / rows * 1e6:.2f} µs per reading; two idle cores at that cost:"
            f" {2 * rows / cpu:.0f} readings/s"
        )
    stored = IntervalReading.objects.count()
    print(f"stored readings: {stored}")

    again_began = time.perf_counter()
    _, again_rows, again_inserted, *_ = _ingest_file(str(files[0]))
    again = time.perf_counter() - again_began
    print(
        f"re-ingest of {files[0].name}: {again_rows} rows, {again_inserted} new, "
        f"{IntervalReading.objects.count() - stored} stored in addition ({again:.1f} s)"
    )
    print(f"readings_per_s={rows / wall:.0f}")


if __name__ == "__main__":
    main()
