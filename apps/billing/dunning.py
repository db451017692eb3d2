"""Dunning: reminders for overdue bills, then a flag for staff. Decision 0712.

Each ISSUED bill past its due date with money still open moves through three levels, each
at most once (a unique constraint): a first reminder, a second reminder, and a flag that
puts the bill in the staff queue (no message to the customer). The days after the due
date are ``settings.BILLING_DUNNING_DAYS`` (7, 21, 35 by default), and a level never
follows the previous one sooner than the gap between their thresholds, so a run that was
missed for a while does not fire two letters in a row. An account under an agreed
payment plan gets nothing; a vulnerable customer gets the gentle first reminder only.
Nothing escalates for them automatically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from apps.accounts.models import Account, User
from apps.accounts.selectors import communication_preference_for
from apps.billing.models import Bill, DunningNotice, PaymentPlan
from apps.billing.selectors import bill_open_amount
from apps.core import clock
from apps.core.audit import acting_as
from apps.core.notifications import notification_send

Level = DunningNotice.Level
NOTIFICATION_KIND = "billing.payment_reminder"
BILL_URL = "/my/billing/bills/{bill_id}/"


class PaymentPlanInputError(Exception):
    """A payment plan cannot be recorded as given; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(slots=True)
class DunningSummary:
    """What one run did (the Celery task returns it as a dict)."""

    #: Overdue bills with money open for which a level was due on this run.
    bills_due: int = 0
    first_reminders: int = 0
    second_reminders: int = 0
    flagged_for_staff: int = 0
    held_for_payment_plan: int = 0
    held_for_vulnerable: int = 0
    notices_resolved: int = 0


def dunning_thresholds() -> tuple[int, int, int]:
    """Days after the due date for levels 1, 2 and 3 (strictly increasing, positive)."""
    days = tuple(int(day) for day in settings.BILLING_DUNNING_DAYS)
    if len(days) != 3 or days[0] < 1 or not days[0] < days[1] < days[2]:
        raise ValueError(
            "BILLING_DUNNING_DAYS: give three increasing day counts, for example (7, 21, 35)."
        )
    return days[0], days[1], days[2]


def accounts_with_active_plan(account_ids: set[int], today: dt.date) -> set[int]:
    """The accounts among ``account_ids`` with a payment plan in force on ``today``."""
    return set(
        PaymentPlan.objects.filter(account_id__in=account_ids, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gt=today))
        .values_list("account_id", flat=True)
    )


def _next_level(
    *, due_date: dt.date, sent: dict[int, dt.date], today: dt.date, days: tuple[int, int, int]
) -> int | None:
    """The one level that is due today for a bill, given the levels ``sent`` (level → day)."""
    for index, level in enumerate((Level.FIRST_REMINDER, Level.SECOND_REMINDER, Level.STAFF_FLAG)):
        if level in sent:
            continue
        earliest = due_date + dt.timedelta(days=days[index])
        if index > 0:
            previous = sent.get(index)  # the level before (levels are 1-based)
            if previous is None:
                return None
            earliest = max(earliest, previous + dt.timedelta(days=days[index] - days[index - 1]))
        return level if today >= earliest else None
    return None


def _reminder_message(bill: Bill, level: int, amount: Decimal) -> tuple[str, str]:
    values = {
        "number": bill.invoice_number or "",
        "amount": number_format(amount, 2),
        "date": date_format(bill.due_date, "DATE_FORMAT") if bill.due_date else "",
    }
    if level == Level.FIRST_REMINDER:
        title = _("Reminder: bill %(number)s is unpaid") % values
        body = [
            _(
                "Bill %(number)s for %(amount)s € was due on %(date)s and we have not "
                "received the payment yet."
            )
            % values,
            _("If you have already paid, thank you, and please ignore this message."),
            _(
                "If paying is difficult right now, contact us: we can agree a payment plan "
                "that suits you."
            ),
        ]
    else:
        title = _("Second reminder: bill %(number)s is still unpaid") % values
        body = [
            _(
                "Bill %(number)s for %(amount)s € was due on %(date)s and is still unpaid. "
                "Please pay it within the next 14 days."
            )
            % values,
            _("If you cannot pay it in full, contact us now so that we can agree a payment plan."),
        ]
    return title, "\n\n".join(str(part) for part in body)


def _remind(bill: Bill, level: int, amount: Decimal) -> int:
    """Tell every member of the bill's account, in their language, once per bill and level."""
    email = bool(communication_preference_for(bill.account.customer).email_notifications)
    created = 0
    members = User.objects.filter(memberships__account=bill.account_id, is_active=True)
    for user in members.order_by("id"):
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            title, body = _reminder_message(bill, level, amount)
        sent = notification_send(
            user=user,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            url=BILL_URL.format(bill_id=bill.pk),
            dedupe_key=f"billing:dunning:{bill.pk}:{level}",
            email=email,
        )
        created += int(sent.created)
    return created


def _resolve_settled(summary: DunningSummary, now: dt.datetime) -> None:
    """Close the open notices of bills that are paid, credited or otherwise settled."""
    open_notices = DunningNotice.objects.filter(resolved_at__isnull=True).select_related("bill")
    settled_ids = [
        notice.pk for notice in open_notices.order_by("id") if bill_open_amount(notice.bill) <= 0
    ]
    if settled_ids:
        summary.notices_resolved = DunningNotice.objects.filter(
            pk__in=settled_ids, resolved_at__isnull=True
        ).update(resolved_at=now)


def dunning_run(*, today: dt.date) -> DunningSummary:
    """Send the reminders and staff flags that are due on ``today``; safe to run again.

    For each ISSUED bill at least ``BILLING_DUNNING_DAYS[0]`` days past its due date with
    money open, creates the next due level (one per bill and run) and, for levels 1 and 2,
    notifies every member of the account in the portal and by email (per their email
    preference), linking to the bill. Accounts with a payment plan in force get nothing;
    vulnerable customers get level 1 only. Notices of bills settled since are marked
    resolved. Raises ValueError for a malformed ``BILLING_DUNNING_DAYS``.
    """
    days = dunning_thresholds()
    summary = DunningSummary()
    now = clock.now()
    _resolve_settled(summary, now)
    bills = list(
        Bill.objects.filter(
            kind=Bill.Kind.BILL,
            status=Bill.Status.ISSUED,
            due_date__lte=today - dt.timedelta(days=days[0]),
        )
        .select_related("account__customer")
        .order_by("due_date", "id")
    )
    sent: dict[int, dict[int, dt.date]] = {}
    zone = clock.local_zone()
    for bill_id, sent_level, created_at in DunningNotice.objects.filter(
        bill_id__in=[bill.pk for bill in bills]
    ).values_list("bill_id", "level", "created_at"):
        sent.setdefault(bill_id, {})[sent_level] = created_at.astimezone(zone).date()
    on_plan = accounts_with_active_plan({bill.account_id for bill in bills}, today)
    for bill in bills:
        if bill.due_date is None:  # excluded by the query; keeps the types honest
            continue
        level = _next_level(
            due_date=bill.due_date, sent=sent.get(bill.pk, {}), today=today, days=days
        )
        if level is None:
            continue
        amount = bill_open_amount(bill)
        if amount <= 0:
            continue
        summary.bills_due += 1
        if bill.account_id in on_plan:
            summary.held_for_payment_plan += 1
            continue
        if bill.account.customer.is_vulnerable and level > Level.FIRST_REMINDER:
            summary.held_for_vulnerable += 1
            continue
        with transaction.atomic():
            _notice, created = DunningNotice.objects.get_or_create(
                bill=bill, level=level, defaults={"created_at": now}
            )
            if not created:
                continue
            if level == Level.FIRST_REMINDER:
                summary.first_reminders += 1
            elif level == Level.SECOND_REMINDER:
                summary.second_reminders += 1
            else:
                summary.flagged_for_staff += 1
            if level in (Level.FIRST_REMINDER, Level.SECOND_REMINDER):
                _remind(bill, level, amount)
    return summary


def dunning_notice_resolve(*, notice: DunningNotice, actor: User | None) -> bool:
    """Take a notice out of the staff queue. Returns False if it was already resolved."""
    with acting_as(actor):
        updated = DunningNotice.objects.filter(pk=notice.pk, resolved_at__isnull=True).update(
            resolved_at=clock.now()
        )
    notice.refresh_from_db()
    return bool(updated)


def payment_plan_create(
    *,
    account: Account,
    starts_on: dt.date,
    ends_on: dt.date | None,
    instalment: Decimal,
    note: str,
    actor: User | None,
) -> PaymentPlan:
    """Record an instalment plan agreed with the customer; while in force, no dunning.

    Raises PaymentPlanInputError naming ``instalment`` (must be positive) or ``ends_on``
    (must be after ``starts_on``); nothing is stored then.
    """
    if instalment <= 0:
        raise PaymentPlanInputError("instalment", _("The instalment must be more than zero."))
    if ends_on is not None and ends_on <= starts_on:
        raise PaymentPlanInputError("ends_on", _("The plan must end after the day it starts."))
    with transaction.atomic(), acting_as(actor):
        return PaymentPlan.objects.create(
            account=account,
            starts_on=starts_on,
            ends_on=ends_on,
            instalment=instalment,
            note=note[:200],
            created_at=clock.now(),
            created_by=actor,
        )
