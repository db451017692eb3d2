"""Green Button (NAESB ESPI) Atom feeds → candidate readings. No database access.

A feed is read in two streaming passes with ``XMLPullParser`` (elements are dropped as
soon as they are read, so memory does not grow with the file):

1. :func:`espi_scan` reads the Atom entries and their links (UsagePoint, MeterReading,
   ReadingType, IntervalBlock) and works out, for every IntervalBlock, which usage point,
   flow direction, unit and multiplier its readings have. Nothing is stored.
2. :meth:`EspiFeed.candidates` reads the IntervalReadings again and yields one
   ``CandidateRow`` per usage point and interval (import and export merged) or a
   ``RowError`` naming the element, e.g. ``IntervalReading[17].timePeriod.start``, where 17
   is the IntervalReading's ordinal in the file (1-based, document order).

A document type declaration is refused before any parsing of the root element, so no
DTD, entity declaration or external entity can be used (the defusedxml rule).
Rules (units, multipliers, qualities, merging) are in docs/decisions/0501.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, NamedTuple, cast
from xml.parsers import expat

from apps.metering.identifiers import InvalidCups, normalise_cups
from apps.metering.ingestion import CandidateRow, RowError

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"

EspiSource = bytes | Path | str | IO[bytes]
"""Where a feed is read from: its bytes, a path, or a seekable binary file (read twice)."""

UOM_WH = 72
FLOW_FORWARD = 1  # delivered to the customer: import
FLOW_REVERSE = 19  # received from the customer: export
ACCUMULATION_DELTA = 4  # deltaData: energy within each interval
DURATIONS_S = (900, 1800, 3600)
_MAX_KWH = Decimal(10) ** 9
_MILLI = Decimal("0.001")
_CHUNK = 1 << 16

# QualityOfReading (ESPI 4.0) → our quality. Decision 0501 explains each choice.
QUALITY_CODES: Mapping[int, str] = {
    0: "ACTUAL",  # valid
    7: "CORRECTED",  # manually edited: replaced or approved by a human
    8: "ESTIMATED",  # estimated using reference day
    9: "ESTIMATED",  # estimated using linear interpolation
    10: "ESTIMATED",  # questionable: failed checks, must not replace a good value
    11: "ESTIMATED",  # derived
    12: "ESTIMATED",  # projected (forecast)
    13: "ESTIMATED",  # mixed
    14: "ACTUAL",  # raw: measured, not yet validated
    15: "ESTIMATED",  # normalised for weather
    16: "ESTIMATED",  # other
    17: "ACTUAL",  # validated
    18: "ACTUAL",  # verified
    19: "ACTUAL",  # revenue-quality
}
_QUALITY_RANK = {"ACTUAL": 0, "CORRECTED": 1, "ESTIMATED": 2}  # the worst one wins


class EspiFeedError(ValueError):
    """The file as a whole cannot be read as a Green Button feed; the message says why."""


class _DoctypeRefused(Exception):
    pass


class _RootReached(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Safe streaming parse
# ---------------------------------------------------------------------------------------


def _chunks(source: EspiSource) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source)
        for offset in range(0, len(data), _CHUNK):
            yield bytes(data[offset : offset + _CHUNK])
        return
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            yield from iter(lambda: handle.read(_CHUNK), b"")
        return
    if source.seekable():
        source.seek(0)
    while chunk := source.read(_CHUNK):
        if not isinstance(chunk, bytes):
            raise TypeError("An ESPI feed must be opened in binary mode.")
        yield chunk


class _PrologGuard:
    """A second, tiny expat parser that sees the bytes up to the root element only.

    A DOCTYPE can only appear before the root element; refusing it there refuses every
    DTD, internal or external entity declaration. Expat itself decodes, so the check holds
    for any encoding the main parser accepts.
    """

    def __init__(self) -> None:
        self.done = False
        self._parser = expat.ParserCreate()
        self._parser.StartDoctypeDeclHandler = self._doctype
        self._parser.EntityDeclHandler = self._doctype
        self._parser.StartElementHandler = self._root

    @staticmethod
    def _doctype(*_args: object) -> None:
        raise _DoctypeRefused

    @staticmethod
    def _root(*_args: object) -> None:
        raise _RootReached

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return
        try:
            self._parser.Parse(chunk, False)
        except _RootReached:
            self.done = True
        except _DoctypeRefused:
            raise EspiFeedError(
                "The file has a document type declaration (DOCTYPE); Green Button files "
                "never need one and it is refused for safety (entities, external files)."
            ) from None
        except expat.ExpatError:
            self.done = True  # the main parser reports it, with its position


# ---------------------------------------------------------------------------------------
# Pass 1: entries and links
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Entry:
    index: int
    self_href: str = ""
    up_href: str = ""
    related: list[str] = dataclasses.field(default_factory=list)
    title: str = ""
    kind: str = ""  # local name of the ESPI resource in <content>
    details: dict[str, str] = dataclasses.field(default_factory=dict)
    readings: int = 0


class _Reading(NamedTuple):
    ordinal: int
    entry: int | None  # index of the Atom entry holding the IntervalBlock
    position: int  # 0-based position in its IntervalBlock
    block_start: str  # the IntervalBlock's interval/start, for readings without timePeriod
    start: str | None
    duration: str | None
    value: str | None
    qualities: tuple[str, ...]


def _href(text: str | None) -> str:
    return (text or "").strip().rstrip("/")


def _texts(elem: ET.Element) -> dict[str, str]:
    """Leaf texts of a small ESPI resource, keyed by local path (``a.b``)."""
    found: dict[str, str] = {}

    def walk(node: ET.Element, prefix: str) -> None:
        for child in node:
            name = prefix + child.tag.rpartition("}")[2]
            if len(child):
                walk(child, name + ".")
            else:
                found.setdefault(name, (child.text or "").strip())

    walk(elem, "")
    return found


_FEED, _ENTRY, _LINK, _TITLE, _CONTENT = (
    ATOM + name for name in ("feed", "entry", "link", "title", "content")
)
_BLOCK, _READING, _INTERVAL, _PERIOD = (
    ESPI + name for name in ("IntervalBlock", "IntervalReading", "interval", "timePeriod")
)
_START, _DURATION, _VALUE, _QUALITY, _READING_QUALITY = (
    ESPI + name for name in ("start", "duration", "value", "quality", "ReadingQuality")
)


def _walk(
    source: EspiSource, *, readings: bool, stats: dict[str, int] | None = None
) -> Iterator[_Entry | _Reading]:
    """Entries (at their end) and, with ``readings``, IntervalReadings, in document order.

    Every IntervalReading and entry is removed from the tree once read, so memory stays
    flat. ``stats["readings"]`` is set to the number of IntervalReading elements.
    """
    guard = _PrologGuard()
    parser = ET.XMLPullParser(events=("start", "end"))
    stack: list[ET.Element] = []
    entry: _Entry | None = None
    entries = ordinal = position = 0
    block_start = ""
    in_reading = False
    try:
        for chunk in itertools.chain(_chunks(source), [b""]):
            if chunk:
                guard.feed(chunk)
                parser.feed(chunk)
            else:
                parser.close()  # the end of the file: raises if elements are left open
            for event, elem in cast(Iterator[tuple[str, ET.Element]], parser.read_events()):
                tag = elem.tag
                if in_reading:  # the reading's own children: read all at once at its end
                    if tag != _READING or event == "start":
                        continue
                    in_reading = False
                elif event == "start":
                    if not stack and tag not in (_FEED, _ENTRY):
                        raise EspiFeedError(
                            f"The root element is {tag!r}, not an Atom feed: is this a Green "
                            "Button (ESPI) file?"
                        )
                    if tag == _READING:
                        in_reading = True
                        continue
                    stack.append(elem)
                    if tag == _ENTRY:
                        entry = _Entry(index=entries)
                        entries += 1
                    elif tag == _BLOCK:
                        position = 0
                        block_start = ""
                    continue
                if tag == _READING:
                    parent = stack[-1] if stack else None
                    ordinal += 1
                    if entry is not None:
                        entry.readings += 1
                    if readings:
                        yield _reading(elem, ordinal, entry, position, block_start)
                    position += 1
                    if parent is not None:
                        parent.remove(elem)  # earlier siblings are gone already: cheap
                    continue
                stack.pop()
                parent = stack[-1] if stack else None
                if entry is None:
                    continue
                if tag == _ENTRY:
                    yield entry
                    entry = None
                    if parent is not None:
                        parent.remove(elem)
                    continue
                if parent is None:
                    continue
                parent_tag = parent.tag
                if tag == _INTERVAL and parent_tag == _BLOCK:
                    block_start = (elem.findtext(_START) or "").strip()
                elif parent_tag == _ENTRY:
                    _entry_child(entry, elem)
                elif parent_tag == _CONTENT and tag.startswith(ESPI) and not entry.kind:
                    entry.kind = tag[len(ESPI) :]
                    if entry.kind in ("ReadingType", "UsagePoint"):
                        entry.details = _texts(elem)
    except ET.ParseError as exc:
        raise EspiFeedError(f"The file is not well-formed XML: {exc}.") from None
    if stats is not None:
        stats["readings"] = ordinal


def _entry_child(entry: _Entry, elem: ET.Element) -> None:
    if elem.tag == _LINK:
        rel = (elem.get("rel") or "").strip()
        href = _href(elem.get("href"))
        if rel == "self":
            entry.self_href = href
        elif rel == "up":
            entry.up_href = href
        elif rel == "related":
            entry.related.append(href)
    elif elem.tag == _TITLE:
        entry.title = " ".join("".join(elem.itertext()).split())


def _reading(
    elem: ET.Element, ordinal: int, entry: _Entry | None, position: int, block_start: str
) -> _Reading:
    period = elem.find(_PERIOD)
    return _Reading(
        ordinal,
        entry.index if entry is not None else None,
        position,
        block_start,
        None if period is None else period.findtext(_START),
        None if period is None else period.findtext(_DURATION),
        elem.findtext(_VALUE),
        tuple((q.findtext(_QUALITY) or "").strip() for q in elem.iter(_READING_QUALITY)),
    )


# ---------------------------------------------------------------------------------------
# The plan: which usage point, direction and unit each IntervalBlock has
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UsagePointInfo:
    """A usage point of the feed that has interval readings."""

    number: int  # 1-based, in order of first appearance
    href: str  # its Atom self link (or the one its MeterReadings point up to)
    title: str
    cups: str | None  # a valid CUPS named by serviceDeliveryPoint/name (our own exports)
    readings: int  # IntervalReading elements that belong to it

    def label(self) -> str:
        title = f" “{self.title}”" if self.title else ""
        return f"{self.number}{title} ({self.href or 'no link'})"


class _BlockPlan(NamedTuple):
    usage_point: str  # UsagePointInfo.href
    direction: str  # "import" | "export"
    multiplier: int
    default_quality: str
    interval_length: int | None


class _BlockProblem(NamedTuple):
    field: str  # suffix after IntervalReading[n]
    reason: str
    value: str


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _reading_type_problem(rt: _Entry) -> _BlockProblem | None:
    d = rt.details
    uom = d.get("uom", "").strip()
    if _int(uom) != UOM_WH:
        return _BlockProblem(
            ".ReadingType.uom",
            f"unit {uom or '(missing)'} of ReadingType {rt.self_href or rt.index + 1} is not "
            f"watt-hours (uom {UOM_WH}): only energy readings are imported",
            uom,
        )
    if "powerOfTenMultiplier" in d and _int(d["powerOfTenMultiplier"]) is None:
        return _BlockProblem(
            ".ReadingType.powerOfTenMultiplier", "not a whole number", d["powerOfTenMultiplier"]
        )
    multiplier = _int(d.get("powerOfTenMultiplier")) or 0
    if not -12 <= multiplier <= 12:
        return _BlockProblem(
            ".ReadingType.powerOfTenMultiplier",
            "must be between -12 and 12",
            d["powerOfTenMultiplier"],
        )
    flow = d.get("flowDirection", "")
    if flow and _int(flow) not in (FLOW_FORWARD, FLOW_REVERSE):
        return _BlockProblem(
            ".ReadingType.flowDirection",
            f"only forward ({FLOW_FORWARD}, import) and reverse ({FLOW_REVERSE}, export) "
            "readings are imported",
            flow,
        )
    accumulation = d.get("accumulationBehaviour", "")
    if accumulation and _int(accumulation) != ACCUMULATION_DELTA:
        return _BlockProblem(
            ".ReadingType.accumulationBehaviour",
            f"only interval energy (deltaData, {ACCUMULATION_DELTA}) is imported, not "
            "cumulative register values",
            accumulation,
        )
    default_quality = d.get("defaultQuality", "")
    if default_quality and _int(default_quality) not in QUALITY_CODES:
        return _BlockProblem(
            ".ReadingType.defaultQuality", "not a QualityOfReading code", default_quality
        )
    return None


def _strip_suffix(href: str, marker: str) -> str:
    """``…/UsagePoint/1/MeterReading/01`` with marker ``/MeterReading`` → ``…/UsagePoint/1``."""
    head, sep, _tail = href.rpartition(marker)
    return head if sep else ""


def _sdp_cups(details: Mapping[str, str]) -> str | None:
    for key in ("serviceDeliveryPoint.name", "ServiceDeliveryPoint.name"):
        name = details.get(key)
        if name:
            try:
                return normalise_cups(name)
            except InvalidCups:
                return None
    return None


@dataclasses.dataclass
class EspiFeed:
    """What :func:`espi_scan` learnt about a feed: its usage points and how to read it."""

    source: EspiSource
    usage_points: tuple[UsagePointInfo, ...]
    readings: int  # IntervalReading elements in the file
    _blocks: dict[int, _BlockPlan | _BlockProblem]
    _directions: dict[str, frozenset[str]]

    def usage_point(self, key: str) -> UsagePointInfo | None:
        """The usage point numbered ``key`` (``"1"``) or whose link is ``key``."""
        for point in self.usage_points:
            if key.strip() in (str(point.number), point.href):
                return point
        return None

    def candidates(self, supply_points: Mapping[str, str]) -> Iterator[CandidateRow | RowError]:
        """Second pass: one candidate per usage point and interval, or an element-named error.

        ``supply_points`` maps ``UsagePointInfo.href`` to the CUPS its readings belong to.
        Readings of a usage point with both import and export MeterReadings are merged by
        interval start (and so held in memory until the end of the file); the others
        stream straight through.
        """
        merged: dict[tuple[str, int], list[_Half | None]] = {}
        for reading in _walk(self.source, readings=True):
            if not isinstance(reading, _Reading):
                continue
            plan = self._blocks.get(reading.entry) if reading.entry is not None else None
            n = reading.ordinal
            if plan is None:
                yield RowError(
                    n,
                    f"IntervalReading[{n}]",
                    "its IntervalBlock is not linked to a MeterReading of this file "
                    "(the Atom 'up' link names the MeterReading's IntervalBlock collection)",
                )
                continue
            if isinstance(plan, _BlockProblem):
                yield RowError(n, f"IntervalReading[{n}]{plan.field}", plan.reason, plan.value)
                continue
            cups = supply_points.get(plan.usage_point)
            if not cups:
                yield RowError(
                    n,
                    f"IntervalReading[{n}]",
                    f"usage point {plan.usage_point} has no supply point",
                )
                continue
            half = _half(reading, plan)
            if isinstance(half, RowError):
                yield half
                continue
            directions = self._directions.get(plan.usage_point, frozenset())
            if len(directions) < 2:
                kwh = _kwh_text(half.kwh)
                yield CandidateRow(
                    n,
                    cups,
                    _iso(half.start),
                    str(half.duration // 60),
                    kwh if half.direction == "import" else "0",
                    kwh if half.direction == "export" else "0",
                    half.quality,
                )
                continue
            slot = merged.setdefault((plan.usage_point, half.start), [None, None])
            index = 0 if half.direction == "import" else 1
            first = slot[index]
            if first is not None:
                yield RowError(
                    n,
                    f"IntervalReading[{n}].timePeriod.start",
                    f"duplicate of IntervalReading[{first.ordinal}] in this file",
                    str(half.start),
                )
                continue
            slot[index] = half
        yield from _merge(merged, supply_points)


class _Half(NamedTuple):
    ordinal: int
    direction: str
    start: int
    duration: int
    kwh: Decimal
    quality: str


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat()


def _kwh_text(kwh: Decimal) -> str:
    return format(kwh, "f")


def to_kwh(value: int, multiplier: int) -> Decimal:
    """``value`` × 10^``multiplier`` Wh in kWh, exactly; finer than 1 Wh is rounded half-up.

    Only a multiplier below 0 (a resolution finer than 1 Wh) can need more than the three
    decimals we store; that is the only case that rounds.
    """
    kwh = Decimal(value).scaleb(multiplier - 3)
    exponent = kwh.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        kwh = kwh.quantize(_MILLI, rounding=ROUND_HALF_UP)
    return kwh


def _timing(reading: _Reading, plan: _BlockPlan) -> tuple[int, int, str] | RowError:
    """(start, duration, duration as written) of a reading, or the error naming its element."""
    n = reading.ordinal
    name = f"IntervalReading[{n}]"
    if reading.start is None:
        # No timePeriod: the readings follow each other from the block's start (ESPI rule).
        block_start = _int(reading.block_start)
        if plan.interval_length is None or block_start is None:
            return RowError(
                n,
                f"{name}.timePeriod",
                "missing, and the IntervalBlock's interval start or the ReadingType's "
                "intervalLength is missing too",
            )
        length = plan.interval_length
        return block_start + reading.position * length, length, str(length)
    start = _int(reading.start)
    if start is None:
        return RowError(
            n,
            f"{name}.timePeriod.start",
            "not a time: ESPI times are whole seconds since 1970-01-01 UTC",
            reading.start.strip(),
        )
    duration_text = (reading.duration or "").strip()
    duration = _int(duration_text)
    if duration is None:
        return RowError(
            n, f"{name}.timePeriod.duration", "not a whole number of seconds", duration_text
        )
    return start, duration, duration_text


def _half(reading: _Reading, plan: _BlockPlan) -> _Half | RowError:
    n = reading.ordinal
    name = f"IntervalReading[{n}]"
    timing = _timing(reading, plan)
    if isinstance(timing, RowError):
        return timing
    start, duration, duration_text = timing
    if duration not in DURATIONS_S:
        return RowError(
            n,
            f"{name}.timePeriod.duration",
            f"duration {duration} s: only 15, 30 or 60-minute intervals are stored",
            duration_text,
        )
    try:
        dt.datetime.fromtimestamp(start, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return RowError(n, f"{name}.timePeriod.start", "out of range", str(start))
    if start % duration:
        minutes = duration // 60
        return RowError(
            n,
            f"{name}.timePeriod.start",
            f"misaligned: a {minutes}-minute interval starts on the {minutes}-minute boundary",
            str(start),
        )
    value_text = (reading.value or "").strip()
    if not value_text:
        return RowError(n, f"{name}.value", "missing")
    value = _int(value_text)
    if value is None:
        return RowError(n, f"{name}.value", "not a whole number", value_text)
    if value < 0:
        return RowError(n, f"{name}.value", "negative energy", value_text)
    kwh = to_kwh(value, plan.multiplier)
    if kwh >= _MAX_KWH:
        return RowError(n, f"{name}.value", f"too large: {kwh} kWh", value_text)
    quality = plan.default_quality if not reading.qualities else "ACTUAL"
    for code_text in reading.qualities:
        mapped = QUALITY_CODES.get(_int(code_text) or 0) if code_text.isdigit() else None
        if mapped is None:
            return RowError(
                n,
                f"{name}.ReadingQuality.quality",
                "not a QualityOfReading code of ESPI 4.0",
                code_text,
            )
        if _QUALITY_RANK[mapped] > _QUALITY_RANK[quality]:
            quality = mapped
    return _Half(n, plan.direction, start, duration, kwh, quality)


def _merge(
    merged: dict[tuple[str, int], list[_Half | None]], supply_points: Mapping[str, str]
) -> Iterator[CandidateRow | RowError]:
    def first_ordinal(item: tuple[tuple[str, int], list[_Half | None]]) -> int:
        return min(h.ordinal for h in item[1] if h is not None)

    for (usage_point, start), (imp, exp) in sorted(merged.items(), key=first_ordinal):
        if imp is None:
            assert exp is not None
            yield RowError(
                exp.ordinal,
                f"IntervalReading[{exp.ordinal}].timePeriod.start",
                "no forward (import) reading for this interval, though this usage point "
                "has import readings",
                str(start),
            )
            continue
        if exp is not None and exp.duration != imp.duration:
            yield RowError(
                exp.ordinal,
                f"IntervalReading[{exp.ordinal}].timePeriod.duration",
                f"differs from the import reading IntervalReading[{imp.ordinal}] "
                f"({imp.duration} s)",
                str(exp.duration),
            )
            continue
        quality = imp.quality
        if exp is not None and _QUALITY_RANK[exp.quality] > _QUALITY_RANK[quality]:
            quality = exp.quality
        yield CandidateRow(
            imp.ordinal,
            supply_points[usage_point],
            _iso(start),
            str(imp.duration // 60),
            _kwh_text(imp.kwh),
            _kwh_text(exp.kwh) if exp is not None else "0",
            quality,
        )


def espi_scan(source: EspiSource) -> EspiFeed:
    """First pass over a Green Button feed: its usage points and how each block is read.

    Raises ``EspiFeedError`` when the file is not well-formed XML, has a DOCTYPE, is not an
    Atom feed, or holds no ESPI usage data at all. Problems of single readings or of a
    ReadingType (unknown unit, flow direction…) are not raised: they become ``RowError``s
    of the readings concerned in :meth:`EspiFeed.candidates`.
    """
    if isinstance(source, str) and source.lstrip().startswith("<"):
        raise TypeError("Pass the feed's bytes or a path, not XML text.")
    if isinstance(source, bytearray | memoryview):
        source = bytes(source)
    if not isinstance(source, bytes | str | Path) and not source.seekable():
        source = io.BytesIO(source.read())
    stats: dict[str, int] = {}
    entries = [e for e in _walk(source, readings=False, stats=stats) if isinstance(e, _Entry)]
    by_kind: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_kind.setdefault(entry.kind, []).append(entry)
    if not any(by_kind.get(k) for k in ("UsagePoint", "MeterReading", "IntervalBlock")):
        raise EspiFeedError(
            "The feed has no UsagePoint, MeterReading or IntervalBlock entry: it holds no "
            "Green Button usage data."
        )
    reading_types = {e.self_href: e for e in by_kind.get("ReadingType", []) if e.self_href}
    usage_entries = {e.self_href: e for e in by_kind.get("UsagePoint", []) if e.self_href}

    meter_readings: dict[str, tuple[str, _Entry | None]] = {}  # self → (usage point, RT)
    block_collections: dict[str, str] = {}  # IntervalBlock collection href → MR self
    for mr in by_kind.get("MeterReading", []):
        if not mr.self_href:
            continue
        point = _strip_suffix(mr.up_href, "/MeterReading") or _strip_suffix(
            mr.self_href, "/MeterReading/"
        )
        rt = next((reading_types[h] for h in mr.related if h in reading_types), None)
        meter_readings[mr.self_href] = (point, rt)
        block_collections[mr.self_href + "/IntervalBlock"] = mr.self_href
        for href in mr.related:
            if href not in reading_types:
                block_collections.setdefault(href, mr.self_href)

    blocks: dict[int, _BlockPlan | _BlockProblem] = {}
    directions: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    order: list[str] = []
    for block in by_kind.get("IntervalBlock", []):
        mr_href = block_collections.get(block.up_href) or _strip_suffix(
            block.self_href, "/IntervalBlock/"
        )
        if mr_href not in meter_readings:
            continue  # its readings are reported as not linked
        point, rt = meter_readings[mr_href]
        if point not in counts:
            counts[point] = 0
            order.append(point)
        counts[point] += block.readings
        if rt is None:
            blocks[block.index] = _BlockProblem(
                ".ReadingType",
                f"MeterReading {mr_href} has no 'related' link to a ReadingType of this file",
                "",
            )
            continue
        problem = _reading_type_problem(rt)
        if problem is not None:
            blocks[block.index] = problem
            continue
        d = rt.details
        direction = "export" if _int(d.get("flowDirection")) == FLOW_REVERSE else "import"
        default_code = _int(d.get("defaultQuality"))
        blocks[block.index] = _BlockPlan(
            point,
            direction,
            _int(d.get("powerOfTenMultiplier")) or 0,
            QUALITY_CODES[default_code] if default_code is not None else "ACTUAL",
            _int(d.get("intervalLength")),
        )
        directions.setdefault(point, set()).add(direction)

    points = []
    for number, href in enumerate(order, start=1):
        up = usage_entries.get(href)
        points.append(
            UsagePointInfo(
                number=number,
                href=href,
                title=up.title if up else "",
                cups=_sdp_cups(up.details) if up else None,
                readings=counts[href],
            )
        )
    return EspiFeed(
        source=source,
        usage_points=tuple(points),
        readings=stats["readings"],
        _blocks=blocks,
        _directions={k: frozenset(v) for k, v in directions.items()},
    )
