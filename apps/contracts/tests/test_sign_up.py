"""A customer signs up for supply online; cancels inside the cooling-off period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from apps.accounts.models import Account, Address, Customer, Membership, User
from apps.accounts.selectors import SESSION_ACCOUNT_KEY
from apps.contracts import services
from apps.contracts.models import Contract, ContractStatusChange, TermsAcceptance
from apps.contracts.tests.factories import (
    madrid,
    make_account,
    make_contract,
    make_supply_point,
    make_tariff,
    make_terms,
)
from apps.metering.identifiers import make_cups
from apps.metering.models import Premise, SupplyPoint
from apps.tariffs.models import Tariff

pytestmark = pytest.mark.django_db
Status = Contract.Status
NOW = madrid(2026, 3, 10, 10, 0)
SIGN_UP = "/my/contracts/new/"


@pytest.fixture(autouse=True)
def frozen_clock() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _client(user: User) -> Client:
    client = Client(HTTP_USER_AGENT="TestBrowser/1.0")
    client.force_login(user)
    return client


def _new_point_form(
    account: Account, tariff: Tariff, terms_id: int, **extra: str
) -> dict[str, str]:
    data = {
        "account": str(account.pk),
        "supply_point": "new",
        "cups": make_cups(31, 4242),
        "line1": "Calle Nueva 3",
        "line2": "2º B",
        "postcode": "46001",
        "city": "Valencia",
        "premise_kind": "APARTMENT",
        "tariff": str(tariff.pk),
        "start_date": "2026-03-11",
        "terms_version": str(terms_id),
        "accept_terms": "on",
    }
    data.update(extra)
    return data


def test_customer_signs_up_with_a_new_supply_point(customer: User) -> None:
    account = make_account(customer)
    tariff = make_tariff("green-flat", name="Green Flat")
    terms = make_terms("2026-1")
    response = _client(customer).post(SIGN_UP, _new_point_form(account, tariff, terms.pk))
    contract = Contract.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == f"/my/contracts/{contract.pk}/"
    assert contract.status == Status.COOLING_OFF
    assert contract.tariff == tariff
    assert contract.start_date == dt.date(2026, 3, 11)
    assert contract.end_date is None
    assert contract.signed_at == NOW
    # Signed on 10 March: the 14 days are 11..24 March; cancellable until 25 March 00:00.
    assert contract.cooling_off_ends_at == madrid(2026, 3, 25)
    point = contract.supply_point
    assert point.external_id == make_cups(31, 4242)
    assert str(point.premise.address) == "Calle Nueva 3, 2º B, 46001 Valencia"
    assert point.premise.kind == Premise.Kind.APARTMENT
    acceptance = TermsAcceptance.objects.get(contract=contract)
    assert (acceptance.terms, acceptance.user, acceptance.accepted_at) == (terms, customer, NOW)
    assert (acceptance.ip_address, acceptance.user_agent) == ("127.0.0.1", "TestBrowser/1.0")
    changes = list(
        ContractStatusChange.objects.filter(contract=contract)
        .order_by("id")
        .values_list("from_status", "to_status", "actor", "actor_label")
    )
    assert changes == [
        ("", "PENDING", customer.pk, "customer:ana@example.com"),
        ("PENDING", "COOLING_OFF", customer.pk, "customer:ana@example.com"),
    ]
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contract), object_pk=str(contract.pk)
    )
    assert entries.count() >= 2
    assert {entry.actor_id for entry in entries} == {customer.pk}


def test_customer_signs_up_on_a_supply_point_of_their_account(customer: User) -> None:
    account = make_account(customer)
    point = make_supply_point()
    old_tariff = make_tariff("old")
    make_contract(
        account=account,
        supply_point=point,
        tariff=old_tariff,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2026, 3, 1),
        status=Status.ENDED,
    )
    terms = make_terms()
    contract = services.contract_sign_up(
        account=account,
        user=customer,
        tariff=make_tariff("new"),
        start_date=dt.date(2026, 4, 1),
        terms=terms,
        accepted_terms=True,
        supply_point=point,
        ip_address="203.0.113.9",
        user_agent="x" * 400,
        now=NOW,
    )
    assert contract.supply_point == point
    assert contract.status == Status.COOLING_OFF
    acceptance = TermsAcceptance.objects.get(contract=contract)
    assert acceptance.ip_address == "203.0.113.9"
    assert acceptance.user_agent == "x" * 300


def test_sign_up_page_shows_terms_tariffs_and_their_prices(customer: User) -> None:
    make_account(customer)
    make_tariff("green-flat", name="Green Flat", rate="0.123456", standing="0.2")
    make_tariff("business-only", name="Business Only", segment=Tariff.Segment.SME)
    make_terms("7", body="You may cancel within fourteen days.")
    response = _client(customer).get(SIGN_UP)
    body = response.content.decode()
    assert response.status_code == 200
    assert "You may cancel within fourteen days." in body
    assert "version 7" in body
    assert "Green Flat" in body
    assert "0.123456 EUR/kWh" in body
    assert "0.20 EUR/day" in body
    assert "Business Only" not in body
    assert 'min="2026-03-11"' in body
    assert 'max="2026-06-08"' in body


def test_bad_cups_is_shown_on_its_field_and_nothing_is_stored(customer: User) -> None:
    account = make_account(customer)
    tariff = make_tariff("flat")
    terms = make_terms()
    bad = make_cups(31, 4242)[:-2] + "ZZ"
    response = _client(customer).post(SIGN_UP, _new_point_form(account, tariff, terms.pk, cups=bad))
    assert response.status_code == 200
    form = response.context["form"]
    expected = make_cups(31, 4242)[-2:]
    assert form.errors["cups"] == [f"The check letters of this CUPS should be {expected}, not ZZ."]
    assert not Contract.objects.filter(account=account).exists()
    assert not SupplyPoint.objects.exists()


def test_missing_premise_address_is_refused_on_its_fields(customer: User) -> None:
    account = make_account(customer)
    tariff = make_tariff("flat")
    terms = make_terms()
    response = _client(customer).post(
        SIGN_UP, _new_point_form(account, tariff, terms.pk, line1="", city="")
    )
    form = response.context["form"]
    assert form.errors["line1"] == ["Enter the address of the new supply point."]
    assert form.errors["city"] == ["Enter the city of the new supply point."]
    assert not SupplyPoint.objects.exists()


def test_bad_premise_postcode_is_refused_by_the_address_rules(customer: User) -> None:
    account = make_account(customer)
    tariff = make_tariff("flat")
    terms = make_terms()
    addresses_before = Address.objects.count()
    response = _client(customer).post(
        SIGN_UP, _new_point_form(account, tariff, terms.pk, postcode="99")
    )
    assert response.context["form"].errors["postcode"] == [
        "A Spanish postcode is five digits from 01000 to 52999."
    ]
    assert not SupplyPoint.objects.exists()
    assert Address.objects.count() == addresses_before


@pytest.mark.parametrize("start", ["2026-03-10", "2026-03-09", "2026-06-09"])
def test_start_date_outside_tomorrow_to_90_days_is_refused(customer: User, start: str) -> None:
    account = make_account(customer)
    tariff = make_tariff("flat")
    terms = make_terms()
    response = _client(customer).post(
        SIGN_UP, _new_point_form(account, tariff, terms.pk, start_date=start)
    )
    assert response.context["form"].errors["start_date"] == [
        "The start date must be between 2026-03-11 and 2026-06-08."
    ]
    assert not Contract.objects.filter(account=account).exists()
    assert not SupplyPoint.objects.exists()


def test_unticked_terms_are_refused(customer: User) -> None:
    account = make_account(customer)
    tariff = make_tariff("flat")
    terms = make_terms()
    data = _new_point_form(account, tariff, terms.pk)
    del data["accept_terms"]
    response = _client(customer).post(SIGN_UP, data)
    assert response.context["form"].errors["accept_terms"] == [
        "Please read and accept the terms to sign up."
    ]
    assert not Contract.objects.filter(account=account).exists()


def test_terms_published_while_signing_must_be_read_first(customer: User) -> None:
    account = make_account(customer)
    tariff = make_tariff("flat")
    old = make_terms("1", published_at=madrid(2025, 1, 1))
    make_terms("2", published_at=madrid(2026, 3, 10, 9, 0))
    response = _client(customer).post(SIGN_UP, _new_point_form(account, tariff, old.pk))
    assert response.context["form"].errors["accept_terms"] == [
        "The terms have changed since you opened this page. Please read the new version."
    ]
    assert not Contract.objects.filter(account=account).exists()
    with pytest.raises(services.TermsNotAccepted):
        services.contract_sign_up(
            account=account,
            user=customer,
            tariff=tariff,
            start_date=dt.date(2026, 4, 1),
            terms=old,
            accepted_terms=True,
            new_supply_point=services.NewSupplyPoint(
                cups=make_cups(31, 1), line1="x", postcode="28001", city="Madrid"
            ),
            now=NOW,
        )
    assert not SupplyPoint.objects.exists()


def test_tariff_of_another_segment_is_refused(customer: User) -> None:
    account = make_account(customer, segment=Customer.Segment.RESIDENTIAL)
    business = make_tariff("sme", name="SME Flat", segment=Tariff.Segment.SME)
    with pytest.raises(services.TariffNotAvailable) as excinfo:
        services.contract_sign_up(
            account=account,
            user=customer,
            tariff=business,
            start_date=dt.date(2026, 4, 1),
            terms=make_terms(),
            accepted_terms=True,
            new_supply_point=services.NewSupplyPoint(
                cups=make_cups(31, 1), line1="x", postcode="28001", city="Madrid"
            ),
            now=NOW,
        )
    assert str(excinfo.value) == "Tariff SME Flat is not available to you."
    assert not SupplyPoint.objects.exists()


def test_someone_else_may_not_sign_up_for_an_account(customer: User, other_customer: User) -> None:
    account = make_account(customer)
    with pytest.raises(services.NotAMember):
        services.contract_sign_up(
            account=account,
            user=other_customer,
            tariff=make_tariff("flat"),
            start_date=dt.date(2026, 4, 1),
            terms=make_terms(),
            accepted_terms=True,
            new_supply_point=services.NewSupplyPoint(
                cups=make_cups(31, 1), line1="x", postcode="28001", city="Madrid"
            ),
            now=NOW,
        )
    assert not Contract.objects.exists()


def test_supply_point_of_another_account_cannot_be_chosen(
    customer: User, other_customer: User
) -> None:
    account = make_account(customer)
    theirs = make_supply_point()
    make_contract(
        account=make_account(other_customer),
        supply_point=theirs,
        tariff=make_tariff("flat"),
        start_date=dt.date(2025, 1, 1),
    )
    with pytest.raises(services.InvalidSupplyPoint) as excinfo:
        services.contract_sign_up(
            account=account,
            user=customer,
            tariff=make_tariff("other"),
            start_date=dt.date(2026, 4, 1),
            terms=make_terms(),
            accepted_terms=True,
            supply_point=theirs,
            now=NOW,
        )
    assert str(excinfo.value) == f"Supply point {theirs.external_id} is not one of yours."
    assert Contract.objects.filter(account=account).count() == 0


def test_sign_up_on_an_occupied_supply_point_names_the_contract_in_the_way(
    customer: User,
) -> None:
    account = make_account(customer)
    point = make_supply_point()
    tariff = make_tariff("flat")
    existing = make_contract(
        account=account,
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 9, 1),
    )
    terms = make_terms()
    data = _new_point_form(
        account, tariff, terms.pk, supply_point=str(point.pk), start_date="2026-04-01"
    )
    response = _client(customer).post(SIGN_UP, data)
    assert response.context["form"].errors["start_date"] == [
        f"Supply point {point.external_id} already has contract {existing.number} "
        "from 2026-01-01 to 2026-09-01."
    ]
    assert list(Contract.objects.filter(account=account)) == [existing]
    assert not TermsAcceptance.objects.exists()


def test_adding_a_known_cups_of_an_occupied_home_is_refused_and_leaves_nothing(
    customer: User,
) -> None:
    account = make_account(customer)
    point = make_supply_point(serial=555)
    tariff = make_tariff("flat")
    make_contract(
        account=make_account(None, name="Previous tenant"),
        supply_point=point,
        tariff=tariff,
        start_date=dt.date(2025, 6, 1),
        end_date=dt.date(2026, 5, 1),
    )
    premises_before = Premise.objects.count()
    response = _client(customer).post(
        SIGN_UP, _new_point_form(account, tariff, make_terms().pk, cups=point.external_id)
    )
    assert response.context["form"].errors["start_date"] == [
        f"Supply point {point.external_id} already has a contract with another customer "
        "from 2025-06-01 to 2026-05-01."
    ]
    assert not Contract.objects.filter(account=account).exists()
    assert Premise.objects.count() == premises_before


def test_sign_up_without_published_terms_is_not_offered(customer: User) -> None:
    make_account(customer)
    response = _client(customer).get(SIGN_UP)
    assert response.status_code == 200
    assert "Online sign-up is not available right now." in response.content.decode()


# --- Cooling-off cancellation ------------------------------------------------------------


def _signed_contract(customer: User) -> tuple[Account, Contract]:
    account = make_account(customer)
    contract = services.contract_sign_up(
        account=account,
        user=customer,
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 3, 12),
        terms=make_terms(),
        accepted_terms=True,
        new_supply_point=services.NewSupplyPoint(
            cups=make_cups(31, 77), line1="Calle 1", postcode="28001", city="Madrid"
        ),
        now=NOW,
    )
    return account, contract


def test_customer_cancels_on_the_last_minute_of_the_cooling_off_period(
    customer: User, frozen_clock: time_machine.Traveller
) -> None:
    _account, contract = _signed_contract(customer)
    frozen_clock.move_to(madrid(2026, 3, 24, 23, 59))
    client = _client(customer)
    page = client.get(f"/my/contracts/{contract.pk}/cancel/")
    assert "Cancel the contract" in page.content.decode()
    response = client.post(f"/my/contracts/{contract.pk}/cancel/", {"reason": "Changed my mind"})
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.status == Status.CANCELLED
    change = contract.status_changes.order_by("id").last()  # type: ignore[attr-defined]
    assert (change.from_status, change.to_status, change.actor, change.reason) == (
        "COOLING_OFF",
        "CANCELLED",
        customer,
        "Changed my mind",
    )
    assert change.changed_at == madrid(2026, 3, 24, 23, 59)


def test_cancellation_after_the_cooling_off_period_is_refused_with_the_reason(
    customer: User, frozen_clock: time_machine.Traveller
) -> None:
    _account, contract = _signed_contract(customer)
    frozen_clock.move_to(madrid(2026, 3, 25, 0, 0))
    changes_before = ContractStatusChange.objects.count()
    client = _client(customer)
    expected = (
        "The 14-day cooling-off period ended on 2026-03-24. To end the contract, "
        "switch tariff or contact us."
    )
    assert expected in client.get(f"/my/contracts/{contract.pk}/cancel/").content.decode()
    response = client.post(f"/my/contracts/{contract.pk}/cancel/", {"reason": "late"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [expected]
    with pytest.raises(services.CancellationNotAllowed):
        services.contract_cancel(
            contract=contract, actor=customer, actor_label="customer", now=madrid(2026, 3, 25)
        )
    contract.refresh_from_db()
    assert contract.status == Status.COOLING_OFF
    assert ContractStatusChange.objects.count() == changes_before


def test_active_contract_cannot_be_cancelled_online(customer: User) -> None:
    contract = make_contract(
        account=make_account(customer),
        supply_point=make_supply_point(),
        tariff=make_tariff("flat"),
        start_date=dt.date(2026, 1, 1),
    )
    with pytest.raises(services.CancellationNotAllowed) as excinfo:
        services.contract_cancel(contract=contract, actor=customer, actor_label="c", now=NOW)
    assert str(excinfo.value) == "A contract that is active cannot be cancelled online."
    assert Contract.objects.get(pk=contract.pk).status == Status.ACTIVE


def test_member_who_is_not_an_owner_cannot_sign(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = make_account(customer)
    member = make_user("member@example.com")
    Membership.objects.create(user=member, account=account, role=Membership.Role.MEMBER)
    tariff = make_tariff("flat")
    terms = make_terms()
    page = _client(member).get(f"{SIGN_UP}?account={account.pk}").content.decode()
    assert f"Only an owner of account {account.number} can sign contracts for it." in page
    response = _client(member).post(SIGN_UP, _new_point_form(account, tariff, terms.pk))
    assert response.status_code == 403
    assert not Contract.objects.exists()
    assert not SupplyPoint.objects.exists()


def test_sign_up_form_acts_on_the_account_it_was_rendered_for(customer: User) -> None:
    first = make_account(customer, name="Home")
    second = make_account(customer, name="Shop")
    tariff = make_tariff("flat")
    terms = make_terms()
    client = _client(customer)
    session = client.session
    session[SESSION_ACCOUNT_KEY] = second.pk  # the user switched account in another tab
    session.save()
    response = client.post(SIGN_UP, _new_point_form(first, tariff, terms.pk))
    assert response.status_code == 302
    assert Contract.objects.get().account == first


def test_sign_up_for_someone_elses_account_is_not_found(
    customer: User, other_customer: User
) -> None:
    make_account(customer)
    theirs = make_account(other_customer)
    tariff = make_tariff("flat")
    terms = make_terms()
    response = _client(customer).post(SIGN_UP, _new_point_form(theirs, tariff, terms.pk))
    assert response.status_code == 404
    assert _client(customer).get(f"{SIGN_UP}?account={theirs.pk}").status_code == 404
    assert not Contract.objects.exists()
    assert not SupplyPoint.objects.exists()
