"""Plain, immutable data for rating: what a tariff says and what a bill line is.

Constructors validate and normalise (ints become Decimals, sequences become tuples); floats are
refused everywhere. Nothing here knows about Django, the database or the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal, TypeAlias

from ._calendar import MINUTE_US, require_aware, to_us
from ._money import KWH_DISPLAY, as_decimal

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

STANDING_CHARGE: Final = "STANDING_CHARGE"
FIXED_CHARGE: Final = "FIXED_CHARGE"
ENERGY: Final = "ENERGY"
DYNAMIC_ENERGY: Final = "DYNAMIC_ENERGY"
EXPORT_CREDIT: Final = "EXPORT_CREDIT"
DISCOUNT: Final = "DISCOUNT"
MINIMUM_CHARGE: Final = "MINIMUM_CHARGE"
TAX: Final = "TAX"

#: Output order of line components (then starts_at, period, tier).
COMPONENTS: Final[tuple[str, ...]] = (
    STANDING_CHARGE,
    FIXED_CHARGE,
    ENERGY,
    DYNAMIC_ENERGY,
    EXPORT_CREDIT,
    DISCOUNT,
    MINIMUM_CHARGE,
    TAX,
)
#: Components a tax base may name (besides the codes of earlier taxes).
TAXABLE_COMPONENTS: Final = frozenset(COMPONENTS) - {TAX}

ENERGY_PERCENT_KIND: Final = "ENERGY_PERCENT"
DAILY_CREDIT_KIND: Final = "DAILY_CREDIT"

#: Period key used by the flat and tiered constructors.
SINGLE_PERIOD: Final = "ALL"

Unit: TypeAlias = Literal["kWh", "day", "month", "%"]
DiscountKind: TypeAlias = Literal["ENERGY_PERCENT", "DAILY_CREDIT"]
Schedule: TypeAlias = tuple[tuple[str, ...], ...]


class RatingError(Exception):
    """Base class of the domain outcomes ``rate()`` can report."""


class NoPriceInForce(RatingError):
    """No price version is valid at ``at`` (the first uncovered instant of the period)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at
        super().__init__(f"No price version in force at {at.isoformat()}.")


class MissingMarketPrice(RatingError):
    """A dynamic tariff needs the market price of ``hour`` (UTC hour start) and has none."""

    def __init__(self, hour: dt.datetime) -> None:
        self.hour = hour
        super().__init__(f"No market price for the hour starting {hour.isoformat()}.")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _optional_decimal(value: object, *, field: str) -> Decimal | None:
    return None if value is None else as_decimal(value, field=field)


def _check_window(valid_from: dt.datetime, valid_to: dt.datetime | None, *, owner: str) -> None:
    require_aware(valid_from, field=f"{owner}.valid_from")
    if valid_to is not None:
        require_aware(valid_to, field=f"{owner}.valid_to")
        if valid_to <= valid_from:
            raise ValueError(
                f"{owner}.valid_to ({valid_to.isoformat()}) must be after valid_from "
                f"({valid_from.isoformat()}); validity is half-open [valid_from, valid_to)."
            )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """Metered energy over [start, start + minutes); start is aware (normally UTC)."""

    start: dt.datetime
    minutes: int
    kwh_import: Decimal
    kwh_export: Decimal = Decimal(0)
    #: start and end as epoch microseconds, computed once (an interval is rated many times).
    span_us: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_aware(self.start, field="Interval.start")
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, int):
            raise TypeError(f"Interval.minutes must be an int, got {self.minutes!r}.")
        if self.minutes <= 0:
            raise ValueError(f"Interval.minutes must be positive, got {self.minutes}.")
        start_us = to_us(self.start)
        _set(self, "span_us", (start_us, start_us + self.minutes * MINUTE_US))
        for name in ("kwh_import", "kwh_export"):
            value = as_decimal(getattr(self, name), field=f"Interval.{name}")
            if value < 0:
                raise ValueError(f"Interval.{name} must not be negative, got {value}.")
            _set(self, name, value)


@dataclass(frozen=True, slots=True)
class Tier:
    """A block: energy up to ``upto_kwh`` of the period's total is priced at ``rate``.

    ``upto_kwh`` is the cumulative upper bound (URDB ``max``); None means unlimited.
    """

    upto_kwh: Decimal | None
    rate: Decimal

    def __post_init__(self) -> None:
        upto = _optional_decimal(self.upto_kwh, field="Tier.upto_kwh")
        if upto is not None and upto <= 0:
            raise ValueError(f"Tier.upto_kwh must be positive or None, got {upto}.")
        _set(self, "upto_kwh", upto)
        _set(self, "rate", as_decimal(self.rate, field="Tier.rate"))


def _check_tiers(key: str, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    result = tuple(tiers)
    if not result:
        raise ValueError(f"period {key!r} has no tiers.")
    for tier in result:
        if not isinstance(tier, Tier):
            raise TypeError(f"period {key!r}: tiers must be Tier objects, got {tier!r}.")
    if result[-1].upto_kwh is not None:
        raise ValueError(f"period {key!r}: the last tier must be unlimited (upto_kwh=None).")
    bounds = [tier.upto_kwh for tier in result[:-1]]
    for position, bound in enumerate(bounds, start=1):
        if bound is None:
            raise ValueError(f"period {key!r}: only the last tier may be unlimited.")
        if position > 1:
            previous = bounds[position - 2]
            assert previous is not None
            if bound <= previous:
                raise ValueError(
                    f"period {key!r}: tier bounds must increase (tier {position} upto {bound} "
                    f"<= {previous})."
                )
    return result


def _check_schedule(name: str, schedule: Sequence[Sequence[str]], keys: Iterable[str]) -> Schedule:
    rows = tuple(tuple(row) for row in schedule)
    if len(rows) != 12:
        raise ValueError(f"{name} must have 12 rows (months), got {len(rows)}.")
    known = set(keys)
    for month, row in enumerate(rows, start=1):
        if len(row) != 24:
            raise ValueError(f"{name} month {month} must have 24 hours, got {len(row)}.")
        for hour, key in enumerate(row):
            if key not in known:
                raise ValueError(
                    f"{name} month {month} hour {hour} names period {key!r}, which is not in "
                    f"periods {sorted(known)}."
                )
    return rows


def repeat_monthly(day: Sequence[str]) -> Schedule:
    """A 12x24 schedule that uses the same 24 hourly period keys in every month."""
    row = tuple(day)
    if len(row) != 24:
        raise ValueError(f"a daily schedule must have 24 hours, got {len(row)}.")
    return (row,) * 12


@dataclass(frozen=True, slots=True)
class EnergyStructure:
    """Energy charge: periods (each a list of tiers) chosen by local month x hour.

    The weekend schedule applies on Saturdays, Sundays and ``holidays`` (local dates). Tiers
    count the total import of the rated period across all periods (URDB semantics).
    """

    periods: Mapping[str, Sequence[Tier]]
    weekday_schedule: Schedule
    weekend_schedule: Schedule
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("EnergyStructure.periods must name at least one period.")
        periods = {}
        for key, tiers in self.periods.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"period keys must be non-empty strings, got {key!r}.")
            periods[key] = _check_tiers(key, tiers)
        _set(self, "periods", periods)  # a private copy; pickles (MappingProxyType would not)
        _set(
            self,
            "weekday_schedule",
            _check_schedule("weekday_schedule", self.weekday_schedule, periods),
        )
        _set(
            self,
            "weekend_schedule",
            _check_schedule("weekend_schedule", self.weekend_schedule, periods),
        )
        holidays = frozenset(self.holidays)
        for day in holidays:
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise TypeError(f"holidays must be dates, got {day!r}.")
        _set(self, "holidays", holidays)

    @classmethod
    def flat(cls, rate: Decimal) -> EnergyStructure:
        """One rate for every kWh."""
        return cls.tiered([Tier(None, rate)])

    @classmethod
    def tiered(cls, tiers: Sequence[Tier]) -> EnergyStructure:
        """Block rates over the period's total kWh, same at every hour."""
        schedule = repeat_monthly([SINGLE_PERIOD] * 24)
        return cls({SINGLE_PERIOD: tuple(tiers)}, schedule, schedule)

    @classmethod
    def time_of_use(
        cls,
        periods: Mapping[str, Decimal | Sequence[Tier]],
        weekday_schedule: Sequence[Sequence[str]],
        weekend_schedule: Sequence[Sequence[str]] | None = None,
        holidays: Iterable[dt.date] = frozenset(),
    ) -> EnergyStructure:
        """Periods by local month x hour; a period is a single rate or a list of tiers.

        Without ``weekend_schedule`` the weekday schedule applies every day.
        """
        normalised: dict[str, Sequence[Tier]] = {}
        for key, value in periods.items():
            if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
                normalised[key] = (Tier(None, Decimal(value)),)
            elif isinstance(value, Sequence) and not isinstance(value, str):
                normalised[key] = tuple(value)
            else:
                raise TypeError(
                    f"period {key!r} must be a Decimal rate or a sequence of Tier, got {value!r}."
                )
        weekday = tuple(tuple(row) for row in weekday_schedule)
        weekend = weekday if weekend_schedule is None else tuple(map(tuple, weekend_schedule))
        return cls(normalised, weekday, weekend, frozenset(holidays))

    def period_at(self, local_date: dt.date, month: int, hour: int) -> str:
        """Period key in force at local ``hour`` of ``local_date`` (``month`` is its month)."""
        if local_date.weekday() >= 5 or local_date in self.holidays:
            return self.weekend_schedule[month - 1][hour]
        return self.weekday_schedule[month - 1][hour]


@dataclass(frozen=True, slots=True)
class DynamicEnergy:
    """Indexed energy: unit price = clamp(market price x factor + margin, floor, cap)."""

    factor: Decimal
    margin: Decimal
    floor: Decimal | None = None
    cap: Decimal | None = None

    def __post_init__(self) -> None:
        _set(self, "factor", as_decimal(self.factor, field="DynamicEnergy.factor"))
        _set(self, "margin", as_decimal(self.margin, field="DynamicEnergy.margin"))
        floor = _optional_decimal(self.floor, field="DynamicEnergy.floor")
        cap = _optional_decimal(self.cap, field="DynamicEnergy.cap")
        if floor is not None and cap is not None and floor > cap:
            raise ValueError(f"DynamicEnergy.floor ({floor}) is above cap ({cap}).")
        _set(self, "floor", floor)
        _set(self, "cap", cap)

    def unit_price(self, market_price: Decimal) -> Decimal:
        """Retail unit price for one hour's market price (never rounded)."""
        price = market_price * self.factor + self.margin
        if self.floor is not None and price < self.floor:
            return self.floor
        if self.cap is not None and price > self.cap:
            return self.cap
        return price


@dataclass(frozen=True, slots=True)
class Tax:
    """A percentage on the sum of rounded lines of ``base`` (components or earlier tax codes)."""

    code: str
    name: str
    rate_percent: Decimal
    base: frozenset[str]

    def __post_init__(self) -> None:
        if not self.code or self.code in COMPONENTS:
            raise ValueError(
                f"Tax.code must be a non-empty code distinct from line components, "
                f"got {self.code!r}."
            )
        _set(self, "rate_percent", as_decimal(self.rate_percent, field="Tax.rate_percent"))
        if isinstance(self.base, str):
            raise TypeError("Tax.base must be a set of names, not a string.")
        base = frozenset(self.base)
        if not base:
            raise ValueError(f"Tax {self.code!r} has an empty base.")
        _set(self, "base", base)


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """The prices of a tariff valid over [valid_from, valid_to)."""

    valid_from: dt.datetime
    valid_to: dt.datetime | None
    standing_charge_per_day: Decimal
    energy: EnergyStructure | DynamicEnergy
    export_rate: Decimal | None = None
    fixed_monthly_charge: Decimal = Decimal(0)
    minimum_monthly_charge: Decimal | None = None
    taxes: tuple[Tax, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        owner = f"PriceVersion {self.label!r}"
        _check_window(self.valid_from, self.valid_to, owner=owner)
        _set(
            self,
            "standing_charge_per_day",
            as_decimal(self.standing_charge_per_day, field=f"{owner}.standing_charge_per_day"),
        )
        if not isinstance(self.energy, (EnergyStructure, DynamicEnergy)):
            raise TypeError(f"{owner}.energy must be an EnergyStructure or DynamicEnergy.")
        _set(
            self,
            "export_rate",
            _optional_decimal(self.export_rate, field=f"{owner}.export_rate"),
        )
        _set(
            self,
            "fixed_monthly_charge",
            as_decimal(self.fixed_monthly_charge, field=f"{owner}.fixed_monthly_charge"),
        )
        _set(
            self,
            "minimum_monthly_charge",
            _optional_decimal(self.minimum_monthly_charge, field=f"{owner}.minimum_monthly_charge"),
        )
        taxes = tuple(self.taxes)
        seen: set[str] = set()
        for tax in taxes:
            if not isinstance(tax, Tax):
                raise TypeError(f"{owner}.taxes must hold Tax objects, got {tax!r}.")
            if tax.code in seen:
                raise ValueError(f"{owner}: tax code {tax.code!r} appears twice.")
            unknown = tax.base - TAXABLE_COMPONENTS - seen
            if unknown:
                raise ValueError(
                    f"{owner}: tax {tax.code!r} base names {sorted(unknown)}, which are neither "
                    f"line components {sorted(TAXABLE_COMPONENTS)} nor earlier tax codes."
                )
            seen.add(tax.code)
        _set(self, "taxes", taxes)


@dataclass(frozen=True, slots=True)
class Discount:
    """ENERGY_PERCENT: value % off energy lines; DAILY_CREDIT: value per local day."""

    kind: DiscountKind
    value: Decimal
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    label: str = ""

    def __post_init__(self) -> None:
        owner = f"Discount {self.label!r}"
        if self.kind not in ("ENERGY_PERCENT", "DAILY_CREDIT"):
            raise ValueError(
                f"{owner}.kind must be 'ENERGY_PERCENT' or 'DAILY_CREDIT', got {self.kind!r}."
            )
        value = as_decimal(self.value, field=f"{owner}.value")
        if value < 0 or (self.kind == "ENERGY_PERCENT" and value > 100):
            raise ValueError(f"{owner}.value {value} is out of range.")
        _set(self, "value", value)
        _check_window(self.valid_from, self.valid_to, owner=owner)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PricedLine:
    """One bill line. ``amount`` is rounded once, half-up to the cent.

    amount == round(quantity x unit_price), or round(quantity x unit_price / 100) when unit is
    "%" (quantity is then the percentage and unit_price the base amount). Credits carry a
    negative unit_price (EXPORT_CREDIT, DAILY_CREDIT) or a negative percentage (DISCOUNT).
    ``period`` is the time-of-use period key (the tax code for TAX lines, "" when not
    applicable); ``tier`` is 1-based, None when the period has a single tier.
    """

    component: str
    period: str
    tier: int | None
    version_label: str
    quantity: Decimal
    unit: Unit
    unit_price: Decimal
    amount: Decimal
    starts_at: dt.datetime
    ends_at: dt.datetime
    label: str = field(default="")

    @property
    def quantity_display(self) -> Decimal:
        """Quantity for display: kWh to 0.001 (half-up); other units unchanged."""
        if self.unit == "kWh":
            return self.quantity.quantize(KWH_DISPLAY, rounding=ROUND_HALF_UP)
        return self.quantity


@dataclass(frozen=True, slots=True)
class RatingResult:
    """The priced lines of one period and their sums."""

    lines: tuple[PricedLine, ...]
    total: Decimal
    subtotal_before_tax: Decimal
    kwh_import_total: Decimal
    kwh_export_total: Decimal

    def amount_of(self, component: str) -> Decimal:
        """Sum of the amounts of all lines of ``component``."""
        return sum((line.amount for line in self.lines if line.component == component), Decimal(0))

    def quantity_of(self, component: str) -> Decimal:
        """Sum of the quantities of all lines of ``component``."""
        return sum(
            (line.quantity for line in self.lines if line.component == component), Decimal(0)
        )
