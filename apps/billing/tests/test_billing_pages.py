"""The customer's billing pages: history, a bill, its PDF and explanation, the dashboard card."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Account, User
from apps.billing import ledger
from apps.billing.issuing import bill_credit
from apps.billing.models import Bill, BillLine, Payment
from apps.billing.selectors import account_balance
from apps.billing.tests.factories import issued_bill, madrid, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(customer: User) -> Account:
    return make_account(customer, name="Ana García")


@pytest.fixture
def other_account(other_customer: User) -> Account:
    return make_account(other_customer, name="Bruno Díaz")


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _bill(account: Account, total: str, month: int, **extra: Any) -> Bill:
    return issued_bill(
        account=account,
        total=Decimal(total),
        period_start=dt.date(2026, month, 1),
        issued_at=madrid(2026, month + 1, 2, 9),
        **extra,
    )


def _pay(account: Account, amount: str, bill: Bill | None = None, **extra: Any) -> Payment:
    return ledger.payment_record(
        account=account,
        amount=Decimal(amount),
        method=Payment.Method.BANK_TRANSFER,
        bill=bill,
        actor_label="test",
        **extra,
    )


def _dress(bill: Bill) -> Bill:
    """Give a factory bill what the bill run copies on: supplies, readings, daily use."""
    Bill.objects.filter(pk=bill.pk).update(
        supply_summary=[
            {
                "contract": "C-000042",
                "cups": "ES0021000000004242QZ",
                "address": "Calle del Sol 7\n28013 Madrid",
                "tariff": "Tarifa Sol 2.0",
                "from": "2026-03-01",
                "to": "2026-04-01",
                "standing_charge_per_day": "0.104000",
                "rates": [{"period": "ALL", "tier": 1, "rate": "0.151234"}],
            }
        ],
        readings_actual=700,
        readings_estimated=44,
        minutes_expected=744 * 60,
        minutes_read=744 * 60,
        daily_kwh=[["2026-03-01", "3.250"], ["2026-03-02", "4.125"], ["2026-03-03", "0.500"]],
        previous_kwh=Decimal("98.500"),
    )
    BillLine.objects.filter(bill=bill).update(contract_number="C-000042")
    bill.refresh_from_db()
    return bill


# -- history ---------------------------------------------------------------------------------


def test_history_lists_exactly_the_accounts_bills_payments_and_balance(
    customer: User, account: Account, other_account: Account
) -> None:
    january = _bill(account, "40.00", 1)
    february = _bill(account, "55.10", 2)
    march = _bill(account, "61.25", 3)
    note = bill_credit(bill=february, actor=None, reason="wrong reading", now=madrid(2026, 4, 5))
    paid = _pay(account, "40.00", bill=january)
    on_account = _pay(account, "10.00")
    _bill(other_account, "99.99", 3)
    _pay(other_account, "99.99")

    response = client_for(customer).get(reverse("billing:history"))

    assert response.status_code == 200
    context = response.context
    assert [b.pk for b in context["bills"].object_list] == [
        note.pk,
        march.pk,
        february.pk,
        january.pk,
    ]
    assert [p.pk for p in context["payments"].object_list] == [on_account.pk, paid.pk]
    # 40 + 55.10 + 61.25 - 55.10 (credit note) - 40 - 10
    assert context["balance"] == account_balance(account) == Decimal("51.25")
    body = response.content.decode()
    assert f"Bill {march.invoice_number}" in body
    assert f"Credit note {note.invoice_number}" in body
    assert f"cancels bill {february.invoice_number}" in body
    assert "Cancelled by a credit note" in body
    assert "You owe 51.25 EUR." in body
    assert "99.99" not in body
    # the running balance, newest first, ends with the first bill
    running = [entry["running"] for entry in context["entries"]]
    assert running == [
        Decimal("51.25"),
        Decimal("61.25"),
        Decimal("101.25"),
        Decimal("156.35"),
        Decimal("95.10"),
        Decimal("40.00"),
    ]
    assert len(context["chart"].bars) == 6


def test_history_pages_long_lists_and_keeps_the_running_balance(
    customer: User, account: Account
) -> None:
    for month in range(1, 11):
        _bill(account, "10.00", month)
    for _ in range(15):
        _pay(account, "1.00")
    client = client_for(customer)
    first = client.get(reverse("billing:history"))
    assert len(first.context["bills"].object_list) == 10
    assert len(first.context["payments"].object_list) == 12
    assert len(first.context["entries"]) == 20
    assert first.context["entries"][0]["running"] == Decimal("85.00")  # 100 - 15
    second = client.get(reverse("billing:history"), {"statement": 2, "payments": 2})
    assert len(second.context["payments"].object_list) == 3
    entries = second.context["entries"]
    assert len(entries) == 5
    assert entries[-1]["running"] == Decimal("10.00")  # the very first bill
    assert f'href="?statement=1&amp;account={account.pk}#statement"' in second.content.decode()


def test_history_shows_the_chosen_account_and_404s_for_someone_elses(
    customer: User, account: Account, other_account: Account
) -> None:
    second = make_account(customer, name="Ana García (shop)")
    shop_bill = _bill(second, "12.00", 5)
    _bill(account, "30.00", 5)
    client = client_for(customer)
    response = client.get(reverse("billing:history"), {"account": second.pk})
    assert [b.pk for b in response.context["bills"].object_list] == [shop_bill.pk]
    assert response.context["balance"] == Decimal("12.00")
    assert client.get(reverse("billing:history"), {"account": other_account.pk}).status_code == 404


def test_history_without_an_account(customer: User) -> None:
    response = client_for(customer).get(reverse("billing:history"))
    assert response.status_code == 200
    assert "You have no account with us yet" in response.content.decode()


def test_history_queries_do_not_grow_with_bills_and_payments(
    customer: User, account: Account, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    client = client_for(customer)
    for month in range(1, 7):
        bill = _bill(account, "20.00", month)
        _pay(account, "20.00", bill=bill)
    bill_credit(bill=bill, actor=None, reason="test", now=madrid(2026, 8, 1))
    client.get(reverse("billing:history"))  # warm the session
    with django_assert_max_num_queries(13):
        assert client.get(reverse("billing:history")).status_code == 200
    for month in range(7, 12):
        bill = _bill(account, "20.00", month)
        _pay(account, "5.00", bill=bill)
        _pay(account, "5.00")
    with django_assert_max_num_queries(13):
        assert client.get(reverse("billing:history")).status_code == 200


# -- a bill ----------------------------------------------------------------------------------


def test_bill_page_shows_the_copied_data_and_how_to_pay(
    customer: User, account: Account, settings: Any
) -> None:
    settings.BILLING_CREDITOR_IBAN = "ES9121000418450200051332"
    previous = _bill(account, "20.00", 2)
    _pay(account, "5.00")
    bill = _dress(_bill(account, "61.25", 3, tax_total=Decimal("10.63")))
    # the live account changes after issue; the bill keeps what was copied on it
    Account.objects.filter(pk=account.pk).update(number="CHANGED-1")
    account.customer.name = "Someone Else"
    account.customer.save()

    response = client_for(customer).get(reverse("billing:bill_detail", args=[bill.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert f"Bill {bill.invoice_number}" in body
    assert "Ana García" in body
    assert "Someone Else" not in body
    assert bill.account_number in body
    assert "CHANGED-1" not in body
    assert "Calle Mayor 1" in body  # billing address copied at computation
    assert "ES0021000000004242QZ" in body
    assert "Tarifa Sol 2.0" in body
    assert "Calle del Sol 7" in body
    assert "Contract C-000042" in body
    assert "50.62 EUR" in body  # the energy line: 61.25 - 10.63
    assert "10.63 EUR" in body  # VAT
    assert bill.previous_balance == Decimal("20.00")
    assert bill.payments_since == Decimal("5.00")
    assert bill.amount_due == Decimal("76.25")
    assert "76.25 EUR" in body
    assert bill.due_date is not None
    assert bill.due_date.strftime("%-d %B %Y") in body
    assert "ES91 2100 0418 4502 0005 1332" in body
    assert bill.payment_reference
    assert bill.payment_reference in body
    assert "700" in body
    assert "44" in body
    assert "5.9 % estimated" in body
    assert body.count('class="bar"') == 3  # the daily consumption chart
    assert "4.125" in body  # and its table
    assert reverse("billing:card_pay", args=[bill.pk]) in body
    assert 'action="' + reverse("billing:card_pay", args=[bill.pk]) + '"' in body
    assert reverse("billing:mandate") in body
    assert previous.invoice_number not in body


def test_paid_bill_has_no_pay_buttons(customer: User, account: Account) -> None:
    bill = _bill(account, "30.00", 3)
    _pay(account, "30.00", bill=bill)
    body = client_for(customer).get(reverse("billing:bill_detail", args=[bill.pk])).content
    assert b"Paid" in body
    assert reverse("billing:card_pay", args=[bill.pk]).encode() not in body
    assert b"How to pay" not in body


def test_credit_note_page_names_the_bill_it_credits(customer: User, account: Account) -> None:
    bill = _bill(account, "30.00", 3)
    note = bill_credit(bill=bill, actor=None, reason="test", now=madrid(2026, 4, 20))
    client = client_for(customer)
    body = client.get(reverse("billing:bill_detail", args=[note.pk])).content.decode()
    assert f"Credit note {note.invoice_number}" in body
    assert f"bill {bill.invoice_number}</a>" in body
    assert reverse("billing:bill_detail", args=[bill.pk]) in body
    assert "-30.00 EUR" in body
    assert "How to pay" not in body
    original = client.get(reverse("billing:bill_detail", args=[bill.pk])).content.decode()
    assert f"credit note {note.invoice_number}</a>" in original
    assert "How to pay" not in original  # a credited bill is not to be paid


def test_dashboard_shows_balance_and_latest_bill(customer: User, account: Account) -> None:
    _bill(account, "20.00", 2)
    latest = _bill(account, "61.25", 3)
    _pay(account, "20.00")
    body = client_for(customer).get(reverse("portal_home")).content.decode()
    assert "You owe 61.25 EUR." in body
    assert latest.invoice_number in body
    assert reverse("billing:bill_detail", args=[latest.pk]) in body
    assert "Billing is coming soon" not in body
    assert f'href="{reverse("billing:history")}"' in body  # the navigation entry


# -- authorization matrix --------------------------------------------------------------------


PAGES = ("billing:bill_detail", "billing:bill_pdf", "billing:bill_explanation")


@pytest.mark.parametrize("name", PAGES)
def test_owner_gets_each_bill_page_and_download(
    name: str, customer: User, account: Account
) -> None:
    bill = _dress(_bill(account, "30.00", 3))
    response = client_for(customer).get(reverse(name, args=[bill.pk]))
    assert response.status_code == 200
    expected = {
        "billing:bill_detail": "text/html; charset=utf-8",
        "billing:bill_pdf": "application/pdf",
        "billing:bill_explanation": "text/csv; charset=utf-8",
    }[name]
    assert response["Content-Type"] == expected


@pytest.mark.parametrize("name", PAGES)
def test_other_customer_gets_404_for_each_bill_page_and_download(
    name: str, customer: User, other_customer: User, account: Account, media_root: Path
) -> None:
    bill = _bill(account, "30.00", 3)
    response = client_for(other_customer).get(reverse(name, args=[bill.pk]))
    assert response.status_code == 404
    bill.refresh_from_db()
    assert not bill.pdf
    assert bill.pdf_rendered_at is None
    assert not media_root.exists() or not any(media_root.rglob("*.pdf"))


@pytest.mark.parametrize("name", PAGES)
def test_draft_bill_is_404_even_for_its_owner(name: str, customer: User, account: Account) -> None:
    from apps.billing.tests.factories import draft_bill

    draft = draft_bill(account=account, total=Decimal("10.00"), period_start=dt.date(2026, 6, 1))
    assert client_for(customer).get(reverse(name, args=[draft.pk])).status_code == 404


@pytest.mark.parametrize("name", [*PAGES, "billing:history"])
def test_anonymous_visitor_is_sent_to_sign_in(name: str, account: Account) -> None:
    bill = _bill(account, "30.00", 3)
    url = reverse(name) if name == "billing:history" else reverse(name, args=[bill.pk])
    response = client_for(None).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_pdf_download_serves_the_stored_file_and_renders_once(
    customer: User, account: Account
) -> None:
    bill = _bill(account, "30.00", 3)
    client = client_for(customer)
    first = client.get(reverse("billing:bill_pdf", args=[bill.pk]))
    content = b"".join(first.streaming_content)  # type: ignore[attr-defined]
    assert content.startswith(b"%PDF-")
    assert first["Content-Disposition"] == f'attachment; filename="{bill.invoice_number}.pdf"'
    bill.refresh_from_db()
    assert bill.pdf.name.endswith(f"{bill.invoice_number}.pdf")
    rendered_at = bill.pdf_rendered_at
    assert rendered_at is not None
    second = client.get(reverse("billing:bill_pdf", args=[bill.pk]))
    assert b"".join(second.streaming_content) == content  # type: ignore[attr-defined]
    bill.refresh_from_db()
    assert bill.pdf_rendered_at == rendered_at
