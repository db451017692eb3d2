"""Staff price a year of readings on tariffs of their own making with ``manage.py rate``.

Two URDB records are written here, imported with ``import_urdb`` and priced over the local
calendar year 2026 in Europe/Madrid (hourly readings; March has 743 hours, October 745),
and every month is checked against the hand calculation written next to it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from apps.tariffs.models import EnergyRate, Holiday, PriceVersion, Tariff
from apps.tariffs.tests.helpers import (
    make_tariff,
    make_version,
    readings_csv,
    urdb_record,
    write_json,
    year_of_hours,
)

pytestmark = pytest.mark.django_db

# Hours in each local month of 2026 in Europe/Madrid (March loses one, October gains one).
HOURS_2026 = {
    1: 744, 2: 672, 3: 743, 4: 720, 5: 744, 6: 720, 7: 744, 8: 744, 9: 720, 10: 745, 11: 720,
    12: 744,
}  # fmt: skip


def _import(tmp_path: Path, record: dict[str, Any], code: str) -> None:
    path = write_json(tmp_path / f"{code}.json", record)
    call_command(
        "import_urdb",
        str(path),
        "--code",
        code,
        "--time-zone",
        "Europe/Madrid",
        "--valid-from",
        "2026-01-01",
        stdout=io.StringIO(),
    )


def _rate_json(tmp_path: Path, code: str, csv_text: str) -> dict[str, Any]:
    path = tmp_path / "readings.csv"
    path.write_text(csv_text, encoding="utf-8")
    out = io.StringIO()
    call_command("rate", "--tariff", code, "--readings", str(path), "--json", stdout=out)
    return json.loads(out.getvalue())


def _lines(month: dict[str, Any]) -> list[tuple[str, str, int | None, str, str, str]]:
    return [
        (
            line["component"],
            line["period"],
            line["tier"],
            line["quantity"],
            line["unit_price"],
            line["amount"],
        )
        for line in month["lines"]
    ]


# ---------------------------------------------------------------------------------------------
# Tiered record
# ---------------------------------------------------------------------------------------------

TIERED = urdb_record(
    label="wattline-test-tiered",
    name="Wattline test: three blocks",
    energyratestructure=[
        [
            {"max": 200, "rate": 0.10, "unit": "kWh"},
            {"max": 500, "rate": 0.15, "unit": "kWh"},
            {"rate": 0.20, "unit": "kWh"},
        ]
    ],
    energyweekdayschedule=[[0] * 24] * 12,
    energyweekendschedule=[[0] * 24] * 12,
    fixedchargefirstmeter=6.00,
    fixedchargeunits="$/month",
    mincharge=24.30,
    minchargeunits="$/month",
)

# Hand calculation. Consumption: 1 kWh every hour October-March, 0.25 kWh April-September, so
# a month's kWh = hours x rate of use (March 743 h, October 745 h: the DST days).
# Blocks: first 200 kWh at 0.10, next 300 (to 500) at 0.15, the rest at 0.20.
# Winter month, E kWh: 20.00 + 45.00 + (E - 500) x 0.20, plus the fixed 6.00:
#   Jan 744: 20.00 + 45.00 + 48.80 + 6 = 119.80     Feb 672: 20 + 45 + 34.40 + 6 = 105.40
#   Mar 743: 20.00 + 45.00 + 48.60 + 6 = 119.60     Oct 745: 20 + 45 + 49.00 + 6 = 120.00
#   Nov 720: 20.00 + 45.00 + 44.00 + 6 = 115.00     Dec 744: as January = 119.80
# Summer month, E = hours / 4 <= 200 kWh, all in the first block: E x 0.10 + 6.00; the
# minimum of 24.30 tops up the 30-day months:
#   Apr, Jun, Sep 180 kWh: 18.00 + 6.00 = 24.00 -> minimum top-up 0.30 -> 24.30
#   May, Jul, Aug 186 kWh: 18.60 + 6.00 = 24.60 (above the minimum, no top-up)
TIERED_TOTALS = {
    "2026-01": "119.80", "2026-02": "105.40", "2026-03": "119.60", "2026-04": "24.30",
    "2026-05": "24.60", "2026-06": "24.30", "2026-07": "24.60", "2026-08": "24.60",
    "2026-09": "24.30", "2026-10": "120.00", "2026-11": "115.00", "2026-12": "119.80",
}  # fmt: skip


def _tiered_use(local: dt.datetime) -> Decimal:
    return Decimal(1) if local.month in (10, 11, 12, 1, 2, 3) else Decimal("0.25")


def test_staff_prices_a_year_on_an_imported_tiered_tariff(tmp_path: Path) -> None:
    _import(tmp_path, TIERED, "own-tiered")
    version = Tariff.objects.get(code="own-tiered").versions.get()
    assert version.energy_kind == PriceVersion.EnergyKind.TIERED
    assert version.minimum_monthly_charge == Decimal("24.3")

    result = _rate_json(tmp_path, "own-tiered", readings_csv(year_of_hours(2026, _tiered_use)))

    assert result["tariff"] == "own-tiered"
    assert {m["month"]: m["total"] for m in result["months"]} == TIERED_TOTALS
    january, april, may = result["months"][0], result["months"][3], result["months"][4]
    assert _lines(january) == [
        ("FIXED_CHARGE", "", None, "1.000000", "6.00000000", "6.00"),
        ("ENERGY", "ALL", 1, "200.000", "0.10000000", "20.00"),
        ("ENERGY", "ALL", 2, "300.000", "0.15000000", "45.00"),
        ("ENERGY", "ALL", 3, "244.000", "0.20000000", "48.80"),
    ]
    assert _lines(april) == [
        ("FIXED_CHARGE", "", None, "1.000000", "6.00000000", "6.00"),
        ("ENERGY", "ALL", 1, "180.000", "0.10000000", "18.00"),
        ("MINIMUM_CHARGE", "", None, "1.000000", "0.30", "0.30"),
    ]
    assert [line["component"] for line in may["lines"]] == ["FIXED_CHARGE", "ENERGY"]
    assert sum(Decimal(m["total"]) for m in result["months"]) == Decimal("846.30")


# ---------------------------------------------------------------------------------------------
# Time-of-use record with weekend rules
# ---------------------------------------------------------------------------------------------

PEAK_HOURS = range(8, 22)  # 08:00-22:00 local, 14 hours
TOU = urdb_record(
    label="wattline-test-tou",
    name="Wattline test: peak on working days",
    energyratestructure=[[{"rate": 0.08, "unit": "kWh"}], [{"rate": 0.25, "unit": "kWh"}]],
    energyweekdayschedule=[[1 if hour in PEAK_HOURS else 0 for hour in range(24)]] * 12,
    energyweekendschedule=[[0] * 24] * 12,
    fixedchargefirstmeter=0.30,
    fixedchargeunits="$/day",
)

# Hand calculation. 1 kWh every hour. Weekdays (Mon-Fri) 08:00-22:00 are peak (0.25/kWh);
# other hours, weekends and the public holidays 1 and 6 January are off-peak (0.08/kWh);
# standing charge 0.30 a day. With W working days and H hours in the month:
# peak = 14 W kWh, off-peak = H - 14 W kWh. The DST days (29 March, 25 October) are Sundays,
# so their 23 and 25 hours are all off-peak.
#   month  days  W  peak  off-peak  14W x 0.25 + off x 0.08 + days x 0.30 = total
#   Jan     31  20   280   464      70.00 + 37.12 + 9.30 = 116.42  (22 weekdays - 2 holidays)
#   Feb     28  20   280   392      70.00 + 31.36 + 8.40 = 109.76
#   Mar     31  22   308   435      77.00 + 34.80 + 9.30 = 121.10  (743 h)
#   Apr     30  22   308   412      77.00 + 32.96 + 9.00 = 118.96
#   May     31  21   294   450      73.50 + 36.00 + 9.30 = 118.80
#   Jun     30  22   308   412      77.00 + 32.96 + 9.00 = 118.96
#   Jul     31  23   322   422      80.50 + 33.76 + 9.30 = 123.56
#   Aug     31  21   294   450      73.50 + 36.00 + 9.30 = 118.80
#   Sep     30  22   308   412      77.00 + 32.96 + 9.00 = 118.96
#   Oct     31  22   308   437      77.00 + 34.96 + 9.30 = 121.26  (745 h)
#   Nov     30  21   294   426      73.50 + 34.08 + 9.00 = 116.58
#   Dec     31  23   322   422      80.50 + 33.76 + 9.30 = 123.56
TOU_MONTHS = {
    "2026-01": (280, 464, 31, "116.42"), "2026-02": (280, 392, 28, "109.76"),
    "2026-03": (308, 435, 31, "121.10"), "2026-04": (308, 412, 30, "118.96"),
    "2026-05": (294, 450, 31, "118.80"), "2026-06": (308, 412, 30, "118.96"),
    "2026-07": (322, 422, 31, "123.56"), "2026-08": (294, 450, 31, "118.80"),
    "2026-09": (308, 412, 30, "118.96"), "2026-10": (308, 437, 31, "121.26"),
    "2026-11": (294, 426, 30, "116.58"), "2026-12": (322, 422, 31, "123.56"),
}  # fmt: skip


def test_staff_prices_a_year_on_an_imported_time_of_use_tariff_with_weekend_rules(
    tmp_path: Path,
) -> None:
    Holiday.objects.create(date=dt.date(2026, 1, 1), region="ES", name="New Year's Day")
    Holiday.objects.create(date=dt.date(2026, 1, 6), region="ES", name="Epiphany")
    _import(tmp_path, TOU, "own-tou")
    version = Tariff.objects.get(code="own-tou").versions.get()
    assert version.energy_kind == PriceVersion.EnergyKind.TIME_OF_USE
    assert version.standing_charge_per_day == Decimal("0.3")
    assert sum(HOURS_2026.values()) == 8760

    rows = year_of_hours(2026, lambda local: Decimal(1))
    result = _rate_json(tmp_path, "own-tou", readings_csv(rows))

    months = {m["month"]: m for m in result["months"]}
    assert list(months) == list(TOU_MONTHS)
    for name, (peak, off, days, total) in TOU_MONTHS.items():
        month_number = int(name[5:])
        assert peak + off == HOURS_2026[month_number]
        assert _lines(months[name]) == [
            ("STANDING_CHARGE", "", None, str(days), "0.30000000", f"{days * Decimal('0.30'):.2f}"),
            ("ENERGY", "P0", None, f"{off}.000", "0.08000000", f"{off * Decimal('0.08'):.2f}"),
            ("ENERGY", "P1", None, f"{peak}.000", "0.25000000", f"{peak * Decimal('0.25'):.2f}"),
        ], name
        assert months[name]["total"] == total, name
    assert sum(Decimal(m["total"]) for m in result["months"]) == Decimal("1426.72")


def test_rate_prints_month_tables_without_json(tmp_path: Path) -> None:
    _import(tmp_path, TIERED, "own-tiered")
    rows = [
        r
        for r in year_of_hours(2026, _tiered_use)
        if r[0] < dt.datetime(2026, 1, 31, 23, tzinfo=dt.UTC)
    ]
    path = tmp_path / "january.csv"
    path.write_text(readings_csv(rows), encoding="utf-8")
    out = io.StringIO()
    call_command("rate", "--tariff", "own-tiered", "--readings", str(path), stdout=out)
    text = out.getvalue().splitlines()
    assert text[0] == "Tariff own-tiered (USD)"
    assert text[2] == "2026-01  import 744.000 kWh, export 0.000 kWh"
    assert text[-1].split() == ["TOTAL", "119.80"]
    assert (
        "ENERGY            ALL       3            244.000  kWh        0.20000000         48.80"
        in text
    )


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def _flat_tariff() -> Tariff:
    tariff = make_tariff("flat-test", time_zone="Europe/Madrid")
    make_version(tariff, valid_from=dt.date(2026, 1, 1), rates=[("ALL", 1, None, Decimal("0.15"))])
    return tariff


def _stored() -> tuple[int, int, int, int]:
    return (
        Tariff.objects.count(),
        PriceVersion.objects.count(),
        EnergyRate.objects.count(),
        LogEntry.objects.count(),
    )


def test_rate_names_the_row_and_field_of_each_bad_reading_and_stores_nothing(
    tmp_path: Path,
) -> None:
    _flat_tariff()
    before = _stored()
    path = tmp_path / "bad.csv"
    path.write_text(
        "start,minutes,kwh_import,kwh_export\n"  # row 1
        "2026-01-01T00:00:00+01:00,60,1.0,0\n"  # row 2
        "2026-01-01T01:00:00+01:00,60,1.0,0\n"
        "2026-01-01T02:00:00+01:00,60,1.0,0\n"
        "2026-01-01T03:00:00+01:00,60,1.0,0\n"
        "2026-01-01T04:00:00+01:00,60,1.0,0\n"  # row 6
        "2026-01-01T05:00:00,60,1.0,0\n"  # row 7: no offset
        "2026-01-01T06:00:00+01:00,0,1.0,0\n"  # row 8: zero minutes
        "2026-01-01T07:00:00+01:00,60,abc,0\n"  # row 9: not a number
        "2026-01-01T08:00:00+01:00,60,1.0,-2\n"  # row 10: negative export
        "yesterday,60,1.0,0\n",  # row 11: not a date
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "flat-test", "--readings", str(path), "--json")
    assert str(raised.value).splitlines()[1:] == [
        "row 7, start: no time zone offset (write e.g. 2026-01-01T00:00:00+01:00)",
        "row 8, minutes: '0' is not a whole number of minutes above 0",
        "row 9, kwh_import: 'abc' is not a number",
        "row 10, kwh_export: -2 is negative; energy must be 0 or more",
        "row 11, start: 'yesterday' is not an ISO 8601 date and time",
    ]
    assert _stored() == before


def test_rate_refuses_overlapping_readings_and_a_bad_header(tmp_path: Path) -> None:
    _flat_tariff()
    path = tmp_path / "overlap.csv"
    path.write_text(
        "start,minutes,kwh_import,kwh_export\n"
        "2026-01-01T00:00:00+01:00,60,1.0,0\n"
        "2026-01-01T00:30:00+01:00,60,1.0,0\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "flat-test", "--readings", str(path))
    assert "row 3, start: overlaps the interval of row 2." in str(raised.value)

    path.write_text("when,kwh\n2026-01-01T00:00:00+01:00,1\n", encoding="utf-8")
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "flat-test", "--readings", str(path))
    assert (
        "row 1: the header must name the columns start, minutes, kwh_import and kwh_export; "
        "missing start, minutes, kwh_import, kwh_export (found: when, kwh)."
    ) in str(raised.value)


def test_rate_refuses_readings_outside_the_price_versions(tmp_path: Path) -> None:
    _flat_tariff()
    path = tmp_path / "early.csv"
    path.write_text(
        "start,minutes,kwh_import,kwh_export\n2025-12-31T22:00:00+01:00,60,1.0,\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "flat-test", "--readings", str(path))
    assert (
        "Tariff flat-test has no price version in force at 2025-12-31 22:00 (Europe/Madrid)"
    ) in str(raised.value)


def test_rate_refuses_an_unknown_tariff_or_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "nope", "--readings", str(tmp_path / "x.csv"))
    assert str(raised.value) == "--tariff: no tariff with code 'nope'."
    _flat_tariff()
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "flat-test", "--readings", str(tmp_path / "x.csv"))
    assert str(raised.value).startswith("--readings: cannot read ")


def test_rate_prices_a_dynamic_tariff_from_market_prices(tmp_path: Path) -> None:
    from apps.tariffs.models import MarketPrice

    tariff = make_tariff("dyn", time_zone="Europe/Madrid")
    make_version(
        tariff,
        valid_from=dt.date(2026, 1, 1),
        energy_kind=PriceVersion.EnergyKind.DYNAMIC,
        dynamic_factor=Decimal("1.1"),
        dynamic_margin=Decimal("0.02"),
        dynamic_cap=Decimal("0.30"),
    )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for hour, price in enumerate(["0.100000", "0.400000"]):
        MarketPrice.objects.create(
            series="ES-DA", starts_at=start + dt.timedelta(hours=hour), price_per_kwh=price
        )
    csv_text = (
        "start,minutes,kwh_import,kwh_export\n"
        "2026-01-01T00:00:00+00:00,60,2,0\n"
        "2026-01-01T01:00:00+00:00,60,1,0\n"
    )
    result = _rate_json(tmp_path, "dyn", csv_text)
    # 2 kWh x (0.10 x 1.1 + 0.02 = 0.13) = 0.26; 1 kWh x min(0.40 x 1.1 + 0.02, cap 0.30) = 0.30
    assert result["months"][0]["total"] == "0.56"

    path = tmp_path / "later.csv"
    path.write_text(
        "start,minutes,kwh_import,kwh_export\n2026-01-01T05:00:00+00:00,60,1,0\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError) as raised:
        call_command("rate", "--tariff", "dyn", "--readings", str(path))
    assert "no market price for the hour starting 2026-01-01 05:00 UTC" in str(raised.value)
