"""Money and energy helpers: Decimal only, one rounding rule, stated once."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
WATT_HOUR = Decimal("0.001")
RATE_PLACES = Decimal("0.000001")

MONEY_DIGITS = 14
MONEY_PLACES = 2
ENERGY_DIGITS = 14
ENERGY_PLACES = 3
RATE_DIGITS = 16
RATE_PLACES_COUNT = 8


def round_money(amount: Decimal) -> Decimal:
    """Round an amount half-up to the cent. Call once, at the line."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def round_energy(kwh: Decimal) -> Decimal:
    """Round an energy quantity half-up to the watt-hour (3 places of kWh)."""
    return kwh.quantize(WATT_HOUR, rounding=ROUND_HALF_UP)
