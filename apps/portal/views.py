"""Customer pages that combine several contexts. No business rules here.

Every lookup goes through ``apps.accounts.selectors`` (the user's own accounts,
404 otherwise); contracts and supply points are read through
``apps.contracts.selectors`` for the account found that way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts import selectors as account_selectors
from apps.accounts.models import Account, User
from apps.billing.presentation import account_billing_summary
from apps.contracts import selectors as contract_selectors


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal_home")
    return render(request, "portal/home.html")


def _overview_context(user: User, account: Account, accounts: list[Account]) -> dict[str, Any]:
    """Everything the account overview shows, read before rendering (no queries in templates)."""
    contracts = list(contract_selectors.contracts_for_account(account))
    latest_by_supply_point: dict[int, Any] = {}
    for contract in contracts:  # newest start first, so the first seen is the latest
        latest_by_supply_point.setdefault(contract.supply_point_id, contract)
    contract_rows = [
        {
            "contract": contract,
            # end_date is exclusive (the first day without supply); people read the last day.
            "last_day": contract.end_date - dt.timedelta(days=1) if contract.end_date else None,
        }
        for contract in contracts
    ]
    supply_points = [
        {"supply_point": sp, "contract": latest_by_supply_point.get(sp.pk)}
        for sp in contract_selectors.supply_points_for_account(account)
    ]
    return {
        "account": account,
        "customer": account.customer,
        "accounts": accounts,
        "role": account_selectors.membership_role(user, account),
        "contracts": contract_rows,
        "supply_points": supply_points,
        "billing": account_billing_summary(account),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    accounts = list(account_selectors.accounts_for_user(user))
    if not accounts:
        return render(request, "portal/dashboard.html", {"accounts": []})
    account = account_selectors.current_account(user, request.session)
    assert account is not None  # the user has accounts
    return render(request, "portal/dashboard.html", _overview_context(user, account, accounts))


@login_required
@require_POST
def switch_account(request: HttpRequest) -> HttpResponse:
    """Act for another of the user's accounts from now on (404 for anyone else's)."""
    user = _user(request)
    account = account_selectors.account_for_user(user, request.POST.get("account", ""))
    request.session[account_selectors.SESSION_ACCOUNT_KEY] = account.pk
    if request.htmx:  # type: ignore[attr-defined]
        accounts = list(account_selectors.accounts_for_user(user))
        return render(request, "portal/_overview.html", _overview_context(user, account, accounts))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("portal_home")
    return HttpResponseRedirect(target)
