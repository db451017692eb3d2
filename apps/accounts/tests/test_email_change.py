"""Changing the sign-in email goes through allauth and needs the new address verified (0403)."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client, override_settings

from apps.accounts.models import User

pytestmark = pytest.mark.django_db

NEW = "ana.new@example.com"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _confirm_from_mail(client: Client) -> None:
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [NEW]
    match = re.search(r"/account/confirm-email/([^/\s]+)/", mail.outbox[0].body)
    assert match is not None
    response = client.post(f"/account/confirm-email/{match.group(1)}/")
    assert response.status_code == 302


def test_a_new_address_cannot_become_primary_before_it_is_verified(customer: User) -> None:
    client = _client(customer)
    assert client.post("/account/email/", {"action_add": "", "email": NEW}).status_code == 302
    assert EmailAddress.objects.get(email=NEW).verified is False
    client.post("/account/email/", {"action_primary": "", "email": NEW})
    customer.refresh_from_db()
    assert customer.email == "ana@example.com"
    assert EmailAddress.objects.get(user=customer, primary=True).email == "ana@example.com"

    _confirm_from_mail(client)
    client.post("/account/email/", {"action_primary": "", "email": NEW})
    customer.refresh_from_db()
    assert customer.email == NEW


@override_settings(ACCOUNT_CHANGE_EMAIL=True)
def test_with_change_email_the_old_address_stays_until_the_new_one_is_confirmed(
    customer: User,
) -> None:
    """The setting proposed in decision 0403: one address, replaced only on confirmation."""
    client = _client(customer)
    assert client.post("/account/email/", {"action_add": "", "email": NEW}).status_code == 302
    customer.refresh_from_db()
    assert customer.email == "ana@example.com"
    _confirm_from_mail(client)
    customer.refresh_from_db()
    assert customer.email == NEW
    assert list(EmailAddress.objects.filter(user=customer).values_list("email", "primary")) == [
        (NEW, True)
    ]
