"""Missing intervals are found and filled with same-weekday/time estimates, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.accounts.models import Address
from apps.metering.gaps import readings_fill_gaps
from apps.metering.identifiers import make_cups
from apps.metering.models import IntervalReading, Premise, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Rua Nova 9", postcode="15001", city="A Coruña")
    return SupplyPoint.objects.create(
        external_id=make_cups(31, 11), premise=Premise.objects.create(address=address)
    )


def _hourly(sp: SupplyPoint, start: dt.datetime, hours: int, skip: set[dt.datetime]) -> None:
    ensure_reading_partitions(first=start.date(), last=(start + dt.timedelta(hours=hours)).date())
    rows = []
    for h in range(hours):
        at = start + dt.timedelta(hours=h)
        if at in skip:
            continue
        # Week-dependent values so the estimate (a 4-week average) is checkable by hand.
        week = h // 168
        rows.append(
            IntervalReading(
                supply_point=sp,
                interval_start=at,
                duration_minutes=60,
                kwh_import=Decimal("0.100") * (week + 1),
                kwh_export=Decimal(0),
                received_at=start,
            )
        )
    IntervalReading.objects.bulk_create(rows)


def test_missing_hour_is_estimated_from_the_same_weekday_and_time(
    supply_point: SupplyPoint,
) -> None:
    # Weeks 0..4 of hourly data starting Monday 2026-05-04 (no DST change), one hole in week 4.
    start = dt.datetime(2026, 5, 4, tzinfo=UTC)
    hole = start + dt.timedelta(weeks=4, hours=10)
    _hourly(supply_point, start, 5 * 168, skip={hole})
    window_start = start + dt.timedelta(weeks=4)
    report = readings_fill_gaps(
        supply_point_ids=[supply_point.pk],
        start=window_start,
        end=window_start + dt.timedelta(weeks=1),
    )
    assert (report.missing, report.estimated, report.without_history) == (1, 1, 0)
    filled = IntervalReading.objects.get(supply_point=supply_point, interval_start=hole)
    # Weeks 0-3 had 0.1, 0.2, 0.3, 0.4 kWh at that weekday and hour: the average is 0.25.
    assert (filled.kwh_import, filled.quality, filled.source) == (
        Decimal("0.250"),
        "ESTIMATED",
        "ESTIMATION",
    )

    again = readings_fill_gaps(
        supply_point_ids=[supply_point.pk],
        start=window_start,
        end=window_start + dt.timedelta(weeks=1),
    )
    assert (again.missing, again.estimated) == (0, 0)
    assert IntervalReading.objects.filter(quality="ESTIMATED").count() == 1


def test_a_slot_without_history_stays_empty(supply_point: SupplyPoint) -> None:
    start = dt.datetime(2026, 5, 4, tzinfo=UTC)
    hole = start + dt.timedelta(hours=5)
    _hourly(supply_point, start, 48, skip={hole})
    report = readings_fill_gaps(
        supply_point_ids=[supply_point.pk], start=start, end=start + dt.timedelta(hours=48)
    )
    assert (report.missing, report.estimated, report.without_history) == (1, 0, 1)
    assert not IntervalReading.objects.filter(interval_start=hole).exists()


def test_a_late_measured_reading_replaces_the_estimate_with_a_trail(
    supply_point: SupplyPoint,
) -> None:
    import io

    from apps.metering.ingestion import csv_candidates, ingest_candidates
    from apps.metering.models import ReadingRevision

    start = dt.datetime(2026, 5, 4, tzinfo=UTC)
    hole = start + dt.timedelta(weeks=4, hours=10)
    _hourly(supply_point, start, 5 * 168, skip={hole})
    window_start = start + dt.timedelta(weeks=4)
    readings_fill_gaps(
        supply_point_ids=[supply_point.pk],
        start=window_start,
        end=window_start + dt.timedelta(weeks=1),
    )
    late = (
        "supply_point,interval_start,duration_minutes,kwh_import\n"
        f"{supply_point.external_id},{hole.isoformat()},60,0.600\n"
    )
    report = ingest_candidates(csv_candidates(io.StringIO(late)), source="CSV")
    assert report.corrected == 1
    reading = IntervalReading.objects.get(supply_point=supply_point, interval_start=hole)
    assert (reading.kwh_import, reading.quality) == (Decimal("0.600"), "CORRECTED")
    trail = ReadingRevision.objects.get()
    assert (trail.old_kwh_import, trail.old_quality) == (Decimal("0.250"), "ESTIMATED")
