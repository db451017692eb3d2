"""Reads of accounts scoped to the person asking. Everything customer-facing goes through here."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import (
    Account,
    CommunicationPreference,
    ConsentRecord,
    Customer,
    Membership,
    User,
)

SESSION_ACCOUNT_KEY = "wattline_account_id"


def accounts_for_user(user: User) -> QuerySet[Account]:
    """Accounts ``user`` is a member of, with customer and billing address loaded."""
    if not user.is_authenticated:
        return Account.objects.none()
    return (
        Account.objects.filter(memberships__user=user)
        .select_related("customer", "billing_address")
        .order_by("number", "id")
    )


def account_for_user(user: User, account_id: int | str) -> Account:
    """The account with ``account_id`` if ``user`` is a member of it; ``Http404`` otherwise."""
    try:
        return accounts_for_user(user).get(pk=int(account_id))
    except (Account.DoesNotExist, ValueError, TypeError):
        raise Http404("No such account") from None


def customers_for_user(user: User) -> QuerySet[Customer]:
    return Customer.objects.filter(accounts__memberships__user=user).distinct().order_by("id")


def membership_role(user: User, account: Account) -> str | None:
    return (
        Membership.objects.filter(user=user, account=account).values_list("role", flat=True).first()
    )


def current_account(user: User, session: dict[str, object]) -> Account | None:
    """The account the user is acting for: the one chosen in the session, else their first."""
    accounts = accounts_for_user(user)
    chosen = session.get(SESSION_ACCOUNT_KEY)
    if isinstance(chosen, int | str):
        account = accounts.filter(pk=chosen).first()
        if account is not None:
            return account
    return accounts.first()


def account_for_owner(user: User, account_id: int | str) -> Account:
    """The account if ``user`` owns it.

    ``Http404`` when they are not a member at all (the account's existence is
    not revealed); ``PermissionDenied`` when they are a member but not an owner.
    """
    account = account_for_user(user, account_id)
    if membership_role(user, account) != Membership.Role.OWNER:
        raise PermissionDenied("Only an owner of the account may change it.")
    return account


def consent_history(customer: Customer) -> QuerySet[ConsentRecord]:
    """Every consent record of ``customer``, newest first, with who recorded it."""
    return (
        ConsentRecord.objects.filter(customer=customer)
        .select_related("actor")
        .order_by("-recorded_at", "-id")
    )


def consents_in_force(customer: Customer) -> dict[str, bool]:
    """Each consent kind → whether it is given now (no record means not given)."""
    state = dict.fromkeys(ConsentRecord.Kind.values, False)
    latest = (
        ConsentRecord.objects.filter(customer=customer)
        .order_by("kind", "-recorded_at", "-id")
        .distinct("kind")
        .values_list("kind", "granted")
    )
    state.update(dict(latest))
    return state


def communication_preference_for(customer: Customer) -> CommunicationPreference:
    """The customer's preferences; the defaults (unsaved) when none were stored yet."""
    preference = CommunicationPreference.objects.filter(customer=customer).first()
    return preference or CommunicationPreference(customer=customer)
