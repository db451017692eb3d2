"""``manage.py rate --tariff CODE --readings FILE.csv [--json]``: what-if pricing for staff."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tariffs import selectors, services


def months_as_json(tariff_code: str, months: list[services.MonthResult]) -> dict[str, Any]:
    return {
        "tariff": tariff_code,
        "months": [
            {
                "month": month.month,
                "lines": [
                    {
                        "component": line.component,
                        "period": line.period,
                        "tier": line.tier,
                        "quantity": str(services.shown_quantity(line)),
                        "unit_price": str(services.shown_unit_price(line)),
                        "amount": str(line.amount),
                    }
                    for line in month.lines
                ],
                "total": str(month.total),
            }
            for month in months
        ],
    }


class Command(BaseCommand):
    help = (
        "Price a CSV of interval readings (header: start,minutes,kwh_import,kwh_export; start "
        "in ISO 8601 with offset) on a tariff and print each month's lines and total. "
        "Stores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tariff", required=True, help="Tariff code.")
        parser.add_argument("--readings", required=True, type=Path, help="CSV of readings.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of tables.")

    def handle(self, *args: Any, **options: Any) -> None:
        code = options["tariff"]
        tariff = selectors.tariff_by_code(code=code)
        if tariff is None:
            raise CommandError(f"--tariff: no tariff with code {code!r}.")
        path: Path = options["readings"]
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                months = services.tariff_price_readings(tariff=tariff, readings_csv=stream)
        except OSError as error:
            raise CommandError(f"--readings: cannot read {path} ({error.strerror}).") from error
        except services.TariffError as error:
            raise CommandError(f"{path}:\n{error}") from error
        if options["json"]:
            self.stdout.write(json.dumps(months_as_json(tariff.code, months), indent=2))
            return
        self._print_tables(tariff.code, tariff.currency, months)

    def _print_tables(self, code: str, currency: str, months: list[services.MonthResult]) -> None:
        header = ("component", "period", "tier", "quantity", "unit", "unit price", "amount")
        widths = (16, 8, 4, 14, 5, 14, 12)
        self.stdout.write(f"Tariff {code} ({currency})")
        for month in months:
            self.stdout.write("")
            self.stdout.write(
                f"{month.month}  import {month.kwh_import.quantize(Decimal('0.001'))} kWh, "
                f"export {month.kwh_export.quantize(Decimal('0.001'))} kWh"
            )
            self.stdout.write(_row(header, widths))
            for line in month.lines:
                cells = (
                    line.component,
                    line.period,
                    "" if line.tier is None else str(line.tier),
                    str(services.shown_quantity(line)),
                    line.unit,
                    str(services.shown_unit_price(line)),
                    str(line.amount),
                )
                self.stdout.write(_row(cells, widths))
            self.stdout.write(_row(("TOTAL", "", "", "", "", "", str(month.total)), widths))


def _row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    parts = []
    for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        parts.append(cell.ljust(width) if index < 3 or index == 4 else cell.rjust(width))
    return "  ".join(parts).rstrip()
