"""Row-level checks for interval readings. Pure: no Django, no database, no clock.

Each source (CSV, ESPI XML, API JSON) turns its input into ``CandidateRow``s and
calls :func:`check_row`, which returns either a ``StagedRow`` whose text fields
PostgreSQL can take as they are (COPY), or a ``RowError`` naming the row, the
field and the reason. Checks that need stored data (unknown supply point,
absurd kWh for the connection, duplicates within the file) run afterwards as
set-based SQL over the staged rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NamedTuple

DURATIONS = (15, 30, 60)
QUALITIES = ("ACTUAL", "ESTIMATED", "CORRECTED")
_KWH = re.compile(r"\d{1,9}(?:\.\d{1,3})?")
_KWH_ANY_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    reason: str
    value: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "reason": self.reason, "value": self.value}


class CandidateRow(NamedTuple):
    row: int
    supply_point: str
    interval_start: str
    duration_minutes: str
    kwh_import: str
    kwh_export: str
    quality: str


class StagedRow(NamedTuple):
    row: int
    supply_point: str
    interval_start: str  # ISO 8601 with offset, as PostgreSQL's timestamptz input accepts
    duration_minutes: int
    kwh_import: str
    kwh_export: str
    quality: str


def _check_kwh(row: int, field: str, text: str) -> RowError | str:
    value = text.strip()
    if value == "":
        return RowError(row, field, "missing")
    if _KWH.fullmatch(value):
        return value
    if _KWH_ANY_NUMBER.fullmatch(value):
        if value.startswith("-") and value.strip("-0.") != "":
            return RowError(row, field, "negative energy", value)
        return RowError(row, field, "more than 3 decimal places or 9 digits", value)
    return RowError(row, field, "not a number", value)


def check_row(candidate: CandidateRow) -> StagedRow | RowError:
    """Check one reading's own fields; return it ready for staging or the first error."""
    row = candidate.row
    cups = candidate.supply_point.strip().upper()
    if not cups:
        return RowError(row, "supply_point", "missing")
    text = candidate.interval_start.strip()
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        return RowError(row, "interval_start", "not an ISO 8601 date and time", text)
    if start.tzinfo is None or start.utcoffset() is None:
        return RowError(row, "interval_start", "no time zone offset", text)
    try:
        minutes = int(candidate.duration_minutes.strip())
    except ValueError:
        return RowError(row, "duration_minutes", "not a whole number", candidate.duration_minutes)
    if minutes not in DURATIONS:
        return RowError(row, "duration_minutes", "must be 15, 30 or 60", str(minutes))
    if start.timestamp() % (minutes * 60) != 0:
        return RowError(
            row,
            "interval_start",
            f"misaligned: a {minutes}-minute interval starts on the {minutes}-minute boundary",
            text,
        )
    kwh_import = _check_kwh(row, "kwh_import", candidate.kwh_import)
    if isinstance(kwh_import, RowError):
        return kwh_import
    kwh_export = _check_kwh(row, "kwh_export", candidate.kwh_export or "0")
    if isinstance(kwh_export, RowError):
        return kwh_export
    quality = (candidate.quality or "ACTUAL").strip().upper()
    if quality not in QUALITIES:
        return RowError(row, "quality", "must be ACTUAL, ESTIMATED or CORRECTED", quality)
    return StagedRow(row, cups, start.isoformat(), minutes, kwh_import, kwh_export, quality)
