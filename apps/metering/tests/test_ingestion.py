"""Reading ingestion: idempotent, bad input reported per row and field, corrections with a trail."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Address
from apps.metering.identifiers import make_cups
from apps.metering.ingestion import csv_candidates, ingest_candidates
from apps.metering.models import (
    ImportBatch,
    IntervalReading,
    Premise,
    ReadingRevision,
    SupplyPoint,
)

pytestmark = pytest.mark.django_db

CUPS = make_cups(31, 1)
HEADER = "supply_point,interval_start,duration_minutes,kwh_import,kwh_export,quality\n"


@pytest.fixture
def supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Calle Mayor 1", postcode="28013", city="Madrid")
    premise = Premise.objects.create(address=address)
    return SupplyPoint.objects.create(
        external_id=CUPS, premise=premise, contracted_power_kw=Decimal("4.6")
    )


def ingest(text: str, *, strict: bool = False):  # type: ignore[no-untyped-def]
    return ingest_candidates(csv_candidates(io.StringIO(text)), source="CSV", strict=strict)


def stored() -> list[tuple[str, Decimal, Decimal, str]]:
    return [
        (r.interval_start.isoformat(), r.kwh_import, r.kwh_export, r.quality)
        for r in IntervalReading.objects.order_by("interval_start")
    ]


def test_same_csv_twice_stores_nothing_twice(supply_point: SupplyPoint) -> None:
    text = HEADER + (
        f"{CUPS},2026-03-01T00:00:00+01:00,60,0.512,0,ACTUAL\n"
        f"{CUPS},2026-03-01T01:00:00+01:00,60,0.300,0.000,ACTUAL\n"
    )
    first = ingest(text)
    assert (first.inserted, first.corrected, first.unchanged, first.invalid) == (2, 0, 0, 0)
    before = stored()
    second = ingest(text)
    assert (second.inserted, second.corrected, second.unchanged, second.invalid) == (0, 0, 2, 0)
    assert stored() == before
    assert before == [
        ("2026-02-28T23:00:00+00:00", Decimal("0.512"), Decimal("0.000"), "ACTUAL"),
        ("2026-03-01T00:00:00+00:00", Decimal("0.300"), Decimal("0.000"), "ACTUAL"),
    ]
    assert ReadingRevision.objects.count() == 0


def test_actual_after_estimate_becomes_corrected_with_the_old_value_kept(
    supply_point: SupplyPoint,
) -> None:
    ingest(HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.400,0,ESTIMATED\n")
    report = ingest(HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.450,0,ACTUAL\n")
    assert report.corrected == 1
    assert stored() == [
        ("2026-03-01T10:00:00+00:00", Decimal("0.450"), Decimal("0.000"), "CORRECTED")
    ]
    trail = ReadingRevision.objects.get()
    assert (trail.old_kwh_import, trail.old_quality, trail.new_kwh_import, trail.new_quality) == (
        Decimal("0.400"),
        "ESTIMATED",
        Decimal("0.450"),
        "CORRECTED",
    )
    assert trail.batch_id == report.batch_id


def test_conflicting_actual_value_is_kept_in_the_trail(supply_point: SupplyPoint) -> None:
    ingest(HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.400,0,ACTUAL\n")
    ingest(HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.410,0,ACTUAL\n")
    assert stored() == [
        ("2026-03-01T10:00:00+00:00", Decimal("0.410"), Decimal("0.000"), "CORRECTED")
    ]
    trail = ReadingRevision.objects.get()
    assert (trail.old_kwh_import, trail.old_quality) == (Decimal("0.400"), "ACTUAL")


def test_an_estimate_never_replaces_a_measured_value(supply_point: SupplyPoint) -> None:
    ingest(HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.400,0,ACTUAL\n")
    report = ingest(HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.999,0,ESTIMATED\n")
    assert report.ignored == 1
    assert stored() == [("2026-03-01T10:00:00+00:00", Decimal("0.400"), Decimal("0.000"), "ACTUAL")]
    assert ReadingRevision.objects.count() == 0


BAD_ROWS = [
    (
        f"{make_cups(31, 2)},2026-03-01T10:00:00Z,60,0.1,0,ACTUAL",
        "supply_point",
        "unknown supply point",
    ),
    (f"{CUPS},2026-03-01T10:00:00Z,60,-0.1,0,ACTUAL", "kwh_import", "negative energy"),
    (f"{CUPS},2026-03-01T10:00:00Z,60,abc,0,ACTUAL", "kwh_import", "not a number"),
    (
        f"{CUPS},2026-03-01T10:00:00Z,60,0.1234,0,ACTUAL",
        "kwh_import",
        "more than 3 decimal places or 9 digits",
    ),
    (
        f"{CUPS},2026-03-01T10:00:00Z,60,50,0,ACTUAL",
        "kwh_import",
        "absurd: 50.000 kWh in 60 minutes is more than 2 times the contracted power of 4.600 kW",
    ),
    (f"{CUPS},2026-03-01T10:00:00Z,60,0.1,-2,ACTUAL", "kwh_export", "negative energy"),
    (
        f"{CUPS},2026-03-01T10:20:00Z,15,0.1,0,ACTUAL",
        "interval_start",
        "misaligned: a 15-minute interval starts on the 15-minute boundary",
    ),
    (f"{CUPS},2026-03-01 10:00,60,0.1,0,ACTUAL", "interval_start", "no time zone offset"),
    (f"{CUPS},yesterday,60,0.1,0,ACTUAL", "interval_start", "not an ISO 8601 date and time"),
    (f"{CUPS},2026-03-01T10:00:00Z,45,0.1,0,ACTUAL", "duration_minutes", "must be 15, 30 or 60"),
    (
        f"{CUPS},2026-03-01T10:00:00Z,60,0.1,0,GUESSED",
        "quality",
        "must be ACTUAL, ESTIMATED or CORRECTED",
    ),
    (f"{CUPS},2026-03-01T10:00:00Z,60", "line", "has 3 columns, the header has 6"),
]


@pytest.mark.parametrize(("line", "field", "reason"), BAD_ROWS)
def test_bad_row_is_reported_with_row_field_and_reason(
    supply_point: SupplyPoint, line: str, field: str, reason: str
) -> None:
    good = f"{CUPS},2026-03-01T12:00:00Z,60,0.200,0,ACTUAL"
    report = ingest(HEADER + line + "\n" + good + "\n")
    assert [(e.row, e.field, e.reason) for e in report.errors] == [(2, field, reason)]
    assert report.inserted == 1  # the good row (line 3) is stored
    assert stored() == [("2026-03-01T12:00:00+00:00", Decimal("0.200"), Decimal("0.000"), "ACTUAL")]
    batch = ImportBatch.objects.get(pk=report.batch_id)
    assert batch.rows_invalid == 1
    assert batch.errors[0]["row"] == 2


def test_duplicate_within_the_file_names_the_first_row(supply_point: SupplyPoint) -> None:
    line = f"{CUPS},2026-03-01T12:00:00Z,60,0.200,0,ACTUAL\n"
    report = ingest(HEADER + line + line)
    assert [(e.row, e.field, e.reason) for e in report.errors] == [
        (3, "interval_start", "duplicate of row 2 in this file")
    ]
    assert report.inserted == 1


def test_strict_mode_stores_nothing_when_one_row_is_bad(supply_point: SupplyPoint) -> None:
    ingest(HEADER + f"{CUPS},2026-03-01T09:00:00Z,60,0.100,0,ESTIMATED\n")
    before = stored()
    text = HEADER + (
        f"{CUPS},2026-03-01T09:00:00Z,60,0.150,0,ACTUAL\n"
        f"{CUPS},2026-03-01T10:00:00Z,60,0.200,0,ACTUAL\n"
        f"{CUPS},2026-03-01T11:00:00Z,60,-1,0,ACTUAL\n"
    )
    report = ingest(text, strict=True)
    assert report.status == "REJECTED"
    assert [(e.row, e.field) for e in report.errors] == [(4, "kwh_import")]
    assert stored() == before
    assert ReadingRevision.objects.count() == 0


def test_readings_land_in_monthly_partitions(supply_point: SupplyPoint) -> None:
    from django.db import connection

    ingest(
        HEADER
        + f"{CUPS},2026-01-31T23:00:00Z,60,0.1,0,ACTUAL\n"
        + f"{CUPS},2026-02-01T00:00:00Z,60,0.2,0,ACTUAL\n"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM metering_intervalreading"
            " GROUP BY 1 ORDER BY 1"
        )
        assert cursor.fetchall() == [
            ("metering_intervalreading_y2026m01", 1),
            ("metering_intervalreading_y2026m02", 1),
        ]


def test_import_readings_command_reports_and_strict_fails(
    supply_point: SupplyPoint, tmp_path: object
) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "readings.csv"
    path.write_text(
        HEADER + f"{CUPS},2026-03-01T10:00:00Z,60,0.1,0,ACTUAL\n{CUPS},bad,60,1,0,ACTUAL\n"
    )
    out = io.StringIO()
    call_command("import_readings", str(path), stdout=out)
    assert "1 new" in out.getvalue()
    assert "row 3, interval_start: not an ISO 8601 date and time bad" in out.getvalue()
    with pytest.raises(CommandError, match="strict mode: nothing was stored"):
        call_command("import_readings", str(path), "--strict", stdout=io.StringIO())
    assert IntervalReading.objects.count() == 1


def test_bad_header_is_refused_naming_the_missing_columns(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "readings.csv"
    path.write_text("meter,when,kwh\n")
    with pytest.raises(
        CommandError, match="missing: supply_point, interval_start, duration_minutes, kwh_import"
    ):
        call_command("import_readings", str(path))
    assert ImportBatch.objects.filter(status="RUNNING").count() == 0
    assert dt.UTC  # keep import used


def test_duplicate_in_a_later_chunk_is_reported_and_the_first_value_kept(
    supply_point: SupplyPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.metering.ingestion import _load

    monkeypatch.setattr(_load, "_CHUNK", 2)  # rows 2-3 go in directly, rows 4-5 conflict
    text = HEADER + (
        f"{CUPS},2026-03-01T10:00:00Z,60,0.100,0,ACTUAL\n"
        f"{CUPS},2026-03-01T11:00:00Z,60,0.200,0,ACTUAL\n"
        f"{CUPS},2026-03-01T12:00:00Z,60,0.300,0,ACTUAL\n"
        f"{CUPS},2026-03-01T10:00:00Z,60,0.999,0,ACTUAL\n"
    )
    report = ingest(text)
    assert [(e.row, e.reason) for e in report.errors] == [
        (5, "duplicate of an earlier row in this file")
    ]
    assert (report.inserted, report.corrected, report.invalid) == (3, 0, 1)
    assert [r[1] for r in stored()] == [Decimal("0.100"), Decimal("0.200"), Decimal("0.300")]
    assert ReadingRevision.objects.count() == 0


def test_a_chunk_with_a_stored_interval_falls_back_to_staging(
    supply_point: SupplyPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.metering.ingestion import _load

    ingest(HEADER + f"{CUPS},2026-03-01T12:00:00Z,60,0.300,0,ESTIMATED\n")
    monkeypatch.setattr(_load, "_CHUNK", 2)
    text = HEADER + (
        f"{CUPS},2026-03-01T10:00:00Z,60,0.100,0,ACTUAL\n"
        f"{CUPS},2026-03-01T11:00:00Z,60,0.200,0,ACTUAL\n"
        f"{CUPS},2026-03-01T12:00:00Z,60,0.350,0,ACTUAL\n"
        f"{CUPS},2026-03-01T13:00:00Z,60,0.400,0,ACTUAL\n"
    )
    report = ingest(text)
    assert (report.inserted, report.corrected, report.unchanged, report.invalid) == (3, 1, 0, 0)
    assert stored()[2] == (
        "2026-03-01T12:00:00+00:00",
        Decimal("0.350"),
        Decimal("0.000"),
        "CORRECTED",
    )
