"""Load demonstration data. Safe to run any number of times."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.sites.models import Site
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import User
from apps.accounts.services import user_assign_role
from apps.core.roles import ADMINISTRATOR, ROLES

DEMO_PASSWORD = "wattline-demo"  # noqa: S105 - demo data only, printed for the user
DEMO_DOMAIN = "demo.wattline.test"


def demo_email(role: str) -> str:
    return f"{role.replace('_', '.')}@{DEMO_DOMAIN}"


class Command(BaseCommand):
    help = "Create demo users (one per role) and demo data. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            site = Site.objects.get_or_create(id=1)[0]
            if site.domain == "example.com":
                site.domain, site.name = "127.0.0.1:8000", "Wattline"
                site.save()
            logins = [self._user_for(role.code) for role in ROLES]
        from apps.portal.demo import seed_all

        customer_user = User.objects.get(email=demo_email("customer"))
        accounts = seed_all(customer_user=customer_user)
        self.stdout.write(f"Demo sign-ins (password for all: {DEMO_PASSWORD}):")
        for role, email in logins:
            self.stdout.write(f"  {role:<20} {email}")
        self.stdout.write("Demo customers:")
        for line in accounts:
            self.stdout.write(line)
        self.stdout.write(
            "Staff roles must set up two-step verification at first visit to the back office."
        )

    def _user_for(self, role: str) -> tuple[str, str]:
        email = demo_email(role)
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email,
                password=DEMO_PASSWORD,
                full_name=f"Demo {role.replace('_', ' ').title()}",
                is_superuser=role == ADMINISTRATOR,
            )
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        user_assign_role(user=user, role=role)
        return role, email
