"""Sign-up, email verification, sign-in, sign-out, password reset and throttling (allauth)."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from apps.accounts.models import User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _link_in_last_mail(pattern: str) -> str:
    body = mail.outbox[-1].body
    match = re.search(pattern, body)
    assert match, body
    return match.group(0)


def test_visitor_signs_up_verifies_email_signs_in_and_out() -> None:
    client = Client()
    response = client.post(
        "/account/signup/",
        {"email": "Nuria@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/confirm-email/"
    user = User.objects.get(email="nuria@example.com")
    assert EmailAddress.objects.get(user=user).verified is False
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nuria@example.com"]

    # Mandatory verification: signing in before verifying sends the visitor back.
    client = Client()
    response = client.post("/account/login/", {"login": "nuria@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/account/confirm-email/"
    assert "_auth_user_id" not in client.session

    link = _link_in_last_mail(r"/account/confirm-email/[^/\s]+/")
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(user=user).verified is True

    response = client.post("/account/login/", {"login": "nuria@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/my/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/my/").status_code == 200

    response = client.post("/account/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get("/my/").status_code == 302


def test_customer_resets_forgotten_password(customer: User) -> None:
    client = Client()
    response = client.post("/account/password/reset/", {"email": customer.email})
    assert response.status_code == 302
    link = _link_in_last_mail(r"/account/password/reset/key/[^/\s]+/")
    response = client.get(link)
    assert response.status_code == 302  # allauth moves the key out of the URL
    set_password_url = response["Location"]
    new_password = "a-brand-new-long-password"
    response = client.post(set_password_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password(new_password)
    assert not customer.check_password(PASSWORD)


def test_wrong_password_is_throttled_after_the_configured_attempts(customer: User) -> None:
    client = Client()
    for _ in range(5):
        response = client.post(
            "/account/login/", {"login": customer.email, "password": "nope-nope"}
        )
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    # The sixth attempt is refused even with the right password.
    response = client.post("/account/login/", {"login": customer.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_up_with_a_taken_email_reveals_nothing_and_creates_no_user(customer: User) -> None:
    """Account enumeration protection: same answer as a fresh sign-up, the owner is told."""
    response = Client().post(
        "/account/signup/",
        {"email": customer.email.upper(), "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/confirm-email/"
    assert User.objects.filter(email__iexact=customer.email).count() == 1
    assert mail.outbox[-1].to == [customer.email]


def test_sign_up_with_mismatched_passwords_names_the_field() -> None:
    response = Client().post(
        "/account/signup/",
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert not User.objects.filter(email="new@example.com").exists()
