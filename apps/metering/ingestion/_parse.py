"""Row-level checks for interval readings. Pure: no Django, no database, no clock.

Each source (CSV, ESPI XML, API JSON) turns its input into ``CandidateRow``s
(CSV: split lines, see :meth:`RowChecker.check_fields`). :class:`RowChecker`
checks them and returns either a row for a binary COPY, or a ``RowError``
naming the row, the field and the reason. The checker is built for millions of rows: time
stamps repeat across supply points, so each distinct (start, duration) pair is
parsed once. Supply-point facts (id, contracted power) come from a lookup the
caller provides. Duplicates within one input are found afterwards, set-based.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from apps.metering.ingestion import _binary

DURATIONS = (15, 30, 60)
QUALITIES = frozenset({"ACTUAL", "ESTIMATED", "CORRECTED"})
ABSURD_FACTOR = 2  # more than twice the contracted power over the interval is not believable
_KWH = re.compile(r"(\d{1,9})(?:\.(\d{1,3}))?")
_KWH_ANY_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_CACHE_LIMIT = 200_000
K = TypeVar("K")
V = TypeVar("V")


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


class SupplyPointFacts(NamedTuple):
    id: int
    contracted_power_kw: str  # decimal text, e.g. "4.600"


def _watt_hours(text: str) -> int | None:
    """kWh text with at most 3 decimals → whole Wh; None if not such a number."""
    match = _KWH.fullmatch(text)
    if match is None:
        return None
    whole, fraction = match.groups()
    return int(whole) * 1000 + (int(fraction.ljust(3, "0")) if fraction else 0)


def _kwh_error(row: int, field: str, text: str) -> RowError:
    if text == "":
        return RowError(row, field, "missing")
    if _KWH_ANY_NUMBER.fullmatch(text):
        if text.startswith("-") and text.strip("-0.") != "":
            return RowError(row, field, "negative energy", text)
        return RowError(row, field, "more than 3 decimal places or 9 digits", text)
    return RowError(row, field, "not a number", text)


def _power_watts(power_kw: str) -> int:
    whole, _, fraction = power_kw.partition(".")
    return int(whole) * 1000 + int((fraction or "0")[:3].ljust(3, "0"))


class RowChecker:
    """Checks candidate rows; ``facts(cups)`` says what we know of a supply point (or None).

    :meth:`stage` returns the row as a binary COPY row (supply point id, start,
    minutes, kWh import, kWh export, quality, then ``suffix``: the ``suffix_fields``
    encoded fields every row of one input shares) or a ``RowError``.
    :meth:`check_fields` does the same for a chunk of split CSV lines, taking the
    fast path for rows made only of values it has already seen and found good.
    It also collects the UTC months the rows fall in (``months``) so partitions
    can be made first. Everything that repeats (time stamps, kWh values, supply
    points, qualities) is checked and encoded once and remembered, which keeps the
    cost per row to a few dictionary look-ups and one join of cached bytes.
    """

    def __init__(
        self,
        facts: Callable[[str], SupplyPointFacts | None],
        *,
        suffix: bytes = b"",
        suffix_fields: int = 0,
    ) -> None:
        self._facts = facts
        self._suffix = suffix
        self._field_count = _binary.field_count(6 + suffix_fields)
        self.months: set[dt.date] = set()
        # Values seen and found good, already encoded (the fast path reads only these) ...
        self._times: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._imports: dict[str, tuple[int, bytes]] = {}
        self._exports: dict[str, tuple[int, bytes]] = {}
        self._qualities: dict[str, bytes] = {}
        self._points: dict[str, tuple[bytes, int, str]] = {}
        # ... and values found bad, with the reason.
        self._bad_times: dict[tuple[str, str], RowError] = {}
        self._bad_energy: dict[str, RowError] = {}
        self._bad_points: dict[str, RowError] = {}

    def _time(self, start_text: str, minutes_text: str) -> tuple[bytes, int] | RowError:
        key = (start_text, minutes_text)
        known = self._times.get(key) or self._bad_times.get(key)
        if known is not None:
            return known
        checked = _check_time(start_text.strip(), minutes_text.strip())
        if type(checked) is RowError:
            _remember(self._bad_times, key, checked)
            return checked
        start, minutes = checked  # type: ignore[misc]
        self.months.add(start.astimezone(dt.UTC).date().replace(day=1))
        good = (_binary.timestamptz(start) + _binary.smallint(minutes), minutes)
        _remember(self._times, key, good)
        return good

    def _wh(self, text: str, good: dict[str, tuple[int, bytes]]) -> tuple[int, bytes] | RowError:
        known = good.get(text) or self._bad_energy.get(text)
        if known is not None:
            return known
        value = text.strip()
        wh = _watt_hours(value)
        if wh is None:
            error = _kwh_error(0, "", value)
            _remember(self._bad_energy, text, error)
            return error
        checked = (wh, _binary.milli_numeric(wh))
        _remember(good, text, checked)
        return checked

    def _quality(self, text: str) -> bytes | RowError:
        known = self._qualities.get(text)
        if known is not None:
            return known
        quality = text if text in QUALITIES else (text or "ACTUAL").strip().upper()
        if quality not in QUALITIES:
            return RowError(0, "quality", "must be ACTUAL, ESTIMATED or CORRECTED", quality)
        encoded = _binary.text(quality) + self._suffix
        _remember(self._qualities, text, encoded)
        return encoded

    def _point(self, text: str) -> tuple[bytes, int, str] | RowError:
        known = self._points.get(text) or self._bad_points.get(text)
        if known is not None:
            return known
        cups = text.strip().upper()
        facts = self._facts(cups) if cups else None
        if not cups:
            error = RowError(0, "supply_point", "missing")
        elif facts is None:
            error = RowError(0, "supply_point", "unknown supply point", cups)
        else:
            good = (
                self._field_count + _binary.bigint(facts.id),
                _power_watts(facts.contracted_power_kw) * ABSURD_FACTOR,
                facts.contracted_power_kw,
            )
            _remember(self._points, text, good)
            return good
        _remember(self._bad_points, text, error)
        return error

    def stage(self, candidate: CandidateRow) -> bytes | RowError:
        row = candidate.row
        timing = self._time(candidate.interval_start, candidate.duration_minutes)
        if type(timing) is RowError:
            return RowError(row, timing.field, timing.reason, timing.value)
        start, minutes = timing  # type: ignore[misc]
        energy_in = self._wh(candidate.kwh_import, self._imports)
        if type(energy_in) is RowError:
            return RowError(row, "kwh_import", energy_in.reason, energy_in.value)
        energy_out = self._wh(candidate.kwh_export or "0", self._exports)
        if type(energy_out) is RowError:
            return RowError(row, "kwh_export", energy_out.reason, energy_out.value)
        tail = self._quality(candidate.quality)
        if type(tail) is RowError:
            return RowError(row, tail.field, tail.reason, tail.value)
        point = self._point(candidate.supply_point)
        if type(point) is RowError:
            return RowError(row, point.field, point.reason, point.value)
        head, limit_factor, power_text = point  # type: ignore[misc]
        wh_in, kwh_in = energy_in  # type: ignore[misc]
        wh_out, kwh_out = energy_out  # type: ignore[misc]
        limit = limit_factor * minutes // 60
        if wh_in > limit or wh_out > limit:
            field, value = ("kwh_import", wh_in) if wh_in >= wh_out else ("kwh_export", wh_out)
            text = candidate.kwh_import if field == "kwh_import" else candidate.kwh_export
            return RowError(
                row,
                field,
                f"absurd: {value // 1000}.{value % 1000:03d} kWh in {minutes} minutes is more "
                f"than {ABSURD_FACTOR} times the contracted power of {power_text} kW",
                text.strip(),
            )
        if candidate.kwh_export == "":
            self._exports[""] = energy_out  # type: ignore[assignment]  # an empty export is 0
        return b"".join((head, start, kwh_in, kwh_out, tail))  # type: ignore[arg-type]

    def check_candidates(
        self, candidates: Iterable[CandidateRow | RowError]
    ) -> tuple[list[int], list[bytes], list[RowError]]:
        """Check candidates: (row numbers, COPY rows) of the good ones, and the errors."""
        rows: list[int] = []
        data: list[bytes] = []
        errors: list[RowError] = []
        for candidate in candidates:
            checked = candidate if type(candidate) is RowError else self.stage(candidate)  # type: ignore[arg-type]
            if type(checked) is bytes:
                rows.append(candidate.row)
                data.append(checked)
            else:
                errors.append(checked)  # type: ignore[arg-type]
        return rows, data, errors

    def check_fields(
        self, first_row: int, items: Iterable[list[str] | RowError | None]
    ) -> tuple[list[int], list[bytes], list[RowError]]:
        """Check split lines numbered from ``first_row``, like :meth:`check_candidates`.

        An item is the six fields of a line in the order of ``CandidateRow`` (the last
        one may still end in its line break), a ``RowError`` for a line that could not
        be split, or None for a blank line. Rows whose every value is already known
        good are joined from the caches; any other row goes through :meth:`stage`,
        which gives the same result and the same errors for every row.
        """
        times = self._times
        imports = self._imports
        exports = self._exports
        qualities = self._qualities
        points = self._points
        join = b"".join
        rows: list[int] = []
        data: list[bytes] = []
        errors: list[RowError] = []
        row = first_row - 1
        for item in items:
            row += 1
            if item.__class__ is not list:
                if item is not None:
                    errors.append(item)  # type: ignore[arg-type]
                continue
            supply_point, start, minutes, kwh_in, kwh_out, quality = item  # type: ignore[misc]
            point = points.get(supply_point)
            timing = times.get((start, minutes))
            energy_in = imports.get(kwh_in)
            energy_out = exports.get(kwh_out)
            tail = qualities.get(quality)
            if (
                point is not None
                and timing is not None
                and energy_in is not None
                and energy_out is not None
                and tail is not None
            ):
                limit = point[1] * timing[1] // 60
                if energy_in[0] <= limit and energy_out[0] <= limit:
                    rows.append(row)
                    data.append(join((point[0], timing[0], energy_in[1], energy_out[1], tail)))
                    continue
            clean = quality.rstrip("\r\n")
            checked = self.stage(
                CandidateRow(row, supply_point, start, minutes, kwh_in, kwh_out, clean)
            )
            if type(checked) is bytes:
                if clean != quality:  # the line break stays on the cached key
                    qualities[quality] = qualities[clean]
                rows.append(row)
                data.append(checked)
            else:
                errors.append(checked)  # type: ignore[arg-type]
        return rows, data, errors


def _remember(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _check_time(text: str, minutes_text: str) -> tuple[dt.datetime, int] | RowError:
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        return RowError(0, "interval_start", "not an ISO 8601 date and time", text)
    if start.tzinfo is None or start.utcoffset() is None:
        return RowError(0, "interval_start", "no time zone offset", text)
    try:
        minutes = int(minutes_text)
    except ValueError:
        return RowError(0, "duration_minutes", "not a whole number", minutes_text)
    if minutes not in DURATIONS:
        return RowError(0, "duration_minutes", "must be 15, 30 or 60", str(minutes))
    if start.timestamp() % (minutes * 60) != 0:
        return RowError(
            0,
            "interval_start",
            f"misaligned: a {minutes}-minute interval starts on the {minutes}-minute boundary",
            text,
        )
    return start, minutes


def check_row(candidate: CandidateRow, facts: Mapping[str, SupplyPointFacts]) -> bytes | RowError:
    """Check one row against known supply points (convenience for small inputs and tests)."""
    return RowChecker(facts.get).stage(candidate)
