"""Staff import OpenEI URDB rate records with ``manage.py import_urdb``.

The real records come from ../shared/reference-data/urdb/ (see PROVENANCE.md there). Each one
without demand charges must import and price a whole year; after the round trip through the
database it must price exactly as the parser's own structure does.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from apps.tariffs import rating, selectors, services
from apps.tariffs.models import EnergyRate, PriceVersion, Tariff
from apps.tariffs.rating.urdb import parse_urdb
from apps.tariffs.tests.helpers import (
    MADRID,
    readings_csv,
    urdb_dir,
    urdb_record,
    write_json,
    year_of_hours,
)

pytestmark = pytest.mark.django_db

SUPPORTED = [
    "austin_energy_residential_5tier.json",
    "cfe_tarifa_1a_residential_seasonal_tiered.json",
    "fpl_gst1_tou_weekend.json",
    "fpl_rs1_residential_tiered.json",
    "georgia_power_tou_eo10_tiered_tou_weekend.json",
    "jackson_emc_residential_seasonal_tiered.json",
    "oshpxml_sample_tiered_tou_residential.json",
    "pge_a6_seasonal_tou_weekend.json",
]
DEMAND = {
    "psco_rd_residential_demand.json": ["flatdemandstructure (flat demand charges)"],
    "pysam_test_urdbv7_tou_demand.json": [
        "demandratestructure (time-of-use demand charges)",
        "flatdemandstructure (flat demand charges)",
        "annualmincharge (annual minimum charge)",
    ],
}


def _reference(name: str) -> Path:
    path = urdb_dir() / name
    if not path.exists():
        pytest.skip(f"URDB reference data not found at {path} (../shared/reference-data/urdb)")
    return path


def _stored_rows() -> tuple[int, int, int, int]:
    return (
        Tariff.objects.count(),
        PriceVersion.objects.count(),
        EnergyRate.objects.count(),
        LogEntry.objects.count(),
    )


def _varying_kwh(local: dt.datetime) -> Decimal:
    """0.4 kWh at night, 1.1 kWh by day, 2.3 kWh 18-21h; more in winter months."""
    base = Decimal("0.4") if local.hour < 7 else Decimal("1.1")
    if 18 <= local.hour < 22:
        base = Decimal("2.3")
    return base * (Decimal("1.5") if local.month in (1, 2, 12) else Decimal(1))


@pytest.mark.parametrize("name", SUPPORTED)
def test_staff_imports_a_real_urdb_record_and_prices_a_year(name: str) -> None:
    path = _reference(name)
    out = io.StringIO()
    call_command(
        "import_urdb",
        str(path),
        "--code",
        "imported",
        "--time-zone",
        "Europe/Madrid",
        "--valid-from",
        "2026-01-01",
        stdout=out,
    )
    assert "Imported" in out.getvalue()
    tariff = Tariff.objects.get(code="imported")
    data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    parsed = parse_urdb(data)
    assert tariff.is_public is False
    assert tariff.time_zone == "Europe/Madrid"
    assert tariff.name == parsed.name[:120]
    version = tariff.versions.get()
    assert version.valid_from == dt.date(2026, 1, 1)
    assert version.valid_to is None
    assert version.fixed_monthly_charge == parsed.fixed_monthly_charge
    assert version.minimum_monthly_charge == parsed.minimum_monthly_charge
    assert EnergyRate.objects.filter(version=version).count() == sum(
        len(tiers) for tiers in parsed.energy.periods.values()
    )
    assert LogEntry.objects.get_for_object(tariff).count() == 1  # creation is audited

    rows = year_of_hours(2026, _varying_kwh)
    months = services.tariff_price_readings(
        tariff=selectors.tariff_by_code(code="imported"),
        readings_csv=io.StringIO(readings_csv(rows)),
    )
    assert [m.month for m in months] == [f"2026-{n:02d}" for n in range(1, 13)]
    # The stored version prices every month exactly as the parsed record does.
    reference = parsed.price_version(valid_from=dt.datetime(2026, 1, 1, tzinfo=MADRID))
    intervals = [rating.Interval(start, minutes, kwh, exp) for start, minutes, kwh, exp in rows]
    for month in months:
        expected = rating.rate(
            versions=[reference],
            intervals=intervals,
            period_start=month.period_start,
            period_end=month.period_end,
            tz=MADRID,
        )
        assert month.total == expected.total, month.month
        assert month.total > 0
        assert month.kwh_import == expected.kwh_import_total


@pytest.mark.parametrize(("name", "features"), sorted(DEMAND.items()))
def test_import_refuses_demand_charges_naming_them_and_stores_nothing(
    name: str, features: list[str]
) -> None:
    path = _reference(name)
    before = _stored_rows()
    with pytest.raises(CommandError) as raised:
        call_command("import_urdb", str(path), "--code", "demand")
    message = str(raised.value)
    assert message.startswith("This URDB rate cannot be imported: it uses ")
    for feature in features:
        assert feature in message
    assert _stored_rows() == before


def test_import_defaults_to_the_operator_zone_and_today(tmp_path: Path) -> None:
    record = urdb_record(
        name="Simple",
        energyratestructure=[[{"rate": 0.12, "unit": "kWh"}]],
        energyweekdayschedule=[[0] * 24] * 12,
        energyweekendschedule=[[0] * 24] * 12,
    )
    path = write_json(tmp_path / "simple.json", {"items": [record]})
    with time_machine.travel(dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC), tick=False):
        call_command("import_urdb", str(path), "--code", "simple", stdout=io.StringIO())
    tariff = Tariff.objects.get(code="simple")
    assert tariff.time_zone == "Europe/Madrid"
    version = tariff.versions.get()
    assert version.valid_from == dt.date(2026, 4, 1)  # already 1 April in Madrid
    assert version.energy_kind == PriceVersion.EnergyKind.FLAT
    assert list(version.energy_rates.values_list("period", "tier", "upto_kwh", "rate")) == [
        ("ALL", 1, None, Decimal("0.12"))
    ]


def test_import_refuses_a_code_that_exists_and_changes_nothing(tmp_path: Path) -> None:
    record = urdb_record(
        name="Twice",
        energyratestructure=[[{"rate": 0.12}]],
        energyweekdayschedule=[[0] * 24] * 12,
    )
    path = write_json(tmp_path / "twice.json", record)
    call_command("import_urdb", str(path), "--code", "twice", stdout=io.StringIO())
    before = _stored_rows()
    with pytest.raises(CommandError) as raised:
        call_command("import_urdb", str(path), "--code", "twice")
    assert str(raised.value) == (
        "code: a tariff with code twice already exists; choose another code."
    )
    assert _stored_rows() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--time-zone", "Mars/Olympus"],
            "time_zone: 'Mars/Olympus' is not a known IANA time zone (e.g. Europe/Madrid).",
        ),
        (["--valid-from", "31/12/2026"], "--valid-from: '31/12/2026' is not a date (YYYY-MM-DD)."),
    ],
)
def test_import_refuses_bad_options_naming_them(
    tmp_path: Path, args: list[str], message: str
) -> None:
    record = urdb_record(
        energyratestructure=[[{"rate": 0.1}]], energyweekdayschedule=[[0] * 24] * 12
    )
    path = write_json(tmp_path / "r.json", record)
    with pytest.raises(CommandError) as raised:
        call_command("import_urdb", str(path), "--code", "opts", *args)
    assert str(raised.value) == message
    assert _stored_rows() == (0, 0, 0, 0)


def test_import_refuses_malformed_json_and_records(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",', encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        call_command("import_urdb", str(broken), "--code", "broken")
    assert "not valid JSON (line 1" in str(raised.value)

    short = write_json(
        tmp_path / "short.json",
        urdb_record(energyratestructure=[[{"rate": 0.1}]], energyweekdayschedule=[[0] * 24] * 11),
    )
    with pytest.raises(CommandError) as raised:
        call_command("import_urdb", str(short), "--code", "short")
    assert str(raised.value) == (
        "This URDB rate is malformed: energyweekdayschedule must be a 12x24 matrix (12 months)."
    )
    assert _stored_rows() == (0, 0, 0, 0)


def test_import_refuses_prices_it_would_have_to_round(tmp_path: Path) -> None:
    record = urdb_record(
        energyratestructure=[[{"rate": "0.123456789"}]], energyweekdayschedule=[[0] * 24] * 12
    )
    path = write_json(tmp_path / "precise.json", record)
    with pytest.raises(CommandError) as raised:
        call_command("import_urdb", str(path), "--code", "precise")
    assert "more than 8 decimal places" in str(raised.value)
    assert "period P0 tier 1 rate 0.123456789" in str(raised.value)
    assert _stored_rows() == (0, 0, 0, 0)
