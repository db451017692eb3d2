"""manage.py import_bank_statement FILE — import a camt.053 statement and match its credits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.billing.bank_statements import BankStatementRefused, bank_statement_import

ACTOR_LABEL = "command:import_bank_statement"


class Command(BaseCommand):
    help = (
        "Import an ISO 20022 camt.053.001.02 bank statement: credits are matched to bills "
        "and booked; the rest waits for review in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"file: {path} does not exist or is not a file.")
        try:
            summary = bank_statement_import(
                file_name=path.name,
                content=path.read_bytes(),
                actor=None,
                actor_label=ACTOR_LABEL,
            )
        except BankStatementRefused as exc:
            raise CommandError("\n".join(exc.messages)) from None
        self.stdout.write(
            f"Statement {summary.statement.statement_id} ({summary.statement.iban}): "
            f"{summary.credits} credits — {summary.matched} matched, {summary.partial} partly "
            f"paid, {summary.overpaid} overpaid, {summary.unmatched} waiting for review; "
            f"{summary.returns_booked} returns booked; "
            f"{summary.debits_ignored} other debits and {summary.not_booked_ignored} unbooked "
            f"credits ignored. Booked {summary.amount_booked} EUR, "
            f"{summary.amount_unmatched} to review."
        )
