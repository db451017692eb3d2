"""Bulk loading: COPY into a staging table, set-based checks, one upsert with a trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from apps.core import clock
from apps.metering.ingestion._parse import CandidateRow, RowError, StagedRow, check_row
from apps.metering.models import ImportBatch
from apps.metering.partitions import ensure_reading_partitions

ABSURD_FACTOR = 2  # more than twice the contracted power over the interval is not believable
MAX_ERRORS_KEPT = 10_000
_COPY_CHUNK = 5_000

_CREATE_STAGING = """
CREATE TEMP TABLE reading_staging (
    row_no integer NOT NULL,
    cups text NOT NULL,
    interval_start timestamptz NOT NULL,
    duration_minutes smallint NOT NULL,
    kwh_import numeric(12, 3) NOT NULL,
    kwh_export numeric(12, 3) NOT NULL,
    quality text NOT NULL,
    supply_point_id bigint
) ON COMMIT DROP
"""


@dataclass
class IngestReport:
    batch_id: int
    status: str
    rows_total: int = 0
    inserted: int = 0
    corrected: int = 0
    unchanged: int = 0
    ignored: int = 0
    invalid: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.inserted + self.corrected


def _copy_rows(cursor: object, rows: Iterable[StagedRow]) -> int:
    count = 0
    with cursor.copy(  # type: ignore[attr-defined]
        "COPY reading_staging (row_no, cups, interval_start, duration_minutes, kwh_import, "
        "kwh_export, quality) FROM STDIN"
    ) as copy:
        buffer: list[str] = []
        for r in rows:
            buffer.append(
                f"{r.row}\t{r.supply_point}\t{r.interval_start}\t{r.duration_minutes}\t"
                f"{r.kwh_import}\t{r.kwh_export}\t{r.quality}\n"
            )
            if len(buffer) >= _COPY_CHUNK:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            count += len(buffer)
    return count


def _set_based_errors(cursor: object) -> list[RowError]:
    """Resolve supply points and find what only stored data can tell. Marks rows invalid."""
    run = cursor.execute  # type: ignore[attr-defined]
    run(
        "UPDATE reading_staging s SET supply_point_id = sp.id "
        "FROM metering_supplypoint sp WHERE sp.external_id = s.cups"
    )
    errors: list[RowError] = []
    run("SELECT row_no, cups FROM reading_staging WHERE supply_point_id IS NULL ORDER BY row_no")
    errors += [
        RowError(row, "supply_point", "unknown supply point", cups)
        for row, cups in cursor.fetchall()  # type: ignore[attr-defined]
    ]
    run(
        "SELECT s.row_no, s.kwh_import, s.kwh_export, s.duration_minutes, sp.contracted_power_kw "
        "FROM reading_staging s JOIN metering_supplypoint sp ON sp.id = s.supply_point_id "
        "WHERE greatest(s.kwh_import, s.kwh_export) > "
        "      sp.contracted_power_kw * s.duration_minutes / 60.0 * %s "
        "ORDER BY s.row_no",
        [ABSURD_FACTOR],
    )
    for row, kwh_import, kwh_export, minutes, power in cursor.fetchall():  # type: ignore[attr-defined]
        name = "kwh_import" if kwh_import >= kwh_export else "kwh_export"
        value = max(kwh_import, kwh_export)
        errors.append(
            RowError(
                row,
                name,
                f"absurd: {value} kWh in {minutes} minutes is more than {ABSURD_FACTOR} times "
                f"the contracted power of {power} kW",
                str(value),
            )
        )
    run(
        "SELECT row_no, first_row FROM ("
        "  SELECT row_no, min(row_no) OVER w AS first_row, row_number() OVER w AS n"
        "  FROM reading_staging WHERE supply_point_id IS NOT NULL"
        "  WINDOW w AS (PARTITION BY supply_point_id, interval_start ORDER BY row_no)"
        ") d WHERE n > 1 ORDER BY row_no"
    )
    errors += [
        RowError(row, "interval_start", f"duplicate of row {first} in this file")
        for row, first in cursor.fetchall()  # type: ignore[attr-defined]
    ]
    if errors:
        run(
            "DELETE FROM reading_staging WHERE row_no = ANY(%s)",
            [[e.row for e in errors]],
        )
    return errors


def _upsert(cursor: object, *, batch_id: int, source: str, now: dt.datetime) -> dict[str, int]:
    run = cursor.execute  # type: ignore[attr-defined]
    run("SELECT count(*), min(interval_start), max(interval_start) FROM reading_staging")
    staged, first, last = cursor.fetchone()  # type: ignore[attr-defined]
    counts = {"inserted": 0, "corrected": 0, "unchanged": 0, "ignored": 0}
    if not staged:
        return counts
    ensure_reading_partitions(first=first.date(), last=last.date())
    run(
        "INSERT INTO metering_intervalreading (supply_point_id, interval_start, duration_minutes,"
        " kwh_import, kwh_export, quality, source, received_at, import_batch_id)"
        " SELECT supply_point_id, interval_start, duration_minutes, kwh_import, kwh_export,"
        "  quality, %s, %s, %s FROM reading_staging"
        " ON CONFLICT (supply_point_id, interval_start) DO NOTHING",
        [source, now, batch_id],
    )
    counts["inserted"] = cursor.rowcount  # type: ignore[attr-defined]
    if counts["inserted"] == staged:
        return counts
    # Some intervals were already stored: classify them against what is there.
    run(
        "CREATE TEMP TABLE reading_conflicts ON COMMIT DROP AS"
        " SELECT s.supply_point_id, s.interval_start, s.duration_minutes, s.kwh_import,"
        "  s.kwh_export, s.quality, r.kwh_import AS old_import, r.kwh_export AS old_export,"
        "  r.quality AS old_quality, r.source AS old_source,"
        "  CASE"
        "   WHEN s.kwh_import = r.kwh_import AND s.kwh_export = r.kwh_export"
        "        AND s.duration_minutes = r.duration_minutes"
        "        AND NOT (r.quality = 'ESTIMATED' AND s.quality <> 'ESTIMATED') THEN 'UNCHANGED'"
        "   WHEN s.quality = 'ESTIMATED' AND r.quality <> 'ESTIMATED' THEN 'IGNORED'"
        "   ELSE 'CORRECT'"
        "  END AS action"
        " FROM reading_staging s JOIN metering_intervalreading r"
        "  ON r.supply_point_id = s.supply_point_id AND r.interval_start = s.interval_start"
        " WHERE r.import_batch_id IS DISTINCT FROM %s",
        [batch_id],
    )
    run(
        "INSERT INTO metering_readingrevision (supply_point_id, interval_start, old_kwh_import,"
        " old_kwh_export, old_quality, old_source, new_kwh_import, new_kwh_export, new_quality,"
        " batch_id, replaced_at)"
        " SELECT supply_point_id, interval_start, old_import, old_export, old_quality, old_source,"
        "  kwh_import, kwh_export,"
        "  CASE WHEN quality = 'ESTIMATED' THEN 'ESTIMATED' ELSE 'CORRECTED' END, %s, %s"
        " FROM reading_conflicts WHERE action = 'CORRECT'",
        [batch_id, now],
    )
    run(
        "UPDATE metering_intervalreading r SET kwh_import = c.kwh_import,"
        " kwh_export = c.kwh_export, duration_minutes = c.duration_minutes,"
        " quality = CASE WHEN c.quality = 'ESTIMATED' THEN 'ESTIMATED' ELSE 'CORRECTED' END,"
        " source = %s, received_at = %s, import_batch_id = %s"
        " FROM reading_conflicts c WHERE c.action = 'CORRECT'"
        " AND r.supply_point_id = c.supply_point_id AND r.interval_start = c.interval_start",
        [source, now, batch_id],
    )
    run("SELECT action, count(*) FROM reading_conflicts GROUP BY action")
    names = {"CORRECT": "corrected", "UNCHANGED": "unchanged", "IGNORED": "ignored"}
    for action, count in cursor.fetchall():  # type: ignore[attr-defined]
        counts[names[action]] = count
    return counts


def ingest_candidates(
    candidates: Iterable[CandidateRow | RowError],
    *,
    source: str,
    filename: str = "",
    strict: bool = False,
    actor: object | None = None,
    actor_label: str = "",
) -> IngestReport:
    """Check, stage and store readings; return what happened, row by row for errors.

    Valid rows are stored and invalid ones reported; with ``strict`` one bad row
    rejects the whole input and nothing is stored. Re-ingesting the same data
    stores nothing new. A changed value for a stored interval replaces it as
    CORRECTED and keeps the old value in ``ReadingRevision``; an estimate never
    replaces a measured value.
    """
    now = clock.now()
    batch = ImportBatch.objects.create(
        source=source,
        filename=filename[:255],
        strict=strict,
        started_at=now,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label or str(actor or "system"),
    )
    parse_errors: list[RowError] = []
    total = 0

    def staged_rows() -> Iterable[StagedRow]:
        nonlocal total
        for candidate in candidates:
            total += 1
            checked = candidate if isinstance(candidate, RowError) else check_row(candidate)
            if isinstance(checked, RowError):
                parse_errors.append(checked)
            else:
                yield checked

    report = IngestReport(batch_id=batch.pk, status=ImportBatch.Status.DONE)
    try:
        _ingest(batch.pk, staged_rows, parse_errors, report, strict=strict, source=source, now=now)
    except BaseException:
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportBatch.Status.FAILED, finished_at=clock.now()
        )
        raise
    report.rows_total = total
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=report.status,
        rows_total=report.rows_total,
        rows_inserted=report.inserted,
        rows_corrected=report.corrected,
        rows_unchanged=report.unchanged,
        rows_ignored=report.ignored,
        rows_invalid=report.invalid,
        errors=[e.as_dict() for e in report.errors[:MAX_ERRORS_KEPT]],
        finished_at=clock.now(),
    )
    return report


def _ingest(
    batch_id: int,
    staged_rows: Callable[[], Iterable[StagedRow]],
    parse_errors: list[RowError],
    report: IngestReport,
    *,
    strict: bool,
    source: str,
    now: dt.datetime,
) -> None:
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("DROP TABLE IF EXISTS reading_staging, reading_conflicts")
            cursor.execute(_CREATE_STAGING)
            _copy_rows(cursor, staged_rows())
            set_errors = _set_based_errors(cursor)
            errors = sorted(parse_errors + set_errors, key=lambda e: (e.row, e.field))
            report.errors = errors
            report.invalid = len(errors)
            if strict and errors:
                report.status = ImportBatch.Status.REJECTED
                cursor.execute("DROP TABLE reading_staging")
                return
            counts = _upsert(cursor, batch_id=batch_id, source=source, now=now)
            report.inserted = counts["inserted"]
            report.corrected = counts["corrected"]
            report.unchanged = counts["unchanged"]
            report.ignored = counts["ignored"]
            # ON COMMIT DROP does not fire inside an enclosing transaction (savepoint): drop now.
            cursor.execute("DROP TABLE IF EXISTS reading_staging, reading_conflicts")
