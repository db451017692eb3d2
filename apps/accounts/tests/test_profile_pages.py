"""The customer edits contact details, billing address, preferences and consents."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import (
    Account,
    Address,
    CommunicationPreference,
    ConsentRecord,
    Customer,
    User,
)
from apps.accounts.services import customer_create_with_account, membership_add

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _account(owner: User | None, **overrides: object) -> Account:
    data: dict[str, object] = {
        "name": "Ana García",
        "email": owner.email if owner else "other@example.com",
        "line1": "Calle de Alcalá 1",
        "postcode": "28001",
        "city": "Madrid",
        "owner": owner,
        "actor": None,
    }
    data.update(overrides)
    return customer_create_with_account(**data)  # type: ignore[arg-type]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _snapshot(customer: Customer) -> tuple[object, ...]:
    customer.refresh_from_db()
    return (customer.name, customer.email, customer.phone, Address.objects.count())


def test_customer_sees_their_contact_details_and_billing_address(customer: User) -> None:
    account = _account(customer, phone="600112233")
    response = _client(customer).get("/my/profile/")
    assert response.status_code == 200
    body = response.content.decode()
    assert account.number in body
    assert 'value="600112233"' in body
    assert 'value="Calle de Alcalá 1"' in body
    assert 'href="/account/email/"' in body


def test_customer_changes_phone_and_contact_email_to_a_verified_address(customer: User) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=customer, email="ana.home@example.com", verified=True)
    account = _account(customer)
    response = _client(customer).post(
        "/my/profile/contact/",
        {"account": account.pk, "email": "ana.home@example.com", "phone": "+34 600 11 22 33"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/my/profile/?account={account.pk}"
    account.customer.refresh_from_db()
    assert (account.customer.email, account.customer.phone) == (
        "ana.home@example.com",
        "+34600112233",
    )


@pytest.mark.parametrize(
    ("posted", "field", "message"),
    [
        ({"email": "ana@", "phone": ""}, "email", "Enter a complete email address"),
        (
            {"email": "ana@example.com", "phone": "12 34"},
            "phone",
            "Enter a phone number of 9 to 15",
        ),
        ({"email": "stranger@example.com", "phone": ""}, "email", "verified email addresses"),
    ],
)
def test_bad_contact_details_name_the_field_and_nothing_is_saved(
    customer: User, posted: dict[str, str], field: str, message: str
) -> None:
    account = _account(customer, phone="600112233")
    before = _snapshot(account.customer)
    response = _client(customer).post("/my/profile/contact/", {"account": account.pk, **posted})
    assert response.status_code == 200
    errors = response.context["contact_form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert _snapshot(account.customer) == before


def test_bad_contact_details_through_htmx_return_the_card_with_the_error(customer: User) -> None:
    account = _account(customer)
    before = _snapshot(account.customer)
    response = _client(customer).post(
        "/my/profile/contact/", {"account": account.pk, "email": "ana@", "phone": ""}, **HTMX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card" id="contact-card"')
    assert "<html" not in body
    assert "Enter a complete email address" in body
    assert _snapshot(account.customer) == before


def test_customer_moves_the_billing_address_and_the_old_one_stays_on_file(customer: User) -> None:
    account = _account(customer)
    old_id = account.billing_address_id
    response = _client(customer).post(
        "/my/profile/address/",
        {
            "account": account.pk,
            "line1": "Gran Via 22",
            "line2": "3º B",
            "postcode": "28013",
            "city": "Madrid",
            "region": "",
            "country": "es",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.billing_address_id != old_id
    assert account.billing_address.as_lines() == ["Gran Via 22", "3º B", "28013 Madrid"]
    assert account.billing_address.country == "ES"
    assert Address.objects.get(pk=old_id).line1 == "Calle de Alcalá 1"


def test_billing_address_with_a_bad_postcode_names_the_field(customer: User) -> None:
    account = _account(customer)
    before = (Address.objects.count(), account.billing_address_id)
    response = _client(customer).post(
        "/my/profile/address/",
        {
            "account": account.pk,
            "line1": "Gran Via 22",
            "postcode": "99123",
            "city": "Madrid",
            "country": "ES",
        },
    )
    assert response.status_code == 200
    assert list(response.context["address_form"].errors) == ["postcode"]
    account.refresh_from_db()
    assert (Address.objects.count(), account.billing_address_id) == before


def test_a_member_who_is_not_the_owner_sees_details_but_cannot_change_them(
    customer: User, make_user: Callable[..., User]
) -> None:
    account = _account(customer, phone="600112233")
    helper = make_user("helper@example.com")
    membership_add(account=account, user=helper, role="MEMBER", actor=None)
    client = _client(helper)
    page = client.get(f"/my/profile/?account={account.pk}")
    assert page.status_code == 200
    assert b"only the account owner can change them" in page.content
    assert b'action="/my/profile/contact/"' not in page.content
    before = _snapshot(account.customer)
    response = client.post(
        "/my/profile/contact/", {"account": account.pk, "email": "helper@example.com", "phone": ""}
    )
    assert response.status_code == 403
    assert _snapshot(account.customer) == before


def test_customer_gives_and_withdraws_consents_and_sees_the_history(customer: User) -> None:
    account = _account(customer, phone="600112233")
    client = _client(customer)
    url = "/my/profile/preferences/"
    base = {"account": account.pk, "paperless_bills": "on", "email_notifications": "on"}
    assert client.post(url, {**base, "consent_marketing": "on"}).status_code == 302
    assert client.post(url, {**base, "consent_marketing": "on"}).status_code == 302  # unchanged
    assert client.post(url, {**base, "sms_notifications": "on"}).status_code == 302  # withdrawn
    records = list(
        ConsentRecord.objects.filter(customer=account.customer)
        .order_by("recorded_at", "id")
        .values_list("kind", "granted", "actor", "channel", "ip_address")
    )
    assert records == [
        ("MARKETING", True, customer.pk, "PORTAL", "127.0.0.1"),
        ("MARKETING", False, customer.pk, "PORTAL", "127.0.0.1"),
    ]
    preference = CommunicationPreference.objects.get(customer=account.customer)
    assert preference.sms_notifications is True
    page = client.get(url)
    body = page.content.decode()
    assert body.count('<th scope="row">Marketing messages</th>') == 2
    assert "Withdrawn" in body
    assert "Given" in body


def test_text_messages_without_a_phone_are_refused_naming_the_field(customer: User) -> None:
    account = _account(customer)
    response = _client(customer).post(
        "/my/profile/preferences/",
        {"account": account.pk, "sms_notifications": "on", "consent_marketing": "on"},
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["sms_notifications"]
    assert ConsentRecord.objects.count() == 0
    assert CommunicationPreference.objects.get(customer=account.customer).sms_notifications is False


def test_preferences_saved_through_htmx_return_the_card_with_the_new_history(
    customer: User,
) -> None:
    account = _account(customer)
    response = _client(customer).post(
        "/my/profile/preferences/",
        {"account": account.pk, "consent_usage_insights": "on"},
        **HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="preferences-card">')
    assert "Preferences saved." in body
    assert "Personalised usage insights" in body


def test_signed_in_user_without_an_account_gets_an_empty_profile(customer: User) -> None:
    response = _client(customer).get("/my/profile/")
    assert response.status_code == 200
    assert b"No electricity account yet" in response.content


def test_anonymous_visitor_is_sent_to_sign_in() -> None:
    response = Client().get("/my/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")
