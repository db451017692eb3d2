"""Staff find customers in the back office and keep customer and supply-point data right."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import Account, Address, Customer, User, account_number_is_valid
from apps.metering.identifiers import make_cups
from apps.metering.models import Meter, Premise, SupplyPoint
from apps.portal.tests import factories
from conftest import verified_client

pytestmark = pytest.mark.django_db

CUSTOMERS = "/admin/accounts/customer/"


@pytest.fixture
def agent(make_user: Callable[..., User]) -> Client:
    return verified_client(make_user("agent@staff.example.com", role="support_agent"))


@pytest.fixture
def administrator(make_user: Callable[..., User]) -> Client:
    return verified_client(make_user("admin@staff.example.com", role="administrator"))


@pytest.fixture
def two_customers() -> tuple[Account, Account]:
    ana = factories.account_for(None, name="Ana García", email="ana@example.com", postcode="28001")
    bruno = factories.account_for(
        None, name="Bruno Díaz", email="bruno@example.com", postcode="46001", city="Valencia"
    )
    factories.contract(ana, point=factories.supply_point(postcode="08001"))
    factories.contract(bruno, point=factories.supply_point(postcode="41001", city="Sevilla"))
    return ana, bruno


def _found(client: Client, term: str) -> list[str]:
    response = client.get(CUSTOMERS, {"q": term})
    assert response.status_code == 200
    return sorted(c.name for c in response.context["cl"].result_list)


def test_staff_find_a_customer_by_supply_point_cups(
    agent: Client, two_customers: tuple[Account, Account]
) -> None:
    ana, _bruno = two_customers
    cups = ana.contracts.get().supply_point.external_id  # type: ignore[attr-defined]
    assert _found(agent, cups) == ["Ana García"]
    assert _found(agent, cups.lower()) == ["Ana García"]


def test_staff_find_a_customer_by_billing_or_supply_postcode(
    agent: Client, two_customers: tuple[Account, Account]
) -> None:
    assert _found(agent, "46001") == ["Bruno Díaz"]  # billing address
    assert _found(agent, "41001") == ["Bruno Díaz"]  # premise of the supply point
    assert _found(agent, "08001") == ["Ana García"]


def test_staff_find_a_customer_by_account_number_name_or_email(
    agent: Client, two_customers: tuple[Account, Account]
) -> None:
    _ana, bruno = two_customers
    assert _found(agent, bruno.number) == ["Bruno Díaz"]
    assert _found(agent, "garcía") == ["Ana García"]
    assert _found(agent, "bruno@example") == ["Bruno Díaz"]


def test_staff_filter_customers_by_segment_flags(
    agent: Client, two_customers: tuple[Account, Account]
) -> None:
    _ana, bruno = two_customers
    Customer.objects.filter(pk=bruno.customer_id).update(is_vulnerable=True, has_ev=True)
    response = agent.get(CUSTOMERS, {"is_vulnerable__exact": "1"})
    assert [c.name for c in response.context["cl"].result_list] == ["Bruno Díaz"]
    for parameter in ("segment", "consumption_band", "has_solar", "has_ev", "is_vulnerable"):
        assert parameter in response.content.decode()


def test_staff_add_a_customer_and_get_an_allocated_account_number(administrator: Client) -> None:
    response = administrator.post(
        f"{CUSTOMERS}add/",
        {
            "kind": "PERSON",
            "name": "Carla Ruiz",
            "tax_id": "",
            "segment": "RESIDENTIAL",
            "email": "carla@example.com",
            "phone": "611 22 33 44",
            "line1": "Calle Mayor 5",
            "line2": "",
            "postcode": "28013",
            "city": "Madrid",
            "region": "",
            "country": "ES",
            "billing_day": "1",
            "accounts-TOTAL_FORMS": "0",
            "accounts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(name="Carla Ruiz")
    account = customer.accounts.get()  # type: ignore[attr-defined]
    assert account_number_is_valid(account.number)
    assert customer.phone == "611223344"


def test_staff_adding_a_customer_with_a_bad_postcode_see_the_field_error(
    administrator: Client,
) -> None:
    response = administrator.post(
        f"{CUSTOMERS}add/",
        {
            "kind": "PERSON",
            "name": "Carla Ruiz",
            "segment": "RESIDENTIAL",
            "email": "carla@example.com",
            "line1": "Calle Mayor 5",
            "postcode": "123",
            "city": "Madrid",
            "country": "ES",
            "billing_day": "1",
        },
    )
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["postcode"]
    assert Customer.objects.count() == 0


def test_staff_change_a_billing_address_and_the_old_row_is_kept(
    agent: Client, two_customers: tuple[Account, Account]
) -> None:
    ana, _bruno = two_customers
    old_id = ana.billing_address_id
    response = agent.post(
        f"/admin/accounts/account/{ana.pk}/change/",
        {
            "status": "ACTIVE",
            "billing_day": "5",
            "line1": "Gran Via 22",
            "line2": "",
            "postcode": "28013",
            "city": "Madrid",
            "region": "",
            "country": "ES",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    ana.refresh_from_db()
    assert ana.billing_day == 5
    assert ana.billing_address.line1 == "Gran Via 22"
    assert Address.objects.get(pk=old_id).line1 == "Calle de Alcalá 1"


def test_supply_point_admin_explains_a_bad_cups(
    make_user: Callable[..., User],
) -> None:
    client = verified_client(make_user("admin@staff.example.com", role="administrator"))
    premise = Premise.objects.create(
        address=Address.objects.create(line1="Calle 1", postcode="28001", city="Madrid")
    )
    good = make_cups(21, 42)
    bad = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    response = client.post(
        "/admin/metering/supplypoint/add/",
        {"external_id": bad, "premise": premise.pk, "contracted_power_kw": "4.6"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["external_id"]
    assert errors["external_id"][0].startswith("CUPS: The check letters of this CUPS should be")
    assert SupplyPoint.objects.count() == 0
    spaced = f"{good[:6]} {good[6:14]} {good[14:]}".lower()
    response = client.post(
        "/admin/metering/supplypoint/add/",
        {"external_id": spaced, "premise": premise.pk, "contracted_power_kw": "4.6"},
    )
    assert response.status_code == 302
    assert SupplyPoint.objects.get().external_id == good


def test_supply_point_admin_search_finds_a_cups_pasted_with_spaces(
    make_user: Callable[..., User],
) -> None:
    client = verified_client(make_user("admin@staff.example.com", role="administrator"))
    point = factories.supply_point()
    spaced = f"{point.external_id[:6]} {point.external_id[6:]}"
    response = client.get("/admin/metering/supplypoint/", {"q": spaced})
    assert [p.pk for p in response.context["cl"].result_list] == [point.pk]


def test_meter_admin_names_the_meter_in_the_way(make_user: Callable[..., User]) -> None:
    client = verified_client(make_user("admin@staff.example.com", role="administrator"))
    point = factories.supply_point()
    Meter.objects.create(supply_point=point, serial="SM-1", installed_date=dt.date(2024, 1, 1))
    response = client.post(
        "/admin/metering/meter/add/",
        {
            "serial": "SM-2",
            "supply_point": point.pk,
            "is_smart": "on",
            "installed_date": "2025-06-01",
            "removed_date": "",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert (
        "Meter SM-1 is installed at this supply point from 2024-01-01"
        in errors["installed_date"][0]
    )
    assert Meter.objects.count() == 1


def test_consent_records_are_read_only_in_the_admin(
    make_user: Callable[..., User],
) -> None:
    client = verified_client(make_user("admin@staff.example.com", role="administrator"))
    assert client.get("/admin/accounts/consentrecord/").status_code == 200
    assert client.get("/admin/accounts/consentrecord/add/").status_code == 403
