"""Benchmark: the customer's billing pages for an account with 24 bills and 100 payments.

    python benchmarks/bench_billing_pages.py [--runs 30] [--warmup 3] [--render 10]

Uses the benchmark database (``_setup.py``: ``BENCH_DATABASE_URL``, else a tuned embedded
PostgreSQL), migrated. Creates once a customer whose account has 24 monthly bills issued
through the real issue path (``issuing.bills_issue``: numbers, references, ledger entries),
each with a supply summary, time-of-use lines, taxes and 30 days of daily consumption, and
100 bank-transfer payments booked through ``ledger.payment_record``. Later runs reuse them.

Then, through Django's test client with the customer signed in (DEBUG off), it times
``/my/billing/`` and the download of the latest bill's stored PDF ``--runs`` times each after
``--warmup`` untimed requests, and renders ``--render`` bills with WeasyPrint (not stored).
PDFs are written to a temporary MEDIA_ROOT that is removed at the end.

Prints its figures and ends with ``history_median_ms=... pdf_download_median_ms=...`` and
``pdf_bills_per_s=...`` (target: both medians under 150 ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_DEBUG", "0")
from _setup import setup_django

EMAIL = "bench-billing@bench.wattline.test"
BILLS = 24
PAYMENTS = 100


def _prepare() -> tuple[object, object]:
    from zoneinfo import ZoneInfo

    from allauth.account.models import EmailAddress
    from django.db import transaction

    from apps.accounts.models import Account, Address, Customer, Membership, User
    from apps.billing import ledger
    from apps.billing.issuing import bills_issue
    from apps.billing.models import Bill, BillLine, Payment

    madrid = ZoneInfo("Europe/Madrid")
    user = User.objects.filter(email=EMAIL).first()
    if user is None:
        with transaction.atomic():
            user = User.objects.create_user(email=EMAIL, password=None)
            EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
            customer = Customer.objects.create(name="Benchmark Billing Customer", email=EMAIL)
            address = Address.objects.create(
                line1="Calle del Benchmark 24", postcode="28001", city="Madrid"
            )
            account = Account.objects.create(
                number="A-BENCH-BILL", customer=customer, billing_address=address
            )
            Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
    account = Account.objects.get(memberships__user=user)
    existing = Bill.objects.filter(account=account, status=Bill.Status.ISSUED).count()
    if existing < BILLS:
        first = dt.date(2024, 1, 1)
        for month in range(existing, BILLS):
            start = dt.date(first.year + month // 12, month % 12 + 1, 1)
            end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
            days = (end - start).days
            kwh = [
                Decimal(f"{7 + (day * 13 + month) % 9}.{(day * 7) % 1000:03d}")
                for day in range(days)
            ]
            total_kwh = sum(kwh, Decimal(0))
            energy = {"P1": total_kwh * 4 / 10, "P2": total_kwh * 3 / 10}
            energy["P3"] = total_kwh - energy["P1"] - energy["P2"]
            rates = {
                "P1": Decimal("0.231234"),
                "P2": Decimal("0.152222"),
                "P3": Decimal("0.091111"),
            }
            standing = (Decimal("0.104") * days).quantize(Decimal("0.01"))
            amounts = {p: (energy[p] * rates[p]).quantize(Decimal("0.01")) for p in rates}
            subtotal = standing + sum(amounts.values(), Decimal(0))
            vat = (subtotal * Decimal("0.21")).quantize(Decimal("0.01"))
            starts = dt.datetime.combine(start, dt.time(), tzinfo=madrid)
            ends = dt.datetime.combine(end, dt.time(), tzinfo=madrid)
            with transaction.atomic():
                bill = Bill.objects.create(
                    kind=Bill.Kind.BILL,
                    status=Bill.Status.DRAFT,
                    account=account,
                    period_start=start,
                    period_end=end,
                    account_number=account.number,
                    customer_name=account.customer.name,
                    billing_address="Calle del Benchmark 24\n28001 Madrid",
                    supply_summary=[
                        {
                            "contract": "C-BENCH-1",
                            "cups": "ES0021000000999901QZ",
                            "address": "Calle del Benchmark 24\n28001 Madrid",
                            "tariff": "Benchmark time of use",
                            "from": start.isoformat(),
                            "to": end.isoformat(),
                            "standing_charge_per_day": "0.104000",
                            "rates": [
                                {"period": p, "tier": 1, "rate": str(r)} for p, r in rates.items()
                            ],
                        }
                    ],
                    kwh_import=total_kwh,
                    subtotal=subtotal,
                    tax_total=vat,
                    total=subtotal + vat,
                    readings_actual=days * 96 - 10,
                    readings_estimated=10,
                    minutes_expected=days * 1440,
                    minutes_read=days * 1440,
                    daily_kwh=[
                        [(start + dt.timedelta(days=d)).isoformat(), str(k)]
                        for d, k in enumerate(kwh)
                    ],
                    computed_at=ends,
                )
                lines = [("STANDING_CHARGE", "", Decimal(days), "day", Decimal("0.104"), standing)]
                lines += [("ENERGY", p, energy[p], "kWh", rates[p], amounts[p]) for p in rates]
                lines.append(("TAX", "VAT", Decimal(21), "%", subtotal, vat))
                BillLine.objects.bulk_create(
                    BillLine(
                        bill=bill,
                        position=position,
                        contract_number="C-BENCH-1",
                        component=component,
                        period=period,
                        quantity=quantity,
                        unit=unit,
                        unit_price=price,
                        amount=amount,
                        label="VAT" if component == "TAX" else "",
                        starts_at=starts,
                        ends_at=ends,
                    )
                    for position, (component, period, quantity, unit, price, amount) in enumerate(
                        lines, start=1
                    )
                )
            bills_issue(bill_ids=[bill.pk], now=ends + dt.timedelta(days=1, hours=9))
    paid = Payment.objects.filter(account=account).count()
    bills = list(Bill.objects.filter(account=account).order_by("issued_at"))
    for number in range(paid, PAYMENTS):
        bill = bills[number % len(bills)]
        ledger.payment_record(
            account=account,
            amount=Decimal("12.34") + number,
            method=Payment.Method.BANK_TRANSFER,
            bill=bill if number % 4 else None,
            actor_label="bench",
            received_at=(bill.issued_at or ends) + dt.timedelta(days=1 + number % 20),
        )
    print(
        f"account {account.number}: {Bill.objects.filter(account=account).count()} bills, "
        f"{Payment.objects.filter(account=account).count()} payments"
    )
    return user, account


def _time(client: object, url: str, runs: int, *, stream: bool = False) -> list[float]:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)  # type: ignore[attr-defined]
        if stream:
            body = b"".join(response.streaming_content)
            assert body.startswith(b"%PDF-")
        timings.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--render", type=int, default=10, help="bills to render for the rate")
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    media = tempfile.mkdtemp(prefix="wattline-bench-media-")
    settings.MEDIA_ROOT = media
    try:
        from apps.billing.models import Bill
        from apps.billing.pdf import bill_pdf_render, bill_pdf_store

        user, account = _prepare()
        client = Client()
        client.force_login(user)
        history_url = reverse("billing:history")
        _time(client, history_url, args.warmup)
        with CaptureQueriesContext(connection) as queries:
            client.get(history_url)
        print(f"history page: {len(queries)} queries")
        history = _time(client, history_url, args.runs)

        bills = list(Bill.objects.filter(account=account).order_by("-issued_at", "-id"))
        latest = bills[0]
        Bill.objects.filter(pk=latest.pk).update(pdf="", pdf_rendered_at=None)
        latest.refresh_from_db()
        began = time.perf_counter()
        bill_pdf_store(bill=latest)
        took = (time.perf_counter() - began) * 1000
        print(f"first render and store of {latest.invoice_number}: {took:.0f} ms")
        pdf_url = reverse("billing:bill_pdf", args=[latest.pk])
        _time(client, pdf_url, args.warmup, stream=True)
        download = _time(client, pdf_url, args.runs, stream=True)

        count = min(args.render, len(bills))
        began = time.perf_counter()
        size = 0
        for bill in bills[:count]:
            size += len(bill_pdf_render(bill=bill))
        seconds = time.perf_counter() - began
        print(f"rendered {count} bills in {seconds:.2f} s ({size / count / 1024:.0f} KiB each)")

        print(
            f"history page over {args.runs} runs: median {statistics.median(history):.1f} ms, "
            f"min {min(history):.1f} ms, max {max(history):.1f} ms"
        )
        print(
            f"PDF download over {args.runs} runs: median {statistics.median(download):.1f} ms, "
            f"min {min(download):.1f} ms, max {max(download):.1f} ms"
        )
        print(
            f"history_median_ms={statistics.median(history):.1f} "
            f"pdf_download_median_ms={statistics.median(download):.1f}"
        )
        print(f"pdf_bills_per_s={count / seconds:.2f}")
    finally:
        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
