"""Builders shared by the tariffs tests: tariffs with versions, URDB records, readings CSVs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from apps.tariffs.models import EnergyRate, PriceVersion, Tariff, TaxRate

MADRID = ZoneInfo("Europe/Madrid")


def urdb_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "reference-data" / "urdb"


def make_tariff(code: str, **fields: Any) -> Tariff:
    defaults: dict[str, Any] = {"name": code.replace("-", " ").title(), "segment": "ALL"}
    defaults.update(fields)
    return Tariff.objects.create(code=code, **defaults)


def make_version(
    tariff: Tariff,
    *,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    rates: Iterable[
        tuple[str, int, Decimal | None, Decimal] | tuple[str, int, Decimal | None, Decimal, str]
    ] = (),
    taxes: Iterable[tuple[str, str, Decimal, list[str]]] = (),
    **fields: Any,
) -> PriceVersion:
    """A version with ``rates`` and ``taxes``.

    ``rates``: (period, tier, upto_kwh, rate[, period_name]); ``taxes``: (code, name, %, base).
    """
    version = PriceVersion.objects.create(
        tariff=tariff, valid_from=valid_from, valid_to=valid_to, **fields
    )
    for row in rates:
        period, tier, upto, rate = row[:4]
        name = row[4] if len(row) > 4 else ""
        EnergyRate.objects.create(
            version=version, period=period, period_name=name, tier=tier, upto_kwh=upto, rate=rate
        )
    for position, (code, name, percent, base) in enumerate(taxes, start=1):
        TaxRate.objects.create(
            version=version,
            position=position,
            code=code,
            name=name,
            rate_percent=percent,
            base=base,
        )
    return version


def day_schedule(peak_hours: range, *, peak: str = "PEAK", off: str = "OFF") -> list[list[str]]:
    """12 identical months: ``peak`` during ``peak_hours`` (local), ``off`` otherwise."""
    row = [peak if hour in peak_hours else off for hour in range(24)]
    return [list(row) for _ in range(12)]


def urdb_record(**fields: Any) -> dict[str, Any]:
    """A URDB rate record; schedules are index matrices as in the URDB API."""
    record: dict[str, Any] = {"sector": "Residential", "approved": True}
    record.update(fields)
    return record


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def year_of_hours(
    year: int, kwh: Callable[[dt.datetime], Decimal], *, tz: ZoneInfo = MADRID
) -> list[tuple[dt.datetime, int, Decimal, Decimal]]:
    """Hourly readings for the local calendar ``year`` in ``tz``: (UTC start, 60, kWh, 0).

    ``kwh`` gets the local start of each hour. DST days have 23 and 25 hours.
    """
    start = dt.datetime(year, 1, 1, tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=tz).astimezone(dt.UTC)
    rows = []
    at = start
    while at < end:
        rows.append((at, 60, kwh(at.astimezone(tz)), Decimal(0)))
        at += dt.timedelta(hours=1)
    return rows


def readings_csv(rows: Iterable[tuple[dt.datetime, int, Decimal, Decimal]]) -> str:
    lines = ["start,minutes,kwh_import,kwh_export"]
    lines += [f"{start.isoformat()},{minutes},{imp},{exp}" for start, minutes, imp, exp in rows]
    return "\n".join(lines) + "\n"
