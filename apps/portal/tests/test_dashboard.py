"""The customer's account overview and switching between their accounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.accounts.selectors import SESSION_ACCOUNT_KEY
from apps.contracts.models import Contract
from apps.portal.tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_customer_sees_account_contracts_and_supply_points(customer: User) -> None:
    account = factories.account_for(customer)
    point = factories.supply_point(line1="Carrer de Mallorca 10", postcode="08001")
    factories.contract(
        account,
        point=point,
        on=factories.tariff("tou-3", "Time of use 3 periods"),
        start_date=dt.date(2025, 2, 1),
        end_date=dt.date(2026, 2, 1),
        status=Contract.Status.ENDED,
    )
    factories.contract(
        account,
        point=point,
        on=factories.tariff("flat-24", "Flat 24"),
        start_date=dt.date(2026, 2, 1),
    )
    response = _client(customer).get("/my/")
    assert response.status_code == 200
    body = response.content.decode()
    assert account.number in body
    assert "Ana García" in body
    assert "Calle de Alcalá 1" in body
    assert point.external_id in body
    assert "Carrer de Mallorca 10" in body
    assert "Time of use 3 periods" in body
    assert "Flat 24" in body
    assert "31 Jan 2026" in body  # last day of supply of the ended contract (end is exclusive)
    assert "You are all paid up." in body  # billing: no ledger entries, no bills yet
    assert "No bills yet." in body
    assert 'name="account"' not in body  # one account: no switcher
    rows = response.context["contracts"]
    assert [r["contract"].tariff.code for r in rows] == ["flat-24", "tou-3"]
    assert [i["contract"].tariff.code for i in response.context["supply_points"]] == ["flat-24"]


def test_dashboard_queries_do_not_grow_with_contracts(
    customer: User, django_assert_max_num_queries: Callable[..., object]
) -> None:
    account = factories.account_for(customer)
    for _ in range(6):
        factories.contract(account)
    client = _client(customer)
    client.get("/my/")  # warm the session and content types
    with django_assert_max_num_queries(12):  # type: ignore[operator]
        assert client.get("/my/").status_code == 200


def test_customer_without_accounts_sees_the_empty_state(customer: User) -> None:
    response = _client(customer).get("/my/")
    assert response.status_code == 200
    assert b"No electricity accounts yet" in response.content


def test_customer_with_two_accounts_switches_between_them(customer: User) -> None:
    first = factories.account_for(customer, name="Ana García")
    second = factories.account_for(
        customer, name="Ana's bakery SL", postcode="46001", city="Valencia"
    )
    client = _client(customer)
    page = client.get("/my/")
    assert b'name="account"' in page.content
    shown_first = page.context["account"]
    other = second if shown_first.pk == first.pk else first
    response = client.post("/my/switch-account/", {"account": other.pk, "next": "/my/"})
    assert response.status_code == 302
    assert response["Location"] == "/my/"
    assert client.session[SESSION_ACCOUNT_KEY] == other.pk
    assert client.get("/my/").context["account"].pk == other.pk


def test_switching_through_htmx_returns_the_new_overview(customer: User) -> None:
    factories.account_for(customer)
    second = factories.account_for(customer, name="Ana's bakery SL")
    response = _client(customer).post("/my/switch-account/", {"account": second.pk}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="account-overview"')
    assert second.number in body
    assert "Ana&#x27;s bakery SL" in body


def test_switching_to_someone_elses_account_is_404_and_the_session_is_unchanged(
    customer: User, other_customer: User
) -> None:
    mine = factories.account_for(customer)
    theirs = factories.account_for(other_customer, name="Bruno Díaz")
    client = _client(customer)
    client.post("/my/switch-account/", {"account": mine.pk})
    response = client.post("/my/switch-account/", {"account": theirs.pk})
    assert response.status_code == 404
    assert client.session[SESSION_ACCOUNT_KEY] == mine.pk
    assert client.get("/my/").context["account"].pk == mine.pk


def test_switching_refuses_get_and_garbage(customer: User) -> None:
    factories.account_for(customer)
    client = _client(customer)
    assert client.get("/my/switch-account/").status_code == 405
    assert client.post("/my/switch-account/", {"account": "abc"}).status_code == 404
    assert SESSION_ACCOUNT_KEY not in client.session


def test_switching_never_redirects_off_site(customer: User) -> None:
    account = factories.account_for(customer)
    response = _client(customer).post(
        "/my/switch-account/", {"account": account.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/my/"
