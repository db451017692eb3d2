"""The operations dashboard on the bill-run data: 100,000 supply points, 72 M readings.

    python benchmarks/bench_ops_dashboard.py [--accounts 100000] [--runs 10]

Reuses (or generates) the data of ``bill_run.py``: hourly readings for November 2026.
The dashboard is looked at as of 30 November, 12:00 local time. Prints:

* the roll-up of the month's 29 finished days from the readings (once, as the hourly
  task or the first look after a deploy would do it), and the same days summed straight
  from the readings as the dashboard did before the roll-up;
* the dashboard's figures with the roll-up in place: with today's figures read live
  (the first look each minute) and with them shared (every other look that minute);

ending with ``ops_dashboard_live_today_median_ms=... ops_dashboard_cached_median_ms=...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import bill_run


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    bill_run._prepare_environment()
    bill_run._generate(args.accounts)

    from django.core.cache import cache

    from apps.core import clock
    from apps.portal import ops_dashboard as ops
    from apps.portal.models import SalesDay, SalesDayComputed

    tz = clock.local_zone()
    as_of = dt.datetime(2026, 11, 30, 12, tzinfo=tz)
    first, today = dt.date(2026, 11, 1), dt.date(2026, 11, 30)

    began = time.perf_counter()
    ops._sales(first=first, end=today)
    straight = time.perf_counter() - began
    print(f"month so far straight from the readings (as before the roll-up): {_ms(straight)} ms")

    SalesDay.objects.all().delete()
    SalesDayComputed.objects.all().delete()
    began = time.perf_counter()
    days = ops.sales_days_sum(first=first, end=today, now=as_of)
    print(f"roll-up of {days} finished days: {_ms(time.perf_counter() - began)} ms")

    live: list[float] = []
    shared: list[float] = []
    for run in range(args.runs):
        cache.clear()
        moment = as_of + dt.timedelta(minutes=run)
        began = time.perf_counter()
        ops.ops_figures(as_of=moment)
        live.append(time.perf_counter() - began)
        began = time.perf_counter()
        figures = ops.ops_figures(as_of=moment)
        shared.append(time.perf_counter() - began)
    print(
        f"dashboard, today read live: median {_ms(statistics.median(live))} ms "
        f"(min {_ms(min(live))}, max {_ms(max(live))}) over {args.runs} runs"
    )
    print(
        f"dashboard, today shared: median {_ms(statistics.median(shared))} ms "
        f"(min {_ms(min(shared))}, max {_ms(max(shared))})"
    )
    print(f"month so far: {figures.by_tariff.total.kwh_month} kWh")
    print(
        f"ops_dashboard_live_today_median_ms={_ms(statistics.median(live))} "
        f"ops_dashboard_cached_median_ms={_ms(statistics.median(shared))}"
    )


if __name__ == "__main__":
    main()
