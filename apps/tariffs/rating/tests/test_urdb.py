"""URDB records -> EnergyStructure, and whole years priced with the engine.

Reference records live outside the project in /work/shared/reference-data/urdb (see
PROVENANCE.md there); tests skip with a reason when that folder is not present.
Every generated year is 1 kWh per UTC hour through local year 2025, rated month by month.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from apps.tariffs.rating import (
    ENERGY,
    FIXED_CHARGE,
    STANDING_CHARGE,
    Interval,
    RatingResult,
    month_bounds,
    rate,
)
from apps.tariffs.rating.urdb import UnsupportedUrdbFeature, UrdbTariff, parse_urdb

D = Decimal
UTC = dt.UTC
REFERENCE = (
    Path(__file__).resolve().parents[4] / ".." / "shared" / "reference-data" / "urdb"
).resolve()
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"URDB reference records not found at {REFERENCE}"
)
CHICAGO = ZoneInfo("America/Chicago")


def load(name: str) -> dict[str, Any]:
    with (REFERENCE / name).open() as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def price_year(tariff: UrdbTariff, tz: ZoneInfo, year: int = 2025) -> list[RatingResult]:
    """Rate each local month of ``year`` with 1 kWh in every UTC hour."""
    start, _ = month_bounds(year, 1, tz)
    _, end = month_bounds(year, 12, tz)
    hours = int((end - start) / dt.timedelta(hours=1))
    intervals = [Interval(start + dt.timedelta(hours=h), 60, D(1)) for h in range(hours)]
    version = tariff.price_version(valid_from=dt.datetime(2000, 1, 1, tzinfo=UTC))
    results = []
    for month in range(1, 13):
        month_start, month_end = month_bounds(year, month, tz)
        results.append(
            rate(
                versions=[version],
                intervals=intervals,
                period_start=month_start,
                period_end=month_end,
                tz=tz,
            )
        )
    return results


def amounts(result: RatingResult, component: str) -> list[Decimal]:
    return [line.amount for line in result.lines if line.component == component]


# -- the reference records -------------------------------------------------------------------

PRICEABLE = [
    ("austin_energy_residential_5tier.json", "America/Chicago"),
    ("cfe_tarifa_1a_residential_seasonal_tiered.json", "America/Mexico_City"),
    ("fpl_gst1_tou_weekend.json", "America/New_York"),
    ("fpl_rs1_residential_tiered.json", "America/New_York"),
    ("georgia_power_tou_eo10_tiered_tou_weekend.json", "America/New_York"),
    ("jackson_emc_residential_seasonal_tiered.json", "America/New_York"),
    ("oshpxml_sample_tiered_tou_residential.json", "America/Denver"),
    ("pge_a6_seasonal_tou_weekend.json", "America/Los_Angeles"),
]


@needs_reference
def test_every_reference_record_is_covered_here() -> None:
    refused = {"psco_rd_residential_demand.json", "pysam_test_urdbv7_tou_demand.json"}
    assert {path.name for path in REFERENCE.glob("*.json")} == {
        name for name, _ in PRICEABLE
    } | refused


@needs_reference
@pytest.mark.parametrize(("name", "zone"), PRICEABLE)
def test_reference_record_parses_and_prices_a_year(name: str, zone: str) -> None:
    """Each month's energy quantities add up to that month's 8,760-hour share; totals add up."""
    tariff = parse_urdb(load(name))
    assert tariff.currency == "USD"
    assert tariff.name
    results = price_year(tariff, ZoneInfo(zone))
    assert sum((result.kwh_import_total for result in results), D(0)) == 8760
    for result in results:
        energy = sum((ln.quantity for ln in result.lines if ln.component == ENERGY), D(0))
        assert energy == result.kwh_import_total
        assert result.total == sum((line.amount for line in result.lines), D(0))
        assert result.total > 0


@needs_reference
def test_fpl_rs1_january_hand_calculation() -> None:
    """RS-1: 2 tiers split at 1,000 kWh, rate + adj = 0.07531 + 0.0119 = 0.08721; legacy
    fixedmonthlycharge 7.57. January (744 h) stays in tier 1: 744 x 0.08721 = 64.88424
    -> 64.88; total 72.45."""
    tariff = parse_urdb(load("fpl_rs1_residential_tiered.json"))
    assert [(t.upto_kwh, t.rate) for t in tariff.energy.periods["P0"]] == [
        (D(1000), D("0.08721")),
        (None, D("0.10803")),
    ]
    january = price_year(tariff, ZoneInfo("America/New_York"))[0]
    assert amounts(january, ENERGY) == [D("64.88")]
    assert amounts(january, FIXED_CHARGE) == [D("7.57")]
    assert january.total == D("72.45")


@needs_reference
def test_austin_january_hand_calculation_rounds_half_up() -> None:
    """Austin: tier 1 (500 kWh) 0.02801 + 0.0485 = 0.07651, tier 2 (to 1,000) 0.10682.
    January 744 kWh: 500 x 0.07651 = 38.255 -> 38.26 (half-up); 244 x 0.10682 = 26.06408
    -> 26.06; fixedchargefirstmeter $10/month. Total 74.32."""
    tariff = parse_urdb(load("austin_energy_residential_5tier.json"))
    january = price_year(tariff, CHICAGO)[0]
    assert amounts(january, ENERGY) == [D("38.26"), D("26.06")]
    assert january.total == D("74.32")


@needs_reference
def test_cfe_january_hand_calculation_with_minimum_not_reached() -> None:
    """CFE 1A winter period P0: 75 @0.793, 75 @0.956, rest @2.802; mincharge 19.825/month.
    January 744 kWh: 59.475 -> 59.48; 71.70; 594 x 2.802 = 1664.388 -> 1664.39; total
    1795.57, above the minimum, so no MINIMUM_CHARGE line."""
    tariff = parse_urdb(load("cfe_tarifa_1a_residential_seasonal_tiered.json"))
    assert tariff.minimum_monthly_charge == D("19.825")
    january = price_year(tariff, ZoneInfo("America/Mexico_City"))[0]
    assert amounts(january, ENERGY) == [D("59.48"), D("71.70"), D("1664.39")]
    assert january.total == D("1795.57")


@needs_reference
def test_api_response_wrapper_is_unwrapped() -> None:
    """Jackson EMC comes as {"items": [record]}; floats like 650.0 keep their decimal text."""
    tariff = parse_urdb(load("jackson_emc_residential_seasonal_tiered.json"))
    assert tariff.utility == "Jackson Electric Member Corp"
    assert tariff.fixed_monthly_charge == D("5.5")
    assert tariff.start_date == dt.date(2017, 1, 1)
    assert tariff.energy.periods["P0"][0].upto_kwh == D(650)


@needs_reference
@pytest.mark.parametrize(
    ("name", "features"),
    [
        ("psco_rd_residential_demand.json", ["flatdemandstructure (flat demand charges)"]),
        (
            "pysam_test_urdbv7_tou_demand.json",
            [
                "demandratestructure (time-of-use demand charges)",
                "flatdemandstructure (flat demand charges)",
                "annualmincharge (annual minimum charge)",
            ],
        ),
    ],
)
def test_demand_charges_are_refused_naming_each_feature(name: str, features: list[str]) -> None:
    with pytest.raises(UnsupportedUrdbFeature) as caught:
        parse_urdb(load(name))
    assert caught.value.features == features
    for feature in features:
        assert feature in str(caught.value)


# -- records of our own, priced over a year by hand ------------------------------------------


def flat_schedule(period: int = 0) -> list[list[int]]:
    return [[period] * 24 for _ in range(12)]


TIERED_RECORD: dict[str, Any] = {
    "label": "wattline-test-tiered",
    "name": "Test tiered",
    "utility": "Wattline test utility",
    "energyratestructure": [
        [{"max": 500, "rate": 0.10, "unit": "kWh"}, {"rate": 0.05, "adj": 0.01, "unit": "kWh"}]
    ],
    "energyweekdayschedule": flat_schedule(),
    "energyweekendschedule": flat_schedule(),
    "fixedchargefirstmeter": 10,
    "fixedchargeunits": "$/month",
}


def test_own_tiered_record_priced_over_a_year() -> None:
    """Blocks: first 500 kWh/month @0.10, the rest @0.05 + adj 0.01 = 0.06; $10/month.

    America/Chicago 2025 at 1 kWh/h: 24 x days per month, except March 743 (spring forward)
    and November 721 (fall back); 8,760 kWh in all, every month above 500 kWh.
    month energy = 50.00 + 0.06 x (kWh - 500), e.g. January 50 + 0.06 x 244 = 64.64,
    February (672) 60.32, March 64.58, April (720) 63.20, November 63.26.
    year: 12 x 50 + 0.06 x (8760 - 12 x 500) = 600 + 165.60 = 765.60; + 12 x 10 = 885.60.
    """
    results = price_year(parse_urdb(TIERED_RECORD), CHICAGO)
    monthly_kwh = [result.kwh_import_total for result in results]
    assert monthly_kwh == [744, 672, 743, 720, 744, 720, 744, 744, 720, 744, 721, 744]
    energy = [sum(amounts(result, ENERGY), D(0)) for result in results]
    assert energy[:4] == [D("64.64"), D("60.32"), D("64.58"), D("63.20")]
    assert energy[10] == D("63.26")
    assert sum(energy, D(0)) == D("765.60")
    assert sum((result.total for result in results), D(0)) == D("885.60")
    assert all(amounts(result, FIXED_CHARGE) == [D("10.00")] for result in results)


def summer_peak_schedule() -> list[list[int]]:
    rows = []
    for month in range(1, 13):
        summer = 6 <= month <= 9
        rows.append([1 if summer and 14 <= hour < 20 else 0 for hour in range(24)])
    return rows


TOU_RECORD: dict[str, Any] = {
    "items": [
        {
            "label": "wattline-test-tou",
            "name": "Test summer TOU",
            "utility": "Wattline test utility",
            "energyratestructure": [
                [{"rate": 0.08, "unit": "kWh", "sell": 0.03}],
                [{"rate": 0.20, "unit": "kWh", "sell": 0.03}],
            ],
            "energyweekdayschedule": summer_peak_schedule(),
            "energyweekendschedule": flat_schedule(),
            "fixedchargefirstmeter": 0.5,
            "fixedchargeunits": "$/day",
            "dgrules": "Net Metering",
        }
    ]
}


def test_own_time_of_use_record_with_weekend_rule_priced_over_a_year() -> None:
    """P1 0.20 on weekdays 14:00-20:00 (6 h) in June-September, P0 0.08 otherwise and on
    weekends; $0.50/day; ``sell`` rates are ignored.

    Weekdays 2025: June 21, July 23, August 21, September 22 = 87 -> peak 6 x 87 = 522 kWh.
    Off-peak 8,760 - 522 = 8,238 kWh. The DST Sundays (03-09, 11-02) are off-peak anyway.
    year energy 522 x 0.20 = 104.40 + 8,238 x 0.08 = 659.04 -> 763.44; standing 365 x 0.50
    = 182.50; total 945.94. June alone: peak 126 -> 25.20, off-peak 594 -> 47.52, 15.00.
    """
    tariff = parse_urdb(TOU_RECORD)
    assert tariff.standing_charge_per_day == D("0.5")
    assert tariff.fixed_monthly_charge == 0
    results = price_year(tariff, CHICAGO)
    june = results[5]
    assert [(ln.component, ln.period, ln.quantity, ln.amount) for ln in june.lines] == [
        (STANDING_CHARGE, "", D(30), D("15.00")),
        (ENERGY, "P0", D(594), D("47.52")),
        (ENERGY, "P1", D(126), D("25.20")),
    ]
    peak = sum((ln.quantity for r in results for ln in r.lines if ln.period == "P1"), D(0))
    assert peak == 522
    energy = sum((sum(amounts(result, ENERGY), D(0)) for result in results), D(0))
    assert energy == D("763.44")
    assert sum((result.total for result in results), D(0)) == D("945.94")


# -- parser edge cases -----------------------------------------------------------------------


def test_more_than_one_item_is_refused_naming_the_count() -> None:
    with pytest.raises(ValueError, match="exactly one rate in 'items', got 2"):
        parse_urdb({"items": [TIERED_RECORD, TIERED_RECORD]})


def test_daily_and_kw_based_tier_units_are_refused_together() -> None:
    record = dict(TIERED_RECORD)
    record["energyratestructure"] = [
        [{"max": 10, "rate": 0.1, "unit": "kWh daily"}, {"rate": 0.2, "unit": "kWh daily"}],
        [{"max": 200, "rate": 0.1, "unit": "kWh/kW"}, {"rate": 0.2, "unit": "kWh/kW"}],
    ]
    record["coincidentratestructure"] = [[{"rate": 5}]]
    with pytest.raises(UnsupportedUrdbFeature) as caught:
        parse_urdb(record)
    assert caught.value.features == [
        "coincidentratestructure (coincident demand charges)",
        "energyratestructure unit 'kWh daily' (daily tier limits)",
        "energyratestructure unit 'kWh/kW' (kW-based tier limits)",
    ]


def test_monthly_minimum_is_kept_and_other_minimum_units_are_refused() -> None:
    record = dict(TIERED_RECORD, mincharge=25, minchargeunits="$/month")
    assert parse_urdb(record).minimum_monthly_charge == D(25)
    with pytest.raises(UnsupportedUrdbFeature, match=r"minchargeunits '\$/day'"):
        parse_urdb(dict(record, minchargeunits="$/day"))


def test_schedule_index_outside_the_rate_structure_is_named() -> None:
    schedule = flat_schedule()
    schedule[2] = [0] * 23 + [3]
    with pytest.raises(ValueError, match="energyweekdayschedule month 3 hour 23: period index 3"):
        parse_urdb(dict(TIERED_RECORD, energyweekdayschedule=schedule))


def test_tier_without_max_before_the_last_is_refused() -> None:
    record = dict(TIERED_RECORD)
    record["energyratestructure"] = [[{"rate": 0.1}, {"rate": 0.2}]]
    with pytest.raises(ValueError, match=r"energyratestructure\[0\]\[0\] has no 'max'"):
        parse_urdb(record)


def test_decimal_json_is_accepted_as_is() -> None:
    """json.loads(..., parse_float=Decimal) hands Decimals through untouched."""
    text = json.dumps(TIERED_RECORD)
    tariff = parse_urdb(json.loads(text, parse_float=Decimal))
    assert [tier.rate for tier in tariff.energy.periods["P0"]] == [D("0.1"), D("0.06")]
