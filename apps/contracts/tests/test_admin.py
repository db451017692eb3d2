"""Staff manage contracts in the admin; status moves only through the transition service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.contracts import selectors
from apps.contracts.models import Contract, ContractDiscount, ContractStatusChange, TermsAcceptance
from apps.contracts.tests.factories import (
    madrid,
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
    make_terms,
)
from apps.tariffs import rating

pytestmark = pytest.mark.django_db
Status = Contract.Status
ADMIN = "/admin/contracts/contract/"


def test_admin_action_activates_contracts_through_the_transition_service(
    staff_client_for: Callable[[str], Client],
) -> None:
    client = staff_client_for("administrator")
    account = make_account(None)
    tariff = make_tariff("flat")
    pending = make_contract(
        account=account,
        supply_point=make_supply_point(),
        tariff=tariff,
        start_date=dt.date(2026, 3, 1),
        status=Status.PENDING,
    )
    ended = make_contract(
        account=account,
        supply_point=make_supply_point(),
        tariff=tariff,
        start_date=dt.date(2025, 3, 1),
        end_date=dt.date(2026, 1, 1),
        status=Status.ENDED,
    )
    response = client.post(
        ADMIN,
        {"action": "transition_to_active", "_selected_action": [pending.pk, ended.pk]},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert f"Contract {ended.number} cannot go from Ended to Active." in messages
    assert "1 contract(s) moved to Active." in messages
    assert Contract.objects.get(pk=pending.pk).status == Status.ACTIVE
    assert Contract.objects.get(pk=ended.pk).status == Status.ENDED
    change = ContractStatusChange.objects.filter(contract=pending).order_by("id").last()
    assert change is not None
    assert change.actor_label == "staff:administrator@staff.example.com"
    assert change.actor == User.objects.get(email="administrator@staff.example.com")


def test_contract_change_page_shows_status_read_only_with_history_and_discounts(
    staff_client_for: Callable[[str], Client],
) -> None:
    client = staff_client_for("administrator")
    contract = make_contract(
        account=make_account(None),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 1),
    )
    ContractDiscount.objects.create(
        contract=contract,
        kind=ContractDiscount.Kind.ENERGY_PERCENT,
        value=Decimal("10"),
        valid_from=dt.date(2026, 3, 1),
        label="Loyalty 10 %",
    )
    response = client.get(f"{ADMIN}{contract.pk}/change/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="status"' not in body
    assert "Loyalty 10 %" in body
    assert "Status history" in body
    list_page = client.get(ADMIN)
    assert list_page.status_code == 200
    assert contract.number in list_page.content.decode()


def test_staff_adds_a_contract_and_it_gets_a_number_and_a_first_status_row(
    staff_client_for: Callable[[str], Client],
) -> None:
    client = staff_client_for("administrator")
    account = make_account(None)
    point = make_supply_point()
    tariff = make_tariff("flat")
    response = client.post(
        f"{ADMIN}add/",
        {
            "account": account.pk,
            "supply_point": point.pk,
            "tariff": tariff.pk,
            "start_date": "2026-04-01",
            "end_date": "",
            "discounts-TOTAL_FORMS": "0",
            "discounts-INITIAL_FORMS": "0",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "acceptance-TOTAL_FORMS": "0",
            "acceptance-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    contract = Contract.objects.get(supply_point=point)
    assert contract.status == Status.PENDING
    assert contract.number.startswith("C-")
    assert list(contract.status_changes.values_list("to_status", "actor_label")) == [  # type: ignore[attr-defined]
        ("PENDING", "staff:administrator@staff.example.com")
    ]


def test_accepted_terms_cannot_be_edited_or_deleted(
    staff_client_for: Callable[[str], Client], customer: User
) -> None:
    client = staff_client_for("administrator")
    terms = make_terms(body="Original text")
    contract = make_contract(
        account=make_account(customer),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 1),
    )
    TermsAcceptance.objects.create(
        contract=contract, terms=terms, user=customer, accepted_at=madrid(2026, 2, 1)
    )
    page = client.get(f"/admin/contracts/termsversion/{terms.pk}/change/").content.decode()
    assert 'name="body"' not in page
    assert "Original text" in page
    assert client.get(f"/admin/contracts/termsversion/{terms.pk}/delete/").status_code == 403


def test_contract_discounts_become_their_own_priced_line() -> None:
    contract = make_contract(
        account=make_account(None),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 1, 1),
    )
    ContractDiscount.objects.create(
        contract=contract,
        kind=ContractDiscount.Kind.DAILY_CREDIT,
        value=Decimal("0.05"),
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 1, 11),
        label="Welcome credit",
    )
    ContractDiscount.objects.create(
        contract=contract,
        kind=ContractDiscount.Kind.ENERGY_PERCENT,
        value=Decimal("10"),
        valid_from=dt.date(2026, 1, 1),
        label="Loyalty",
    )
    tz = madrid(2026, 1, 1).tzinfo
    discounts = selectors.rating_discounts(contract=contract, tz=tz)  # type: ignore[arg-type]
    assert [(d.kind, d.value, d.label) for d in discounts] == [
        ("DAILY_CREDIT", Decimal("0.050000"), "Welcome credit"),
        ("ENERGY_PERCENT", Decimal("10.000000"), "Loyalty"),
    ]
    assert discounts[0].valid_to == madrid(2026, 1, 11)
    start, end = rating.month_bounds(2026, 1, tz)  # type: ignore[arg-type]
    version = rating.PriceVersion(
        valid_from=start,
        valid_to=None,
        standing_charge_per_day=Decimal(0),
        energy=rating.EnergyStructure.flat(Decimal("0.20")),
    )
    result = rating.rate(
        versions=[version],
        intervals=[rating.Interval(start, 60, Decimal("100"))],
        period_start=start,
        period_end=end,
        tz=tz,  # type: ignore[arg-type]
        discounts=discounts,
    )
    lines = [(line.label, line.amount) for line in result.lines if line.component == "DISCOUNT"]
    assert lines == [("Welcome credit", Decimal("-0.50")), ("Loyalty", Decimal("-2.00"))]
    assert result.total == Decimal("17.50")


def test_admin_add_form_names_the_contract_in_the_way(
    staff_client_for: Callable[[str], Client],
) -> None:
    client = staff_client_for("administrator")
    account = make_account(None)
    point = make_supply_point()
    tariff = make_tariff("flat")
    existing = make_contract(
        account=account, supply_point=point, tariff=tariff, start_date=dt.date(2026, 1, 1)
    )
    response = client.post(
        f"{ADMIN}add/",
        {
            "account": account.pk,
            "supply_point": point.pk,
            "tariff": tariff.pk,
            "start_date": "2026-04-01",
            "end_date": "",
            "discounts-TOTAL_FORMS": "0",
            "discounts-INITIAL_FORMS": "0",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "acceptance-TOTAL_FORMS": "0",
            "acceptance-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["start_date"] == [
        f"Supply point {point.external_id} already has contract {existing.number} "
        "from 2026-01-01 to no end date."
    ]
    assert list(Contract.objects.filter(supply_point=point)) == [existing]
