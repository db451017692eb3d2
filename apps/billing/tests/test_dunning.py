"""Dunning: reminders at due+7 and due+21, a staff flag at due+35, once each (0712)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core import mail

from apps.accounts.models import Account, Customer, User
from apps.billing import ledger
from apps.billing.dunning import DunningSummary, dunning_run, payment_plan_create
from apps.billing.models import Bill, DunningNotice, Payment
from apps.billing.tasks_dunning import dunning_run_task
from apps.billing.tests.factories import issued_bill, madrid, make_account
from apps.core import clock
from apps.core.models import Notification

pytestmark = pytest.mark.django_db

DUE = dt.date(2026, 11, 16)


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(madrid(2026, 11, 2, 10), tick=False) as traveller:
        yield traveller


@pytest.fixture
def account(customer: User) -> Account:
    return make_account(customer, name="Ana García")


@pytest.fixture
def bill(frozen: Any, account: Account) -> Bill:
    return issued_bill(account=account, total=Decimal("61.25"), due_date=DUE)


def _run_on(frozen: Any, day: dt.date) -> DunningSummary:
    frozen.move_to(madrid(day.year, day.month, day.day, 6))
    return dunning_run(today=clock.today())


def _after_due(days: int) -> dt.date:
    return DUE + dt.timedelta(days=days)


def _levels(bill: Bill) -> list[int]:
    return list(
        DunningNotice.objects.filter(bill=bill).order_by("level").values_list("level", flat=True)
    )


def test_reminders_then_staff_flag_by_date_each_once(
    bill: Bill, frozen: Any, customer: User, django_capture_on_commit_callbacks: Any
) -> None:
    assert _run_on(frozen, _after_due(6)) == DunningSummary()
    assert _levels(bill) == []

    with django_capture_on_commit_callbacks(execute=True):
        summary = _run_on(frozen, _after_due(7))
    assert summary == DunningSummary(bills_due=1, first_reminders=1)
    first = Notification.objects.get(user=customer)
    assert (first.kind, first.title, first.url) == (
        "billing.payment_reminder",
        f"Reminder: bill {bill.invoice_number} is unpaid",
        f"/my/billing/bills/{bill.pk}/",
    )
    assert "for 61.25 € was due on Nov. 16, 2026" in first.body
    assert [m.subject.endswith(first.title) for m in mail.outbox] == [True]
    assert [m.to for m in mail.outbox] == [[customer.email]]

    # The same day again, and the days before the next threshold: nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert _run_on(frozen, _after_due(7)) == DunningSummary()
        assert _run_on(frozen, _after_due(20)) == DunningSummary()
    assert len(mail.outbox) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert _run_on(frozen, _after_due(21)) == DunningSummary(bills_due=1, second_reminders=1)
    second = Notification.objects.filter(user=customer).order_by("id").last()
    assert second is not None
    assert second.title == f"Second reminder: bill {bill.invoice_number} is still unpaid"
    assert second.url == f"/my/billing/bills/{bill.pk}/"
    assert len(mail.outbox) == 2

    assert _run_on(frozen, _after_due(34)) == DunningSummary()
    with django_capture_on_commit_callbacks(execute=True):
        assert _run_on(frozen, _after_due(35)) == DunningSummary(bills_due=1, flagged_for_staff=1)
    # Level 3 is for staff only: no message to the customer.
    assert Notification.objects.filter(user=customer).count() == 2
    assert len(mail.outbox) == 2
    flag = DunningNotice.objects.get(bill=bill, level=DunningNotice.Level.STAFF_FLAG)
    assert (flag.created_at, flag.resolved_at) == (madrid(2026, 12, 21, 6), None)

    assert _run_on(frozen, _after_due(60)) == DunningSummary()
    assert _levels(bill) == [1, 2, 3]


def test_missed_runs_never_send_two_letters_in_a_row(bill: Bill, frozen: Any) -> None:
    # The job did not run for weeks: the first run sends the first reminder only…
    assert _run_on(frozen, _after_due(40)) == DunningSummary(bills_due=1, first_reminders=1)
    assert _run_on(frozen, _after_due(41)) == DunningSummary()
    # …and each next level keeps its gap (14 days) after the previous one.
    assert _run_on(frozen, _after_due(53)) == DunningSummary()
    assert _run_on(frozen, _after_due(54)).second_reminders == 1
    assert _run_on(frozen, _after_due(67)) == DunningSummary()
    assert _run_on(frozen, _after_due(68)).flagged_for_staff == 1
    assert _levels(bill) == [1, 2, 3]


def test_an_account_with_a_payment_plan_is_not_dunned(
    bill: Bill, frozen: Any, account: Account, customer: User
) -> None:
    payment_plan_create(
        account=account,
        starts_on=dt.date(2026, 11, 20),
        ends_on=None,
        instalment=Decimal("20.00"),
        note="Three instalments",
        actor=None,
    )
    for days in (7, 21, 35):
        assert _run_on(frozen, _after_due(days)) == DunningSummary(
            bills_due=1, held_for_payment_plan=1
        )
    assert _levels(bill) == []
    assert not Notification.objects.filter(user=customer).exists()


def test_dunning_resumes_gently_after_a_payment_plan_ends(
    bill: Bill, frozen: Any, account: Account
) -> None:
    payment_plan_create(
        account=account,
        starts_on=dt.date(2026, 11, 20),
        ends_on=dt.date(2026, 12, 10),
        instalment=Decimal("20.00"),
        note="",
        actor=None,
    )
    assert _run_on(frozen, dt.date(2026, 12, 9)).held_for_payment_plan == 1
    # The plan has ended (ends_on is exclusive): the first reminder comes, and only it.
    assert _run_on(frozen, dt.date(2026, 12, 10)) == DunningSummary(bills_due=1, first_reminders=1)
    assert _levels(bill) == [1]


def test_a_vulnerable_customer_gets_the_first_reminder_only(
    bill: Bill, frozen: Any, account: Account, customer: User
) -> None:
    Customer.objects.filter(pk=account.customer_id).update(is_vulnerable=True)
    assert _run_on(frozen, _after_due(7)) == DunningSummary(bills_due=1, first_reminders=1)
    assert _run_on(frozen, _after_due(21)) == DunningSummary(bills_due=1, held_for_vulnerable=1)
    assert _run_on(frozen, _after_due(35)) == DunningSummary(bills_due=1, held_for_vulnerable=1)
    assert _levels(bill) == [1]
    assert Notification.objects.filter(user=customer).count() == 1


def test_a_paid_bill_is_left_alone_and_its_notice_resolved(
    bill: Bill, frozen: Any, account: Account
) -> None:
    assert _run_on(frozen, _after_due(7)).first_reminders == 1
    ledger.payment_record(
        account=account,
        bill=bill,
        amount=Decimal("61.25"),
        method=Payment.Method.BANK_TRANSFER,
        actor_label="test:transfer",
    )
    assert _run_on(frozen, _after_due(21)) == DunningSummary(notices_resolved=1)
    notice = DunningNotice.objects.get(bill=bill)
    assert notice.resolved_at == madrid(2026, 12, 7, 6)
    assert _run_on(frozen, _after_due(35)) == DunningSummary()
    assert _levels(bill) == [1]


def test_a_credit_note_or_a_bill_without_money_open_is_never_dunned(
    frozen: Any, account: Account, customer: User
) -> None:
    zero = issued_bill(account=account, total=Decimal("0.00"), due_date=DUE)
    assert _run_on(frozen, _after_due(7)) == DunningSummary()
    assert _levels(zero) == []
    assert not Notification.objects.filter(user=customer).exists()


def test_thresholds_come_from_settings(bill: Bill, frozen: Any, settings: Any) -> None:
    settings.BILLING_DUNNING_DAYS = (3, 5, 9)
    assert _run_on(frozen, _after_due(3)).first_reminders == 1
    assert _run_on(frozen, _after_due(5)).second_reminders == 1
    assert _run_on(frozen, _after_due(9)).flagged_for_staff == 1
    settings.BILLING_DUNNING_DAYS = (7, 7, 35)
    with pytest.raises(ValueError, match="BILLING_DUNNING_DAYS"):
        dunning_run(today=clock.today())


def test_the_beat_task_runs_for_today(bill: Bill, frozen: Any) -> None:
    frozen.move_to(madrid(2026, 11, 23, 7))
    assert dunning_run_task() == {
        "bills_due": 1,
        "first_reminders": 1,
        "second_reminders": 0,
        "flagged_for_staff": 0,
        "held_for_payment_plan": 0,
        "held_for_vulnerable": 0,
        "notices_resolved": 0,
    }
    assert dunning_run_task()["first_reminders"] == 0


def test_staff_queue_lists_flagged_bills_and_resolves_them(
    bill: Bill, frozen: Any, staff_client_for: Any, make_user: Any
) -> None:
    other_user = make_user("eva@example.com")
    other = issued_bill(
        account=make_account(other_user, name="Eva"), total=Decimal("10.00"), due_date=DUE
    )
    for days in (7, 21, 35):
        _run_on(frozen, _after_due(days))
    flagged = DunningNotice.objects.get(bill=bill, level=DunningNotice.Level.STAFF_FLAG)
    client = staff_client_for("billing_specialist")
    queue = client.get("/admin/billing/dunningnotice/?queue=staff")
    assert queue.status_code == 200
    other_flag = DunningNotice.objects.get(bill=other, level=DunningNotice.Level.STAFF_FLAG)
    # Newest first; both were flagged by the same run, so the later id comes first.
    assert [row.pk for row in queue.context["cl"].result_list] == sorted(
        [flagged.pk, other_flag.pk], reverse=True
    )
    response = client.post(
        "/admin/billing/dunningnotice/",
        {"action": "resolve_notices", "_selected_action": [flagged.pk]},
    )
    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.resolved_at == madrid(2026, 12, 21, 6)
    after = client.get("/admin/billing/dunningnotice/?queue=staff")
    assert [row.bill_id for row in after.context["cl"].result_list] == [other.pk]
    assert client.get("/admin/billing/paymentplan/add/").status_code == 200
