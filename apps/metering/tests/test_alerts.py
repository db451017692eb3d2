"""The alert scan over stored readings: found once, stored once, per-customer preferences,
a fixed number of queries per chunk, local days across DST, audited preference changes."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable, Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Address, User
from apps.metering import alerts
from apps.metering.identifiers import make_cups
from apps.metering.models import (
    AlertPreference,
    ConsumptionAlert,
    IntervalReading,
    Premise,
    SupplyPoint,
)
from apps.metering.partitions import ensure_reading_partitions

pytestmark = pytest.mark.django_db

D = Decimal
TZ = ZoneInfo("Europe/Madrid")
UTC = dt.UTC
AS_OF = dt.datetime(2026, 9, 1, 7, 0, tzinfo=TZ)  # evaluates 25–31 August
TODAY = dt.date(2026, 9, 1)
FIRST = TODAY - dt.timedelta(days=100)
RECEIVED = AS_OF - dt.timedelta(hours=2)
ALWAYS = ((dt.date(2020, 1, 1), None),)
Kind = ConsumptionAlert.Kind
_serials = itertools.count(1)

PROFILE = [2, 2, 2, 2, 2, 2, 3, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 5, 6, 7, 7, 6, 4, 3]


@pytest.fixture(autouse=True)
def _partitions() -> None:
    ensure_reading_partitions(first=FIRST - dt.timedelta(days=31), last=TODAY)


def make_supply_point() -> SupplyPoint:
    address = Address.objects.create(line1="Calle Mayor 1", postcode="28013", city="Madrid")
    premise = Premise.objects.create(address=address)
    return SupplyPoint.objects.create(external_id=make_cups(41, next(_serials)), premise=premise)


def day(back: int) -> dt.date:
    """The local day ``back`` days before today."""
    return TODAY - dt.timedelta(days=back)


Rule = Callable[[dt.date, int, Decimal], Decimal]


def store_household(
    supply_point: SupplyPoint,
    *,
    seed: int,
    rule: Rule | None = None,
    received_at: dt.datetime = RECEIVED,
    last_day: dt.date = TODAY - dt.timedelta(days=1),
) -> None:
    """Hourly readings of an ordinary home from FIRST to ``last_day``; ``rule`` may change some."""
    rng = random.Random(seed)
    rows = []
    current = FIRST
    while current <= last_day:
        level = D(str(round(rng.gauss(1, 0.05), 3)))
        for hour, share in enumerate(PROFILE):
            kwh = (D(share) / 10 * level * D(str(round(rng.gauss(1, 0.1), 3)))).quantize(D("0.001"))
            kwh = max(kwh, D(0))
            if rule is not None:
                kwh = rule(current, hour, kwh).quantize(D("0.001"))
            start = dt.datetime.combine(current, dt.time(hour), tzinfo=TZ).astimezone(UTC)
            rows.append(
                IntervalReading(
                    supply_point=supply_point,
                    interval_start=start,
                    duration_minutes=60,
                    kwh_import=kwh,
                    received_at=received_at,
                    source="test",
                )
            )
        current += dt.timedelta(days=1)
    IntervalReading.objects.bulk_create(rows)


def on_days(days: Iterable[dt.date], change: Callable[[Decimal], Decimal]) -> Rule:
    chosen = set(days)
    return lambda d, hour, kwh: change(kwh) if d in chosen else kwh


def stored() -> list[tuple[str, str, dt.date]]:
    return [
        (a.supply_point.external_id, a.kind, a.day)
        for a in ConsumptionAlert.objects.select_related("supply_point").order_by(
            "supply_point_id", "day", "kind", "id"
        )
    ]


def test_scan_stores_each_injected_anomaly_once_and_a_rerun_stores_nothing() -> None:
    quiet, spike, vacant = make_supply_point(), make_supply_point(), make_supply_point()
    store_household(quiet, seed=1)
    store_household(spike, seed=2, rule=on_days([day(4)], lambda kwh: kwh * 3))
    store_household(vacant, seed=3, rule=on_days([day(5), day(4), day(3)], lambda kwh: D(0)))
    ids = [quiet.pk, spike.pk, vacant.pk]

    first = alerts.alerts_scan(
        supply_point_ids=ids, as_of=AS_OF, active_periods=dict.fromkeys(ids, ALWAYS)
    )

    assert first.scanned == 3
    assert stored() == [
        (spike.external_id, Kind.HIGH_DAILY, day(4)),
        (vacant.external_id, Kind.ZERO_USE, day(5)),
    ]
    assert sorted(first.created) == sorted(ConsumptionAlert.objects.values_list("id", flat=True))
    high = ConsumptionAlert.objects.get(kind=Kind.HIGH_DAILY)
    assert high.detected_at == AS_OF
    assert high.observed > 2 * high.expected
    assert high.details["weeks"] == 8
    assert high.details["weekday"] == day(4).isoweekday()
    zero = ConsumptionAlert.objects.get(kind=Kind.ZERO_USE)
    assert (zero.observed, zero.details) == (D("0.000"), {"days": 3})

    again = alerts.alerts_scan(
        supply_point_ids=ids, as_of=AS_OF, active_periods=dict.fromkeys(ids, ALWAYS)
    )
    tomorrow = alerts.alerts_scan(
        supply_point_ids=ids,
        as_of=AS_OF + dt.timedelta(days=1),
        active_periods=dict.fromkeys(ids, ALWAYS),
    )
    assert (again.scanned, again.created, tomorrow.created) == (3, [], [])
    assert ConsumptionAlert.objects.count() == 2


def test_no_use_outside_a_contract_is_not_an_alert() -> None:
    vacant = make_supply_point()
    store_household(vacant, seed=3, rule=on_days([day(5), day(4), day(3)], lambda kwh: D(0)))
    assert alerts.alerts_scan(supply_point_ids=[vacant.pk], as_of=AS_OF).created == []
    ended = {vacant.pk: [(dt.date(2025, 1, 1), day(5))]}
    assert (
        alerts.alerts_scan(supply_point_ids=[vacant.pk], as_of=AS_OF, active_periods=ended).created
        == []
    )
    assert ConsumptionAlert.objects.count() == 0


def test_the_customers_sensitivity_and_switched_off_kinds_steer_the_scan() -> None:
    moderate, vacant = make_supply_point(), make_supply_point()
    store_household(moderate, seed=4, rule=on_days([day(3)], lambda kwh: kwh * D("1.4")))
    store_household(vacant, seed=5, rule=on_days([day(6), day(5), day(4)], lambda kwh: D(0)))
    AlertPreference.objects.create(supply_point=vacant, disabled_kinds=[Kind.ZERO_USE])
    periods = {moderate.pk: ALWAYS, vacant.pk: ALWAYS}

    result = alerts.alerts_scan(
        supply_point_ids=[moderate.pk, vacant.pk], as_of=AS_OF, active_periods=periods
    )
    assert (result.created, stored()) == ([], [])

    AlertPreference.objects.create(supply_point=moderate, sensitivity="HIGH")
    AlertPreference.objects.filter(supply_point=vacant).update(disabled_kinds=[])
    alerts.alerts_scan(
        supply_point_ids=[moderate.pk, vacant.pk], as_of=AS_OF, active_periods=periods
    )
    assert stored() == [
        (moderate.external_id, Kind.HIGH_DAILY, day(3)),
        (vacant.external_id, Kind.ZERO_USE, day(6)),
    ]
    moderate_alert = ConsumptionAlert.objects.get(supply_point=moderate)
    assert D("1.3") < moderate_alert.observed / moderate_alert.expected < D("1.5")


def _queries(ids: list[int], chunk_size: int) -> int:
    with CaptureQueriesContext(connection) as captured:
        alerts.alerts_scan(supply_point_ids=ids, as_of=AS_OF, chunk_size=chunk_size)
    return len(captured.captured_queries)


def test_scan_reads_each_chunk_with_the_same_few_queries_whatever_its_size() -> None:
    points = [make_supply_point() for _ in range(6)]
    for n, point in enumerate(points):
        store_household(point, seed=10 + n, rule=on_days([day(2)], lambda kwh: kwh * 4))
    ids = [p.pk for p in points]
    one_chunk_of_two = _queries(ids[:2], chunk_size=10)
    ConsumptionAlert.objects.all().delete()
    one_chunk_of_six = _queries(ids, chunk_size=10)
    ConsumptionAlert.objects.all().delete()
    three_chunks = _queries(ids, chunk_size=2)
    # savepoint, preferences, daily and night kWh, insert, release
    assert one_chunk_of_two == one_chunk_of_six == 5
    assert three_chunks == 3 * 5
    assert ConsumptionAlert.objects.count() == 6


def test_supply_points_with_new_data_are_those_with_readings_received_in_the_last_36_hours() -> (
    None
):
    fresh, stale, silent = make_supply_point(), make_supply_point(), make_supply_point()
    store_household(fresh, seed=1)
    store_household(stale, seed=2, received_at=AS_OF - dt.timedelta(hours=37))
    store_household(silent, seed=3, received_at=RECEIVED, last_day=day(20))
    assert alerts.supply_points_with_new_data(as_of=AS_OF) == [fresh.pk]
    assert alerts.supply_points_with_new_data(as_of=AS_OF, window=dt.timedelta(hours=40)) == [
        fresh.pk,
        stale.pk,
    ]


def test_scan_refuses_an_empty_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        alerts.alerts_scan(supply_point_ids=[1], as_of=AS_OF, chunk_size=0)


# -- local days ------------------------------------------------------------------------------


def _quarter_hours(point: SupplyPoint, local_day: dt.date, kwh: str) -> int:
    start = dt.datetime.combine(local_day, dt.time(0), tzinfo=TZ).astimezone(UTC)
    end = dt.datetime.combine(local_day + dt.timedelta(days=1), dt.time(0), tzinfo=TZ).astimezone(
        UTC
    )
    rows = []
    moment = start
    while moment < end:
        rows.append(
            IntervalReading(
                supply_point=point,
                interval_start=moment,
                duration_minutes=15,
                kwh_import=D(kwh),
                received_at=RECEIVED,
            )
        )
        moment += dt.timedelta(minutes=15)
    IntervalReading.objects.bulk_create(rows)
    return len(rows)


@pytest.mark.parametrize(
    ("local_day", "quarters", "total"),
    [
        (dt.date(2026, 3, 29), 92, D("9.200")),  # spring forward: 23 hours
        (dt.date(2026, 10, 25), 100, D("10.000")),  # fall back: 25 hours
        (dt.date(2026, 10, 26), 96, D("9.600")),
    ],
)
def test_daily_totals_follow_local_days_on_dst_changes(
    local_day: dt.date, quarters: int, total: Decimal
) -> None:
    ensure_reading_partitions(first=dt.date(2026, 3, 1), last=dt.date(2026, 11, 30))
    point = make_supply_point()
    assert _quarter_hours(point, local_day, "0.100") == quarters
    usage = alerts.usage_by_supply_point(
        supply_point_ids=[point.pk],
        first_day=local_day - dt.timedelta(days=1),
        last_day=local_day + dt.timedelta(days=1),
        tz=TZ,
        night_hours=(1, 2, 3, 4),
    )[point.pk]
    assert usage.daily == {local_day: total}
    assert usage.complete_days == frozenset({local_day})
    night = {hour.hour: kwh for hour, kwh in usage.hourly.items()}
    assert night[1] == D("0.400")
    if quarters == 92:
        assert sorted(night) == [1, 3, 4]  # 02:00–03:00 does not exist that night
    elif quarters == 100:
        assert night[2] == D("0.800")  # 02:00–03:00 happens twice


def test_a_day_with_missing_readings_is_not_complete() -> None:
    point = make_supply_point()
    _quarter_hours(point, day(3), "0.000")
    IntervalReading.objects.filter(
        supply_point=point,
        interval_start=dt.datetime.combine(day(3), dt.time(12), tzinfo=TZ).astimezone(UTC),
    ).delete()
    usage = alerts.usage_by_supply_point(
        supply_point_ids=[point.pk], first_day=day(5), last_day=day(1), tz=TZ, night_hours=(1,)
    )[point.pk]
    assert usage.daily == {day(3): D("0.000")}
    assert usage.complete_days == frozenset()


# -- preferences -----------------------------------------------------------------------------


def test_customer_changes_alert_preferences_and_the_change_is_audited(customer: User) -> None:
    point = make_supply_point()
    assert alerts.alert_preference_for(supply_point_id=point.pk).pk is None
    preference = alerts.alert_preference_update(
        supply_point_id=point.pk,
        sensitivity="LOW",
        disabled_kinds=["ZERO_USE", "HIGH_DAILY"],
        actor=customer,
    )
    stored_preference = AlertPreference.objects.get(supply_point=point)
    assert stored_preference.pk == preference.pk
    assert (stored_preference.sensitivity, stored_preference.disabled_kinds) == (
        "LOW",
        ["HIGH_DAILY", "ZERO_USE"],
    )
    entry = LogEntry.objects.get_for_object(stored_preference).get()
    assert entry.actor == customer


def test_unchanged_preferences_write_no_audit_entry(customer: User) -> None:
    point = make_supply_point()
    for _ in range(2):
        alerts.alert_preference_update(
            supply_point_id=point.pk, sensitivity="HIGH", disabled_kinds=[], actor=customer
        )
    preference = AlertPreference.objects.get(supply_point=point)
    assert LogEntry.objects.get_for_object(preference).count() == 1


BAD_SENSITIVITY = "sensitivity: “LOUD” is not one of LOW, NORMAL, HIGH."
BAD_KIND = "disabled_kinds: NOISE is not a kind of alert."


@pytest.mark.parametrize(
    ("sensitivity", "kinds", "error", "field", "message"),
    [
        ("LOUD", [], alerts.InvalidSensitivity, "sensitivity", BAD_SENSITIVITY),
        ("LOW", ["NOISE"], alerts.UnknownAlertKind, "disabled_kinds", BAD_KIND),
    ],
)
def test_bad_preferences_are_refused_naming_the_field_and_nothing_is_stored(
    customer: User,
    sensitivity: str,
    kinds: list[str],
    error: type[alerts.AlertPreferenceError],
    field: str,
    message: str,
) -> None:
    point = make_supply_point()
    with pytest.raises(error) as raised:
        alerts.alert_preference_update(
            supply_point_id=point.pk, sensitivity=sensitivity, disabled_kinds=kinds, actor=customer
        )
    assert (raised.value.field, raised.value.message) == (field, message)
    assert AlertPreference.objects.count() == 0


# -- back office -----------------------------------------------------------------------------


@pytest.fixture
def alert_admin() -> None:
    """The alert admin's URLs, even if the URLconf was built before this module was imported.

    ``apps/metering/admin.py`` imports ``admin_alerts``; until it does, rebuild the URLconf.
    """
    import importlib

    from django.urls import NoReverseMatch, clear_url_caches, reverse

    import apps.metering.admin_alerts  # noqa: F401
    import config.urls

    try:
        reverse("admin:metering_consumptionalert_changelist")
    except NoReverseMatch:
        importlib.reload(config.urls)
        clear_url_caches()


def test_staff_find_alerts_by_cups_in_the_admin_and_cannot_edit_them(
    make_user: Callable[..., User], alert_admin: None
) -> None:
    from django.urls import reverse

    from conftest import verified_client

    mine, other = make_supply_point(), make_supply_point()
    for point, kind in ((mine, Kind.ZERO_USE), (mine, Kind.HIGH_DAILY), (other, Kind.STEP_CHANGE)):
        ConsumptionAlert.objects.create(
            supply_point=point, kind=kind, day=day(3), detected_at=AS_OF, observed=0, expected=9
        )
    client = verified_client(make_user("ops@staff.example.com", role="operations"))
    changelist = reverse("admin:metering_consumptionalert_changelist")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(changelist, {"q": mine.external_id})
    assert response.status_code == 200
    shown = response.context["cl"].result_list
    assert sorted(a.kind for a in shown) == [Kind.HIGH_DAILY, Kind.ZERO_USE]
    assert all(a.supply_point.external_id == mine.external_id for a in shown)
    filtered = client.get(changelist, {"kind__exact": Kind.STEP_CHANGE})
    assert [a.supply_point_id for a in filtered.context["cl"].result_list] == [other.pk]
    assert client.get(changelist, {"day__year": day(3).year}).status_code == 200
    alert = ConsumptionAlert.objects.filter(supply_point=mine).first()
    assert alert is not None
    assert client.get(reverse("admin:metering_consumptionalert_add")).status_code == 403
    detail = client.post(
        reverse("admin:metering_consumptionalert_change", args=[alert.pk]), {"observed": "5"}
    )
    assert detail.status_code == 403
    alert.refresh_from_db()
    assert alert.observed == D("0.000")
    # list_select_related: no query per row for the supply point
    assert sum("metering_supplypoint" in q["sql"] for q in captured.captured_queries) <= 1
