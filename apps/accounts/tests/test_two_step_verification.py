"""TOTP enrolment, sign-in with a code, single-use backup codes (django-otp)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User
from conftest import PASSWORD, enable_totp, totp_code

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, user: User) -> None:
    response = client.post("/account/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_customer_turns_on_totp_and_is_asked_for_it_at_next_sign_in(customer: User) -> None:
    client = Client()
    _sign_in(client, customer)
    page = client.get("/account/2fa/setup/")
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=customer, confirmed=False)

    # A wrong code is refused and nothing is switched on.
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    response = client.post("/account/2fa/setup/", {"token": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors["token"]
    assert TOTPDevice.objects.filter(user=customer, confirmed=True).count() == 0
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()

    response = client.post("/account/2fa/setup/", {"token": totp_code(device)})
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    device.refresh_from_db()
    assert device.confirmed is True
    assert StaticToken.objects.filter(device__user=customer).count() == 10

    client.post("/account/logout/")
    client = Client()
    _sign_in(client, customer)
    response = client.get("/my/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/verify/")

    response = client.post(
        "/account/2fa/verify/?next=/my/", {"token": totp_code(device, offset_steps=1)}
    )
    assert response.status_code == 302
    assert response["Location"] == "/my/"
    assert client.get("/my/").status_code == 200


def test_used_backup_code_is_refused_the_second_time(customer: User) -> None:
    enable_totp(customer)
    from apps.accounts.mfa import mfa_regenerate_backup_codes

    code = mfa_regenerate_backup_codes(user=customer)[0]

    first = Client()
    _sign_in(first, customer)
    response = first.post("/account/2fa/verify/", {"token": code})
    assert response.status_code == 302
    assert first.get("/my/").status_code == 200
    assert StaticToken.objects.filter(device__user=customer).count() == 9

    second = Client()
    _sign_in(second, customer)
    response = second.post("/account/2fa/verify/", {"token": code})
    assert response.status_code == 200
    assert "already used" in response.content.decode()
    assert second.get("/my/").status_code == 302
    assert StaticToken.objects.filter(device__user=customer).count() == 9


def test_verify_page_refuses_an_open_redirect(customer: User) -> None:
    device = enable_totp(customer)
    client = Client()
    _sign_in(client, customer)
    response = client.post(
        "/account/2fa/verify/?next=https://evil.example/", {"token": totp_code(device)}
    )
    assert response.status_code == 302
    assert response["Location"] == "/my/"


def test_backup_codes_are_shown_once_and_replaced_on_request(customer: User) -> None:
    from conftest import verified_client

    client = verified_client(customer)
    page = client.post("/account/2fa/backup-codes/")
    codes = page.context["codes"]
    again = client.post("/account/2fa/backup-codes/")
    assert set(again.context["codes"]).isdisjoint(codes)
    assert StaticToken.objects.filter(device__user=customer).count() == 10
    assert not re.search(codes[0], client.get("/account/security/").content.decode())
