"""Sum days of the operations dashboard's roll-up again from the readings.

The hourly task takes in late readings for the last few days; after a correction of
older readings, run this for the days it touched. Idempotent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core import clock
from apps.portal.ops_dashboard import sales_days_sum


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Sum the operations dashboard's daily sales again for local days FROM to TO."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD")
        parser.add_argument(
            "--to",
            dest="last",
            metavar="YYYY-MM-DD",
            help="Last day, included (default: yesterday).",
        )

    def handle(self, *args: Any, first: str, last: str | None, **options: Any) -> None:
        now = clock.now()
        yesterday = now.astimezone(clock.local_zone()).date() - dt.timedelta(days=1)
        start, final = _day(first), _day(last) if last else yesterday
        if final < start:
            raise CommandError("--to: the last day is before the first.")
        if final > yesterday:
            raise CommandError("--to: only finished days are summed (today is read live).")
        days = sales_days_sum(first=start, end=final + dt.timedelta(days=1), now=now)
        self.stdout.write(f"Summed {days} days, {start} to {final}.")
