"""Who may open the back office and the portal: every role, with and without a second factor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.core.roles import ROLES
from conftest import verified_client

pytestmark = pytest.mark.django_db

ADMIN = "/admin/"
PORTAL = "/my/"


def test_staff_without_second_factor_is_sent_to_set_it_up(make_user: Callable[..., User]) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    client = Client()
    client.force_login(agent)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/setup/?next=%2Fadmin%2F"


def test_staff_with_verified_second_factor_opens_the_admin(make_user: Callable[..., User]) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    client = verified_client(agent)
    assert client.get(ADMIN).status_code == 200


def test_staff_with_unverified_session_is_asked_for_the_code(
    make_user: Callable[..., User],
) -> None:
    from conftest import enable_totp

    agent = make_user("agent@staff.example.com", role="support_agent")
    enable_totp(agent)
    client = Client()
    client.force_login(agent)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/verify/")


def test_customer_never_opens_the_admin_even_with_second_factor(customer: User) -> None:
    client = verified_client(customer)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(response["Location"]).status_code == 302  # then back to the portal


def test_anonymous_visitor_is_sent_to_sign_in() -> None:
    response = Client().get(ADMIN, follow=True)
    assert response.redirect_chain[-1][0].startswith("/account/login/")


EXPECTED = {
    # role: (admin index, portal page) for a verified session
    "customer": (302, 200),
    "support_agent": (200, 200),
    "billing_specialist": (200, 200),
    "field_dispatcher": (200, 200),
    "operations": (200, 200),
    "regulator": (200, 200),
    "administrator": (200, 200),
}


def test_every_role_is_in_the_matrix() -> None:
    assert set(EXPECTED) == {role.code for role in ROLES}


@pytest.mark.parametrize(("role", "expected"), sorted(EXPECTED.items()))
def test_role_matrix(role: str, expected: tuple[int, int], make_user: Callable[..., User]) -> None:
    user = make_user(f"{role}@matrix.example.com", role=role)
    client = verified_client(user)
    assert (client.get(ADMIN).status_code, client.get(PORTAL).status_code) == expected


def test_regulator_sees_the_audit_trail_but_not_users(make_user: Callable[..., User]) -> None:
    regulator = make_user("reg@matrix.example.com", role="regulator")
    client = verified_client(regulator)
    assert client.get("/admin/auditlog/logentry/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 403


def test_roles_are_groups_with_explicit_permissions() -> None:
    from django.contrib.auth.models import Group

    groups = {g.name: g for g in Group.objects.prefetch_related("permissions")}
    assert set(groups) >= {role.code for role in ROLES}
    assert groups["customer"].permissions.count() == 0
    regulator = {
        f"{p.content_type.app_label}.{p.codename}" for p in groups["regulator"].permissions.all()
    }
    assert regulator == {"auditlog.view_logentry"}
