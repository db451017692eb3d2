"""Customer segmentation: annual consumption band and solar, derived from meter readings.

Two parts:

- ``consumption_band`` and ``segments_evaluate`` are the rules, pure functions
  over plain values (no ORM, no clock): annual kWh → band with the limits
  2,500 / 5,000 / 15,000 kWh (a limit belongs to the band above it), and
  "has solar" = any export in the last 12 months.
- ``customer_segments_refresh`` gathers the inputs for one customer and writes
  the result on the customer (``annual_kwh``, ``consumption_band``,
  ``has_solar``, ``segments_refreshed_at``).

It lives in ``contracts`` because contracts is the lowest app that sees
customers, supply points and readings together: readings count for a customer
only while one of their accounts held a contract for the supply point. The
staff flags (has EV, vulnerable) are set by hand in the admin, not here.
Run it for everyone with ``manage.py refresh_segments`` (decision 0404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from auditlog.context import set_actor
from django.db import transaction
from django.db.models import Q

from apps.accounts.models import Customer, User
from apps.contracts.models import Contract
from apps.core import clock
from apps.metering import selectors as metering_selectors

Band = Customer.ConsumptionBand

YEAR_DAYS = 365
MIN_COVERED_DAYS = 28  # less than four weeks of supply says too little about a year
BAND_LIMITS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(2500), Band.LOW),
    (Decimal(5000), Band.MEDIUM),
    (Decimal(15000), Band.HIGH),
)
_KWH = Decimal("0.001")


class InvalidSegmentInput(ValueError):
    """A naive ``now`` or a negative quantity; the message names the input."""


@dataclass(frozen=True, slots=True)
class Segments:
    annual_kwh: Decimal | None
    consumption_band: str
    has_solar: bool


def consumption_band(annual_kwh: Decimal | None) -> str:
    """The band of a yearly consumption; ``UNKNOWN`` when it is not known."""
    if annual_kwh is None:
        return Band.UNKNOWN
    for limit, band in BAND_LIMITS:
        if annual_kwh < limit:
            return band
    return Band.VERY_HIGH


def segments_evaluate(*, import_kwh: Decimal, covered_days: Decimal, exported: bool) -> Segments:
    """Apply the segment rules to a customer's last 12 months.

    ``import_kwh`` is the energy imported while supplied, ``covered_days`` how
    many of the last 365 days they were supplied (capped at 365). With under
    ``MIN_COVERED_DAYS`` days of supply, or no energy at all (no readings), the
    band is ``UNKNOWN``; with less than a year it is scaled to a year.
    Raises ``InvalidSegmentInput`` for negative inputs.
    """
    if import_kwh < 0:
        raise InvalidSegmentInput("import_kwh: must not be negative.")
    if covered_days < 0:
        raise InvalidSegmentInput("covered_days: must not be negative.")
    days = min(covered_days, Decimal(YEAR_DAYS))
    if days < MIN_COVERED_DAYS or import_kwh == 0:
        return Segments(annual_kwh=None, consumption_band=Band.UNKNOWN, has_solar=exported)
    annual = (import_kwh * YEAR_DAYS / days).quantize(_KWH, rounding=ROUND_HALF_UP)
    return Segments(
        annual_kwh=annual, consumption_band=consumption_band(annual), has_solar=exported
    )


@transaction.atomic
def customer_segments_refresh(
    *, customer: Customer, now: dt.datetime, actor: User | None = None
) -> Segments:
    """Recompute and store the customer's consumption band and solar flag as of ``now``.

    The window is the 365 days before ``now``; for each non-cancelled contract
    of the customer's accounts, the readings of its supply point count for the
    part of its [start, end) inside the window. Idempotent: re-running with the
    same readings writes the same values (only the refresh time moves, and that
    alone leaves no audit entry). Raises ``InvalidSegmentInput`` for a naive ``now``.
    """
    try:
        clock.require_aware(now, field="now")
    except ValueError as exc:
        raise InvalidSegmentInput(str(exc)) from None
    since = now - dt.timedelta(days=YEAR_DAYS)
    zone = clock.local_zone()
    contracts = (
        Contract.objects.filter(account__customer_id=customer.pk)
        .exclude(status=Contract.Status.CANCELLED)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=since.astimezone(zone).date()))
        .filter(start_date__lte=now.astimezone(zone).date())
        .order_by("start_date", "id")
        .values_list("supply_point_id", "start_date", "end_date")
    )
    import_kwh = Decimal(0)
    covered = dt.timedelta(0)
    supply_point_ids: set[int] = set()
    exported = False
    for supply_point_id, start_date, end_date in contracts:
        start = max(clock.local_midnight(start_date, zone), since)
        end = min(clock.local_midnight(end_date, zone), now) if end_date else now
        if end <= start:
            continue
        supply_point_ids.add(supply_point_id)
        covered += end - start
        import_kwh += metering_selectors.total_import_kwh(
            supply_point_ids=[supply_point_id], start=start, end=end
        )
        # Only export during the customer's own contract counts (not the next occupant's).
        exported = exported or metering_selectors.has_export(
            supply_point_ids=[supply_point_id], since=start, until=end
        )
    result = segments_evaluate(
        import_kwh=import_kwh,
        covered_days=Decimal(covered.total_seconds()) / Decimal(86400),
        exported=exported,
    )
    _store(customer=customer, result=result, now=now, actor=actor)
    return result


def _store(*, customer: Customer, result: Segments, now: dt.datetime, actor: User | None) -> None:
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    values = {
        "annual_kwh": result.annual_kwh,
        "consumption_band": result.consumption_band,
        "has_solar": result.has_solar,
    }
    changed = [field for field, value in values.items() if getattr(locked, field) != value]
    if not changed:
        # Bookkeeping only: an update() leaves no audit entry for an unchanged segment.
        Customer.objects.filter(pk=customer.pk).update(segments_refreshed_at=now)
    else:
        for field, value in values.items():
            setattr(locked, field, value)
        locked.segments_refreshed_at = now
        if actor is None:
            locked.save(update_fields=[*values, "segments_refreshed_at"])
        else:
            with set_actor(actor):
                locked.save(update_fields=[*values, "segments_refreshed_at"])
    for field, value in values.items():
        setattr(customer, field, value)
    customer.segments_refreshed_at = now
