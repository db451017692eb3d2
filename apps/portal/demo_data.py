"""Synthetic but plausible data for demonstrations: household load, solar export, market prices.

Deterministic (seeded) so `seed_demo` is repeatable. Values are Decimal kWh to 3 places.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

MADRID = ZoneInfo("Europe/Madrid")
_MILLI = Decimal("0.001")
_MICRO = Decimal("0.000001")

# Share of a day's household use by local hour (sums to 1): night base, morning and evening peaks.
_HOURLY_SHAPE = [
    0.026,
    0.022,
    0.020,
    0.019,
    0.019,
    0.021,
    0.030,
    0.042,
    0.047,
    0.041,
    0.038,
    0.038,
    0.041,
    0.045,
    0.043,
    0.037,
    0.036,
    0.040,
    0.050,
    0.062,
    0.068,
    0.066,
    0.054,
    0.037,
]
# Relative use by month (winter heating and summer cooling higher).
_MONTH_FACTOR = [1.25, 1.15, 1.0, 0.9, 0.85, 0.95, 1.15, 1.15, 0.95, 0.9, 1.05, 1.25]


def hourly_readings(
    *,
    start: dt.datetime,
    hours: int,
    annual_kwh: float,
    seed: int,
    solar_kwp: float = 0.0,
    tz: ZoneInfo = MADRID,
) -> Iterator[tuple[dt.datetime, Decimal, Decimal]]:
    """Yield (UTC hour start, kWh import, kWh export) for ``hours`` hours from ``start``."""
    rng = random.Random(seed)
    daily_mean = annual_kwh / 365.0
    for index in range(hours):
        at = (start + dt.timedelta(hours=index)).astimezone(dt.UTC)
        local = at.astimezone(tz)
        demand = daily_mean * _MONTH_FACTOR[local.month - 1] * _HOURLY_SHAPE[local.hour]
        if local.weekday() >= 5:
            demand *= 1.1
        demand *= rng.uniform(0.75, 1.3)
        generation = 0.0
        if solar_kwp:
            day_of_year = local.timetuple().tm_yday
            day_length = 12 + 2.5 * math.sin(2 * math.pi * (day_of_year - 80) / 365)
            sunrise = 13 - day_length / 2
            position = (local.hour + 0.5 - sunrise) / day_length
            if 0 < position < 1:
                clear_sky = math.sin(math.pi * position) * solar_kwp * 0.8
                generation = clear_sky * rng.uniform(0.5, 1.0)
        net = demand - generation
        kwh_import = Decimal(str(max(net, 0.0))).quantize(_MILLI)
        kwh_export = Decimal(str(max(-net, 0.0))).quantize(_MILLI)
        yield at, kwh_import, kwh_export


def hourly_market_prices(
    *, start: dt.datetime, hours: int, seed: int, tz: ZoneInfo = MADRID
) -> Iterator[tuple[dt.datetime, Decimal]]:
    """Yield (UTC hour start, EUR/kWh) day-ahead-like prices: cheap at night and midday sun."""
    rng = random.Random(seed)
    for index in range(hours):
        at = (start + dt.timedelta(hours=index)).astimezone(dt.UTC)
        local = at.astimezone(tz)
        base = 0.085 + 0.02 * math.cos(2 * math.pi * (local.month - 1) / 12)
        evening = 0.045 if 19 <= local.hour <= 22 else 0.0
        morning = 0.02 if 7 <= local.hour <= 9 else 0.0
        solar_dip = -0.035 if 11 <= local.hour <= 16 and 4 <= local.month <= 9 else 0.0
        price = max(base + evening + morning + solar_dip + rng.gauss(0, 0.012), 0.0)
        yield at, Decimal(str(price)).quantize(_MICRO)
