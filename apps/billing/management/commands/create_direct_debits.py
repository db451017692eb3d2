"""manage.py create_direct_debits --date YYYY-MM-DD — build the pain.008 file for a day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.billing.direct_debit import DirectDebitError, direct_debit_batch_create


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"date: “{value}” is not a date in the form YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        "Collect every issued bill due by the given date whose account has an active SEPA "
        "mandate: one pain.008.001.02 file, validated against its schema, and one pending "
        "payment per bill. Running it again for the same date creates nothing new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", required=True, help="Collection date, YYYY-MM-DD.")
        parser.add_argument("--output", type=Path, help="Also write the XML file here (optional).")

    def handle(self, *args: Any, **options: Any) -> None:
        collection_date = _date(options["date"])
        try:
            batch = direct_debit_batch_create(collection_date=collection_date, actor=None)
        except DirectDebitError as exc:
            raise CommandError(str(exc)) from None
        if batch is None:
            self.stdout.write(f"Nothing to collect on {collection_date.isoformat()}.")
            return
        output: Path | None = options.get("output")
        if output is not None:
            output.write_text(batch.xml, encoding="utf-8")
        self.stdout.write(
            f"Batch {batch.message_id} for {batch.collection_date.isoformat()}: "
            f"{batch.payment_count} debits, {batch.total} EUR."
        )
