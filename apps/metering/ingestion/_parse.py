"""Row-level checks for interval readings. Pure: no Django, no database, no clock.

Each source (CSV, ESPI XML, API JSON) turns its input into ``CandidateRow``s.
:class:`RowChecker` checks them and returns either a COPY line whose text
fields PostgreSQL takes as they are (COPY), or a ``RowError`` naming the row,
the field and the reason. The checker is built for millions of rows: time
stamps repeat across supply points, so each distinct (start, duration) pair is
parsed once. Supply-point facts (id, contracted power) come from a lookup the
caller provides. Duplicates within one input are found afterwards, set-based.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

DURATIONS = (15, 30, 60)
QUALITIES = frozenset({"ACTUAL", "ESTIMATED", "CORRECTED"})
ABSURD_FACTOR = 2  # more than twice the contracted power over the interval is not believable
_KWH = re.compile(r"(\d{1,9})(?:\.(\d{1,3}))?")
_KWH_ANY_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_CACHE_LIMIT = 200_000


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

    :meth:`stage` returns the row as a COPY line (tab-separated: supply point id, start,
    minutes, kWh import, kWh export, quality, then ``suffix``) or a ``RowError``. It also
    collects the UTC months the rows fall in (``months``) so partitions can be made first.
    Everything that repeats (time stamps, kWh values, supply points) is
    checked once and remembered, which keeps the cost per row to a few dictionary look-ups.
    """

    def __init__(
        self, facts: Callable[[str], SupplyPointFacts | None], *, suffix: str = "\n"
    ) -> None:
        self._facts = facts
        self._suffix = suffix
        self.months: set[dt.date] = set()
        self._times: dict[tuple[str, str], tuple[str, int] | RowError] = {}
        self._energy: dict[str, tuple[int, str] | RowError] = {}
        self._points: dict[str, tuple[int, int, str] | RowError] = {}

    def _time(self, start_text: str, minutes_text: str) -> tuple[str, int] | RowError:
        key = (start_text, minutes_text)
        cached = self._times.get(key)
        if cached is None:
            cached = _check_time(start_text.strip(), minutes_text.strip())
            if type(cached) is not RowError:
                utc = dt.datetime.fromisoformat(cached[0]).astimezone(dt.UTC)  # type: ignore[index]
                self.months.add(utc.date().replace(day=1))
            if len(self._times) > _CACHE_LIMIT:
                self._times.clear()
            self._times[key] = cached
        return cached

    def _wh(self, text: str) -> tuple[int, str] | RowError:
        cached = self._energy.get(text)
        if cached is None:
            value = text.strip()
            wh = _watt_hours(value)
            cached = _kwh_error(0, "", value) if wh is None else (wh, value)
            if len(self._energy) > _CACHE_LIMIT:
                self._energy.clear()
            self._energy[text] = cached
        return cached

    def _point(self, text: str) -> tuple[int, int, str] | RowError:
        cached = self._points.get(text)
        if cached is None:
            cups = text.strip().upper()
            facts = self._facts(cups) if cups else None
            if not cups:
                cached = RowError(0, "supply_point", "missing")
            elif facts is None:
                cached = RowError(0, "supply_point", "unknown supply point", cups)
            else:
                cached = (
                    facts.id,
                    _power_watts(facts.contracted_power_kw),
                    facts.contracted_power_kw,
                )
            if len(self._points) > _CACHE_LIMIT:
                self._points.clear()
            self._points[text] = cached
        return cached

    def stage(self, candidate: CandidateRow) -> str | RowError:
        row = candidate.row
        timing = self._time(candidate.interval_start, candidate.duration_minutes)
        if type(timing) is RowError:
            return RowError(row, timing.field, timing.reason, timing.value)
        start, minutes = timing  # type: ignore[misc]
        energy_in = self._wh(candidate.kwh_import)
        if type(energy_in) is RowError:
            return RowError(row, "kwh_import", energy_in.reason, energy_in.value)
        energy_out = self._wh(candidate.kwh_export or "0")
        if type(energy_out) is RowError:
            return RowError(row, "kwh_export", energy_out.reason, energy_out.value)
        quality = candidate.quality
        if quality not in QUALITIES:
            quality = (quality or "ACTUAL").strip().upper()
            if quality not in QUALITIES:
                return RowError(row, "quality", "must be ACTUAL, ESTIMATED or CORRECTED", quality)
        point = self._point(candidate.supply_point)
        if type(point) is RowError:
            return RowError(row, point.field, point.reason, point.value)
        supply_point_id, watts, power_text = point  # type: ignore[misc]
        wh_in, kwh_in = energy_in  # type: ignore[misc]
        wh_out, kwh_out = energy_out  # type: ignore[misc]
        limit = watts * minutes * ABSURD_FACTOR // 60
        if wh_in > limit or wh_out > limit:
            field, text, value = (
                ("kwh_import", kwh_in, wh_in)
                if wh_in >= wh_out
                else ("kwh_export", kwh_out, wh_out)
            )
            return RowError(
                row,
                field,
                f"absurd: {value // 1000}.{value % 1000:03d} kWh in {minutes} minutes is more "
                f"than {ABSURD_FACTOR} times the contracted power of {power_text} kW",
                text,
            )
        return (
            f"{supply_point_id}\t{start}\t{minutes}\t{kwh_in}\t{kwh_out}\t{quality}{self._suffix}"
        )


def _check_time(text: str, minutes_text: str) -> tuple[str, int] | RowError:
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
    return start.isoformat(), minutes


def check_row(candidate: CandidateRow, facts: Mapping[str, SupplyPointFacts]) -> str | RowError:
    """Check one row against known supply points (convenience for small inputs and tests)."""
    return RowChecker(facts.get).stage(candidate)
