"""A customer reaches only their own contracts: someone else's id is a 404 and changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from django.test import Client

from apps.accounts.models import Membership, User
from apps.contracts.models import Contract, ContractStatusChange
from apps.contracts.tests.factories import (
    madrid,
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
    make_terms,
)

pytestmark = pytest.mark.django_db
Status = Contract.Status


@pytest.fixture(autouse=True)
def _frozen() -> object:
    with time_machine.travel(madrid(2026, 3, 10, 10, 0), tick=False):
        yield


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _their_contract(other_customer: User, status: str = Status.COOLING_OFF) -> Contract:
    return make_contract(
        account=make_account(other_customer, name="Bruno"),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 12),
        status=status,
        signed_at=madrid(2026, 3, 9),
        cooling_off_ends_at=madrid(2026, 3, 24),
    )


def _snapshot() -> tuple[list[tuple[object, ...]], int]:
    rows = list(
        Contract.objects.order_by("id").values_list(
            "id", "status", "tariff", "end_date", "exit_fee"
        )
    )
    return rows, ContractStatusChange.objects.count()


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("get", "", {}),
        ("get", "compare/", {}),
        ("get", "compare/?annual_kwh=2000", {}),
        ("get", "switch/", {}),
        ("post", "switch/", {"effective_date": "2026-04-01"}),
        ("post", "switch/", {"effective_date": "2026-04-01", "confirm": "yes"}),
        ("get", "cancel/", {}),
        ("post", "cancel/", {"reason": "not mine"}),
    ],
)
def test_another_customers_contract_is_not_found_and_nothing_changes(
    customer: User, other_customer: User, method: str, suffix: str, data: dict[str, str]
) -> None:
    make_account(customer)
    theirs = _their_contract(other_customer)
    target = make_tariff("night")
    if "effective_date" in data:
        data = {**data, "tariff": str(target.pk)}
    before = _snapshot()
    response = getattr(_client(customer), method)(f"/my/contracts/{theirs.pk}/{suffix}", data)
    assert response.status_code == 404
    assert _snapshot() == before


def test_owner_reaches_the_same_pages(other_customer: User) -> None:
    theirs = _their_contract(other_customer, status=Status.ACTIVE)
    client = _client(other_customer)
    for suffix in ("", "compare/", "switch/", "cancel/"):
        assert client.get(f"/my/contracts/{theirs.pk}/{suffix}").status_code == 200, suffix


def test_contract_list_shows_only_the_customers_own_contracts(
    customer: User, other_customer: User
) -> None:
    mine = make_contract(
        account=make_account(customer),
        supply_point=make_supply_point(),
        tariff=make_tariff("mine"),
        start_date=dt.date(2026, 1, 1),
    )
    theirs = _their_contract(other_customer)
    body = _client(customer).get("/my/contracts/").content.decode()
    assert mine.number in body
    assert theirs.number not in body
    assert theirs.supply_point.external_id not in body


def test_sign_up_offers_only_the_customers_own_supply_points(
    customer: User, other_customer: User
) -> None:
    make_account(customer)
    make_terms()
    theirs = _their_contract(other_customer)
    body = _client(customer).get("/my/contracts/new/").content.decode()
    assert theirs.supply_point.external_id not in body


@pytest.mark.parametrize("suffix", ["", "new/", "1/", "1/compare/", "1/switch/", "1/cancel/"])
def test_anonymous_visitor_is_sent_to_sign_in(suffix: str) -> None:
    response = Client().get(f"/my/contracts/{suffix}")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_unknown_contract_id_is_not_found(customer: User) -> None:
    make_account(customer)
    assert _client(customer).get("/my/contracts/999999/").status_code == 404


@pytest.mark.parametrize(
    ("suffix", "data"),
    [
        ("switch/", {"effective_date": "2026-04-01", "confirm": "yes"}),
        ("cancel/", {"reason": "member tries"}),
    ],
)
def test_member_sees_but_cannot_change_a_contract(
    customer: User, make_user: Callable[..., User], suffix: str, data: dict[str, str]
) -> None:
    contract = make_contract(
        account=make_account(customer),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 12),
        status=Status.ACTIVE if suffix == "switch/" else Status.COOLING_OFF,
        signed_at=madrid(2026, 3, 9),
        cooling_off_ends_at=madrid(2026, 3, 24),
    )
    Contract.objects.filter(pk=contract.pk).update(start_date=dt.date(2025, 1, 1))
    member = make_user("member@example.com")
    Membership.objects.create(user=member, account=contract.account, role=Membership.Role.MEMBER)
    if "effective_date" in data:
        data = {**data, "tariff": str(make_tariff("night").pk)}
    client = _client(member)
    page = client.get(f"/my/contracts/{contract.pk}/{suffix}")
    assert page.status_code == 200
    assert "Only an owner of the account can" in page.content.decode()
    before = _snapshot()
    assert client.post(f"/my/contracts/{contract.pk}/{suffix}", data).status_code == 403
    assert _snapshot() == before
