"""OpenEI Utility Rate Database (URDB) records -> plain tariff structures for the engine.

Supported: energy charges (flat, tiered, seasonal, time-of-use, TOU with tiers, weekend
schedules), fixed charges per month or per day, monthly minimum charges. Refused with
:class:`UnsupportedUrdbFeature` (naming every offending part): demand charges (TOU, flat,
coincident), tier limits in "kWh daily" or per-kW units, annual minimums, per-month fuel
adjustments, fixed/minimum charges in other units. Ignored on purpose: ``sell`` rates (URDB
net-metering credits; Wattline prices exports with ``PriceVersion.export_rate``), additional
meter charges, descriptive fields. Numbers are kept as published; URDB declares them in USD.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ._model import EnergyStructure, PriceVersion, Tax, Tier

__all__ = ["UnsupportedUrdbFeature", "UrdbTariff", "parse_urdb"]

_DEMAND_STRUCTURES = {
    "demandratestructure": "demandratestructure (time-of-use demand charges)",
    "flatdemandstructure": "flatdemandstructure (flat demand charges)",
    "coincidentratestructure": "coincidentratestructure (coincident demand charges)",
}
_MONTHLY = "$/month"
_DAILY = "$/day"


class UnsupportedUrdbFeature(ValueError):
    """The record uses parts Wattline cannot price; ``features`` names each of them."""

    def __init__(self, features: Sequence[str]) -> None:
        self.features = list(features)
        super().__init__("URDB rate uses unsupported features: " + "; ".join(self.features))


@dataclass(frozen=True, slots=True)
class UrdbTariff:
    """What Wattline keeps of a URDB rate record."""

    label: str
    name: str
    utility: str
    description: str
    sector: str
    uri: str
    currency: str
    energy: EnergyStructure
    fixed_monthly_charge: Decimal
    standing_charge_per_day: Decimal
    minimum_monthly_charge: Decimal | None
    start_date: dt.date | None
    end_date: dt.date | None

    def price_version(
        self,
        *,
        valid_from: dt.datetime,
        valid_to: dt.datetime | None = None,
        taxes: tuple[Tax, ...] = (),
        label: str | None = None,
    ) -> PriceVersion:
        """A PriceVersion with this record's prices, valid over [valid_from, valid_to)."""
        return PriceVersion(
            valid_from=valid_from,
            valid_to=valid_to,
            standing_charge_per_day=self.standing_charge_per_day,
            energy=self.energy,
            fixed_monthly_charge=self.fixed_monthly_charge,
            minimum_monthly_charge=self.minimum_monthly_charge,
            taxes=taxes,
            label=(self.label or self.name) if label is None else label,
        )


def parse_urdb(data: Mapping[str, Any]) -> UrdbTariff:
    """Parse one URDB rate record, or an API response ``{"items": [record]}``.

    Numbers may be JSON floats (read as their shortest repr, never as binary floats), ints,
    Decimals (``json.load(..., parse_float=Decimal)``) or numeric strings.

    Raises:
        UnsupportedUrdbFeature: demand charges or other parts the engine cannot price.
        ValueError: the record is malformed (the message names the field).
    """
    record = _single_record(data)
    unsupported = _unsupported_features(record)
    if unsupported:
        raise UnsupportedUrdbFeature(unsupported)
    energy = _energy_structure(record)
    fixed_monthly, standing_daily = _fixed_charges(record)
    return UrdbTariff(
        label=str(record.get("label", "")),
        name=str(record.get("name", "")),
        utility=str(record.get("utility", "")),
        description=str(record.get("description", "") or ""),
        sector=str(record.get("sector", "") or ""),
        uri=str(record.get("uri", "") or ""),
        currency="USD",
        energy=energy,
        fixed_monthly_charge=fixed_monthly,
        standing_charge_per_day=standing_daily,
        minimum_monthly_charge=_minimum_charge(record),
        start_date=_date(record.get("startdate"), field="startdate"),
        end_date=_date(record.get("enddate"), field="enddate"),
    )


# --------------------------------------------------------------------------------------------


def _single_record(data: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"URDB data must be a JSON object, got {type(data).__name__}.")
    if "items" not in data:
        return data
    items = data["items"]
    if not isinstance(items, list) or len(items) != 1:
        count = len(items) if isinstance(items, list) else "no list of"
        raise ValueError(f"URDB response must hold exactly one rate in 'items', got {count}.")
    record = items[0]
    if not isinstance(record, Mapping):
        raise ValueError("URDB 'items'[0] must be a JSON object.")
    return record


def _present(value: object) -> bool:
    """True when a field carries data (not missing, null, empty or all zero)."""
    if value is None or value == "" or value == [] or value == {}:
        return False
    if isinstance(value, list):
        return any(_present(item) for item in value)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return bool(value)
    return True


def _unsupported_features(record: Mapping[str, Any]) -> list[str]:
    features = [description for key, description in _DEMAND_STRUCTURES.items() if record.get(key)]
    units: dict[str, None] = {}
    structure = record.get("energyratestructure")
    if isinstance(structure, list):
        for period in structure:
            for tier in period if isinstance(period, list) else []:
                if isinstance(tier, Mapping):
                    units[str(tier.get("unit") or "kWh")] = None
    for unit in units:
        if unit == "kWh":
            continue
        if unit == "kWh daily":
            features.append("energyratestructure unit 'kWh daily' (daily tier limits)")
        elif "kW" in unit.replace("kWh", ""):
            features.append(f"energyratestructure unit {unit!r} (kW-based tier limits)")
        else:
            features.append(f"energyratestructure unit {unit!r} (unknown energy unit)")
    fixed_units = record.get("fixedchargeunits") or _MONTHLY
    if "fixedchargefirstmeter" in record and fixed_units not in (_MONTHLY, _DAILY):
        features.append(f"fixedchargeunits {fixed_units!r} (only $/month and $/day)")
    min_units = record.get("minchargeunits") or _MONTHLY
    if _present(record.get("mincharge")) and min_units != _MONTHLY:
        features.append(f"minchargeunits {min_units!r} (only $/month minimums)")
    if _present(record.get("annualmincharge")):
        features.append("annualmincharge (annual minimum charge)")
    if _present(record.get("fueladjustmentsmonthly")):
        features.append("fueladjustmentsmonthly (per-month fuel adjustments)")
    return features


def _number(value: object, *, field: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number, got {value!r}.")
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, int):
            result = Decimal(value)
        elif isinstance(value, float):
            result = Decimal(repr(value))  # the decimal text JSON carried, not the binary float
        elif isinstance(value, str):
            result = Decimal(value.strip())
        else:
            raise ValueError(f"{field} must be a number, got {value!r}.")
    except InvalidOperation as error:
        raise ValueError(f"{field} must be a number, got {value!r}.") from error
    if not result.is_finite():
        raise ValueError(f"{field} must be finite, got {value!r}.")
    return result


def _energy_structure(record: Mapping[str, Any]) -> EnergyStructure:
    structure = record.get("energyratestructure")
    if not isinstance(structure, list) or not structure:
        raise ValueError("energyratestructure is missing or empty: the rate has no energy charge.")
    periods: dict[str, tuple[Tier, ...]] = {}
    for index, period in enumerate(structure):
        if not isinstance(period, list) or not period:
            raise ValueError(f"energyratestructure[{index}] must be a non-empty list of tiers.")
        tiers = []
        for position, tier in enumerate(period):
            where = f"energyratestructure[{index}][{position}]"
            if not isinstance(tier, Mapping):
                raise ValueError(f"{where} must be an object.")
            rate = _number(tier.get("rate", 0), field=f"{where}.rate")
            rate += _number(tier.get("adj", 0), field=f"{where}.adj")
            last = position == len(period) - 1
            if last:
                upto = None  # URDB: usage beyond the last max is billed at the last tier's rate
            elif tier.get("max") is None:
                raise ValueError(f"{where} has no 'max' but is not the last tier.")
            else:
                upto = _number(tier["max"], field=f"{where}.max")
            tiers.append(Tier(upto, rate))
        periods[f"P{index}"] = tuple(tiers)
    weekday = _schedule(record, "energyweekdayschedule", len(structure))
    weekend_raw = record.get("energyweekendschedule")
    weekend = (
        weekday
        if weekend_raw is None
        else _schedule(record, "energyweekendschedule", len(structure))
    )
    return EnergyStructure(periods, weekday, weekend)


def _schedule(
    record: Mapping[str, Any], key: str, period_count: int
) -> tuple[tuple[str, ...], ...]:
    matrix = record.get(key)
    if not isinstance(matrix, list) or len(matrix) != 12:
        raise ValueError(f"{key} must be a 12x24 matrix (12 months).")
    rows = []
    for month, row in enumerate(matrix, start=1):
        if not isinstance(row, list) or len(row) != 24:
            raise ValueError(f"{key} month {month} must have 24 hours.")
        keys = []
        for hour, value in enumerate(row):
            number = _number(value, field=f"{key} month {month} hour {hour}")
            if number != number.to_integral_value() or not 0 <= number < period_count:
                raise ValueError(
                    f"{key} month {month} hour {hour}: period index {value!r} is not one of the "
                    f"{period_count} periods of energyratestructure."
                )
            keys.append(f"P{int(number)}")
        rows.append(tuple(keys))
    return tuple(rows)


def _fixed_charges(record: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """(fixed monthly charge, standing charge per day)."""
    if record.get("fixedchargefirstmeter") is not None:
        amount = _number(record["fixedchargefirstmeter"], field="fixedchargefirstmeter")
        if (record.get("fixedchargeunits") or _MONTHLY) == _DAILY:
            return Decimal(0), amount
        return amount, Decimal(0)
    if record.get("fixedmonthlycharge") is not None:  # legacy URDB field, $/month
        return _number(record["fixedmonthlycharge"], field="fixedmonthlycharge"), Decimal(0)
    return Decimal(0), Decimal(0)


def _minimum_charge(record: Mapping[str, Any]) -> Decimal | None:
    for key in ("mincharge", "minmonthlycharge"):  # minmonthlycharge is the legacy field
        if _present(record.get(key)):
            return _number(record[key], field=key)
    return None


def _date(value: object, *, field: str) -> dt.date | None:
    """URDB dates are epoch seconds or 'YYYY-MM-DD hh:mm:ss'; keep the calendar date."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError as error:
            raise ValueError(f"{field} is not a date: {value!r}.") from error
    seconds = _number(value, field=field)
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC).date()
