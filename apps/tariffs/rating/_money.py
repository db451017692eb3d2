"""Decimal arithmetic for the rating engine: one context, one rounding rule, strict inputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from apps.core.money import CENT, round_money

__all__ = [
    "CENT",
    "ENERGY_QUANTUM",
    "KWH_DISPLAY",
    "PRECISION",
    "as_decimal",
    "money_context",
    "round_money",
    "share",
]

#: Significant digits for every intermediate result (decimal128 has 34; we keep headroom).
PRECISION = 50

#: Energy is exact internally; this is the display step (3 places of kWh).
KWH_DISPLAY = Decimal("0.001")

#: Grid for *derived* energy (pro-rata pieces of a reading, tier shares): 1 microwatt-hour.
#: Measured readings are kept as given; a share is quantized to this grid and the last share
#: takes the remainder, so parts always add up exactly to the whole, in any decimal context.
ENERGY_QUANTUM = Decimal("1e-9")


def share(whole: Decimal, part: int | Decimal, of: int | Decimal) -> Decimal:
    """``whole x part / of`` on the energy grid; the caller gives the last part the remainder."""
    return (whole * part / of).quantize(ENERGY_QUANTUM, rounding=ROUND_HALF_EVEN)


@contextmanager
def money_context() -> Iterator[None]:
    """Run the block in a private decimal context (prec 50, banker's rounding for
    intermediate results; money is rounded explicitly, half-up, by ``round_money``)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        yield


def as_decimal(value: object, *, field: str) -> Decimal:
    """Return ``value`` as a finite Decimal; accept Decimal or int, refuse float and the rest.

    Raises:
        TypeError: ``value`` is a float, bool, str or anything but Decimal/int.
        ValueError: ``value`` is NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(
            f"{field} must be a Decimal (or int), not {type(value).__name__}: "
            "floats are never accepted for money or energy."
        )
    result = value if isinstance(value, Decimal) else Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{field} must be a finite number, got {result}.")
    return result
