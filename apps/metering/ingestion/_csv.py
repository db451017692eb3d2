"""CSV readings: one reading per line. Pure and streaming."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from apps.metering.ingestion._parse import CandidateRow, RowError

REQUIRED = ("supply_point", "interval_start", "duration_minutes", "kwh_import")
OPTIONAL = ("kwh_export", "quality")


class BadHeader(ValueError):
    """The first line does not name the columns we need."""


def csv_candidates(lines: Iterable[str]) -> Iterator[CandidateRow | RowError]:
    """Yield one candidate (or a row error for a malformed line) per data line.

    Row numbers are the file's line numbers (the header is line 1).
    """
    reader = csv.reader(lines)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise BadHeader("The file is empty.") from None
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise BadHeader(
            "The header must name the columns "
            + ", ".join(REQUIRED + OPTIONAL)
            + "; missing: "
            + ", ".join(missing)
            + "."
        )
    index = {name: header.index(name) for name in REQUIRED + OPTIONAL if name in header}
    width = len(header)
    i_sp, i_start, i_dur, i_imp = (index[name] for name in REQUIRED)
    i_exp = index.get("kwh_export")
    i_q = index.get("quality")
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != width:
            yield RowError(number, "line", f"has {len(fields)} columns, the header has {width}")
            continue
        yield CandidateRow(
            number,
            fields[i_sp],
            fields[i_start],
            fields[i_dur],
            fields[i_imp],
            fields[i_exp] if i_exp is not None else "0",
            fields[i_q] if i_q is not None else "ACTUAL",
        )
