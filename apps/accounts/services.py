"""Account use cases (users and roles at this stage)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from apps.accounts.models import User
from apps.core.roles import ROLE_BY_CODE


class UnknownRole(ValueError):
    pass


@transaction.atomic
def user_assign_role(*, user: User, role: str) -> User:
    """Put ``user`` in the role's group and set the staff flag the role implies."""
    try:
        definition = ROLE_BY_CODE[role]
    except KeyError:
        raise UnknownRole(f"role: unknown role {role!r}") from None
    group = Group.objects.get(name=definition.code)
    user.groups.add(group)
    if definition.is_staff and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user
