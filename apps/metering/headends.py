"""Head-end systems: issuing and checking their API tokens, and recording their meter events."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from apps.core import clock
from apps.metering.ingestion._parse import RowError
from apps.metering.models import HeadEndSystem, MeterEvent

TOKEN_PREFIX = "wlh_"  # noqa: S105 - a public prefix, not a secret


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class HeadEndNameTaken(ValueError):
    pass


@transaction.atomic
def headend_issue_token(*, name: str, actor: Any = None) -> tuple[HeadEndSystem, str]:
    """Create a head-end system and return it with its token (shown once, stored hashed).

    Raises ``HeadEndNameTaken`` if the name is in use.
    """
    if HeadEndSystem.objects.filter(name=name).exists():
        raise HeadEndNameTaken(f"name: a head-end called {name!r} already exists.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    system = HeadEndSystem.objects.create(
        name=name, token_prefix=token[:12], token_hash=_hash(token)
    )
    return system, token


def headend_authenticate(token: str) -> HeadEndSystem | None:
    """The active head-end whose token this is, or None. Constant-time on the stored hash."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    system = HeadEndSystem.objects.filter(token_hash=_hash(token), is_active=True).first()
    if system is not None:
        now = clock.now()
        if system.last_used_at is None or (now - system.last_used_at).total_seconds() > 60:
            HeadEndSystem.objects.filter(pk=system.pk).update(last_used_at=now)
    return system


@dataclass
class EventReport:
    received: int
    stored: int
    duplicates: int
    errors: list[RowError]


def meter_events_record(*, events: list[dict[str, Any]], source: str) -> EventReport:
    """Store meter events; the same event twice is stored once. Bad items are listed, not stored."""
    import datetime as dt

    kinds = set(MeterEvent.Kind.values)
    errors: list[RowError] = []
    valid: list[tuple[int, str, str, dt.datetime]] = []
    for number, item in enumerate(events, start=1):
        kind = str(item.get("kind", "")).upper()
        if kind not in kinds:
            errors.append(RowError(number, "kind", "must be " + ", ".join(sorted(kinds)), kind))
            continue
        text = str(item.get("occurred_at", ""))
        try:
            occurred = dt.datetime.fromisoformat(text)
        except ValueError:
            errors.append(RowError(number, "occurred_at", "not an ISO 8601 date and time", text))
            continue
        if occurred.tzinfo is None:
            errors.append(RowError(number, "occurred_at", "no time zone offset", text))
            continue
        valid.append((number, str(item.get("supply_point", "")).strip().upper(), kind, occurred))
    from apps.metering.models import SupplyPoint

    ids = dict(
        SupplyPoint.objects.filter(external_id__in={cups for _, cups, _, _ in valid}).values_list(
            "external_id", "id"
        )
    )
    rows = []
    for number, cups, kind, occurred in valid:
        if cups not in ids:
            errors.append(RowError(number, "supply_point", "unknown supply point", cups))
            continue
        rows.append((ids[cups], kind, occurred))
    stored = 0
    now = clock.now()
    if rows:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO metering_meterevent (supply_point_id, kind, occurred_at, received_at,"
                " source) SELECT sp, kind, at, %s, %s"
                " FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS e(sp, kind, at)"
                " ON CONFLICT (supply_point_id, kind, occurred_at) DO NOTHING",
                [
                    now,
                    source[:32],
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                ],
            )
            stored = cursor.rowcount
    errors.sort(key=lambda e: e.row)
    return EventReport(
        received=len(events), stored=stored, duplicates=len(rows) - stored, errors=errors
    )
