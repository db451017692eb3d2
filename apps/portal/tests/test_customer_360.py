"""The staff customer-360 page: who may open it and what it gathers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import ConsentRecord, User
from apps.accounts.services import consent_record, customer_update_contact
from apps.portal.tests import factories
from conftest import enable_totp, verified_client

pytestmark = pytest.mark.django_db


def _url(customer_id: int) -> str:
    return f"/staff/customers/{customer_id}/"


def test_support_agent_with_second_factor_sees_everything_together(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = factories.account_for(customer)
    contract = factories.contract(account, on=factories.tariff("tou-3", "Time of use 3"))
    agent = make_user("agent@staff.example.com", role="support_agent")
    consent_record(
        customer=account.customer,
        kind=ConsentRecord.Kind.MARKETING,
        granted=True,
        actor=customer,
        ip_address="203.0.113.9",
        channel=ConsentRecord.Channel.PORTAL,
        now=dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC),
    )
    customer_update_contact(customer=account.customer, phone="600112233", actor=agent)
    response = verified_client(agent).get(_url(account.customer_id))
    assert response.status_code == 200
    body = response.content.decode()
    for expected in (
        account.number,
        "ana@example.com (Owner)",
        contract.number,
        "Time of use 3",
        contract.supply_point.external_id,
        "Carrer de Mallorca 10",
        "203.0.113.9",
    ):
        assert expected in body, expected
    audit = response.context["audit"]
    assert audit[0].actor == agent
    assert audit[0].changes_dict["phone"] == ["", "600112233"]
    assert {e.content_type.model for e in audit} >= {"customer", "account", "consentrecord"}


def test_customer_is_refused(customer: User) -> None:
    account = factories.account_for(customer)
    client = verified_client(customer)
    assert client.get(_url(account.customer_id)).status_code == 403


def test_staff_without_a_second_factor_is_sent_to_set_one_up(
    make_user: Callable[..., User],
) -> None:
    account = factories.account_for(None)
    agent = make_user("agent@staff.example.com", role="support_agent")
    client = Client()
    client.force_login(agent)
    response = client.get(_url(account.customer_id))
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"/account/2fa/setup/?next=%2Fstaff%2Fcustomers%2F{account.customer_id}%2F"
    )


def test_staff_with_an_unverified_session_is_asked_for_the_code(
    make_user: Callable[..., User],
) -> None:
    account = factories.account_for(None)
    agent = make_user("agent@staff.example.com", role="support_agent")
    enable_totp(agent)
    client = Client()
    client.force_login(agent)
    response = client.get(_url(account.customer_id))
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/verify/")


def test_staff_without_the_customer_permission_is_refused(
    make_user: Callable[..., User],
) -> None:
    account = factories.account_for(None)
    operations = make_user("ops@staff.example.com", role="operations")
    assert verified_client(operations).get(_url(account.customer_id)).status_code == 403


def test_anonymous_visitor_is_sent_to_sign_in() -> None:
    response = Client().get(_url(1))
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_unknown_customer_is_404(make_user: Callable[..., User]) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    assert verified_client(agent).get(_url(999999)).status_code == 404


def test_customer_admin_page_links_to_the_360(make_user: Callable[..., User]) -> None:
    account = factories.account_for(None)
    agent = make_user("agent@staff.example.com", role="support_agent")
    page = verified_client(agent).get(f"/admin/accounts/customer/{account.customer_id}/change/")
    assert page.status_code == 200
    assert f'href="{_url(account.customer_id)}"'.encode() in page.content
