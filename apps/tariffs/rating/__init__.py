"""Pure tariff rating: plain data in, priced bill lines out.

No Django, no database, no clock, no settings: callers load tariffs and readings, convert them
to these dataclasses and call :func:`rate`. See docs/decisions/0101-rating-engine.md.
"""

from ._calendar import month_bounds
from ._engine import rate
from ._model import (
    COMPONENTS,
    DISCOUNT,
    DYNAMIC_ENERGY,
    ENERGY,
    EXPORT_CREDIT,
    FIXED_CHARGE,
    MINIMUM_CHARGE,
    SINGLE_PERIOD,
    STANDING_CHARGE,
    TAX,
    Discount,
    DynamicEnergy,
    EnergyStructure,
    Interval,
    MissingMarketPrice,
    NoPriceInForce,
    PricedLine,
    PriceVersion,
    RatingError,
    RatingResult,
    Tax,
    Tier,
    repeat_monthly,
)

__all__ = [
    "COMPONENTS",
    "DISCOUNT",
    "DYNAMIC_ENERGY",
    "ENERGY",
    "EXPORT_CREDIT",
    "FIXED_CHARGE",
    "MINIMUM_CHARGE",
    "SINGLE_PERIOD",
    "STANDING_CHARGE",
    "TAX",
    "Discount",
    "DynamicEnergy",
    "EnergyStructure",
    "Interval",
    "MissingMarketPrice",
    "NoPriceInForce",
    "PriceVersion",
    "PricedLine",
    "RatingError",
    "RatingResult",
    "Tax",
    "Tier",
    "month_bounds",
    "rate",
    "repeat_monthly",
]
