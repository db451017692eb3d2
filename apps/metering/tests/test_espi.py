"""Green Button (NAESB ESPI): sample feeds import exactly, downloads validate and round-trip."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import socket
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import Sum

from apps.accounts.models import Address
from apps.metering.espi import (
    EspiFeedError,
    UnknownSupplyPoint,
    UsagePointNotMapped,
    espi_feed_for,
    espi_filename,
    espi_import,
    espi_scan,
    espi_schema,
    espi_validation_errors,
    local_time_parameters,
    to_kwh,
    validate_espi_feed,
)
from apps.metering.identifiers import make_cups
from apps.metering.ingestion import CandidateRow, ingest_candidates
from apps.metering.models import ImportBatch, IntervalReading, Premise, SupplyPoint

pytestmark = pytest.mark.django_db

SHARED = Path(settings.BASE_DIR).parent / "shared" / "reference-data" / "greenbutton"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"the shared Green Button samples are not here ({SHARED}); they live beside the "
    "project checkout in ../shared/reference-data/greenbutton",
)
FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = Path(__file__).resolve().parents[1] / "espi" / "schemas"
ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"
MADRID = ZoneInfo("Europe/Madrid")
CUPS_A = make_cups(31, 101)
CUPS_B = make_cups(31, 102)

SAMPLES = [
    "sample_abridged_electric_containerized.xml",
    "sample_gba_Coastal_Multi_Family_2011_RetailCustomer_5.xml",
    "sample_gba_TestGBDataHourlyNineDaysBinnedDaily.xml",
    "sample_openespi_test_usage_data_01.xml",
]


@pytest.fixture
def premise() -> Premise:
    address = Address.objects.create(line1="Calle Sol 3", postcode="41001", city="Sevilla")
    return Premise.objects.create(address=address)


@pytest.fixture
def point_a(premise: Premise) -> SupplyPoint:
    return SupplyPoint.objects.create(
        external_id=CUPS_A, premise=premise, contracted_power_kw=Decimal("10")
    )


@pytest.fixture
def point_b(premise: Premise) -> SupplyPoint:
    return SupplyPoint.objects.create(
        external_id=CUPS_B, premise=premise, contracted_power_kw=Decimal("10")
    )


def stored(supply_point: SupplyPoint) -> list[tuple[str, int, Decimal, Decimal, str]]:
    return [
        (r.interval_start.isoformat(), r.duration_minutes, r.kwh_import, r.kwh_export, r.quality)
        for r in IntervalReading.objects.filter(supply_point=supply_point).order_by(
            "interval_start"
        )
    ]


def independent_readings(path: Path) -> list[tuple[str, int, Decimal]]:
    """The sample's readings by a plain ElementTree walk: (UTC start, minutes, kWh)."""
    root = ET.parse(path).getroot()  # noqa: S314 - trusted test sample
    multipliers = {
        int(rt.findtext(ESPI + "powerOfTenMultiplier") or 0)
        for rt in root.iter(ESPI + "ReadingType")
    }
    assert len(multipliers) == 1
    multiplier = multipliers.pop()
    readings = []
    for reading in root.iter(ESPI + "IntervalReading"):
        start = int(reading.findtext(f"{ESPI}timePeriod/{ESPI}start") or "")
        seconds = int(reading.findtext(f"{ESPI}timePeriod/{ESPI}duration") or "")
        wh = Decimal(reading.findtext(ESPI + "value") or "") * Decimal(10) ** multiplier
        readings.append(
            (
                dt.datetime.fromtimestamp(start, tz=dt.UTC).isoformat(),
                seconds // 60,
                wh / 1000,
            )
        )
    return sorted(readings)


# --- the shared sample feeds -------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_feed_imports_every_reading_with_exact_kwh(name: str, point_a: SupplyPoint) -> None:
    path = SHARED / name
    expected = independent_readings(path)
    report = espi_import(source=path, supply_point=CUPS_A, filename=name)
    assert (report.rows_total, report.inserted, report.invalid) == (len(expected), len(expected), 0)
    assert report.errors == []
    rows = stored(point_a)
    assert [(start, minutes, kwh) for start, minutes, kwh, _e, _q in rows] == expected
    totals = IntervalReading.objects.filter(supply_point=point_a).aggregate(
        imp=Sum("kwh_import"), exp=Sum("kwh_export")
    )
    assert totals == {"imp": sum(kwh for _s, _m, kwh in expected), "exp": Decimal("0.000")}
    batch = ImportBatch.objects.get(pk=report.batch_id)
    assert (batch.source, batch.filename, batch.rows_inserted) == ("ESPI", name, len(expected))


@needs_shared
def test_full_year_2011_sample_has_8760_hourly_readings(point_a: SupplyPoint) -> None:
    path = SHARED / "sample_gba_Coastal_Multi_Family_2011_RetailCustomer_5.xml"
    feed = espi_scan(path)
    assert feed.readings == 8760
    assert [(p.number, p.title, p.cups, p.readings) for p in feed.usage_points] == [
        (1, "Coastal Multi-Family", None, 8760)
    ]
    report = espi_import(source=path, supply_point=CUPS_A)
    assert report.inserted == 8760
    rows = stored(point_a)
    assert len(rows) == 8760
    assert Counter(minutes for _s, minutes, *_ in rows) == {60: 8760}
    # Hand-picked from the file: the first and the last IntervalReading.
    assert rows[0] == (
        "2011-01-01T08:00:00+00:00",
        60,
        Decimal("0.450"),
        Decimal("0.000"),
        "ACTUAL",
    )
    assert rows[-1] == (
        "2012-01-01T07:00:00+00:00",
        60,
        Decimal("0.482"),
        Decimal("0.000"),
        "ACTUAL",
    )
    total = IntervalReading.objects.filter(supply_point=point_a).aggregate(t=Sum("kwh_import"))
    assert total["t"] == Decimal("4425.305")


@needs_shared
def test_openespi_sample_maps_reading_quality_codes(point_a: SupplyPoint) -> None:
    espi_import(source=SHARED / "sample_openespi_test_usage_data_01.xml", supply_point=CUPS_A)
    rows = stored(point_a)
    assert Counter(q for *_, q in rows) == {"ACTUAL": 94, "ESTIMATED": 1, "CORRECTED": 1}
    # quality 8 (estimated using reference day) and 7 (manually edited), first two readings
    assert rows[0] == (
        "2012-03-01T05:00:00+00:00",
        15,
        Decimal("0.282"),
        Decimal("0.000"),
        "ESTIMATED",
    )
    assert rows[1][0] == "2012-03-01T05:15:00+00:00"
    assert rows[1][4] == "CORRECTED"


@needs_shared
def test_same_feed_twice_stores_nothing_twice(point_a: SupplyPoint) -> None:
    path = SHARED / "sample_abridged_electric_containerized.xml"
    espi_import(source=path, supply_point=CUPS_A)
    before = stored(point_a)
    again = espi_import(source=path, supply_point=CUPS_A)
    assert (again.inserted, again.corrected, again.unchanged, again.invalid) == (0, 0, 8, 0)
    assert stored(point_a) == before


@needs_shared
def test_bundled_schemas_are_unmodified_copies_of_the_shared_ones() -> None:
    for name in ("espi.xsd", "atom.xsd"):
        ours = hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest()
        theirs = hashlib.sha256((SHARED / name).read_bytes()).hexdigest()
        assert ours == theirs, name


@needs_shared
def test_sample_feeds_validate_against_the_bundled_schema_without_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*_args: object, **_kwargs: object) -> None:
        raise OSError("network is switched off in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    espi_schema.cache_clear()
    try:
        assert espi_validation_errors(SHARED / "sample_abridged_electric_containerized.xml") == []
        assert espi_validation_errors(SHARED / "sample_openespi_test_usage_data_01.xml") == []
        # Known (PROVENANCE.md): this 2014 sample puts UsagePoint children in the old order.
        errors = espi_validation_errors(
            SHARED / "sample_gba_TestGBDataHourlyNineDaysBinnedDaily.xml"
        )
        assert len(errors) == 1
        assert "ServiceDeliveryPoint" in errors[0]
    finally:
        espi_schema.cache_clear()


# --- feeds of our own making -------------------------------------------------------------


def test_own_feed_with_power_of_ten_multipliers_merges_import_and_export(
    point_a: SupplyPoint,
) -> None:
    report = espi_import(source=FIXTURES / "espi_multiplier_and_export.xml", supply_point=CUPS_A)
    assert (report.rows_total, report.inserted, report.invalid) == (4, 4, 0)
    assert stored(point_a) == [
        # import ×10^-1 Wh, rounded half-up to the Wh; export ×10^3 Wh (kWh)
        ("2026-06-01T10:00:00+00:00", 60, Decimal("1.235"), Decimal("1.000"), "ACTUAL"),
        ("2026-06-01T11:00:00+00:00", 60, Decimal("0.800"), Decimal("2.000"), "ESTIMATED"),
        ("2026-06-01T12:00:00+00:00", 60, Decimal("0.000"), Decimal("0.000"), "ACTUAL"),
        ("2026-06-01T13:00:00+00:00", 60, Decimal("0.002"), Decimal("3.000"), "ACTUAL"),
    ]


def test_export_without_import_or_twice_for_an_interval_is_reported(point_a: SupplyPoint) -> None:
    text = (FIXTURES / "espi_multiplier_and_export.xml").read_text()
    last_import = (
        "<IntervalReading><timePeriod><duration>3600</duration><start>1780318800</start>"
        "</timePeriod><value>15</value></IntervalReading>"
    )
    first_export = (
        "<IntervalReading><timePeriod><duration>3600</duration><start>1780308000</start>"
        "</timePeriod><value>1</value></IntervalReading>"
    )
    assert last_import in text
    assert first_export in text
    text = text.replace(last_import, "").replace(first_export, first_export * 2)
    report = espi_import(source=text.encode(), supply_point=CUPS_A)
    # Ordinals: imports 1-3, exports 4-8 (4 and 5 are the same interval).
    assert [(e.row, e.field, e.reason, e.value) for e in report.errors] == [
        (
            5,
            "IntervalReading[5].timePeriod.start",
            "duplicate of IntervalReading[4] in this file",
            "1780308000",
        ),
        (
            8,
            "IntervalReading[8].timePeriod.start",
            "no forward (import) reading for this interval, though this usage point has import "
            "readings",
            "1780318800",
        ),
    ]
    assert [(start, imp, exp) for start, _m, imp, exp, _q in stored(point_a)] == [
        ("2026-06-01T10:00:00+00:00", Decimal("1.235"), Decimal("1.000")),
        ("2026-06-01T11:00:00+00:00", Decimal("0.800"), Decimal("2.000")),
        ("2026-06-01T12:00:00+00:00", Decimal("0.000"), Decimal("0.000")),
    ]


def test_daily_readings_are_reported_and_the_hourly_ones_stored(point_a: SupplyPoint) -> None:
    report = espi_import(source=FIXTURES / "espi_hourly_and_daily.xml", supply_point=CUPS_A)
    assert (report.rows_total, report.inserted, report.invalid) == (25, 24, 1)
    assert [(e.row, e.field, e.reason, e.value) for e in report.errors] == [
        (
            25,
            "IntervalReading[25].timePeriod.duration",
            "duration 86400 s: only 15, 30 or 60-minute intervals are stored",
            "86400",
        )
    ]
    rows = stored(point_a)
    assert [(start, kwh) for start, _m, kwh, _e, _q in rows] == [
        (f"2026-01-15T{hour:02d}:00:00+00:00", Decimal(100 + 10 * hour) / 1000)
        for hour in range(24)
    ]
    # The afternoon block has no timePeriod: 12:00 + position × intervalLength.
    assert rows[12][:3] == ("2026-01-15T12:00:00+00:00", 60, Decimal("0.220"))
    assert sum(kwh for _s, _m, kwh, _e, _q in rows) == Decimal("5.160")


def test_to_kwh_is_exact_and_rounds_only_what_is_finer_than_a_watt_hour() -> None:
    assert to_kwh(450, 0) == Decimal("0.450")
    assert to_kwh(2, 3) == Decimal("2")
    assert to_kwh(7, 6) == Decimal("7000")
    assert to_kwh(123456789, 0) == Decimal("123456.789")
    assert to_kwh(12345, -1) == Decimal("1.235")  # 1.2345 half-up
    assert to_kwh(12344, -1) == Decimal("1.234")
    assert to_kwh(5, -4) == Decimal("0.000")
    assert str(to_kwh(1500, -3)) == "0.002"  # 0.0015 half-up


# --- bad input ---------------------------------------------------------------------------


def reading(start: object, value: object, *, duration: object = 3600, quality: str = "") -> str:
    rq = f"<ReadingQuality><quality>{quality}</quality></ReadingQuality>" if quality else ""
    return (
        f"<IntervalReading>{rq}<timePeriod><duration>{duration}</duration>"
        f"<start>{start}</start></timePeriod><value>{value}</value></IntervalReading>"
    )


def build_feed(
    *points: tuple[str, list[str]],
    uom: int = 72,
    flow: int = 1,
    accumulation: int = 4,
    cups: str = "",
) -> bytes:
    """A minimal feed: per usage point (title, readings), one MeterReading and ReadingType."""
    base = "/espi/1_1/resource/RetailCustomer/9"
    entries = [
        "<entry><id>urn:uuid:00000000-0000-4000-8000-000000000001</id>"
        '<link rel="self" href="/espi/1_1/resource/ReadingType/1"/>'
        '<link rel="up" href="/espi/1_1/resource/ReadingType"/><title>type</title>'
        f'<content><ReadingType xmlns="{ESPI[1:-1]}">'
        f"<accumulationBehaviour>{accumulation}</accumulationBehaviour>"
        f"<flowDirection>{flow}</flowDirection><kind>12</kind>"
        f"<powerOfTenMultiplier>0</powerOfTenMultiplier><uom>{uom}</uom></ReadingType>"
        "</content></entry>"
    ]
    sdp = f"<serviceDeliveryPoint><name>{cups}</name></serviceDeliveryPoint>" if cups else ""
    for number, (title, readings) in enumerate(points, start=1):
        point = f"{base}/UsagePoint/{number}"
        entries += [
            f'<entry><id>urn:uuid:up-{number}</id><link rel="self" href="{point}"/>'
            f'<link rel="up" href="{base}/UsagePoint"/><title>{title}</title>'
            f'<content><UsagePoint xmlns="{ESPI[1:-1]}"><ServiceCategory><kind>0</kind>'
            f"</ServiceCategory>{sdp}</UsagePoint></content></entry>",
            f'<entry><id>urn:uuid:mr-{number}</id><link rel="self" href="{point}/MeterReading/1"/>'
            f'<link rel="up" href="{point}/MeterReading"/>'
            f'<link rel="related" href="{point}/MeterReading/1/IntervalBlock"/>'
            '<link rel="related" href="/espi/1_1/resource/ReadingType/1"/><title>energy</title>'
            f'<content><MeterReading xmlns="{ESPI[1:-1]}"/></content></entry>',
            f"<entry><id>urn:uuid:ib-{number}</id>"
            f'<link rel="self" href="{point}/MeterReading/1/IntervalBlock/1"/>'
            f'<link rel="up" href="{point}/MeterReading/1/IntervalBlock"/><title/>'
            f'<content><IntervalBlock xmlns="{ESPI[1:-1]}">{"".join(readings)}</IntervalBlock>'
            "</content></entry>",
        ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>urn:uuid:feed</id><title>test</title><updated>2026-03-02T00:00:00Z</updated>"
        + "".join(entries)
        + "</feed>"
    ).encode()


T0 = 1772359200  # 2026-03-01T10:00:00Z
GOOD = reading(T0 + 7200, 200)  # 12:00 UTC, 0.200 kWh

BAD_READINGS = [
    (
        reading("2026-03-01T10:00:00", 100),
        "IntervalReading[1].timePeriod.start",
        "not a time: ESPI times are whole seconds since 1970-01-01 UTC",
        "2026-03-01T10:00:00",
    ),
    (
        reading("yesterday", 100),
        "IntervalReading[1].timePeriod.start",
        "not a time: ESPI times are whole seconds since 1970-01-01 UTC",
        "yesterday",
    ),
    (
        reading(T0 + 600, 100),
        "IntervalReading[1].timePeriod.start",
        "misaligned: a 60-minute interval starts on the 60-minute boundary",
        str(T0 + 600),
    ),
    (
        reading(T0, 100, duration=2700),
        "IntervalReading[1].timePeriod.duration",
        "duration 2700 s: only 15, 30 or 60-minute intervals are stored",
        "2700",
    ),
    (
        reading(T0, 100, duration="an hour"),
        "IntervalReading[1].timePeriod.duration",
        "not a whole number of seconds",
        "an hour",
    ),
    (reading(T0, -5), "IntervalReading[1].value", "negative energy", "-5"),
    (reading(T0, "1.5"), "IntervalReading[1].value", "not a whole number", "1.5"),
    (reading(T0, ""), "IntervalReading[1].value", "missing", ""),
    (
        reading(T0, 100, quality="42"),
        "IntervalReading[1].ReadingQuality.quality",
        "not a QualityOfReading code of ESPI 4.0",
        "42",
    ),
]


@pytest.mark.parametrize(("bad", "field", "reason", "value"), BAD_READINGS)
def test_bad_reading_is_reported_by_its_element_and_the_good_one_stored(
    point_a: SupplyPoint, bad: str, field: str, reason: str, value: str
) -> None:
    report = espi_import(source=build_feed(("Home", [bad, GOOD])), supply_point=CUPS_A)
    assert [(e.row, e.field, e.reason, e.value) for e in report.errors] == [
        (1, field, reason, value)
    ]
    assert report.inserted == 1
    assert stored(point_a) == [
        ("2026-03-01T12:00:00+00:00", 60, Decimal("0.200"), Decimal("0.000"), "ACTUAL")
    ]
    assert ImportBatch.objects.get(pk=report.batch_id).errors[0]["field"] == field


@pytest.mark.parametrize(
    ("options", "field", "reason", "value"),
    [
        (
            {"uom": 38},
            "IntervalReading[{n}].ReadingType.uom",
            "unit 38 of ReadingType /espi/1_1/resource/ReadingType/1 is not watt-hours "
            "(uom 72): only energy readings are imported",
            "38",
        ),
        (
            {"flow": 4},
            "IntervalReading[{n}].ReadingType.flowDirection",
            "only forward (1, import) and reverse (19, export) readings are imported",
            "4",
        ),
        (
            {"accumulation": 1},
            "IntervalReading[{n}].ReadingType.accumulationBehaviour",
            "only interval energy (deltaData, 4) is imported, not cumulative register values",
            "1",
        ),
    ],
)
def test_unusable_reading_type_is_reported_for_each_of_its_readings(
    point_a: SupplyPoint, options: dict[str, int], field: str, reason: str, value: str
) -> None:
    feed = build_feed(("Home", [reading(T0, 100), GOOD]), **options)
    report = espi_import(source=feed, supply_point=CUPS_A)
    assert [(e.row, e.field, e.reason, e.value) for e in report.errors] == [
        (n, field.format(n=n), reason, value) for n in (1, 2)
    ]
    assert report.inserted == 0
    assert IntervalReading.objects.count() == 0


def test_strict_mode_stores_nothing_when_one_reading_is_bad(point_a: SupplyPoint) -> None:
    feed = build_feed(("Home", [GOOD, reading(T0 + 3600 * 3, -1)]))
    report = espi_import(source=feed, supply_point=CUPS_A, strict=True)
    assert report.status == "REJECTED"
    assert [(e.row, e.field) for e in report.errors] == [(2, "IntervalReading[2].value")]
    assert IntervalReading.objects.count() == 0


def test_absurd_and_duplicate_readings_name_the_interval_reading(point_a: SupplyPoint) -> None:
    feed = build_feed(("Home", [reading(T0, 25_000), GOOD, GOOD]))
    report = espi_import(source=feed, supply_point=CUPS_A)
    assert [(e.row, e.field) for e in report.errors] == [(1, "kwh_import"), (3, "interval_start")]
    assert report.errors[1].reason == "duplicate of row 2 in this file"
    assert report.inserted == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "boom">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&x;</title></feed>',
            "document type declaration (DOCTYPE)",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE feed SYSTEM "file:///etc/passwd">'
            b'<feed xmlns="http://www.w3.org/2005/Atom"/>',
            "document type declaration (DOCTYPE)",
        ),
        (b"supply_point,interval_start\n", "not well-formed XML: syntax error: line 1, column 0"),
        (
            b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>",
            "not well-formed XML: no element found",
        ),
        (b"<html><body/></html>", "The root element is 'html', not an Atom feed"),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
            "it holds no Green Button usage data",
        ),
    ],
)
def test_unreadable_file_is_refused_before_anything_is_stored(
    point_a: SupplyPoint, content: bytes, message: str
) -> None:
    with pytest.raises(EspiFeedError) as caught:
        espi_import(source=content, supply_point=CUPS_A)
    assert message in str(caught.value)
    assert ImportBatch.objects.count() == 0
    assert IntervalReading.objects.count() == 0


def test_several_usage_points_without_a_mapping_are_refused_by_name(
    point_a: SupplyPoint, point_b: SupplyPoint
) -> None:
    feed = build_feed(("Flat A", [GOOD]), ("Flat B", [GOOD]))
    with pytest.raises(UsagePointNotMapped) as caught:
        espi_import(source=feed, supply_point=CUPS_A)
    assert str(caught.value) == (
        "This file has 2 usage points: "
        "1 “Flat A” (/espi/1_1/resource/RetailCustomer/9/UsagePoint/1); "
        "2 “Flat B” (/espi/1_1/resource/RetailCustomer/9/UsagePoint/2). "
        "Say which supply point each one is (NUMBER=CUPS), not one for all."
    )
    assert ImportBatch.objects.count() == 0
    report = espi_import(source=feed, usage_points={"1": CUPS_A, "2": CUPS_B})
    assert report.inserted == 2
    assert len(stored(point_a)) == len(stored(point_b)) == 1


def test_unknown_or_invalid_supply_point_is_refused(point_a: SupplyPoint) -> None:
    feed = build_feed(("Home", [GOOD]))
    with pytest.raises(UnknownSupplyPoint, match="no such supply point in Wattline"):
        espi_import(source=feed, supply_point=make_cups(31, 999))
    with pytest.raises(UnknownSupplyPoint, match="check letters"):
        espi_import(source=feed, supply_point="ES0031000000000999AA")
    with pytest.raises(UsagePointNotMapped, match="No supply point for 1 of the 1 usage points"):
        espi_import(source=feed)
    assert ImportBatch.objects.count() == 0


# --- download: schema validation and round trip ------------------------------------------


def madrid(day: dt.date) -> dt.datetime:
    """Local midnight of ``day`` in Madrid, as a UTC instant (so arithmetic is in real time)."""
    return dt.datetime.combine(day, dt.time()).replace(tzinfo=MADRID).astimezone(dt.UTC)


def blocks(data: bytes) -> list[tuple[str, int, int]]:
    """(MeterReading self link, interval duration, readings) per IntervalBlock."""
    root = ET.fromstring(data)  # noqa: S314 - our own output
    found = []
    for entry in root.iter(ATOM + "entry"):
        block = entry.find(f"{ATOM}content/{ESPI}IntervalBlock")
        if block is not None:
            up = next(
                link.get("href") for link in entry.iter(ATOM + "link") if link.get("rel") == "up"
            )
            found.append(
                (
                    str(up).rsplit("/", 1)[0],
                    int(block.findtext(f"{ESPI}interval/{ESPI}duration") or 0),
                    len(block.findall(ESPI + "IntervalReading")),
                )
            )
    return found


def test_download_validates_and_reimports_identically_across_spring_forward(
    point_a: SupplyPoint, point_b: SupplyPoint
) -> None:
    # 15-minute readings for 28-30 March 2026 in Madrid; the 29th has 23 hours.
    start = madrid(dt.date(2026, 3, 28))
    end = madrid(dt.date(2026, 3, 31))
    count = int((end - start).total_seconds() // 900)
    assert count == 96 + 92 + 96
    qualities = {5: "ESTIMATED", 100: "CORRECTED"}
    candidates = [
        CandidateRow(
            i + 1,
            CUPS_A,
            (start + dt.timedelta(minutes=15 * i)).isoformat(),
            "15",
            str(Decimal((i * 37) % 900) / 1000),
            str(Decimal("0.125") * (i % 7)) if 40 <= i % 96 < 70 else "0",
            qualities.get(i, "ACTUAL"),
        )
        for i in range(count)
    ]
    assert ingest_candidates(candidates, source="CSV").inserted == count
    original = stored(point_a)

    data = espi_feed_for(supply_point=point_a, start=dt.date(2026, 3, 28), end=dt.date(2026, 3, 31))

    validate_espi_feed(data)  # raises EspiSchemaInvalid with the reasons otherwise
    point = f"/espi/1_1/resource/UsagePoint/{CUPS_A}"
    assert blocks(data) == [
        (f"{point}/MeterReading/1", 86400, 96),
        (f"{point}/MeterReading/1", 82800, 92),
        (f"{point}/MeterReading/1", 86400, 96),
        (f"{point}/MeterReading/2", 86400, 96),
        (f"{point}/MeterReading/2", 82800, 92),
        (f"{point}/MeterReading/2", 86400, 96),
    ]
    text = data.decode()
    assert text.count("<flowDirection>1</flowDirection>") == 1
    assert text.count("<flowDirection>19</flowDirection>") == 1
    assert text.count("<ReadingQuality><quality>8</quality></ReadingQuality>") == 2  # both ways
    assert text.count("<ReadingQuality><quality>7</quality></ReadingQuality>") == 2
    assert (
        "<dstEndRule>AE0E3000</dstEndRule><dstOffset>3600</dstOffset>"
        "<dstStartRule>3E0E2000</dstStartRule><tzOffset>3600</tzOffset>"
    ) in text

    report = espi_import(source=data, supply_point=CUPS_B)
    assert (report.inserted, report.invalid) == (count, 0)
    assert stored(point_b) == original
    # The feed names its own CUPS: without a mapping it goes back to A, unchanged.
    again = espi_import(source=data)
    assert (again.inserted, again.unchanged, again.corrected) == (0, count, 0)
    assert stored(point_a) == original


def test_download_on_the_fall_back_day_has_a_25_hour_block(
    point_a: SupplyPoint, point_b: SupplyPoint
) -> None:
    day = dt.date(2026, 10, 25)
    start = madrid(day)
    candidates = [
        CandidateRow(
            i + 1,
            CUPS_A,
            (start + dt.timedelta(hours=i)).isoformat(),
            "60",
            f"0.{i + 100}",
            "0",
            "ACTUAL",
        )
        for i in range(25)
    ]
    assert ingest_candidates(candidates, source="CSV").inserted == 25
    data = espi_feed_for(supply_point=point_a, start=day, end=day + dt.timedelta(days=1))
    assert espi_validation_errors(data) == []
    assert blocks(data) == [(f"/espi/1_1/resource/UsagePoint/{CUPS_A}/MeterReading/1", 90000, 25)]
    assert b"<flowDirection>19</flowDirection>" not in data  # no export, no export reading
    assert b"<intervalLength>3600</intervalLength>" in data
    espi_import(source=data, supply_point=CUPS_B)
    assert stored(point_b) == stored(point_a)
    assert sum(r[2] for r in stored(point_b)) == Decimal("2.800")  # 0.100 … 0.124 kWh


def test_download_is_limited_to_the_local_days_asked_for(point_a: SupplyPoint) -> None:
    candidates = [
        CandidateRow(
            1, CUPS_A, "2026-05-31T21:00:00+00:00", "60", "1.000", "0", "ACTUAL"
        ),  # 23:00 local 31 May
        CandidateRow(
            2, CUPS_A, "2026-05-31T22:00:00+00:00", "60", "2.000", "0", "ACTUAL"
        ),  # 00:00 local 1 June
        CandidateRow(
            3, CUPS_A, "2026-06-01T21:00:00+00:00", "60", "3.000", "0", "ACTUAL"
        ),  # 23:00 local 1 June
        CandidateRow(
            4, CUPS_A, "2026-06-01T22:00:00+00:00", "60", "4.000", "0", "ACTUAL"
        ),  # 00:00 local 2 June
    ]
    ingest_candidates(candidates, source="CSV")
    data = espi_feed_for(
        supply_point=point_a,
        start=dt.date(2026, 6, 1),
        end=dt.date(2026, 6, 2),
        generated_at=dt.datetime(2026, 6, 3, 8, 0, tzinfo=dt.UTC),
    )
    root = ET.fromstring(data)  # noqa: S314 - our own output
    values = [int(v.text or "") for v in root.iter(ESPI + "value")]
    assert values == [2000, 3000]
    assert root.findtext(ATOM + "updated") == "2026-06-03T08:00:00Z"
    assert espi_filename(
        supply_point=point_a, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 2)
    ) == (f"greenbutton-{CUPS_A}-2026-06-01-2026-06-01.xml")
    with pytest.raises(ValueError, match="end: must be after start"):
        espi_feed_for(supply_point=point_a, start=dt.date(2026, 6, 2), end=dt.date(2026, 6, 2))


def test_local_time_parameters_follow_the_zone_rules() -> None:
    assert local_time_parameters(MADRID, 2026) == ("AE0E3000", 3600, "3E0E2000", 3600)
    # The same values as the 2011 GBA sample's "DST For North America" (Pacific time).
    assert local_time_parameters(ZoneInfo("America/Los_Angeles"), 2011) == (
        "B40E2000",
        3600,
        "360E2000",
        -28800,
    )
    assert local_time_parameters(ZoneInfo("UTC"), 2026) == ("FFFFFFFF", 0, "FFFFFFFF", 0)


# --- the management command --------------------------------------------------------------


def test_import_readings_command_imports_espi_with_a_supply_point(
    point_a: SupplyPoint, tmp_path: Path
) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(build_feed(("Home", [reading(T0, 100), GOOD])))
    out = io.StringIO()
    call_command(
        "import_readings", str(path), "--format", "espi", "--supply-point", CUPS_A, stdout=out
    )
    assert "2 readings, 2 new, 0 corrected" in out.getvalue()
    assert len(stored(point_a)) == 2


def test_import_readings_command_guesses_espi_and_names_bad_elements(
    point_a: SupplyPoint, tmp_path: Path
) -> None:
    path = tmp_path / "download.xml"
    path.write_bytes(b"\xef\xbb\xbf" + build_feed(("Home", [GOOD, reading(T0, -5)])))
    out = io.StringIO()
    call_command("import_readings", str(path), "--supply-point", CUPS_A, stdout=out)
    assert "2 readings, 1 new" in out.getvalue()
    assert "  IntervalReading[2].value: negative energy -5" in out.getvalue()
    with pytest.raises(CommandError, match="strict mode: nothing was stored"):
        call_command(
            "import_readings", str(path), "--supply-point", CUPS_A, "--strict", stdout=io.StringIO()
        )
    assert len(stored(point_a)) == 1


def test_import_readings_command_refuses_several_usage_points_without_a_mapping(
    point_a: SupplyPoint, point_b: SupplyPoint, tmp_path: Path
) -> None:
    path = tmp_path / "two.xml"
    path.write_bytes(build_feed(("Flat A", [GOOD]), ("Flat B", [GOOD])))
    with pytest.raises(CommandError) as caught:
        call_command("import_readings", str(path), stdout=io.StringIO())
    assert str(caught.value) == (
        "No supply point for 2 of the 2 usage points in this file: "
        "1 “Flat A” (/espi/1_1/resource/RetailCustomer/9/UsagePoint/1); "
        "2 “Flat B” (/espi/1_1/resource/RetailCustomer/9/UsagePoint/2). "
        "Give the supply point (CUPS) of each as NUMBER=CUPS."
    )
    assert IntervalReading.objects.count() == 0
    out = io.StringIO()
    call_command(
        "import_readings",
        str(path),
        "--supply-point",
        f"1={CUPS_A}",
        "--supply-point",
        f"2={CUPS_B}",
        stdout=out,
    )
    assert "2 readings, 2 new" in out.getvalue()
    assert len(stored(point_a)) == len(stored(point_b)) == 1


def test_import_readings_command_refuses_a_supply_point_for_csv(tmp_path: Path) -> None:
    path = tmp_path / "readings.csv"
    path.write_text("supply_point,interval_start,duration_minutes,kwh_import\n")
    with pytest.raises(CommandError, match="supply-point: only for ESPI files"):
        call_command("import_readings", str(path), "--supply-point", CUPS_A)
    assert ImportBatch.objects.count() == 0
