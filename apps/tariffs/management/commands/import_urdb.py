"""``manage.py import_urdb FILE --code CODE [--time-zone TZ] [--valid-from DATE]``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core import clock
from apps.tariffs import services


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--valid-from: {value!r} is not a date (YYYY-MM-DD).") from error


class Command(BaseCommand):
    help = (
        "Import an OpenEI URDB rate (a record or an API response with one item) as a new, "
        "unpublished tariff with one price version in force from --valid-from."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="URDB JSON file.")
        parser.add_argument("--code", required=True, help="Code of the new tariff (unique).")
        parser.add_argument(
            "--time-zone",
            default=None,
            help="Time zone of the schedules (default: settings.TIME_ZONE).",
        )
        parser.add_argument(
            "--valid-from", default=None, help="First day of the price version (default: today)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        time_zone = options["time_zone"] or settings.TIME_ZONE
        valid_from = _date(options["valid_from"]) if options["valid_from"] else clock.today()
        try:
            with path.open("rb") as stream:
                data = services.urdb_read_json(stream=stream)
        except OSError as error:
            raise CommandError(f"{path}: cannot read the file ({error.strerror}).") from error
        except services.UrdbImportRefused as error:
            raise CommandError(f"{path}: {error}") from error
        try:
            tariff = services.tariff_import_urdb(
                data=data,
                code=options["code"],
                time_zone=time_zone,
                valid_from=valid_from,
                actor=None,
            )
        except services.TariffError as error:
            raise CommandError(str(error)) from error
        version = tariff.versions.get()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {tariff} ({version.get_energy_kind_display()}, "
                f"{version.energy_rates.count()} energy rates) in force from "
                f"{version.valid_from.isoformat()} in {tariff.time_zone}; not yet public."
            )
        )
