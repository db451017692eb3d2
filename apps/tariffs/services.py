"""Tariff use cases: import from URDB, what-if pricing of readings, price-version validation.

Every function is keyword-only and names the exceptions it raises; those exceptions are
defined here and carry messages that name the field (or row) and the reason, so views,
the admin and management commands only translate them.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import IO, TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditlog.context import set_actor
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.tariffs import rating, selectors
from apps.tariffs.models import RATE_DIGITS, RATE_PLACES, EnergyRate, PriceVersion, Tariff, TaxRate
from apps.tariffs.rating.urdb import UnsupportedUrdbFeature, UrdbTariff, parse_urdb

if TYPE_CHECKING:
    from apps.accounts.models import User

__all__ = [
    "MAX_READING_ERRORS",
    "MonthResult",
    "ReadingsFileInvalid",
    "ReadingsNotPriceable",
    "TariffCodeTaken",
    "TariffError",
    "UrdbImportRefused",
    "price_version_validate",
    "price_version_validate_fields",
    "price_version_validate_rates",
    "price_version_validate_taxes",
    "shown_quantity",
    "shown_unit_price",
    "tariff_import_urdb",
    "tariff_price_readings",
    "urdb_read_json",
]

#: A readings file stops being checked after this many bad rows (the rest would be noise).
MAX_READING_ERRORS = 20
_CODE_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
_CODE_MAX = Tariff._meta.get_field("code").max_length or 40
_UPTO_PLACES = 3
_UPTO_DIGITS = 12
_SECTOR_SEGMENT = {
    "residential": Tariff.Segment.RESIDENTIAL,
    "commercial": Tariff.Segment.COMMERCIAL,
    "industrial": Tariff.Segment.COMMERCIAL,
    "lighting": Tariff.Segment.COMMERCIAL,
}


# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------


class TariffError(Exception):
    """Base class of the anticipated failures of tariff services."""


class TariffCodeTaken(TariffError):
    """A tariff with this code already exists."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(
            _("code: a tariff with code %(code)s already exists; choose another code.")
            % {"code": code}
        )


class UrdbImportRefused(TariffError):
    """The URDB data or an import option cannot be turned into a tariff (message says why).

    ``field`` names the input at fault: "file", "code" or "time_zone".
    """

    def __init__(self, message: str, *, field: str = "file") -> None:
        self.field = field
        super().__init__(message)


class ReadingsFileInvalid(TariffError):
    """The readings CSV has bad rows; ``errors`` holds one message per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class ReadingsNotPriceable(TariffError):
    """The readings are well formed but the tariff cannot price them (no version, no price)."""


# ---------------------------------------------------------------------------------------------
# Import from OpenEI URDB
# ---------------------------------------------------------------------------------------------


def urdb_read_json(*, stream: IO[str] | IO[bytes]) -> dict[str, Any]:
    """Read a URDB JSON document (numbers as Decimal, never float).

    Raises:
        UrdbImportRefused: the file is not UTF-8 JSON or not a JSON object.
    """
    raw = stream.read()
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_float=Decimal)
    except UnicodeDecodeError as error:
        raise UrdbImportRefused(
            _("file: not UTF-8 text (%(error)s).") % {"error": error}
        ) from error
    except json.JSONDecodeError as error:
        raise UrdbImportRefused(
            _("file: not valid JSON (line %(line)s, column %(column)s: %(reason)s).")
            % {"line": error.lineno, "column": error.colno, "reason": error.msg}
        ) from error
    if not isinstance(data, dict):
        raise UrdbImportRefused(_("file: a URDB rate must be a JSON object."))
    return data


def tariff_import_urdb(
    *,
    data: Mapping[str, Any],
    code: str,
    time_zone: str,
    valid_from: dt.date,
    actor: User | None,
) -> Tariff:
    """Create a tariff with one price version from a URDB rate record (or ``{"items": [..]}``).

    The tariff is created hidden from the catalogue (``is_public=False``) so staff can
    review its conditions before publishing it; its version is in force from ``valid_from``
    (open ended) in ``time_zone``. Everything is created in one transaction and audited as
    done by ``actor`` (None: the system).

    Raises:
        UrdbImportRefused: bad code or time zone, unsupported URDB features (the message names
            them), a malformed record (the message names the field), or prices with more
            decimal places than Wattline stores.
        TariffCodeTaken: a tariff with ``code`` already exists.
    """
    code = code.strip()
    _check_code(code)
    _check_time_zone(time_zone)
    try:
        parsed = parse_urdb(data)
    except UnsupportedUrdbFeature as error:
        raise UrdbImportRefused(
            _("This URDB rate cannot be imported: it uses %(features)s.")
            % {"features": "; ".join(error.features)}
        ) from error
    except (ValueError, TypeError) as error:
        raise UrdbImportRefused(
            _("This URDB rate is malformed: %(reason)s") % {"reason": error}
        ) from error
    _check_storable(parsed)
    try:
        with transaction.atomic(), set_actor(actor):
            if Tariff.objects.filter(code=code).exists():
                raise TariffCodeTaken(code)
            return _create_from_urdb(parsed, code=code, time_zone=time_zone, valid_from=valid_from)
    except IntegrityError as error:  # a concurrent import took the code between check and insert
        if Tariff.objects.filter(code=code).exists():
            raise TariffCodeTaken(code) from error
        raise


def _check_code(code: str) -> None:
    if not code:
        raise UrdbImportRefused(_("code: required."), field="code")
    if len(code) > _CODE_MAX or not _CODE_PATTERN.match(code):
        raise UrdbImportRefused(
            _("code: %(code)r must be at most %(max)s letters, digits, hyphens or underscores.")
            % {"code": code, "max": _CODE_MAX},
            field="code",
        )


def _check_time_zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UrdbImportRefused(
            _("time_zone: %(zone)r is not a known IANA time zone (e.g. Europe/Madrid).")
            % {"zone": time_zone},
            field="time_zone",
        ) from error


def _fits(value: Decimal, *, places: int, digits: int) -> bool:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # parse_urdb only returns finite numbers
    if -exponent > places:
        return False
    return abs(value) < Decimal(10) ** (digits - places)


def _check_storable(parsed: UrdbTariff) -> None:
    problems = []
    for key, tiers in parsed.energy.periods.items():
        for position, tier in enumerate(tiers, start=1):
            if not _fits(tier.rate, places=RATE_PLACES, digits=RATE_DIGITS):
                problems.append(
                    _("period %(key)s tier %(tier)s rate %(value)s")
                    % {
                        "key": key,
                        "tier": position,
                        "value": tier.rate,
                    }
                )
            if tier.upto_kwh is not None and not _fits(
                tier.upto_kwh, places=_UPTO_PLACES, digits=_UPTO_DIGITS
            ):
                problems.append(
                    _("period %(key)s tier %(tier)s max %(value)s kWh")
                    % {
                        "key": key,
                        "tier": position,
                        "value": tier.upto_kwh,
                    }
                )
    for name, value in (
        ("fixed charge", parsed.fixed_monthly_charge),
        ("daily charge", parsed.standing_charge_per_day),
        ("minimum charge", parsed.minimum_monthly_charge),
    ):
        if value is not None and not _fits(value, places=RATE_PLACES, digits=RATE_DIGITS):
            problems.append(f"{name} {value}")
    if problems:
        raise UrdbImportRefused(
            _(
                "These prices have more than %(places)s decimal places or are too large to "
                "store without changing them: %(problems)s."
            )
            % {"places": RATE_PLACES, "problems": "; ".join(problems)}
        )


def _energy_kind(energy: rating.EnergyStructure) -> str:
    keys = set(energy.periods)
    if len(keys) == 1:
        (tiers,) = energy.periods.values()
        return PriceVersion.EnergyKind.FLAT if len(tiers) == 1 else PriceVersion.EnergyKind.TIERED
    return PriceVersion.EnergyKind.TIME_OF_USE


def _create_from_urdb(
    parsed: UrdbTariff, *, code: str, time_zone: str, valid_from: dt.date
) -> Tariff:
    description_parts = [parsed.utility, parsed.description]
    if parsed.start_date or parsed.end_date:
        description_parts.append(
            _("URDB effective dates: %(start)s to %(end)s.")
            % {"start": parsed.start_date or "…", "end": parsed.end_date or "…"}
        )
    source = parsed.uri or (f"URDB {parsed.label}" if parsed.label else "URDB")
    tariff = Tariff.objects.create(
        code=code,
        name=(parsed.name or code)[:120],
        description="\n\n".join(part for part in description_parts if part),
        segment=_SECTOR_SEGMENT.get(parsed.sector.strip().lower(), Tariff.Segment.ALL),
        contract_months=0,
        is_public=False,
        time_zone=time_zone,
        currency=parsed.currency,
        source=source[:200],
    )
    kind = _energy_kind(parsed.energy)
    time_of_use = kind == PriceVersion.EnergyKind.TIME_OF_USE
    version = PriceVersion.objects.create(
        tariff=tariff,
        label=(f"URDB {parsed.label}" if parsed.label else "URDB")[:80],
        valid_from=valid_from,
        energy_kind=kind,
        standing_charge_per_day=parsed.standing_charge_per_day,
        fixed_monthly_charge=parsed.fixed_monthly_charge,
        minimum_monthly_charge=parsed.minimum_monthly_charge,
        weekday_schedule=[list(row) for row in parsed.energy.weekday_schedule]
        if time_of_use
        else None,
        weekend_schedule=[list(row) for row in parsed.energy.weekend_schedule]
        if time_of_use
        else None,
    )
    for key, tiers in parsed.energy.periods.items():
        period = key if time_of_use else rating.SINGLE_PERIOD
        index = key[1:] if key.startswith("P") else key
        for position, tier in enumerate(tiers, start=1):
            # One row at a time (not bulk_create) so each row gets its audit entry.
            EnergyRate.objects.create(
                version=version,
                period=period,
                period_name=_("URDB period %(index)s") % {"index": index} if time_of_use else "",
                tier=position,
                upto_kwh=tier.upto_kwh,
                rate=tier.rate,
            )
    try:  # the stored rows must rebuild a valid structure, or nothing is kept
        selectors.energy_structure(version)
    except ValueError as error:
        raise UrdbImportRefused(str(error)) from error
    return tariff


# ---------------------------------------------------------------------------------------------
# What-if pricing of interval readings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthResult:
    """The priced lines of one local calendar month (clipped to the readings)."""

    month: str  # "2026-01"
    period_start: dt.datetime
    period_end: dt.datetime
    lines: tuple[rating.PricedLine, ...]
    total: Decimal
    kwh_import: Decimal
    kwh_export: Decimal


_MONTH_QUANTUM = Decimal("0.000001")


def shown_quantity(line: rating.PricedLine) -> Decimal:
    """A line's quantity as shown to people: kWh to the Wh, month fractions to 6 places,
    percentages and days without trailing zeros."""
    if line.unit == "month":
        return line.quantity.quantize(_MONTH_QUANTUM)
    if line.unit in ("%", "day"):
        value = line.quantity
        return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
    return line.quantity_display


def shown_unit_price(line: rating.PricedLine) -> Decimal:
    """A line's unit price as shown: at most as many places as prices are stored with."""
    exponent = line.unit_price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -RATE_PLACES:
        return line.unit_price.quantize(Decimal(1).scaleb(-RATE_PLACES))
    return line.unit_price


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    interval: rating.Interval


_COLUMNS = ("start", "minutes", "kwh_import", "kwh_export")
_COLUMN_ALIASES = {
    "start": "start",
    "start_at": "start",
    "starts_at": "start",
    "interval_start": "start",
    "minutes": "minutes",
    "duration": "minutes",
    "duration_minutes": "minutes",
    "duration_min": "minutes",
    "kwh_import": "kwh_import",
    "import_kwh": "kwh_import",
    "import": "kwh_import",
    "kwh_export": "kwh_export",
    "export_kwh": "kwh_export",
    "export": "kwh_export",
}


def tariff_price_readings(*, tariff: Tariff, readings_csv: TextIO) -> list[MonthResult]:
    """Price a CSV of interval readings on ``tariff``'s versions, month by month. Stores nothing.

    The CSV has a header row naming the columns ``start`` (ISO 8601 with a UTC offset),
    ``minutes`` (duration), ``kwh_import`` and ``kwh_export`` (may be empty: 0). Rows are
    numbered as in a spreadsheet (the header is row 1). Each local calendar month of the
    tariff's time zone is rated from its first reading to its last reading's end.

    Raises:
        ReadingsFileInvalid: bad header or rows; ``errors`` has one "row N, field: reason"
            message per problem (at most ``MAX_READING_ERRORS``).
        ReadingsNotPriceable: no price version in force, or a missing market price, for
            part of the readings.
    """
    rows = _parse_readings(readings_csv)
    tz = ZoneInfo(tariff.time_zone)
    versions = selectors.rating_versions(tariff)
    if not versions:
        raise ReadingsNotPriceable(
            _("Tariff %(code)s has no price versions.") % {"code": tariff.code}
        )
    intervals = [row.interval for row in rows]
    starts = [interval.start for interval in intervals]
    first = intervals[0].start
    last = max(i.start + dt.timedelta(minutes=i.minutes) for i in intervals)
    longest = dt.timedelta(minutes=max(i.minutes for i in intervals))
    results = []
    for month_start, month_end in _months(first, last, tz):
        period_start, period_end = max(month_start, first), min(month_end, last)
        low = bisect_left(starts, period_start - longest)
        in_month = [
            interval
            for interval in intervals[low : bisect_left(starts, period_end)]
            if interval.start + dt.timedelta(minutes=interval.minutes) > period_start
        ]
        if not in_month:
            continue
        period_start = max(period_start, in_month[0].start)
        period_end = min(
            period_end, max(i.start + dt.timedelta(minutes=i.minutes) for i in in_month)
        )
        result = _rate_month(
            tariff=tariff,
            versions=versions,
            intervals=in_month,
            period_start=period_start,
            period_end=period_end,
            tz=tz,
        )
        local = month_start.astimezone(tz)
        results.append(
            MonthResult(
                month=f"{local.year:04d}-{local.month:02d}",
                period_start=period_start,
                period_end=period_end,
                lines=result.lines,
                total=result.total,
                kwh_import=result.kwh_import_total,
                kwh_export=result.kwh_export_total,
            )
        )
    return results


def _months(
    first: dt.datetime, last: dt.datetime, tz: ZoneInfo
) -> Iterable[tuple[dt.datetime, dt.datetime]]:
    local = first.astimezone(tz)
    year, month = local.year, local.month
    while True:
        start, end = rating.month_bounds(year, month, tz)
        if start >= last:
            return
        yield start, end
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _rate_month(
    *,
    tariff: Tariff,
    versions: Sequence[rating.PriceVersion],
    intervals: Sequence[rating.Interval],
    period_start: dt.datetime,
    period_end: dt.datetime,
    tz: ZoneInfo,
) -> rating.RatingResult:
    try:
        return rating.rate(
            versions=versions,
            intervals=intervals,
            period_start=period_start,
            period_end=period_end,
            tz=tz,
            market_prices=_market_prices(tariff, period_start, period_end, tz),
        )
    except rating.NoPriceInForce as error:
        raise ReadingsNotPriceable(
            _(
                "Tariff %(code)s has no price version in force at %(at)s (%(zone)s); "
                "the readings must lie within its price versions."
            )
            % {
                "code": tariff.code,
                "at": error.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "zone": tariff.time_zone,
            }
        ) from error
    except rating.MissingMarketPrice as error:
        raise ReadingsNotPriceable(
            _(
                "Tariff %(code)s is dynamic and there is no market price for the hour "
                "starting %(hour)s UTC."
            )
            % {"code": tariff.code, "hour": error.hour.strftime("%Y-%m-%d %H:%M")}
        ) from error


def _market_prices(
    tariff: Tariff, period_start: dt.datetime, period_end: dt.datetime, tz: ZoneInfo
) -> dict[dt.datetime, Decimal] | None:
    """Market prices of each dynamic version's series over its part of the period."""
    prices: dict[dt.datetime, Decimal] = {}
    dynamic = [v for v in tariff.versions.all() if v.energy_kind == PriceVersion.EnergyKind.DYNAMIC]
    for version in dynamic:
        start = max(period_start, dt.datetime.combine(version.valid_from, dt.time.min, tz))
        end = period_end
        if version.valid_to is not None:
            end = min(end, dt.datetime.combine(version.valid_to, dt.time.min, tz))
        if start >= end:
            continue
        hour = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        prices.update(selectors.market_prices(series=version.market_series, start=hour, end=end))
    return prices if dynamic else None


def _parse_readings(stream: TextIO) -> list[_Row]:
    reader = csv.reader(stream)
    errors: list[str] = []
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise ReadingsFileInvalid([_("The file is empty: expected a header row and readings.")])
        columns = _header_columns(header, line=reader.line_num)
        rows: list[_Row] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            row = _parse_row(cells, columns, number=reader.line_num, errors=errors)
            if row is not None:
                rows.append(row)
            if len(errors) >= MAX_READING_ERRORS:
                errors.append(
                    _("Stopped after %(count)s errors; fix these and try again.")
                    % {"count": MAX_READING_ERRORS}
                )
                break
    except csv.Error as error:
        errors.append(
            _("row %(row)s: not readable as CSV (%(reason)s).")
            % {"row": reader.line_num, "reason": error}
        )
    except UnicodeDecodeError as error:
        errors.append(_("The file is not UTF-8 text (%(reason)s).") % {"reason": error})
    if errors:
        raise ReadingsFileInvalid(errors)
    if not rows:
        raise ReadingsFileInvalid([_("The file has a header but no readings.")])
    rows.sort(key=lambda r: (r.interval.start, r.number))
    for previous, current in pairwise(rows):
        end = previous.interval.start + dt.timedelta(minutes=previous.interval.minutes)
        if current.interval.start < end:
            errors.append(
                _("row %(row)s, start: overlaps the interval of row %(other)s.")
                % {"row": current.number, "other": previous.number}
            )
            if len(errors) >= MAX_READING_ERRORS:
                break
    if errors:
        raise ReadingsFileInvalid(errors)
    return rows


def _header_columns(header: Sequence[str], *, line: int) -> dict[str, int]:
    names = [re.sub(r"[\s\-]+", "_", cell.strip().lower()) for cell in header]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        canonical = _COLUMN_ALIASES.get(name)
        if canonical and canonical not in columns:
            columns[canonical] = index
    missing = [name for name in _COLUMNS if name not in columns]
    if missing:
        raise ReadingsFileInvalid(
            [
                _(
                    "row %(row)s: the header must name the columns start, minutes, kwh_import "
                    "and kwh_export; missing %(missing)s (found: %(found)s)."
                )
                % {
                    "row": line,
                    "missing": ", ".join(missing),
                    "found": ", ".join(cell.strip() for cell in header) or "-",
                }
            ]
        )
    return columns


def _parse_row(
    cells: Sequence[str], columns: Mapping[str, int], *, number: int, errors: list[str]
) -> _Row | None:
    def cell(name: str) -> str:
        index = columns[name]
        return cells[index].strip() if index < len(cells) else ""

    def fail(field: str, reason: str) -> None:
        errors.append(
            _("row %(row)s, %(field)s: %(reason)s")
            % {"row": number, "field": field, "reason": reason}
        )

    before = len(errors)
    start = _parse_start(cell("start"), fail)
    minutes_text = cell("minutes")
    minutes = None
    if not minutes_text:
        fail("minutes", _("missing"))
    elif not minutes_text.isdigit() or int(minutes_text) <= 0:
        fail(
            "minutes",
            _("%(value)r is not a whole number of minutes above 0") % {"value": minutes_text},
        )
    else:
        minutes = int(minutes_text)
    kwh_import = _parse_kwh(cell("kwh_import"), "kwh_import", fail, required=True)
    kwh_export = _parse_kwh(cell("kwh_export"), "kwh_export", fail, required=False)
    if (
        len(errors) > before
        or start is None
        or minutes is None
        or kwh_import is None
        or kwh_export is None
    ):
        return None
    interval = rating.Interval(
        start=start.astimezone(dt.UTC),
        minutes=minutes,
        kwh_import=kwh_import,
        kwh_export=kwh_export,
    )
    return _Row(number=number, interval=interval)


def _parse_start(text: str, fail: Any) -> dt.datetime | None:
    if not text:
        fail("start", _("missing"))
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail("start", _("%(value)r is not an ISO 8601 date and time") % {"value": text})
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        fail(
            "start",
            _("no time zone offset (write e.g. %(example)s)")
            % {"example": "2026-01-01T00:00:00+01:00"},
        )
        return None
    return value


def _parse_kwh(text: str, field: str, fail: Any, *, required: bool) -> Decimal | None:
    if not text:
        if required:
            fail(field, _("missing"))
            return None
        return Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(field, _("%(value)r is not a number") % {"value": text})
        return None
    if not value.is_finite():
        fail(field, _("%(value)r is not a finite number") % {"value": text})
        return None
    if value < 0:
        fail(field, _("%(value)s is negative; energy must be 0 or more") % {"value": text})
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Validation of a price version (used by the admin)
# ---------------------------------------------------------------------------------------------


def price_version_validate_fields(*, version: PriceVersion) -> None:
    """Check a version's own fields: dates, overlap with siblings, dynamic fields, schedules.

    Raises:
        ValidationError: a dict keyed by field name, each message saying what is wrong.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if version.valid_from and version.valid_to and version.valid_to <= version.valid_from:
        add(
            "valid_to",
            _("Must be after the valid-from date %(start)s (the end date is exclusive).")
            % {"start": version.valid_from.isoformat()},
        )
    elif version.valid_from and version.tariff_id:
        for other in selectors.overlapping_versions(
            tariff_id=version.tariff_id,
            valid_from=version.valid_from,
            valid_to=version.valid_to,
            exclude_id=version.pk,
        ):
            field = "valid_to" if other.valid_from > version.valid_from else "valid_from"
            add(
                field,
                _(
                    "These dates overlap price version %(other)s%(label)s of this tariff. "
                    "End that version first, or choose dates outside %(range)s."
                )
                % {
                    "other": str(other),
                    "label": f" ({other.label})" if other.label else "",
                    "range": _date_range(other.valid_from, other.valid_to),
                },
            )
    kind = version.energy_kind
    if kind == PriceVersion.EnergyKind.DYNAMIC:
        if version.dynamic_factor is None:
            add(
                "dynamic_factor", _("A dynamic price needs the factor applied to the market price.")
            )
        if version.dynamic_margin is None:
            add("dynamic_margin", _("A dynamic price needs a margin per kWh (it may be 0)."))
        floor, cap = version.dynamic_floor, version.dynamic_cap
        if floor is not None and cap is not None and floor > cap:
            add(
                "dynamic_cap",
                _("The cap (%(cap)s) is below the floor (%(floor)s).")
                % {"cap": cap, "floor": floor},
            )
    for field in ("weekday_schedule", "weekend_schedule"):
        value = getattr(version, field)
        if value in (None, "", []):
            if field == "weekday_schedule" and kind == PriceVersion.EnergyKind.TIME_OF_USE:
                add(field, _("A time-of-use price needs a weekday schedule (12 × 24 period keys)."))
            continue
        problem = _schedule_shape_problem(value)
        if problem:
            add(field, problem)
    if errors:
        raise ValidationError(errors)


def _date_range(start: dt.date, end: dt.date | None) -> str:
    return f"[{start.isoformat()}, {end.isoformat() if end else '…'})"


def _schedule_shape_problem(value: object) -> str | None:
    if not isinstance(value, list):
        return _("Must be a list of 12 months, each a list of 24 hourly period keys.")
    if len(value) != 12:
        return _("Must have 12 rows (January to December); found %(count)s.") % {
            "count": len(value)
        }
    for month, row in enumerate(value, start=1):
        if not isinstance(row, list) or len(row) != 24:
            found = len(row) if isinstance(row, list) else type(row).__name__
            return _("Month %(month)s must list 24 hours (00:00 to 23:00); found %(found)s.") % {
                "month": month,
                "found": found,
            }
        for hour, key in enumerate(row):
            if not isinstance(key, str) or not key:
                return _(
                    "Month %(month)s hour %(hour)02d:00 must be a period key (text); "
                    "found %(value)r."
                ) % {"month": month, "hour": hour, "value": key}
    return None


def price_version_validate_rates(
    *, version: PriceVersion, energy_rates: Sequence[EnergyRate]
) -> None:
    """Check that ``energy_rates`` (saved or not) and the schedules form a valid energy charge.

    ``version`` carries the edited, possibly unsaved, field values. The structure is built
    with :func:`apps.tariffs.selectors.energy_structure`, as rating will build it.

    Raises:
        ValidationError: a list of messages naming the period, tier, month or hour at fault.
    """
    errors: list[str] = []
    kind = version.energy_kind
    if kind == PriceVersion.EnergyKind.DYNAMIC:
        if energy_rates:
            errors.append(
                _(
                    "Energy rates: a dynamic price takes its energy price from the market "
                    "(factor and margin); remove the %(count)s energy rate rows."
                )
                % {"count": len(energy_rates)}
            )
        if errors:
            raise ValidationError(errors)
        return
    by_period: dict[str, list[int]] = {}
    for row in energy_rates:
        by_period.setdefault(row.period, []).append(row.tier)
    for period, tiers in sorted(by_period.items()):
        if sorted(tiers) != list(range(1, len(tiers) + 1)):
            errors.append(
                _(
                    "Energy rates: period %(period)r must number its tiers 1, 2, 3… without "
                    "gaps or repeats; found %(tiers)s."
                )
                % {"period": period, "tiers": ", ".join(str(t) for t in sorted(tiers))}
            )
    if errors:
        raise ValidationError(errors)
    if kind == PriceVersion.EnergyKind.TIME_OF_USE and (
        not version.weekday_schedule
        or _schedule_shape_problem(version.weekday_schedule)
        or (version.weekend_schedule and _schedule_shape_problem(version.weekend_schedule))
    ):
        return  # the schedule fields report their own problem (price_version_validate_fields)
    probe = copy.copy(version)
    if probe.pk is None:
        probe.pk = 0  # never saved: only lets the reverse manager read the rows given below
    probe._prefetched_objects_cache = {"energy_rates": list(energy_rates)}  # type: ignore[attr-defined]
    try:
        selectors.energy_structure(probe)
    except (ValueError, TypeError) as error:
        raise ValidationError(
            _("Energy rates and schedules: %(reason)s") % {"reason": error}
        ) from error


def price_version_validate_taxes(*, taxes: Sequence[TaxRate]) -> None:
    """Check that taxes (in ``position`` order) name known line components or earlier taxes.

    Raises:
        ValidationError: a list of messages naming the tax at fault.
    """
    ordered = sorted(taxes, key=lambda t: (t.position, t.code))
    built = []
    for tax in ordered:
        if not isinstance(tax.base, list) or not all(isinstance(b, str) for b in tax.base):
            raise ValidationError(
                _(
                    "Tax %(code)s: 'applies to' must be a list of names, e.g. "
                    '["ENERGY", "STANDING_CHARGE"].'
                )
                % {"code": tax.code}
            )
        try:
            built.append(
                rating.Tax(
                    code=tax.code,
                    name=tax.name,
                    rate_percent=Decimal(tax.rate_percent),
                    base=frozenset(tax.base),
                )
            )
        except (ValueError, TypeError) as error:
            raise ValidationError(
                _("Tax %(code)s: %(reason)s") % {"code": tax.code, "reason": error}
            ) from error
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    try:
        rating.PriceVersion(
            valid_from=epoch,
            valid_to=None,
            standing_charge_per_day=Decimal(0),
            energy=rating.EnergyStructure.flat(Decimal(0)),
            taxes=tuple(built),
            label="",
        )
    except (ValueError, TypeError) as error:
        raise ValidationError(_("Taxes: %(reason)s") % {"reason": error}) from error


def price_version_validate(
    *,
    version: PriceVersion,
    energy_rates: Sequence[EnergyRate],
    taxes: Sequence[TaxRate] = (),
) -> None:
    """Validate a whole price version: fields, energy charge and taxes.

    Raises:
        ValidationError: a dict keyed by field (energy-rate and tax problems under
            ``NON_FIELD_ERRORS``).
    """
    errors: dict[str, list[str]] = {}
    for check in (
        lambda: price_version_validate_fields(version=version),
        lambda: price_version_validate_rates(version=version, energy_rates=energy_rates),
        lambda: price_version_validate_taxes(taxes=taxes),
    ):
        try:
            check()
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, messages in error.message_dict.items():
                    errors.setdefault(field, []).extend(messages)
            else:
                errors.setdefault(NON_FIELD_ERRORS, []).extend(error.messages)
    if errors:
        raise ValidationError(errors)
