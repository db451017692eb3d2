"""Customer segmentation: consumption bands from readings and "has solar" from export."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from auditlog.models import LogEntry

from apps.accounts.models import Account, Customer
from apps.accounts.services import address_create, customer_create_with_account
from apps.contracts.models import Contract
from apps.contracts.segmentation import (
    InvalidSegmentInput,
    Segments,
    consumption_band,
    customer_segments_refresh,
    segments_evaluate,
)
from apps.metering.identifiers import make_cups
from apps.metering.models import IntervalReading, Premise, SupplyPoint
from apps.metering.partitions import ensure_reading_partitions
from apps.tariffs.models import Tariff

Band = Customer.ConsumptionBand
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
_serial = itertools.count(1)


# --- The rules (no database) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("annual", "band"),
    [
        (None, Band.UNKNOWN),
        (Decimal("0.001"), Band.LOW),
        (Decimal("2499.999"), Band.LOW),
        (Decimal("2500"), Band.MEDIUM),
        (Decimal("4999.999"), Band.MEDIUM),
        (Decimal("5000"), Band.HIGH),
        (Decimal("14999.999"), Band.HIGH),
        (Decimal("15000"), Band.VERY_HIGH),
        (Decimal("250000"), Band.VERY_HIGH),
    ],
)
def test_consumption_band_limits_belong_to_the_band_above(
    annual: Decimal | None, band: str
) -> None:
    assert consumption_band(annual) == band


def test_a_full_year_is_taken_as_it_is() -> None:
    assert segments_evaluate(
        import_kwh=Decimal("3100.5"), covered_days=Decimal(365), exported=False
    ) == Segments(annual_kwh=Decimal("3100.500"), consumption_band=Band.MEDIUM, has_solar=False)


def test_part_of_a_year_is_scaled_to_a_year() -> None:
    result = segments_evaluate(import_kwh=Decimal(1000), covered_days=Decimal(73), exported=True)
    assert result == Segments(
        annual_kwh=Decimal("5000.000"), consumption_band=Band.HIGH, has_solar=True
    )


def test_too_little_supply_or_no_readings_is_unknown() -> None:
    assert segments_evaluate(
        import_kwh=Decimal(300), covered_days=Decimal(27), exported=False
    ).consumption_band == (Band.UNKNOWN)
    assert segments_evaluate(
        import_kwh=Decimal(0), covered_days=Decimal(365), exported=True
    ) == Segments(annual_kwh=None, consumption_band=Band.UNKNOWN, has_solar=True)


def test_negative_inputs_are_refused() -> None:
    with pytest.raises(InvalidSegmentInput, match="import_kwh"):
        segments_evaluate(import_kwh=Decimal(-1), covered_days=Decimal(10), exported=False)


# --- The service (database) ------------------------------------------------------------


def _account() -> Account:
    return customer_create_with_account(
        name="Ana García",
        email=f"ana{next(_serial)}@example.com",
        line1="Calle de Alcalá 1",
        postcode="28001",
        city="Madrid",
        actor=None,
    )


def _supply_point() -> SupplyPoint:
    address = address_create(line1="Calle Sol 3", postcode="41001", city="Sevilla", actor=None)
    return SupplyPoint.objects.create(
        external_id=make_cups(31, next(_serial)), premise=Premise.objects.create(address=address)
    )


def _contract(
    account: Account,
    point: SupplyPoint,
    start: dt.date,
    end: dt.date | None = None,
    status: str = Contract.Status.ACTIVE,
) -> Contract:
    tariff = Tariff.objects.get_or_create(code="flat", defaults={"name": "Flat"})[0]
    return Contract.objects.create(
        number=f"SEG{next(_serial):06d}",
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=start,
        end_date=end,
        status=status,
    )


def _daily_readings(
    point: SupplyPoint, first: dt.date, days: int, kwh: str, export: str = "0"
) -> None:
    """One reading per day at 12:00 UTC (hourly intervals), ``kwh`` imported each."""
    ensure_reading_partitions(first=first, last=first + dt.timedelta(days=days))
    IntervalReading.objects.bulk_create(
        IntervalReading(
            supply_point=point,
            interval_start=dt.datetime.combine(first + dt.timedelta(days=i), dt.time(12), dt.UTC),
            duration_minutes=60,
            kwh_import=Decimal(kwh),
            kwh_export=Decimal(export),
            received_at=NOW,
        )
        for i in range(days)
    )


@pytest.mark.django_db
def test_a_year_of_readings_gives_the_band_and_is_stored_on_the_customer() -> None:
    account = _account()
    point = _supply_point()
    _contract(account, point, dt.date(2024, 1, 1))
    _daily_readings(point, dt.date(2025, 6, 15), 365, "10.000")  # 3,650 kWh
    result = customer_segments_refresh(customer=account.customer, now=NOW)
    assert result == Segments(
        annual_kwh=Decimal("3650.000"), consumption_band=Band.MEDIUM, has_solar=False
    )
    stored = Customer.objects.get(pk=account.customer_id)
    assert (stored.annual_kwh, stored.consumption_band, stored.has_solar) == (
        Decimal("3650.000"),
        Band.MEDIUM,
        False,
    )
    assert stored.segments_refreshed_at == NOW


@pytest.mark.django_db
def test_readings_older_than_a_year_or_outside_the_contract_do_not_count() -> None:
    account = _account()
    point = _supply_point()
    _contract(account, point, dt.date(2025, 12, 1))  # supplied for the last 196 days only
    _daily_readings(point, dt.date(2025, 1, 1), 530, "20.000")  # includes a previous occupant
    result = customer_segments_refresh(customer=account.customer, now=NOW)
    # Supplied from 2025-12-01 00:00 Madrid (23:00 UTC the day before) to now: 196 days and
    # 13 hours; 196 readings of 20 kWh in that window → 3,920 × 365 / 196.541667 days.
    assert result.annual_kwh == Decimal("7279.881")
    assert result.consumption_band == Band.HIGH


@pytest.mark.django_db
def test_any_export_in_the_last_twelve_months_means_solar() -> None:
    account = _account()
    point = _supply_point()
    _contract(account, point, dt.date(2024, 1, 1))
    _daily_readings(point, dt.date(2025, 6, 15), 300, "5.000")
    _daily_readings(point, dt.date(2026, 4, 11), 1, "0.000", export="1.250")
    assert customer_segments_refresh(customer=account.customer, now=NOW).has_solar is True


@pytest.mark.django_db
def test_export_only_before_the_last_twelve_months_is_not_solar() -> None:
    account = _account()
    point = _supply_point()
    _contract(account, point, dt.date(2024, 1, 1))
    _daily_readings(point, dt.date(2025, 1, 1), 30, "5.000", export="2.000")
    _daily_readings(point, dt.date(2025, 7, 1), 300, "5.000")
    assert customer_segments_refresh(customer=account.customer, now=NOW).has_solar is False


@pytest.mark.django_db
def test_cancelled_contracts_and_customers_without_readings_are_unknown() -> None:
    account = _account()
    point = _supply_point()
    _contract(account, point, dt.date(2025, 1, 1), status=Contract.Status.CANCELLED)
    _daily_readings(point, dt.date(2025, 7, 1), 300, "30.000")
    result = customer_segments_refresh(customer=account.customer, now=NOW)
    assert result == Segments(annual_kwh=None, consumption_band=Band.UNKNOWN, has_solar=False)


@pytest.mark.django_db
def test_refreshing_again_changes_nothing_and_leaves_no_new_audit_entry() -> None:
    account = _account()
    point = _supply_point()
    _contract(account, point, dt.date(2024, 1, 1))
    _daily_readings(point, dt.date(2025, 6, 20), 360, "1.000")
    customer_segments_refresh(customer=account.customer, now=NOW)
    entries = LogEntry.objects.get_for_object(account.customer).count()
    later = NOW + dt.timedelta(hours=1)
    result = customer_segments_refresh(customer=account.customer, now=later)
    assert result.consumption_band == Band.LOW
    assert LogEntry.objects.get_for_object(account.customer).count() == entries
    assert Customer.objects.get(pk=account.customer_id).segments_refreshed_at == later


@pytest.mark.django_db
def test_refresh_refuses_a_naive_time() -> None:
    account = _account()
    with pytest.raises(InvalidSegmentInput, match="now"):
        customer_segments_refresh(customer=account.customer, now=NOW.replace(tzinfo=None))


@pytest.mark.django_db
def test_refresh_segments_command_updates_every_customer() -> None:
    from io import StringIO

    from django.core.management import call_command

    first, second = _account(), _account()
    point = _supply_point()
    _contract(first, point, dt.date(2024, 1, 1))
    out = StringIO()
    call_command("refresh_segments", stdout=out)
    assert out.getvalue().startswith("Refreshed 2 customers as of ")
    assert Customer.objects.filter(segments_refreshed_at__isnull=False).count() == 2
    assert second.customer_id != first.customer_id
