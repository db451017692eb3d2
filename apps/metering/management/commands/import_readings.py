"""manage.py import_readings FILE [--format csv] [--strict]"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.metering.ingestion import BadHeader, csv_candidates, ingest_candidates


def guess_format(head: str) -> str:
    text = head.lstrip("\ufeff \r\n\t")
    return "espi" if text.startswith("<") else "csv"


class Command(BaseCommand):
    help = "Import interval readings from a CSV file (one reading per line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["csv", "espi"], default=None)
        parser.add_argument(
            "--strict", action="store_true", help="Store nothing if any row is invalid."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"file: {path} does not exist or is not a file.")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            fmt = options["format"] or guess_format(handle.read(512))
            handle.seek(0)
            if fmt != "csv":
                raise CommandError("format: ESPI XML import is not available yet; use CSV.")
            try:
                report = ingest_candidates(
                    csv_candidates(handle),
                    source="CSV",
                    filename=path.name,
                    strict=options["strict"],
                    actor_label="command:import_readings",
                )
            except BadHeader as exc:
                raise CommandError(f"header: {exc}") from None
        summary = {
            "batch": report.batch_id,
            "status": report.status,
            "rows": report.rows_total,
            "inserted": report.inserted,
            "corrected": report.corrected,
            "unchanged": report.unchanged,
            "ignored_estimates": report.ignored,
            "invalid": report.invalid,
            "errors": [e.as_dict() for e in report.errors[:50]],
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(
                f"import #{report.batch_id} {report.status}: {report.rows_total} rows, "
                f"{report.inserted} new, {report.corrected} corrected, {report.unchanged} "
                f"unchanged, {report.ignored} estimates ignored, {report.invalid} invalid"
            )
            for error in report.errors[:50]:
                self.stdout.write(f"  row {error.row}, {error.field}: {error.reason} {error.value}")
        if report.status == "REJECTED":
            raise CommandError("strict mode: nothing was stored because some rows are invalid.")
