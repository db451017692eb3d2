"""Usage aggregation in PostgreSQL: local hours, days and months, DST days, insights."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.accounts.models import Address
from apps.metering import usage
from apps.metering.identifiers import make_cups
from apps.metering.models import IntervalReading, Premise, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions

pytestmark = pytest.mark.django_db
UTC = dt.UTC
MADRID = ZoneInfo("Europe/Madrid")
KWH = Decimal("0.001")


@pytest.fixture
def supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Calle Sol 3", postcode="41001", city="Sevilla")
    return SupplyPoint.objects.create(
        external_id=make_cups(31, 501), premise=Premise.objects.create(address=address)
    )


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MADRID)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=MADRID).astimezone(UTC)


def store(
    sp: SupplyPoint,
    start: dt.datetime,
    end: dt.datetime,
    *,
    minutes: int,
    kwh=lambda at: Decimal("0.100"),  # type: ignore[no-untyped-def]
    export=lambda at: Decimal(0),  # type: ignore[no-untyped-def]
    quality=lambda at: "ACTUAL",  # type: ignore[no-untyped-def]
) -> list[IntervalReading]:
    """Store one reading every ``minutes`` in [start, end); values from the callables."""
    ensure_reading_partitions(first=start.astimezone(UTC).date(), last=end.astimezone(UTC).date())
    rows = []
    at = start.astimezone(UTC)
    while at < end:
        rows.append(
            IntervalReading(
                supply_point=sp,
                interval_start=at,
                duration_minutes=minutes,
                kwh_import=kwh(at),
                kwh_export=export(at),
                quality=quality(at),
                source="test",
                received_at=at,
            )
        )
        at += dt.timedelta(minutes=minutes)
    IntervalReading.objects.bulk_create(rows, batch_size=5000)
    return rows


def varying(at: dt.datetime) -> Decimal:
    """A deterministic value that differs per interval (to catch mis-bucketing)."""
    return (Decimal((at.hour * 7 + at.minute + at.day * 3) % 97) + 1) * KWH


def test_spring_forward_day_has_23_hours_with_the_right_total(supply_point: SupplyPoint) -> None:
    day = dt.date(2026, 3, 29)
    rows = store(
        supply_point, midnight(day), midnight(day + dt.timedelta(days=1)), minutes=15, kwh=varying
    )
    assert len(rows) == 92

    hours = usage.local_hour_buckets(
        supply_point_id=supply_point.pk,
        start=midnight(day),
        end=midnight(day + dt.timedelta(days=1)),
        tz=MADRID,
    )

    assert len(hours) == 23
    local_hours = [b.start.astimezone(MADRID).hour for b in hours]
    assert local_hours == [0, 1, *range(3, 24)]  # 02:00 does not exist that night
    assert all(b.totals.readings == 4 and b.totals.minutes == 60 for b in hours)
    days = usage.daily_totals(
        supply_point_id=supply_point.pk,
        start=midnight(day - dt.timedelta(days=1)),
        end=midnight(day + dt.timedelta(days=2)),
        tz=MADRID,
    )
    assert [(d.day, d.totals.kwh_import, d.totals.readings) for d in days] == [
        (day, sum((r.kwh_import for r in rows), Decimal(0)), 92)
    ]


def test_fall_back_day_has_25_hours_with_the_repeated_hour_kept_apart(
    supply_point: SupplyPoint,
) -> None:
    day = dt.date(2026, 10, 25)
    rows = store(
        supply_point, midnight(day), midnight(day + dt.timedelta(days=1)), minutes=15, kwh=varying
    )
    assert len(rows) == 100

    hours = usage.local_hour_buckets(
        supply_point_id=supply_point.pk,
        start=midnight(day),
        end=midnight(day + dt.timedelta(days=1)),
        tz=MADRID,
    )

    assert len(hours) == 25
    twos = [b for b in hours if b.start.astimezone(MADRID).hour == 2]
    assert [b.start.astimezone(MADRID).utcoffset() for b in twos] == [
        dt.timedelta(hours=2),
        dt.timedelta(hours=1),
    ]
    assert [b.start for b in twos] == [
        dt.datetime(2026, 10, 25, 0, tzinfo=UTC),
        dt.datetime(2026, 10, 25, 1, tzinfo=UTC),
    ]
    for bucket in hours:
        expected = sum(
            (
                r.kwh_import
                for r in rows
                if bucket.start <= r.interval_start < bucket.start + dt.timedelta(hours=1)
            ),
            Decimal(0),
        )
        assert bucket.totals.kwh_import == expected
    (total,) = usage.daily_totals(
        supply_point_id=supply_point.pk,
        start=midnight(day),
        end=midnight(day + dt.timedelta(days=1)),
        tz=MADRID,
    )
    assert total.totals.kwh_import == sum((r.kwh_import for r in rows), Decimal(0))
    assert total.totals.minutes == 25 * 60


def test_daily_and_monthly_totals_follow_local_midnights_exactly(
    supply_point: SupplyPoint,
) -> None:
    # Hourly data from 1 Feb to 30 Apr 2026 local: crosses the March DST change.
    start, end = local(2026, 2, 1), local(2026, 5, 1)
    rows = store(
        supply_point,
        start,
        end,
        minutes=60,
        kwh=varying,
        export=lambda at: Decimal("0.050") if 10 <= at.hour < 15 else Decimal(0),
        quality=lambda at: "ESTIMATED" if at.day == 15 and at.hour == 3 else "ACTUAL",
    )
    by_day: dict[dt.date, list[IntervalReading]] = defaultdict(list)
    by_month: dict[dt.date, list[IntervalReading]] = defaultdict(list)
    for row in rows:
        local_day = row.interval_start.astimezone(MADRID).date()
        by_day[local_day].append(row)
        by_month[local_day.replace(day=1)].append(row)

    days = usage.daily_totals(supply_point_id=supply_point.pk, start=start, end=end, tz=MADRID)
    months = usage.monthly_totals(supply_point_id=supply_point.pk, start=start, end=end, tz=MADRID)

    assert len(days) == 89
    for bucket in days:
        expected = by_day[bucket.day]
        assert bucket.totals.kwh_import == sum((r.kwh_import for r in expected), Decimal(0))
        assert bucket.totals.kwh_export == sum((r.kwh_export for r in expected), Decimal(0))
        assert bucket.totals.readings == len(expected)
        assert bucket.totals.estimated == sum(r.quality == "ESTIMATED" for r in expected)
    assert {d.day: d.totals.readings for d in days}[dt.date(2026, 3, 29)] == 23
    assert [m.day for m in months] == [
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
        dt.date(2026, 4, 1),
    ]
    for bucket in months:
        expected = by_month[bucket.day]
        assert bucket.totals.kwh_import == sum((r.kwh_import for r in expected), Decimal(0))
        assert bucket.totals.readings == len(expected)
    assert [m.totals.readings for m in months] == [28 * 24, 31 * 24 - 1, 30 * 24]
    assert [m.totals.estimated for m in months] == [1, 1, 1]


def test_totals_in_ranges_sums_each_range_in_one_query(
    supply_point: SupplyPoint, django_assert_num_queries
) -> None:
    store(supply_point, local(2026, 5, 1), local(2026, 5, 3), minutes=30)
    ranges = [
        (local(2026, 5, 1).astimezone(UTC), local(2026, 5, 2).astimezone(UTC)),
        (local(2026, 5, 1, 12).astimezone(UTC), local(2026, 5, 1, 13).astimezone(UTC)),
        (local(2026, 6, 1).astimezone(UTC), local(2026, 6, 2).astimezone(UTC)),
    ]
    with django_assert_num_queries(1):
        day, hour, empty = usage.totals_in_ranges(supply_point_id=supply_point.pk, ranges=ranges)
    assert (day.kwh_import, day.readings, day.minutes, day.shortest_minutes) == (
        Decimal("4.800"),
        48,
        1440,
        30,
    )
    assert (hour.kwh_import, hour.readings) == (Decimal("0.200"), 2)
    assert empty == usage.EMPTY


def test_rating_slots_sum_quarter_hours_into_hours(supply_point: SupplyPoint) -> None:
    day = dt.date(2026, 10, 25)
    rows = store(
        supply_point,
        midnight(day),
        midnight(day + dt.timedelta(days=1)),
        minutes=15,
        kwh=varying,
        export=lambda at: KWH,
    )
    slots = usage.rating_slots(
        supply_point_id=supply_point.pk,
        start=midnight(day),
        end=midnight(day + dt.timedelta(days=1)),
        tz=MADRID,
    )
    assert len(slots) == 25
    assert all(slot.minutes == 60 for slot in slots)
    assert sum((s.kwh_import for s in slots), Decimal(0)) == sum(
        (r.kwh_import for r in rows), Decimal(0)
    )
    assert sum((s.kwh_export for s in slots), Decimal(0)) == Decimal("0.100")
    assert slots[0].start == midnight(day)


def test_night_baseload_is_a_low_percentile_of_complete_night_hours(
    supply_point: SupplyPoint,
) -> None:
    # Ten nights; night hour n of night d uses (d * 10 + n + 100) Wh, days use 2 kWh an hour.
    def kwh(at: dt.datetime) -> Decimal:
        moment = at.astimezone(MADRID)
        if 1 <= moment.hour < 5:
            return Decimal(moment.day * 10 + moment.hour + 100) * KWH
        return Decimal(2)

    store(supply_point, local(2026, 6, 1), local(2026, 6, 11), minutes=60, kwh=kwh)
    figures = usage.insight_figures(
        supply_point_id=supply_point.pk,
        start=local(2026, 6, 1).astimezone(UTC),
        end=local(2026, 6, 11).astimezone(UTC),
        tz=MADRID,
    )
    # 40 night hours; the 10th percentile (percentile_disc) is the 4th lowest: night 1, 04:00.
    assert figures.baseload_w == Decimal("114.000")
    assert figures.hours == []  # not asked for


def test_insights_ignore_incomplete_hours(
    supply_point: SupplyPoint,
) -> None:
    store(supply_point, local(2026, 6, 1, 1), local(2026, 6, 1, 1, 45), minutes=15)
    figures = usage.insight_figures(
        supply_point_id=supply_point.pk,
        start=local(2026, 6, 1).astimezone(UTC),
        end=local(2026, 6, 2).astimezone(UTC),
        tz=MADRID,
        with_hours=True,
    )
    assert figures.baseload_w is None
    assert figures.peak_hours == []
    assert figures.hours == [usage.HourUse(dt.date(2026, 6, 1), 1, Decimal("0.300"))]


def test_peak_hours_are_the_three_local_hours_with_the_highest_average(
    supply_point: SupplyPoint,
) -> None:
    heavy = {19: Decimal("0.900"), 20: Decimal("0.800"), 8: Decimal("0.700")}

    def kwh(at: dt.datetime) -> Decimal:
        return heavy.get(at.astimezone(MADRID).hour, Decimal("0.200"))

    store(supply_point, local(2026, 6, 1), local(2026, 6, 8), minutes=60, kwh=kwh)
    figures = usage.insight_figures(
        supply_point_id=supply_point.pk,
        start=local(2026, 6, 1).astimezone(UTC),
        end=local(2026, 6, 8).astimezone(UTC),
        tz=MADRID,
        with_hours=True,
    )
    assert len(figures.hours) == 7 * 24
    assert [(p.hour, p.average_kwh) for p in figures.peak_hours] == [
        (19, Decimal("0.900")),
        (20, Decimal("0.800")),
        (8, Decimal("0.700")),
    ]


def test_latest_reading_and_download_rows(supply_point: SupplyPoint) -> None:
    store(supply_point, local(2026, 6, 1), local(2026, 6, 2), minutes=60, kwh=varying)
    latest = usage.latest_reading(
        supply_point_id=supply_point.pk,
        start=local(2026, 5, 1).astimezone(UTC),
        end=local(2026, 7, 1).astimezone(UTC),
    )
    assert latest is not None
    assert latest.start == local(2026, 6, 1, 23).astimezone(UTC)
    assert latest.end == local(2026, 6, 2).astimezone(UTC)
    rows = list(
        usage.readings_for_download(
            supply_point_id=supply_point.pk,
            start=local(2026, 6, 1, 22).astimezone(UTC),
            end=local(2026, 6, 3).astimezone(UTC),
        )
    )
    assert [(r[0], r[1], r[4]) for r in rows] == [
        (local(2026, 6, 1, 22).astimezone(UTC), 60, "ACTUAL"),
        (local(2026, 6, 1, 23).astimezone(UTC), 60, "ACTUAL"),
    ]
    assert (
        usage.latest_reading(
            supply_point_id=supply_point.pk,
            start=local(2026, 7, 1).astimezone(UTC),
            end=local(2026, 8, 1).astimezone(UTC),
        )
        is None
    )


def test_hour_use_keeps_both_hours_of_a_fall_back_night(supply_point: SupplyPoint) -> None:
    day = dt.date(2026, 10, 25)
    store(supply_point, midnight(day), midnight(day + dt.timedelta(days=1)), minutes=15)
    figures = usage.insight_figures(
        supply_point_id=supply_point.pk,
        start=midnight(day),
        end=midnight(day + dt.timedelta(days=1)),
        tz=MADRID,
        with_hours=True,
    )
    assert len(figures.hours) == 25
    assert [h.hour for h in figures.hours].count(2) == 2
    assert {h.kwh_import for h in figures.hours} == {Decimal("0.400")}
    # Two night hours at 02:00 local count separately: 01:00, 02:00 twice, 03:00, 04:00.
    assert figures.baseload_w == Decimal("400.000")


def test_monthly_totals_also_count_each_month_up_to_its_cut(supply_point: SupplyPoint) -> None:
    store(supply_point, local(2026, 9, 1), local(2026, 11, 1), minutes=60)
    months = usage.monthly_totals(
        supply_point_id=supply_point.pk,
        start=local(2026, 9, 1).astimezone(UTC),
        end=local(2026, 11, 1).astimezone(UTC),
        tz=MADRID,
        cuts={dt.date(2026, 10, 1): local(2026, 10, 26, 9).astimezone(UTC)},
    )
    september, october = months
    assert (september.totals.readings, september.so_far_readings) == (720, 720)
    assert september.so_far_kwh_import == september.totals.kwh_import == Decimal("72.000")
    # 25 days and 9 hours, plus the repeated hour of the fall-back night.
    assert (october.totals.readings, october.so_far_readings) == (745, 610)
    assert october.so_far_kwh_import == Decimal("61.000")
