"""Unusual-consumption alerts end to end: which supply points to scan, the scan, and who is told.

``apps.metering.alerts`` turns readings into ``ConsumptionAlert`` rows; it cannot
know who holds a supply point (contracts sit above metering). This module adds
what needs the layers above: the contract periods ``ZERO_USE`` depends on, and
the people to notify — every member of the account whose live contract covers
the alert's day — with an in-app notification and an email linking to the usage
page. Alerts and their notifications are written in one transaction per chunk,
so a crash never leaves an alert whose notification was lost; emails go after
commit. Decision 0541.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext as _

from apps.accounts.models import CommunicationPreference, Membership, User
from apps.contracts.models import LIVE_STATUSES, Contract
from apps.core.notifications import notification_send
from apps.metering import alerts as metering_alerts
from apps.metering import anomalies
from apps.metering.models import ConsumptionAlert

NOTIFICATION_KIND = "CONSUMPTION_ALERT"
# Contracts under which the supply point was being supplied (ZERO_USE only counts those days).
SUPPLYING_STATUSES = (Contract.Status.COOLING_OFF, Contract.Status.ACTIVE, Contract.Status.ENDED)


def usage_url(supply_point_id: int) -> str:
    """The customer's usage page of the supply point (/my/usage/<id>/)."""
    return reverse("usage:detail", args=[supply_point_id])


def dedupe_key(alert_id: int) -> str:
    return f"consumption-alert:{alert_id}"


@dataclass(slots=True)
class ScanOutcome:
    scanned: int = 0
    alerts: list[int] = field(default_factory=list)
    notifications: int = 0


# -- reads across contracts and accounts ---------------------------------------------------------
# (Bulk reads for a whole chunk, one query each. They belong in contracts/accounts selectors
# once those apps offer them; kept here, private, until then.)


def _supplying_periods(supply_point_ids: Sequence[int]) -> dict[int, list[anomalies.Period]]:
    rows = (
        Contract.objects.filter(supply_point_id__in=list(supply_point_ids))
        .filter(status__in=SUPPLYING_STATUSES)
        .order_by("supply_point_id", "start_date", "id")
        .values_list("supply_point_id", "start_date", "end_date")
    )
    periods: dict[int, list[anomalies.Period]] = defaultdict(list)
    for supply_point_id, start, end in rows:
        periods[supply_point_id].append((start, end))
    return dict(periods)


@dataclass(frozen=True, slots=True)
class _Holder:
    user: User
    email: bool


def _holders(alerts: Sequence[ConsumptionAlert]) -> dict[int, list[_Holder]]:
    """Alert id → the members of the account whose live contract covers the alert's day."""
    if not alerts:
        return {}
    contracts = list(
        Contract.objects.filter(
            supply_point_id__in={a.supply_point_id for a in alerts}, status__in=LIVE_STATUSES
        )
        .order_by("supply_point_id", "start_date", "id")
        .values_list(
            "supply_point_id", "start_date", "end_date", "account_id", "account__customer_id"
        )
    )
    account_ids = {row[3] for row in contracts}
    members: dict[int, list[User]] = defaultdict(list)
    for membership in (
        Membership.objects.filter(account_id__in=account_ids, user__is_active=True)
        .select_related("user")
        .order_by("account_id", "user_id", "id")
    ):
        members[membership.account_id].append(membership.user)
    wants_email = dict(
        CommunicationPreference.objects.filter(
            customer_id__in={row[4] for row in contracts}
        ).values_list("customer_id", "email_notifications")
    )
    holders: dict[int, list[_Holder]] = {}
    for alert in alerts:
        found: dict[int, _Holder] = {}
        for supply_point_id, start, end, account_id, customer_id in contracts:
            covers = start <= alert.day and (end is None or alert.day < end)
            if supply_point_id == alert.supply_point_id and covers:
                for user in members[account_id]:
                    found.setdefault(user.pk, _Holder(user, wants_email.get(customer_id, True)))
        holders[alert.pk] = list(found.values())
    return holders


# -- messages ------------------------------------------------------------------------------


def _message(alert: ConsumptionAlert) -> tuple[str, str]:
    """Title and body of the notification, in the active language."""
    cups = alert.supply_point.external_id
    day = formats.date_format(alert.day, "DATE_FORMAT")
    observed, expected = alert.observed, alert.expected
    if alert.kind == ConsumptionAlert.Kind.HIGH_DAILY:
        title = _("Unusually high electricity use on %(day)s") % {"day": day}
        body = _(
            "Supply point %(cups)s used %(observed)s kWh on %(day)s. On the same weekday "
            "in recent weeks it usually uses about %(expected)s kWh."
        )
    elif alert.kind == ConsumptionAlert.Kind.HIGH_BASELOAD:
        title = _("Your night-time use has stayed high")
        body = _(
            "Since the night of %(day)s, supply point %(cups)s has not used less than "
            "%(observed)s kWh an hour between 01:00 and 05:00, against about %(expected)s kWh "
            "usually. Something may be left running."
        )
    elif alert.kind == ConsumptionAlert.Kind.STEP_CHANGE:
        if alert.details.get("direction") == "DOWN":
            title = _("Your electricity use has dropped")
        else:
            title = _("Your electricity use has gone up")
        body = _(
            "In the week to %(day)s, supply point %(cups)s used about %(observed)s kWh a day, "
            "against %(expected)s kWh a day in the four weeks before."
        )
    else:
        title = _("No electricity use since %(day)s") % {"day": day}
        body = _(
            "Supply point %(cups)s has used no electricity since %(day)s. If the home is "
            "not empty, the meter may be faulty: please contact us."
        )
    text = body % {"cups": cups, "day": day, "observed": observed, "expected": expected}
    hint = _("You can choose which alerts you get in your notification settings.")
    return title, f"{text}\n\n{hint}"


def _notify(alert: ConsumptionAlert, holder: _Holder) -> bool:
    language = holder.user.preferred_language or settings.LANGUAGE_CODE
    with translation.override(language):
        title, body = _message(alert)
    sent = notification_send(
        user=holder.user,
        kind=NOTIFICATION_KIND,
        title=title,
        body=body,
        url=usage_url(alert.supply_point_id),
        dedupe_key=dedupe_key(alert.pk),
        email=holder.email,
    )
    return sent.created


# -- use cases -----------------------------------------------------------------------------


def alerts_scan_chunks(
    *, as_of: dt.datetime, chunk_size: int = metering_alerts.DEFAULT_CHUNK_SIZE
) -> list[list[int]]:
    """The supply points with new data at ``as_of``, in chunks any worker can take.

    "New data" is a reading received in the last 36 hours (decision 0541). Raises
    ``ValueError`` when ``chunk_size`` is below 1.
    """
    ids = metering_alerts.supply_points_with_new_data(as_of=as_of)
    return list(metering_alerts.chunked(ids, chunk_size))


def alerts_scan_and_notify(*, supply_point_ids: Sequence[int], as_of: dt.datetime) -> ScanOutcome:
    """Scan the supply points at ``as_of``, store new alerts and notify their holders.

    One transaction: new alerts and their in-app notifications are committed
    together; emails are sent after commit (``notification_send``). Idempotent:
    a re-run finds the alerts stored, so it creates and sends nothing. Raises
    nothing of its own; database errors propagate (the task retries).
    """
    ids = sorted(set(supply_point_ids))
    with transaction.atomic():
        result = metering_alerts.alerts_scan(
            supply_point_ids=ids,
            as_of=as_of,
            chunk_size=max(len(ids), 1),
            active_periods=_supplying_periods(ids),
        )
        new_alerts = list(
            ConsumptionAlert.objects.filter(pk__in=result.created)
            .select_related("supply_point")
            .order_by("id")
        )
        outcome = ScanOutcome(scanned=result.scanned, alerts=[a.pk for a in new_alerts])
        holders = _holders(new_alerts)
        for alert in new_alerts:
            for holder in holders[alert.pk]:
                outcome.notifications += int(_notify(alert, holder))
    return outcome
