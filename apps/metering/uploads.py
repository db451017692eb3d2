"""Reading files uploaded by staff: small ones at once, large ones on a Celery worker.

Uploads are kept outside the web root (``MEDIA_ROOT/reading-imports/``) until
ingested. Progress of a queued import is kept in the cache (Redis) so the
admin can show it while the worker's transaction is still open.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from apps.core import clock
from apps.metering.ingestion import BadHeader, csv_candidates, ingest_candidates
from apps.metering.models import ImportBatch

SYNC_LIMIT_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
_PROGRESS_KEY = "metering:import-progress:{id}"


class UploadRefused(ValueError):
    """The file cannot be imported; the message names the field and the reason."""


@dataclass(frozen=True)
class Progress:
    rows_read: int
    rows_expected: int

    @property
    def percent(self) -> int:
        if not self.rows_expected:
            return 0
        return min(100, self.rows_read * 100 // self.rows_expected)


def _upload_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "reading-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _count_rows(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - 1, 0)


def import_progress(batch_id: int) -> Progress | None:
    value = cache.get(_PROGRESS_KEY.format(id=batch_id))
    return Progress(*value) if value else None


def readings_upload(*, upload: UploadedFile, strict: bool, actor: Any) -> ImportBatch:
    """Store an uploaded CSV and import it: now if small, else on a worker after commit.

    Raises ``UploadRefused`` for an empty, too large or non-CSV file.
    """
    name = Path(upload.name or "readings.csv").name
    size = upload.size or 0
    if size == 0:
        raise UploadRefused("file: the file is empty.")
    if size > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"file: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    head = upload.read(512)
    upload.seek(0)
    if head.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<"):
        raise UploadRefused(
            "file: this looks like XML; use the Green Button import for ESPI files."
        )
    if b"\x00" in head:
        raise UploadRefused("file: this is not a text (CSV) file.")
    path = _upload_dir() / f"{uuid.uuid4().hex}.csv"
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    batch = ImportBatch.objects.create(
        source=ImportBatch.Source.CSV,
        filename=name[:255],
        strict=strict,
        started_at=clock.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=str(actor),
    )
    if size <= SYNC_LIMIT_BYTES:
        readings_import_file(batch_id=batch.pk, path=str(path))
        batch.refresh_from_db()
        return batch
    from apps.metering.tasks import import_reading_file

    transaction.on_commit(lambda: import_reading_file.delay(batch.pk, str(path)))
    return batch


def readings_import_file(*, batch_id: int, path: str) -> None:
    """Import a stored upload into its batch; idempotent (a finished batch is not redone)."""
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status != ImportBatch.Status.RUNNING or batch.finished_at is not None:
        return
    file_path = Path(path)
    expected = _count_rows(file_path)
    key = _PROGRESS_KEY.format(id=batch_id)
    cache.set(key, (0, expected), timeout=86400)

    def report(rows: int) -> None:
        cache.set(key, (rows, expected), timeout=86400)

    try:
        with file_path.open(encoding="utf-8-sig", newline="") as handle:
            ingest_candidates(
                csv_candidates(handle),
                source=batch.source,
                filename=batch.filename,
                strict=batch.strict,
                batch=batch,
                progress=report,
            )
    except BadHeader as exc:
        ImportBatch.objects.filter(pk=batch_id).update(
            status=ImportBatch.Status.FAILED,
            errors=[{"row": 1, "field": "header", "reason": str(exc), "value": ""}],
            finished_at=clock.now(),
        )
    finally:
        cache.set(key, (expected, expected), timeout=86400)
    file_path.unlink(missing_ok=True)


def error_report_csv(batch: ImportBatch) -> str:
    """The batch's invalid rows as CSV: row, field, reason, value."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "field", "reason", "value"])
    for error in batch.errors:
        writer.writerow([error["row"], error["field"], error["reason"], error.get("value", "")])
    return out.getvalue()
