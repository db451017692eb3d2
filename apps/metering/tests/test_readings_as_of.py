"""Readings as they stood at an earlier moment, rebuilt from the revision trail."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine

from apps.accounts.models import Address
from apps.metering.identifiers import make_cups
from apps.metering.ingestion import csv_candidates, ingest_candidates
from apps.metering.models import IntervalReading, Premise, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.metering.selectors import ReadingRow, interval_rows, interval_rows_as_of

pytestmark = pytest.mark.django_db
UTC = dt.UTC
DAY = dt.datetime(2026, 10, 5, tzinfo=UTC)


def _ingest(point: SupplyPoint, at: dt.datetime, rows: list[tuple[int, str, str]]) -> None:
    """Ingest (hour, kWh, quality) rows through the real service at time ``at``."""
    lines = ["supply_point,interval_start,duration_minutes,kwh_import,quality"]
    for hour, kwh, quality in rows:
        start = DAY + dt.timedelta(hours=hour)
        lines.append(f"{point.external_id},{start.isoformat()},60,{kwh},{quality}")
    with time_machine.travel(at, tick=False):
        report = ingest_candidates(csv_candidates(io.StringIO("\n".join(lines))), source="CSV")
    assert not report.errors, report.errors


def test_rows_as_of_undo_later_corrections_and_leave_out_later_readings() -> None:
    address = Address.objects.create(line1="Rua Nova 9", postcode="15001", city="A Coruña")
    point = SupplyPoint.objects.create(
        external_id=make_cups(31, 12), premise=Premise.objects.create(address=address)
    )
    ensure_reading_partitions(first=DAY.date(), last=DAY.date())
    first = dt.datetime(2026, 10, 6, 8, tzinfo=UTC)
    bill_run = dt.datetime(2026, 10, 7, 2, tzinfo=UTC)
    _ingest(point, first, [(0, "0.100", "ESTIMATED"), (1, "0.200", "ACTUAL")])
    # After the bill run: hour 0 corrected twice, hour 2 arrives late.
    _ingest(point, bill_run + dt.timedelta(hours=3), [(0, "0.150", "ESTIMATED")])
    _ingest(
        point, bill_run + dt.timedelta(hours=9), [(0, "0.170", "ACTUAL"), (2, "0.300", "ACTUAL")]
    )
    window = {"supply_point_id": point.pk, "start": DAY, "end": DAY + dt.timedelta(days=1)}

    then = interval_rows_as_of(**window, as_of=bill_run)
    now = interval_rows(**window)

    hour = dt.timedelta(hours=1)
    assert then == [
        ReadingRow(DAY, 60, Decimal("0.100"), Decimal("0.000"), "ESTIMATED"),
        ReadingRow(DAY + hour, 60, Decimal("0.200"), Decimal("0.000"), "ACTUAL"),
    ]
    assert now == [
        ReadingRow(DAY, 60, Decimal("0.170"), Decimal("0.000"), "CORRECTED"),
        ReadingRow(DAY + hour, 60, Decimal("0.200"), Decimal("0.000"), "ACTUAL"),
        ReadingRow(DAY + 2 * hour, 60, Decimal("0.300"), Decimal("0.000"), "ACTUAL"),
    ]
    assert interval_rows_as_of(**window, as_of=bill_run + 10 * hour) == now
    assert IntervalReading.objects.filter(supply_point=point).count() == 3
