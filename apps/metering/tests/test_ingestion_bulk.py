"""The bulk path of reading ingestion: binary COPY fields, the CSV fast path, the key lock."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import connection, transaction

from apps.accounts.models import Address
from apps.metering.identifiers import make_cups
from apps.metering.ingestion import (
    CandidateRow,
    RowChecker,
    RowError,
    SupplyPointFacts,
    _binary,
    _load,
    csv_candidates,
    ingest_candidates,
)
from apps.metering.models import IntervalReading, Premise, SupplyPoint

CUPS = make_cups(32, 1)
OTHER = make_cups(32, 2)
FACTS = {CUPS: SupplyPointFacts(7, "4.600"), OTHER: SupplyPointFacts(8, "0.500")}
HEADER = "supply_point,interval_start,duration_minutes,kwh_import,kwh_export,quality"


def _copy_back(cursor: object, column_type: str, fields: list[bytes]) -> list[object]:
    """Binary-COPY one field per row into a temporary table and read the values back."""
    cursor.execute(f"CREATE TEMP TABLE roundtrip (n serial, v {column_type})")  # type: ignore[attr-defined]
    with cursor.copy("COPY roundtrip (v) FROM STDIN (FORMAT BINARY)") as copy:  # type: ignore[attr-defined]
        copy.write(_binary.HEADER)
        copy.write(b"".join(_binary.field_count(1) + field for field in fields))
        copy.write(_binary.TRAILER)
    cursor.execute("SELECT v FROM roundtrip ORDER BY n")  # type: ignore[attr-defined]
    values = [value for (value,) in cursor.fetchall()]  # type: ignore[attr-defined]
    cursor.execute("DROP TABLE roundtrip")  # type: ignore[attr-defined]
    return values


@pytest.mark.django_db
def test_numeric_fields_read_back_as_the_same_kwh() -> None:
    thousandths = [0, 1, 10, 999, 1000, 1001, 9_999_999, 10_000_000, 10_000_001, 999_999_999_999]
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:  # type: ignore[union-attr]
        values = _copy_back(
            cursor, "numeric(12, 3)", [_binary.milli_numeric(n) for n in thousandths]
        )
    assert values == [Decimal(n) / 1000 for n in thousandths]
    assert [str(v) for v in values][:4] == ["0.000", "0.001", "0.010", "0.999"]


@pytest.mark.django_db
def test_time_stamps_read_back_as_the_same_instant_across_dst() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    instants = [
        dt.datetime(2026, 3, 29, 1, 45, tzinfo=madrid),  # before spring-forward
        dt.datetime(2026, 3, 29, 3, 0, tzinfo=madrid),
        dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=madrid),  # second 02:15 of fall-back
        dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),  # before 2000
    ]
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:  # type: ignore[union-attr]
        values = _copy_back(cursor, "timestamptz", [_binary.timestamptz(i) for i in instants])
    # Compared as instants: datetimes in a fold never compare equal across zones.
    assert [v.timestamp() for v in values] == [i.timestamp() for i in instants]  # type: ignore[attr-defined]
    assert values[2].isoformat() == "2026-10-25T01:15:00+00:00"  # type: ignore[attr-defined]


def test_negative_energy_is_never_encoded() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        _binary.milli_numeric(-1)


TRICKY_LINES = [
    f"{CUPS},2026-03-01T00:00:00+01:00,15,0.512,0.000,ACTUAL\n",
    f"{CUPS},2026-03-01T00:15:00+01:00,15,0.512,,ACTUAL\r\n",  # empty export is 0, CRLF
    f"{CUPS},2026-03-01T00:30:00+01:00,15,0.5,0,\n",  # empty quality is ACTUAL
    f"{CUPS},2026-03-01T00:45:00+01:00,15,0.5,0,\r\n",
    "\n",  # blank: skipped, but the line still counts
    f"{CUPS.lower()} ,2026-03-01T01:00:00+01:00, 15 , 0.250 ,0, estimated \n",
    f"{CUPS},2026-03-01T01:15:00+01:00,15,0.5,0\n",  # 5 columns
    f"{CUPS},2026-03-01T01:15:00+01:00,15,2.301,0,ACTUAL\n",  # absurd for 4.6 kW
    f"{CUPS},2026-03-01T01:15:00+01:00,15,2.300,0,ACTUAL\n",  # exactly the limit
    f"{OTHER},2026-03-01T01:15:00+01:00,15,0.251,0,ACTUAL\n",  # absurd for 0.5 kW
    f"{OTHER},2026-03-01T01:15:00+01:00,15,0.250,2,ACTUAL\n",  # absurd export
    f"{make_cups(32, 3)},2026-03-01T01:15:00+01:00,15,0.1,0,ACTUAL\n",  # unknown
    ",2026-03-01T01:15:00+01:00,15,0.1,0,ACTUAL\n",  # missing supply point
    f"{CUPS},2026-03-01T01:20:00+01:00,15,0.1,0,ACTUAL\n",  # misaligned
    f"{CUPS},2026-03-01T01:30:00+01:00,15,,0,ACTUAL\n",  # missing import
    f"{CUPS},2026-03-01T01:30:00+01:00,15,1e3,0,ACTUAL\n",
    f"{CUPS},2026-03-01T01:30:00+01:00,15,0.1,0,MEASURED\n",
    f"{CUPS},2026-03-01T01:30:00+01:00,15,0.1,0,ACTUAL\n",
    f"{CUPS},2026-03-01T01:30:00+01:00,15,0.1,0,ACTUAL\n",  # repeated (found later, in SQL)
]
QUOTED_TAIL = [
    f'"{CUPS}",2026-03-01T02:00:00+01:00,15,"0.1",0,ACTUAL\n',
    f'{CUPS},"2026-03-01T02:15:00+01:00",15,"0,2",0,ACTUAL\n',  # a comma inside quotes
    f'{CUPS},2026-03-01T02:30:00+01:00,15,0.3,0,"ACT\nUAL"\n',  # a line break inside quotes
    f"{CUPS},2026-03-01T02:45:00+01:00,15,0.4,0,ACTUAL\n",
]


def _reference(lines: list[str]) -> list[CandidateRow | RowError]:
    """The candidates a plain ``csv.reader`` reading gives (the behaviour to keep)."""
    reader = csv.reader(lines)
    header = [name.strip().lower() for name in next(reader)]
    names = ("supply_point", "interval_start", "duration_minutes", "kwh_import")
    defaults = {"kwh_export": "0", "quality": "ACTUAL"}
    out: list[CandidateRow | RowError] = []
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            out.append(RowError(number, "line", f"has {len(fields)} columns, the header has 6"))
            continue
        values = [fields[header.index(n)] for n in names]
        values += [fields[header.index(n)] if n in header else defaults[n] for n in defaults]
        out.append(CandidateRow(number, *values))  # type: ignore[arg-type]
    return out


def _through_fast_path(lines: list[str], size: int) -> tuple[list[int], list[bytes], list[object]]:
    checker = RowChecker(FACTS.get, suffix=b"|suffix", suffix_fields=3)
    rows: list[int] = []
    data: list[bytes] = []
    errors: list[object] = []
    for chunk in csv_candidates(lines).field_chunks(size):
        r, d, e = checker.check_fields(chunk.first_row, chunk.items)
        rows += r
        data += d
        errors += e
    return rows, data, errors


@pytest.mark.parametrize("size", [1, 3, 1000])
@pytest.mark.parametrize("with_quotes", [False, True])
def test_csv_fast_path_gives_what_the_csv_module_and_stage_give(
    size: int, with_quotes: bool
) -> None:
    lines = [HEADER + "\n", *TRICKY_LINES, *(QUOTED_TAIL if with_quotes else [])]
    rows, data, errors = _through_fast_path(lines, size)
    expected = RowChecker(FACTS.get, suffix=b"|suffix", suffix_fields=3).check_candidates(
        _reference(lines)
    )
    assert (rows, data, errors) == (expected[0], expected[1], expected[2])
    assert rows == [2, 3, 4, 5, 7, 10, 19, 20] + ([21, 24] if with_quotes else [])
    assert [(e.row, e.field) for e in errors][:3] == [  # type: ignore[attr-defined]
        (8, "line"),
        (9, "kwh_import"),
        (11, "kwh_import"),
    ]


def test_csv_in_another_column_order_and_without_optional_columns() -> None:
    lines = [
        "kwh_import,interval_start,supply_point,duration_minutes\r\n",
        f"0.5,2026-03-01T00:00:00Z,{CUPS},60\r\n",
        f"0.6,2026-03-01T01:00:00Z,{CUPS},60\r\n",
    ]
    rows, data, errors = _through_fast_path(lines, 1)
    expected = RowChecker(FACTS.get, suffix=b"|suffix", suffix_fields=3).check_candidates(
        [
            CandidateRow(2, CUPS, "2026-03-01T00:00:00Z", "60", "0.5", "0", "ACTUAL"),
            CandidateRow(3, CUPS, "2026-03-01T01:00:00Z", "60", "0.6", "0", "ACTUAL"),
        ]
    )
    assert (rows, data, errors) == (expected[0], expected[1], [])
    assert rows == [2, 3]


@pytest.fixture
def supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Calle Mayor 2", postcode="28013", city="Madrid")
    premise = Premise.objects.create(address=address)
    return SupplyPoint.objects.create(
        external_id=CUPS, premise=premise, contracted_power_kw=Decimal("4.6")
    )


def _day_of_readings(day: int) -> str:
    start = dt.datetime(2026, 3, day, tzinfo=dt.UTC)
    return (
        HEADER
        + "\n"
        + "".join(
            f"{CUPS},{(start + dt.timedelta(minutes=15 * i)).isoformat()},15,0.{i:03d},0,ACTUAL\n"
            for i in range(96)
        )
    )


def _role(cursor: object) -> str:
    cursor.execute("SELECT current_setting('session_replication_role')")  # type: ignore[attr-defined]
    return str(cursor.fetchone()[0])  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_a_quoted_file_is_stored_like_an_unquoted_one(supply_point: SupplyPoint) -> None:
    plain = _day_of_readings(2)
    quoted = "\n".join(
        ",".join(f'"{field}"' for field in line.split(",")) for line in plain.splitlines()
    )
    report = ingest_candidates(csv_candidates(io.StringIO(quoted)), source="CSV")
    assert (report.inserted, report.invalid) == (96, 0)
    again = ingest_candidates(csv_candidates(io.StringIO(plain)), source="CSV")
    assert (again.inserted, again.unchanged, again.corrected) == (0, 96, 0)


@pytest.mark.django_db
def test_direct_load_leaves_the_session_as_it_found_it(supply_point: SupplyPoint) -> None:
    with connection.cursor() as cursor:
        assert _role(cursor) == "origin"
        report = ingest_candidates(csv_candidates(io.StringIO(_day_of_readings(3))), source="CSV")
        assert _role(cursor) == "origin"
    assert report.inserted == 96
    assert IntervalReading.objects.filter(supply_point=supply_point).count() == 96


@pytest.mark.django_db
def test_a_role_without_the_privilege_loads_with_the_triggers_on(
    supply_point: SupplyPoint,
) -> None:
    from apps.metering.partitions import ensure_reading_partitions

    ensure_reading_partitions(first=dt.date(2026, 3, 1), last=dt.date(2026, 3, 31))
    with connection.cursor() as cursor:
        # Rolled back with the test's transaction, role included.
        cursor.execute("CREATE ROLE wl_ingest_plain NOLOGIN")
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO wl_ingest_plain")
        cursor.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO wl_ingest_plain")
        cursor.execute("SET LOCAL ROLE wl_ingest_plain")
        assert _load._row_triggers_can_be_skipped(cursor.cursor) is False
        report = ingest_candidates(csv_candidates(io.StringIO(_day_of_readings(4))), source="CSV")
        assert _role(cursor) == "origin"
        cursor.execute("RESET ROLE")
    assert (report.inserted, report.invalid) == (96, 0)
    assert IntervalReading.objects.filter(supply_point=supply_point).count() == 96


@pytest.mark.django_db(transaction=True)
def test_an_open_import_holds_its_supply_points_like_the_foreign_key_would() -> None:
    """With per-row triggers off, the import's own key-share lock keeps the supply point."""
    address = Address.objects.create(line1="Calle Mayor 3", postcode="28013", city="Madrid")
    premise = Premise.objects.create(address=address)
    point = SupplyPoint.objects.create(
        external_id=CUPS, premise=premise, contracted_power_kw=Decimal("4.6")
    )
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
        autocommit=True,
    )
    try:
        with transaction.atomic():
            report = ingest_candidates(
                csv_candidates(io.StringIO(_day_of_readings(5))), source="CSV"
            )
            assert report.inserted == 96
            other.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM metering_supplypoint WHERE id = %s", [point.pk])
        # Committed: the readings are there and the supply point cannot go.
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            other.execute("DELETE FROM metering_supplypoint WHERE id = %s", [point.pk])
        assert IntervalReading.objects.filter(supply_point=point).count() == 96
    finally:
        other.close()


def test_chunks_of_the_csv_fast_path_cover_every_line_once() -> None:
    lines = [HEADER + "\n"] + [
        f"{CUPS},2026-03-01T00:00:00Z,60,0.{i:03d},0,ACTUAL\n" for i in range(7)
    ]
    chunks = list(csv_candidates(lines).field_chunks(3))
    assert [c.first_row for c in chunks] == [2, 5, 8]
    assert [len(list(c.items)) for c in chunks] == [3, 3, 1]
    assert all(c.supply_points == {CUPS} for c in chunks)
