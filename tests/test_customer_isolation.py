"""A customer can neither see nor change another customer's account, through any page or fragment.

Every customer page and htmx fragment of the overview and profile is tried with
the other customer's account id: each answers 404 (the account's existence is
not revealed) and afterwards nothing about the other customer has changed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.test import Client

from apps.accounts.models import (
    Account,
    Address,
    CommunicationPreference,
    ConsentRecord,
    User,
)
from apps.accounts.selectors import SESSION_ACCOUNT_KEY
from apps.accounts.services import consent_record
from apps.portal.tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def mine(customer: User) -> Account:
    return factories.account_for(customer, name="Ana García")


@pytest.fixture
def theirs(other_customer: User) -> Account:
    account = factories.account_for(
        other_customer, name="Bruno Díaz", postcode="46001", city="Valencia"
    )
    factories.contract(account, on=factories.tariff("secret-tou", "Bruno's tariff"))
    consent_record(
        customer=account.customer,
        kind=ConsentRecord.Kind.MARKETING,
        granted=True,
        actor=other_customer,
        ip_address="198.51.100.4",
        channel=ConsentRecord.Channel.PORTAL,
        now=dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC),
    )
    return account


@pytest.fixture
def client(customer: User, mine: Account) -> Client:
    client = Client()
    client.force_login(customer)
    client.post("/my/switch-account/", {"account": mine.pk})
    return client


def _state(account: Account) -> tuple[object, ...]:
    """Everything a page could change about ``account`` and its customer."""
    account.refresh_from_db()
    customer = account.customer
    customer.refresh_from_db()
    preference = CommunicationPreference.objects.get(customer=customer)
    return (
        customer.name,
        customer.email,
        customer.phone,
        account.billing_address_id,
        account.billing_address.as_lines(),
        Address.objects.count(),
        (preference.paperless_bills, preference.email_notifications, preference.sms_notifications),
        list(
            ConsentRecord.objects.filter(customer=customer)
            .order_by("id")
            .values_list("kind", "granted")
        ),
        LogEntry.objects.count(),
    )


def _requests(theirs: Account) -> list[tuple[str, str, dict[str, object]]]:
    pk = theirs.pk
    return [
        ("get", f"/my/profile/?account={pk}", {}),
        ("get", f"/my/profile/preferences/?account={pk}", {}),
        ("post", "/my/switch-account/", {"account": pk}),
        (
            "post",
            "/my/profile/contact/",
            {"account": pk, "email": "ana@example.com", "phone": "600000000"},
        ),
        (
            "post",
            "/my/profile/address/",
            {
                "account": pk,
                "line1": "Calle Falsa 123",
                "postcode": "28001",
                "city": "Madrid",
                "country": "ES",
            },
        ),
        (
            "post",
            "/my/profile/preferences/",
            {"account": pk, "sms_notifications": "", "consent_marketing": ""},
        ),
    ]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx-fragment"])
@pytest.mark.parametrize("index", range(6))
def test_another_customers_account_is_404_everywhere_and_nothing_changes(
    client: Client, mine: Account, theirs: Account, index: int, htmx: bool
) -> None:
    method, url, data = _requests(theirs)[index]
    before_theirs, before_mine = _state(theirs), _state(mine)
    headers = HTMX if htmx else {}
    response = getattr(client, method)(url, data, **headers)
    assert response.status_code == 404, (method, url)
    assert theirs.number.encode() not in response.content
    assert b"Bruno" not in response.content
    assert _state(theirs) == before_theirs
    assert _state(mine) == before_mine
    assert client.session[SESSION_ACCOUNT_KEY] == mine.pk


def test_overview_shows_only_the_customers_own_account(
    client: Client, mine: Account, theirs: Account
) -> None:
    body = client.get("/my/").content.decode()
    assert mine.number in body
    assert theirs.number not in body
    assert "Bruno" not in body
    assert theirs.contracts.get().supply_point.external_id not in body  # type: ignore[attr-defined]


def test_a_tampered_session_still_shows_only_the_customers_own_account(
    client: Client, mine: Account, theirs: Account
) -> None:
    session = client.session
    session[SESSION_ACCOUNT_KEY] = theirs.pk
    session.save()
    response = client.get("/my/")
    assert response.context["account"].pk == mine.pk
    assert theirs.number not in response.content.decode()
    assert client.get("/my/profile/").context["account"].pk == mine.pk
    assert client.get("/my/profile/preferences/").context["account"].pk == mine.pk


def test_the_staff_customer_360_is_refused_to_a_customer(
    client: Client, theirs: Account, mine: Account
) -> None:
    for customer_id in (theirs.customer_id, mine.customer_id):
        response = client.get(f"/staff/customers/{customer_id}/")
        assert response.status_code == 403
        assert b"Bruno" not in response.content


def test_the_same_requests_on_the_customers_own_account_work(
    client: Client, mine: Account, theirs: Account
) -> None:
    """The control: the 404s above come from ownership, not from malformed requests."""
    statuses = []
    for method, url, data in _requests(mine):
        response = getattr(client, method)(url, data)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 302, 302, 302, 302]
