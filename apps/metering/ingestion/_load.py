"""Bulk loading: checked rows go straight in with COPY; conflicts go through staging.

For each chunk of rows (50,000) the loader first tries a binary ``COPY`` directly
into the partitioned readings table under a savepoint: new data (a head-end's
new day) takes that path. A chunk that touches an interval already stored, or
repeats one, fails on the primary key; it is rolled back to its savepoint and
copied into a temporary staging table instead. The staged rows are then handled
set-based: duplicates within the input reported, new intervals inserted, and
existing ones compared (unchanged, corrected with a trail, or an estimate
ignored because it never replaces a measured value). Strict mode stages
everything, so one bad row rejects the whole input before anything is stored.

The supply points of each chunk are looked up, and locked ``FOR KEY SHARE``,
before its COPY opens (no other statement may run on a connection while a COPY
is open on it). That lock is what the foreign-key trigger would take for every
row; with it held by the importing transaction, the direct COPY runs with
per-row triggers off where the database role may do so (see
:func:`_row_triggers_can_be_skipped` and docs/decisions/0007-reading-ingestion.md).
"""

from __future__ import annotations

import datetime as dt
import itertools
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from django.db import connection, transaction

from apps.core import clock
from apps.metering.ingestion import _binary
from apps.metering.ingestion._csv import CsvReadings
from apps.metering.ingestion._parse import CandidateRow, RowChecker, RowError, SupplyPointFacts
from apps.metering.models import ImportBatch
from apps.metering.partitions import ensure_reading_partitions

T = TypeVar("T")
MAX_ERRORS_KEPT = 10_000
_CHUNK = 50_000
_COLUMNS = (
    "supply_point_id, interval_start, duration_minutes, kwh_import, kwh_export, quality,"
    " source, received_at, import_batch_id"
)
_CREATE_STAGING = """
CREATE TEMP TABLE reading_staging (
    row_no integer NOT NULL,
    supply_point_id bigint NOT NULL,
    interval_start timestamptz NOT NULL,
    duration_minutes smallint NOT NULL,
    kwh_import numeric(12, 3) NOT NULL,
    kwh_export numeric(12, 3) NOT NULL,
    quality text NOT NULL,
    source text NOT NULL,
    received_at timestamptz NOT NULL,
    import_batch_id bigint NOT NULL
) ON COMMIT DROP
"""
_COPY_STAGING = f"COPY reading_staging (row_no, {_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_COPY_DIRECT = f"COPY metering_intervalreading ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_STAGED_HEAD = struct.Struct("!hii")  # field count, then row_no as a 4-byte integer field
# Supply points by CUPS, locked as the foreign-key check would lock them (see module doc).
_LOOKUP = (
    "SELECT external_id, id, contracted_power_kw FROM metering_supplypoint"
    " WHERE external_id = ANY(%s) ORDER BY id FOR KEY SHARE"
)


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


def _batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    iterator = iter(items)
    while chunk := tuple(itertools.islice(iterator, size)):
        yield chunk


class _SupplyPoints:
    """What one ingestion knows of supply points, looked up (and locked) a chunk at a time."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._known: dict[str, SupplyPointFacts | None] = {}
        self._asked: set[str] = set()  # codes as written in the input

    def prefetch(self, codes: set[str]) -> None:
        """Look up the supply points named by ``codes`` (as written) not yet known."""
        new = codes - self._asked
        if not new:
            return
        self._asked |= new
        wanted = {code.strip().upper() for code in new} - self._known.keys()
        wanted.discard("")
        if not wanted:
            return
        self._cursor.execute(_LOOKUP, [sorted(wanted)])
        for external_id, pk, power in self._cursor.fetchall():
            self._known[external_id] = SupplyPointFacts(pk, str(power))
        for code in wanted:
            self._known.setdefault(code, None)

    def get(self, cups: str) -> SupplyPointFacts | None:
        if cups not in self._known:
            self.prefetch({cups})
        return self._known[cups]


@dataclass
class _Loader:
    """Moves checked chunks into the database: directly when new, else into staging."""

    cursor: Any
    direct: bool
    inserted_directly: int = 0
    staged: int = 0
    partitions: set[dt.date] = field(default_factory=set)

    def ensure_partitions(self, months: set[dt.date]) -> None:
        missing = months - self.partitions
        if missing:
            ensure_reading_partitions(first=min(missing), last=max(missing))
            self.partitions |= missing

    def load(self, rows: list[int], data: list[bytes]) -> None:
        if self.direct:
            try:
                # A savepoint: a conflict undoes this chunk only.
                with transaction.atomic(), self.cursor.copy(_COPY_DIRECT) as copy:
                    copy.write(_binary.HEADER)
                    copy.write(b"".join(data))
                    copy.write(_binary.TRAILER)
                self.inserted_directly += len(data)
                return
            except psycopg.errors.UniqueViolation:
                pass
        head = _STAGED_HEAD.pack
        count = len(_COLUMNS.split(",")) + 1
        with self.cursor.copy(_COPY_STAGING) as copy:
            copy.write(_binary.HEADER)
            copy.write(
                b"".join(
                    head(count, 4, row) + line[2:] for row, line in zip(rows, data, strict=True)
                )
            )
            copy.write(_binary.TRAILER)
        self.staged += len(data)


def _copy_checked(
    loader: _Loader,
    candidates: Iterable[CandidateRow | RowError],
    errors: list[RowError],
    *,
    suffix: bytes,
    suffix_fields: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Check candidates a chunk at a time and load the good ones. Returns rows read."""
    supply_points = _SupplyPoints(loader.cursor)
    checker = RowChecker(supply_points.get, suffix=suffix, suffix_fields=suffix_fields)
    read = 0
    # Supply points are looked up before each chunk's COPY: no query may run on the
    # connection while a COPY is open on it.
    if isinstance(candidates, CsvReadings):
        for lines in candidates.field_chunks(_CHUNK):
            supply_points.prefetch(lines.supply_points)
            rows, data, bad = checker.check_fields(lines.first_row, lines.items)
            read += len(data) + len(bad)  # every line but a blank one
            _load_chunk(loader, checker, rows, data, bad, errors, read, progress)
    else:
        for chunk in _batched(candidates, _CHUNK):
            read += len(chunk)
            supply_points.prefetch({c.supply_point for c in chunk if isinstance(c, CandidateRow)})
            rows, data, bad = checker.check_candidates(chunk)
            _load_chunk(loader, checker, rows, data, bad, errors, read, progress)
    return read


def _load_chunk(
    loader: _Loader,
    checker: RowChecker,
    rows: list[int],
    data: list[bytes],
    bad: list[RowError],
    errors: list[RowError],
    read: int,
    progress: Callable[[int], None] | None,
) -> None:
    errors += bad
    loader.ensure_partitions(checker.months)
    if data:
        loader.load(rows, data)
    if progress is not None:
        progress(read)


def _row_triggers_can_be_skipped(cursor: Any) -> bool:
    """May this session load with per-row triggers off (``session_replication_role``)?

    Only the foreign key to the supply point has triggers on the readings table,
    and the loader takes that key's lock itself (see the module doc). Superusers,
    and roles granted ``SET ON PARAMETER session_replication_role``, may; anyone
    else loads with the triggers on, which is as correct and slower. A session
    already in another role (a replica applying changes) is left as it is.
    """
    cursor.execute(
        "SELECT current_setting('session_replication_role') = 'origin'"
        " AND has_parameter_privilege('session_replication_role', 'SET')"
    )
    return bool(cursor.fetchone()[0])


def _duplicates(cursor: Any, *, batch_id: int) -> list[RowError]:
    """Staged rows repeating an interval given earlier in the same input; removed from staging."""
    cursor.execute(
        "SELECT row_no, first_row FROM ("
        "  SELECT row_no, min(row_no) OVER w AS first_row, row_number() OVER w AS n"
        "  FROM reading_staging"
        "  WINDOW w AS (PARTITION BY supply_point_id, interval_start ORDER BY row_no)"
        ") d WHERE n > 1 ORDER BY row_no"
    )
    errors = [
        RowError(row, "interval_start", f"duplicate of row {first} in this file")
        for row, first in cursor.fetchall()
    ]
    # Repeats of rows this input already stored directly (in an earlier chunk).
    cursor.execute(
        "SELECT s.row_no FROM reading_staging s JOIN metering_intervalreading r"
        " ON r.supply_point_id = s.supply_point_id AND r.interval_start = s.interval_start"
        " WHERE r.import_batch_id = %s ORDER BY s.row_no",
        [batch_id],
    )
    errors += [
        RowError(row, "interval_start", "duplicate of an earlier row in this file")
        for (row,) in cursor.fetchall()
    ]
    if errors:
        cursor.execute(
            "DELETE FROM reading_staging WHERE row_no = ANY(%s)", [[e.row for e in errors]]
        )
    return errors


def _merge_staged(cursor: Any, *, batch_id: int, source: str, now: dt.datetime) -> dict[str, int]:
    """Insert staged intervals that are new; classify and correct those already stored."""
    counts = {"inserted": 0, "corrected": 0, "unchanged": 0, "ignored": 0}
    # Temporary tables are never analysed by autovacuum: without statistics the planner
    # may join a million staged rows to the readings with nested loops (hours, not seconds).
    cursor.execute("ANALYZE reading_staging")
    cursor.execute(
        f"INSERT INTO metering_intervalreading ({_COLUMNS})"  # noqa: S608 - constant column list
        f" SELECT {_COLUMNS} FROM reading_staging"
        " ON CONFLICT (supply_point_id, interval_start) DO NOTHING"
    )
    counts["inserted"] = cursor.rowcount
    cursor.execute(
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
    cursor.execute("ANALYZE reading_conflicts")
    cursor.execute(
        "INSERT INTO metering_readingrevision (supply_point_id, interval_start, old_kwh_import,"
        " old_kwh_export, old_quality, old_source, new_kwh_import, new_kwh_export, new_quality,"
        " batch_id, replaced_at)"
        " SELECT supply_point_id, interval_start, old_import, old_export, old_quality, old_source,"
        "  kwh_import, kwh_export,"
        "  CASE WHEN quality = 'ESTIMATED' THEN 'ESTIMATED' ELSE 'CORRECTED' END, %s, %s"
        " FROM reading_conflicts WHERE action = 'CORRECT'",
        [batch_id, now],
    )
    cursor.execute(
        "UPDATE metering_intervalreading r SET kwh_import = c.kwh_import,"
        " kwh_export = c.kwh_export, duration_minutes = c.duration_minutes,"
        " quality = CASE WHEN c.quality = 'ESTIMATED' THEN 'ESTIMATED' ELSE 'CORRECTED' END,"
        " source = %s, received_at = %s, import_batch_id = %s"
        " FROM reading_conflicts c WHERE c.action = 'CORRECT'"
        " AND r.supply_point_id = c.supply_point_id AND r.interval_start = c.interval_start",
        [source, now, batch_id],
    )
    cursor.execute("SELECT action, count(*) FROM reading_conflicts GROUP BY action")
    names = {"CORRECT": "corrected", "UNCHANGED": "unchanged", "IGNORED": "ignored"}
    for action, count in cursor.fetchall():
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
    batch: ImportBatch | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Check, stage and store readings; return what happened, row by row for errors.

    Valid rows are stored and invalid ones reported; with ``strict`` one bad row
    rejects the whole input and nothing is stored. Re-ingesting the same data
    stores nothing new. A changed value for a stored interval replaces it as
    CORRECTED and keeps the old value in ``ReadingRevision``; an estimate never
    replaces a measured value.

    ``batch`` is a RUNNING batch created beforehand (uploads queued for a worker);
    ``progress`` is called with the number of rows read after each chunk.
    """
    now = clock.now()
    if batch is None:
        batch = ImportBatch.objects.create(
            source=source,
            filename=filename[:255],
            strict=strict,
            started_at=now,
            actor=actor if getattr(actor, "pk", None) else None,  # type: ignore[misc]
            actor_label=actor_label or str(actor or "system"),
        )
    report = IngestReport(batch_id=batch.pk, status=ImportBatch.Status.DONE)
    try:
        _ingest(
            batch.pk, candidates, report, strict=strict, source=source, now=now, progress=progress
        )
    except BaseException:
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportBatch.Status.FAILED, finished_at=clock.now()
        )
        raise
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
    candidates: Iterable[CandidateRow | RowError],
    report: IngestReport,
    *,
    strict: bool,
    source: str,
    now: dt.datetime,
    progress: Callable[[int], None] | None,
) -> None:
    errors: list[RowError] = []
    suffix = _binary.text(source[:32]) + _binary.timestamptz(now) + _binary.bigint(batch_id)
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("DROP TABLE IF EXISTS reading_staging, reading_conflicts")
            cursor.execute(_CREATE_STAGING)
            loader = _Loader(cursor, direct=not strict)
            # Transaction-local: a failure rolls it back with everything else.
            triggers_off = loader.direct and _row_triggers_can_be_skipped(cursor)
            if triggers_off:
                cursor.execute("SET LOCAL session_replication_role = replica")
            report.rows_total = _copy_checked(
                loader, candidates, errors, suffix=suffix, suffix_fields=3, progress=progress
            )
            if triggers_off:
                cursor.execute("SET LOCAL session_replication_role = origin")
            counts = {"inserted": 0, "corrected": 0, "unchanged": 0, "ignored": 0}
            if loader.staged:
                errors += _duplicates(cursor, batch_id=batch_id)
                if strict and errors:
                    report.status = ImportBatch.Status.REJECTED
                else:
                    counts = _merge_staged(cursor, batch_id=batch_id, source=source, now=now)
            elif strict and errors:
                report.status = ImportBatch.Status.REJECTED
            report.errors = sorted(errors, key=lambda e: (e.row, e.field))
            report.invalid = len(errors)
            report.inserted = loader.inserted_directly + counts["inserted"]
            report.corrected = counts["corrected"]
            report.unchanged = counts["unchanged"]
            report.ignored = counts["ignored"]
            # ON COMMIT DROP does not fire inside an enclosing transaction (savepoint): drop now.
            cursor.execute("DROP TABLE IF EXISTS reading_staging, reading_conflicts")
