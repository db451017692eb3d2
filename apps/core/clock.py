"""The one place that knows what time it is and which zone we display in.

Domain code never calls ``datetime.now()``; it takes ``now``/``as_of`` as an
argument and callers at the edge (views, tasks) get it from here.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def now() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return timezone.now()


def local_zone() -> ZoneInfo:
    """The operator's local zone (``WATTLINE_TIME_ZONE``), used for tariffs and display."""
    return ZoneInfo(settings.TIME_ZONE)


def today(tz: ZoneInfo | None = None) -> dt.date:
    """Today's date in ``tz`` (default: the operator's zone)."""
    return now().astimezone(tz or local_zone()).date()


def local_midnight(day: dt.date, tz: ZoneInfo | None = None) -> dt.datetime:
    """The aware instant at which ``day`` starts in ``tz`` (handles DST days)."""
    zone = tz or local_zone()
    return dt.datetime.combine(day, dt.time.min).replace(tzinfo=zone).astimezone(dt.UTC)


def require_aware(value: dt.datetime, *, field: str) -> dt.datetime:
    """Refuse naive datetimes with a message naming the field."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{field} must include a time zone offset.")
    return value
