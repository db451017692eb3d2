"""Staff and customer roles as groups with explicit permissions.

The groups are created by a data migration (``accounts.0002_roles``) and kept in
step after every ``migrate`` (a later app's permissions only exist once its
tables do). A permission pattern is ``app_label.codename``; ``*`` matches any
codename, ``view_*`` any view permission of that app.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Role:
    code: str
    name: str
    is_staff: bool
    permissions: tuple[str, ...]


CUSTOMER = "customer"
SUPPORT_AGENT = "support_agent"
BILLING_SPECIALIST = "billing_specialist"
FIELD_DISPATCHER = "field_dispatcher"
OPERATIONS = "operations"
REGULATOR = "regulator"
ADMINISTRATOR = "administrator"

ROLES: tuple[Role, ...] = (
    Role(CUSTOMER, "Customer", False, ()),
    Role(
        SUPPORT_AGENT,
        "Support agent",
        True,
        (
            "accounts.view_*",
            "accounts.add_customer",
            "accounts.add_account",
            "accounts.add_address",
            "accounts.add_membership",
            "accounts.change_customer",
            "accounts.change_account",
            "accounts.change_address",
            "metering.view_*",
            "contracts.view_*",
            "tariffs.view_*",
            "billing.view_*",
            "support.*",
            "service_requests.view_*",
            "service_requests.change_servicerequest",
            "outages.view_*",
        ),
    ),
    Role(
        BILLING_SPECIALIST,
        "Billing specialist",
        True,
        (
            "accounts.view_*",
            "contracts.view_*",
            "contracts.change_contract",
            "contracts.add_contractdiscount",
            "contracts.change_contractdiscount",
            "contracts.delete_contractdiscount",
            "metering.view_*",
            "tariffs.*",
            "billing.*",
        ),
    ),
    Role(
        FIELD_DISPATCHER,
        "Field dispatcher",
        True,
        (
            "accounts.view_customer",
            "accounts.view_account",
            "metering.view_*",
            "service_requests.*",
            "outages.*",
            "solar.*",
        ),
    ),
    Role(
        OPERATIONS,
        "Operations",
        True,
        (
            "metering.*",
            "outages.*",
            "flexibility.*",
            "market.*",
            "tariffs.view_*",
            "contracts.view_*",
        ),
    ),
    Role(
        REGULATOR,
        "Regulator",
        True,
        ("auditlog.view_logentry", "reporting.view_*"),
    ),
    Role(ADMINISTRATOR, "Administrator", True, ("*.*",)),
)

ROLE_BY_CODE = {role.code: role for role in ROLES}


def matching_codes(patterns: tuple[str, ...], available: list[tuple[str, str]]) -> set[str]:
    """The ``app_label.codename`` strings in ``available`` that any pattern matches."""
    codes = {f"{app}.{codename}" for app, codename in available}
    return {code for code in codes if any(fnmatch.fnmatchcase(code, p) for p in patterns)}


def sync_roles(group_model: Any, permission_model: Any) -> None:
    """Create every role's group and set its permissions to exactly what the role grants."""
    available = list(permission_model.objects.values_list("content_type__app_label", "codename"))
    by_code = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in permission_model.objects.select_related("content_type")
    }
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role.code)
        wanted = matching_codes(role.permissions, available)
        group.permissions.set([by_code[code] for code in sorted(wanted)])


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate hook: keep groups in step once all permissions exist."""
    if getattr(sender, "label", None) != "core":
        return
    from django.apps import apps as global_apps

    # migrate passes its historical registry; flush (after transactional tests) passes none.
    apps = kwargs.get("apps") or global_apps
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:
        return
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles(group_model, permission_model)
