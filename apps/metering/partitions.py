"""Monthly partitions of the interval-readings table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

TABLE = "metering_intervalreading"


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def partition_name(month: dt.date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def ensure_reading_partitions(*, first: dt.date, last: dt.date) -> list[str]:
    """Create the monthly partitions covering dates ``first``..``last`` (UTC months).

    Idempotent: existing partitions are left alone. Returns the names created.
    """
    created: list[str] = []
    month = _month_start(first)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        existing = {row[0] for row in cursor.fetchall()}
        while month <= last:
            name = partition_name(month)
            if name not in existing:
                upper = _next_month(month)
                _create(cursor, name, month, upper)
                created.append(name)
            month = _next_month(month)
    return created


def _create(cursor: Any, name: str, month: dt.date, upper: dt.date) -> None:
    """Create one partition; another worker creating it at the same moment is fine."""
    from django.db import transaction
    from psycopg import errors

    try:
        with transaction.atomic():  # savepoint: a lost race undoes only this statement
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF {TABLE} '
                f"FOR VALUES FROM ('{month.isoformat()} 00:00+00') "
                f"TO ('{upper.isoformat()} 00:00+00')"
            )
    except Exception as exc:
        cause = getattr(exc, "__cause__", None)
        if not isinstance(cause, (errors.DuplicateTable, errors.UniqueViolation)):
            raise
