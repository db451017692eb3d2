"""Recompute customers' consumption band and solar flag from their readings.

Lives in the portal app because the rules need contracts and readings, which
the accounts app (where the Customer admin is) may not import. Idempotent:
run it nightly or after a large import.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.accounts.models import Customer
from apps.contracts.segmentation import customer_segments_refresh
from apps.core import clock


class Command(BaseCommand):
    help = "Refresh customer segments (annual consumption band, has solar) from meter readings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customer",
            type=int,
            action="append",
            dest="customer_ids",
            metavar="ID",
            help="Only this customer (repeatable). Default: every customer.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = clock.now()
        customers = Customer.objects.order_by("id")
        if options["customer_ids"]:
            customers = customers.filter(pk__in=options["customer_ids"])
        counts: dict[str, int] = {}
        total = 0
        for customer in customers.iterator(chunk_size=500):
            result = customer_segments_refresh(customer=customer, now=now)
            counts[result.consumption_band] = counts.get(result.consumption_band, 0) + 1
            total += 1
        summary = ", ".join(f"{band} {count}" for band, count in sorted(counts.items()))
        self.stdout.write(f"Refreshed {total} customers as of {now.isoformat()}: {summary or '-'}")
