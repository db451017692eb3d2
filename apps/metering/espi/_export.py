"""Green Button "Download My Data": one supply point's readings as an ESPI 4.0 Atom feed.

The feed validates against the bundled ``schemas/espi.xsd`` (4.0.20231213) and reads back
through our own importer with identical values. Layout (decision 0500):

- UsagePoint (ServiceCategory electricity, ``serviceDeliveryPoint/name`` = the CUPS, so a
  re-import needs no ``--supply-point``), LocalTimeParameters of the local zone;
- MeterReading 1 + ReadingType 1: import, flowDirection 1, Wh, powerOfTenMultiplier 0;
- MeterReading 2 + ReadingType 2: export, flowDirection 19 — only when the period has export;
- one IntervalBlock per local day (23, 24 or 25 hours), IntervalReadings in whole Wh, a
  ReadingQuality for estimated (8) and corrected (7) readings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import groupby
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from apps.core import clock
from apps.metering.models import SupplyPoint
from apps.metering.selectors import ReadingRow, interval_rows

CONTENT_TYPE = "application/atom+xml"
BASE = "/espi/1_1/resource"
_NS_ATOM = "http://www.w3.org/2005/Atom"
_NS_ESPI = "http://naesb.org/espi"
# Our quality → QualityOfReading code (none for ACTUAL: ESPI assumes "valid" when absent).
QUALITY_TO_CODE = {"ESTIMATED": 8, "CORRECTED": 7}
_RULE_DISABLED = "FFFFFFFF"


def _dst_rule(wall: dt.datetime) -> str:
    """ESPI DstRuleType for a transition at local wall time ``wall`` (before the change).

    Bits 28-31 month, 25-27 operator (7 = last, 2-6 = 1st-5th weekday of the month),
    20-24 day of month (0 with those operators), 17-19 weekday (Monday = 1),
    12-16 hours, 0-11 seconds.
    """
    days_in_month = (
        (wall.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    ).day
    operator = 7 if wall.day + 7 > days_in_month else 2 + (wall.day - 1) // 7
    seconds = wall.minute * 60 + wall.second
    value = (
        (wall.month << 28)
        | (operator << 25)
        | (wall.isoweekday() << 17)
        | (wall.hour << 12)
        | seconds
    )
    return f"{value:08X}"


def local_time_parameters(tz: ZoneInfo, year: int) -> tuple[str, int, str, int]:
    """``(dstEndRule, dstOffset, dstStartRule, tzOffset)`` of ``tz`` as in ``year``.

    Derived from the zone's actual transitions that year; Europe/Madrid gives
    ``("AE0E3000", 3600, "3E0E2000", 3600)``: last Sunday of March at 02:00 and last
    Sunday of October at 03:00 local time, one hour ahead of UTC in winter.
    """
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    standard = dst_offset = None
    instant = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    stop = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    previous = instant.astimezone(tz)
    step = dt.timedelta(hours=1)
    while instant < stop:
        instant += step
        current = instant.astimezone(tz)
        if current.utcoffset() != previous.utcoffset():
            # Narrow the change down to the minute inside this hour.
            probe = instant - step
            while probe.astimezone(tz).utcoffset() == previous.utcoffset():
                probe += dt.timedelta(minutes=1)
            before = previous.utcoffset()
            assert before is not None
            wall = (probe + before).replace(tzinfo=None)
            if current.dst():
                start, dst_offset = wall, int(current.dst().total_seconds())  # type: ignore[union-attr]
            else:
                end = wall
        if not current.dst() and standard is None:
            standard = int(current.utcoffset().total_seconds())  # type: ignore[union-attr]
        previous = current
    if standard is None:  # permanent DST all year: call it standard time
        standard = int(previous.utcoffset().total_seconds())  # type: ignore[union-attr]
    if start is None or end is None or dst_offset is None:
        return _RULE_DISABLED, 0, _RULE_DISABLED, standard
    return _dst_rule(end), dst_offset, _dst_rule(start), standard


def _epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


def _atom_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wh(kwh: Decimal) -> int:
    wh = kwh * 1000
    if wh != wh.to_integral_value():
        raise ValueError(f"{kwh} kWh is not a whole number of Wh")
    return int(wh)


class _Writer:
    def __init__(self, cups: str, generated_at: dt.datetime) -> None:
        self.cups = cups
        self.stamp = _atom_time(generated_at)
        self.point = f"{BASE}/UsagePoint/{cups}"

    def uuid(self, resource: str) -> str:
        """A stable id: the same supply point and resource always get the same UUID."""
        name = f"urn:wattline:espi:{self.cups}:{resource}"
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"

    def entry(
        self,
        *,
        resource: str,
        self_href: str,
        up_href: str,
        related: Sequence[str] = (),
        title: str,
        content: str,
    ) -> str:
        links = [
            f'<link rel="self" href={quoteattr(self_href)}/>',
            f'<link rel="up" href={quoteattr(up_href)}/>',
        ]
        links += [f'<link rel="related" href={quoteattr(h)}/>' for h in related]
        return (
            f"<entry>\n<id>{self.uuid(resource)}</id>\n"
            + "\n".join(links)
            + f"\n<title>{escape(title)}</title>\n<content>{content}</content>\n"
            f"<published>{self.stamp}</published>\n<updated>{self.stamp}</updated>\n</entry>\n"
        )


def _reading_type(*, flow: int, interval_length: int | None) -> str:
    length = f"<intervalLength>{interval_length}</intervalLength>" if interval_length else ""
    return (
        f'<ReadingType xmlns="{_NS_ESPI}">'
        "<accumulationBehaviour>4</accumulationBehaviour>"
        "<commodity>1</commodity>"
        "<dataQualifier>12</dataQualifier>"
        f"<flowDirection>{flow}</flowDirection>"
        f"{length}"
        "<kind>12</kind>"
        "<powerOfTenMultiplier>0</powerOfTenMultiplier>"
        "<timeAttribute>0</timeAttribute>"
        "<uom>72</uom>"
        "</ReadingType>"
    )


def _interval_reading(row: ReadingRow, kwh: Decimal) -> str:
    code = QUALITY_TO_CODE.get(row.quality)
    quality = f"<ReadingQuality><quality>{code}</quality></ReadingQuality>" if code else ""
    return (
        f"<IntervalReading>{quality}<timePeriod><duration>{row.minutes * 60}</duration>"
        f"<start>{_epoch(row.start)}</start></timePeriod><value>{_wh(kwh)}</value>"
        "</IntervalReading>\n"
    )


def _blocks(
    writer: _Writer,
    days: list[tuple[dt.date, list[ReadingRow]]],
    *,
    tz: ZoneInfo,
    meter_reading: str,
    export: bool,
) -> Iterator[str]:
    for day, rows in days:
        begin = clock.local_midnight(day, tz)
        length = _epoch(clock.local_midnight(day + dt.timedelta(days=1), tz)) - _epoch(begin)
        block = f"{meter_reading}/IntervalBlock/{day:%Y%m%d}"
        readings = "".join(
            _interval_reading(r, r.kwh_export if export else r.kwh_import) for r in rows
        )
        yield writer.entry(
            resource=block,
            self_href=block,
            up_href=f"{meter_reading}/IntervalBlock",
            title=day.isoformat(),
            content=(
                f'<IntervalBlock xmlns="{_NS_ESPI}">'
                f"<interval><duration>{length}</duration><start>{_epoch(begin)}</start></interval>\n"
                f"{readings}</IntervalBlock>"
            ),
        )


def espi_feed_chunks(
    *,
    supply_point: SupplyPoint,
    start: dt.date,
    end: dt.date,
    tz: ZoneInfo | None = None,
    generated_at: dt.datetime | None = None,
) -> Iterator[bytes]:
    """The feed of :func:`espi_feed_for` in pieces (one per entry), for a streaming response."""
    if end <= start:
        raise ValueError("end: must be after start (the period is [start, end) in local days)")
    zone = tz or clock.local_zone()
    writer = _Writer(supply_point.external_id, generated_at or clock.now())
    rows = interval_rows(
        supply_point_id=supply_point.pk,
        start=clock.local_midnight(start, zone),
        end=clock.local_midnight(end, zone),
    )
    days = [
        (day, list(group))
        for day, group in groupby(rows, key=lambda r: r.start.astimezone(zone).date())
    ]
    has_export = any(r.kwh_export for r in rows)
    lengths = Counter(r.minutes for r in rows)
    interval_length = lengths.most_common(1)[0][0] * 60 if lengths else None
    cups = escape(supply_point.external_id)
    point = writer.point
    time_href = f"{BASE}/LocalTimeParameters/1"
    directions = [(1, False)] + ([(2, True)] if has_export else [])
    title = _("Green Button data for %(cups)s") % {"cups": supply_point.external_id}

    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<feed xmlns="{_NS_ATOM}">\n'
        f"<id>{writer.uuid(f'feed:{start}:{end}')}</id>\n"
        f"<title>{escape(title)}</title>\n"
        f"<updated>{writer.stamp}</updated>\n"
        f'<link rel="self" href={quoteattr(f"{point}/Batch/{start:%Y%m%d}-{end:%Y%m%d}")}/>\n'
    ).encode()
    yield writer.entry(
        resource="UsagePoint",
        self_href=point,
        up_href=f"{BASE}/UsagePoint",
        related=[f"{point}/MeterReading", time_href],
        title=supply_point.external_id,
        content=(
            f'<UsagePoint xmlns="{_NS_ESPI}"><ServiceCategory><kind>0</kind></ServiceCategory>'
            f"<serviceDeliveryPoint><name>{cups}</name></serviceDeliveryPoint></UsagePoint>"
        ),
    ).encode()
    end_rule, dst_offset, start_rule, tz_offset = local_time_parameters(zone, start.year)
    yield writer.entry(
        resource="LocalTimeParameters",
        self_href=time_href,
        up_href=f"{BASE}/LocalTimeParameters",
        title=str(zone),
        content=(
            f'<LocalTimeParameters xmlns="{_NS_ESPI}"><dstEndRule>{end_rule}</dstEndRule>'
            f"<dstOffset>{dst_offset}</dstOffset><dstStartRule>{start_rule}</dstStartRule>"
            f"<tzOffset>{tz_offset}</tzOffset></LocalTimeParameters>"
        ),
    ).encode()
    for number, export in directions:
        meter_reading = f"{point}/MeterReading/{number}"
        reading_type = f"{BASE}/ReadingType/{number}"
        yield writer.entry(
            resource=f"MeterReading/{number}",
            self_href=meter_reading,
            up_href=f"{point}/MeterReading",
            related=[f"{meter_reading}/IntervalBlock", reading_type],
            title=_("Energy exported (Wh)") if export else _("Energy imported (Wh)"),
            content=f'<MeterReading xmlns="{_NS_ESPI}"/>',
        ).encode()
        yield writer.entry(
            resource=f"ReadingType/{number}",
            self_href=reading_type,
            up_href=f"{BASE}/ReadingType",
            title=_("Energy delivered, Wh") if not export else _("Energy received, Wh"),
            content=_reading_type(flow=19 if export else 1, interval_length=interval_length),
        ).encode()
        for piece in _blocks(writer, days, tz=zone, meter_reading=meter_reading, export=export):
            yield piece.encode()
    yield b"</feed>\n"


def espi_feed_for(
    *,
    supply_point: SupplyPoint,
    start: dt.date,
    end: dt.date,
    tz: ZoneInfo | None = None,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """A Green Button (ESPI 4.0) Atom feed of ``supply_point``'s readings, as bytes.

    The period is the local days ``[start, end)`` in ``tz`` (default: the operator's zone,
    Europe/Madrid): ``end`` is the first day *not* included. ``generated_at`` (default
    now) is the feed's ``updated`` time; everything else is deterministic. Raises
    ``ValueError`` when ``end`` is not after ``start``.
    """
    return b"".join(
        espi_feed_chunks(
            supply_point=supply_point, start=start, end=end, tz=tz, generated_at=generated_at
        )
    )


def espi_filename(*, supply_point: SupplyPoint, start: dt.date, end: dt.date) -> str:
    """A download name: ``greenbutton-<CUPS>-<first day>-<last day>.xml`` (last day included)."""
    last = end - dt.timedelta(days=1)
    return f"greenbutton-{supply_point.external_id}-{start.isoformat()}-{last.isoformat()}.xml"
