"""A customer can reach none of another customer's bills, documents or payments.

Every billing page, download and payment step is tried with the other customer's
bill or payment: each answers 404 (its existence is not revealed), and afterwards
nothing about the other customer's billing has changed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.billing.ledger import payment_record
from apps.billing.models import Bill, LedgerEntry, Payment
from apps.billing.tests.factories import issued_bill, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(customer: User, other_customer: User) -> dict[str, object]:
    mine = make_account(customer, name="Ana García")
    theirs = make_account(other_customer, name="Bruno Díaz")
    my_bill = issued_bill(account=mine, total=Decimal("42.00"))
    their_bill = issued_bill(account=theirs, total=Decimal("99.99"))
    their_payment = payment_record(
        account=theirs,
        bill=their_bill,
        amount=Decimal("99.99"),
        method=Payment.Method.CARD,
        status=Payment.Status.PENDING,
        gateway="local",
        gateway_reference="pi_local_theirs",
        actor_label="test",
    )
    client = Client()
    client.force_login(customer)
    return {"client": client, "mine": my_bill, "theirs": their_bill, "payment": their_payment}


def _state() -> tuple[object, ...]:
    return (
        list(Bill.objects.order_by("id").values_list("id", "status", "pdf", "total")),
        list(Payment.objects.order_by("id").values_list("id", "status", "amount")),
        LedgerEntry.objects.count(),
    )


def test_every_billing_door_answers_404_for_someone_elses_bill(scene: dict) -> None:
    client: Client = scene["client"]
    theirs: Bill = scene["theirs"]
    payment: Payment = scene["payment"]
    before = _state()
    gets = [
        reverse("billing:bill_detail", args=[theirs.pk]),
        reverse("billing:bill_pdf", args=[theirs.pk]),
        reverse("billing:bill_explanation", args=[theirs.pk]),
        reverse("billing:card_return", args=[payment.pk]),
        reverse("billing:card_checkout", args=[payment.pk]),
        reverse("billing:local_gateway_page", args=[payment.gateway_reference]),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("billing:card_pay", args=[theirs.pk])).status_code == 404
    assert _state() == before


def test_history_lists_only_the_customers_own_bills(scene: dict) -> None:
    page = scene["client"].get(reverse("billing:history")).content.decode()
    assert scene["mine"].invoice_number in page
    assert scene["theirs"].invoice_number not in page
    assert "99.99" not in page
