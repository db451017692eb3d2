"""CSV readings: one reading per line. Pure and streaming."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from apps.metering.ingestion._parse import CandidateRow, RowError

REQUIRED = ("supply_point", "interval_start", "duration_minutes", "kwh_import")
OPTIONAL = ("kwh_export", "quality")
_DEFAULTS = {"kwh_export": "0", "quality": "ACTUAL"}


class CsvChunk(NamedTuple):
    """Consecutive data lines: the first one's number, the supply points they name
    (as written), and one item per line (see :meth:`CsvReadings.field_chunks`)."""

    first_row: int
    supply_points: set[str]
    items: Iterable[list[str] | RowError | None]


class BadHeader(ValueError):
    """The first line does not name the columns we need."""


class CsvReadings:
    """The data lines of a readings CSV, read once, lazily (a bad header raises on reading).

    Iterating gives a ``CandidateRow`` (or a ``RowError`` for a malformed line) per
    data line. :meth:`field_chunks` gives the same lines split into fields in the
    order of ``CandidateRow`` without building a candidate per line, which is what
    the loader reads. Row numbers are the file's line numbers (the header is line
    1; a quoted field spanning lines counts as one).
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines

    def __iter__(self) -> Iterator[CandidateRow | RowError]:
        for chunk in self.field_chunks(10_000):
            for number, item in enumerate(chunk.items, start=chunk.first_row):
                if type(item) is list:
                    cups, start, minutes, kwh_in, kwh_out, quality = item
                    yield CandidateRow(
                        number, cups, start, minutes, kwh_in, kwh_out, quality.rstrip("\r\n")
                    )
                elif item is not None:
                    yield item  # type: ignore[misc]

    def field_chunks(self, size: int) -> Iterator[CsvChunk]:
        """Yield up to ``size`` lines at a time as a :class:`CsvChunk`.

        An item is a line's six fields (supply point, interval start, duration,
        kWh import, kWh export, quality; the last may still end in the line break),
        a ``RowError`` for a line with the wrong number of columns, or None for a
        blank line. Items are split as they are read, so that a chunk holds its
        lines, not a list per line; read each chunk's items before the next chunk.
        """
        lines = iter(self._lines)
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
        layout = _Layout(header)
        number = 1  # the header's line
        while block := list(itertools.islice(lines, size)):
            if '"' in "".join(block):
                # Quotes may hide commas or line breaks: the csv module reads from here on.
                rest = csv.reader(itertools.chain(block, lines))
                yield from _quoted_chunks(rest, number, layout, size)
                return
            yield CsvChunk(number + 1, layout.supply_points(block), layout.split(block, number))
            number += len(block)


class _Layout:
    """Where the columns are, and how to split unquoted lines into ``CandidateRow`` order."""

    def __init__(self, header: list[str]) -> None:
        names = REQUIRED + OPTIONAL
        self.width = len(header)
        self.order = [header.index(name) if name in header else None for name in names]
        self.defaults = [_DEFAULTS.get(name, "") for name in names]
        # The usual layout needs no reordering: the split line is the item as it is.
        self.as_is = header == list(names)

    def supply_points(self, lines: list[str]) -> set[str]:
        if self.as_is:
            return {line.split(",", 1)[0] for line in lines}
        column = self.order[0]
        assert column is not None  # supply_point is required
        codes = set()
        for line in lines:
            fields = line.split(",", column + 1)
            if len(fields) > column:
                codes.add(fields[column])
        return codes

    def split(self, lines: list[str], number: int) -> Iterator[list[str] | RowError | None]:
        width = self.width
        as_is = self.as_is
        for line in lines:
            number += 1
            fields = line.split(",")
            if len(fields) != width:
                fields = next(csv.reader([line]), [])
                if not fields:
                    yield None
                    continue
                if len(fields) != width:
                    yield _width_error(number, len(fields), width)
                    continue
            elif as_is:
                yield fields
                continue
            else:
                fields[-1] = fields[-1].rstrip("\r\n")
            yield self.reorder(fields)

    def reorder(self, fields: list[str]) -> list[str]:
        return [
            fields[index] if index is not None else default
            for index, default in zip(self.order, self.defaults, strict=True)
        ]


def _width_error(number: int, count: int, width: int) -> RowError:
    return RowError(number, "line", f"has {count} columns, the header has {width}")


def _quoted_chunks(
    reader: Iterator[list[str]], number: int, layout: _Layout, size: int
) -> Iterator[CsvChunk]:
    while True:
        first = number + 1
        items: list[list[str] | RowError | None] = []
        for fields in itertools.islice(reader, size):
            number += 1
            if not fields:
                items.append(None)
            elif len(fields) != layout.width:
                items.append(_width_error(number, len(fields), layout.width))
            else:
                items.append(layout.reorder(fields))
        if not items:
            return
        codes = {item[0] for item in items if type(item) is list}
        yield CsvChunk(first, codes, items)


def csv_candidates(lines: Iterable[str]) -> CsvReadings:
    """The readings of a CSV file (an iterable of its lines): see :class:`CsvReadings`."""
    return CsvReadings(lines)
