"""manage.py import_readings FILE [--format csv|espi] [--supply-point [N=]CUPS ...] [--strict]"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.metering.espi import EspiFeedError, espi_import
from apps.metering.ingestion import BadHeader, IngestReport, csv_candidates, ingest_candidates

ACTOR_LABEL = "command:import_readings"


def guess_format(head: str) -> str:
    text = head.lstrip("\ufeff \r\n\t")
    return "espi" if text.startswith("<") else "csv"


def _espi_mapping(values: list[str]) -> tuple[str | None, dict[str, str]]:
    """``--supply-point`` values: one plain CUPS, or ``N=CUPS`` per usage point."""
    plain = [v for v in values if "=" not in v]
    pairs = dict(v.split("=", 1) for v in values if "=" in v)
    if len(plain) > 1:
        raise CommandError(
            "supply-point: give one CUPS for a file with one usage point, or NUMBER=CUPS "
            "for each usage point."
        )
    return (plain[0] if plain else None), {k.strip(): v.strip() for k, v in pairs.items()}


class Command(BaseCommand):
    help = (
        "Import interval readings from a CSV file (one reading per line) or a Green Button "
        "(ESPI XML) file; the format is guessed from the content unless --format is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["csv", "espi"], default=None)
        parser.add_argument(
            "--supply-point",
            action="append",
            default=[],
            metavar="[N=]CUPS",
            help=(
                "ESPI only: the supply point (CUPS) the feed's usage point is; for a feed "
                "with several usage points, N=CUPS for each (N as listed in the error)."
            ),
        )
        parser.add_argument(
            "--strict", action="store_true", help="Store nothing if any row is invalid."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"file: {path} does not exist or is not a file.")
        with path.open("rb") as raw:
            head = raw.read(512).decode("utf-8", errors="replace")
        fmt = options["format"] or guess_format(head)
        if fmt == "espi":
            report = self._espi(path, options)
        else:
            if options["supply_point"]:
                raise CommandError(
                    "supply-point: only for ESPI files; a CSV file names the supply point "
                    "on every line."
                )
            report = self._csv(path, options)
        self._print(report, fmt=fmt, as_json=options["json"])
        if report.status == "REJECTED":
            raise CommandError("strict mode: nothing was stored because some rows are invalid.")

    def _csv(self, path: Path, options: dict[str, Any]) -> IngestReport:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            try:
                return ingest_candidates(
                    csv_candidates(handle),
                    source="CSV",
                    filename=path.name,
                    strict=options["strict"],
                    actor_label=ACTOR_LABEL,
                )
            except BadHeader as exc:
                raise CommandError(f"header: {exc}") from None

    def _espi(self, path: Path, options: dict[str, Any]) -> IngestReport:
        supply_point, usage_points = _espi_mapping(options["supply_point"])
        try:
            return espi_import(
                source=path,
                supply_point=supply_point,
                usage_points=usage_points,
                filename=path.name,
                strict=options["strict"],
                actor_label=ACTOR_LABEL,
            )
        except EspiFeedError as exc:
            raise CommandError(str(exc)) from None

    def _print(self, report: IngestReport, *, fmt: str, as_json: bool) -> None:
        if as_json:
            summary = {
                "batch": report.batch_id,
                "format": fmt,
                "status": report.status,
                "rows": report.rows_total,
                "inserted": report.inserted,
                "corrected": report.corrected,
                "unchanged": report.unchanged,
                "ignored_estimates": report.ignored,
                "invalid": report.invalid,
                "errors": [e.as_dict() for e in report.errors[:50]],
            }
            self.stdout.write(json.dumps(summary, indent=2))
            return
        unit = "readings" if fmt == "espi" else "rows"
        self.stdout.write(
            f"import #{report.batch_id} {report.status}: {report.rows_total} {unit}, "
            f"{report.inserted} new, {report.corrected} corrected, {report.unchanged} "
            f"unchanged, {report.ignored} estimates ignored, {report.invalid} invalid"
        )
        for error in report.errors[:50]:
            if fmt == "espi" and error.field.startswith("IntervalReading["):
                where = error.field
            elif fmt == "espi":
                where = f"IntervalReading[{error.row}], {error.field}"
            else:
                where = f"row {error.row}, {error.field}"
            self.stdout.write(f"  {where}: {error.reason} {error.value}".rstrip())
        if len(report.errors) > 50:
            self.stdout.write(f"  … and {len(report.errors) - 50} more")
