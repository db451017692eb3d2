"""Customer contract pages: list, detail, sign-up, cancel, switch, compare.

Each view scopes its lookups to the signed-in user's accounts (404 otherwise), makes one
service call and turns the service's exceptions into form errors. As on the profile pages
(decision 0400), signing, switching and cancelling need the OWNER role (403 for members, who
see the pages read-only), and the sign-up form carries the account it was rendered for.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.accounts.models import Account, Membership, User
from apps.accounts.selectors import (
    account_for_owner,
    account_for_user,
    current_account,
    membership_role,
)
from apps.contracts import comparison, selectors, services
from apps.contracts.forms import (
    NEW_SUPPLY_POINT,
    CancelForm,
    CompareForm,
    SignUpForm,
    SwitchForm,
)
from apps.contracts.models import Contract
from apps.core import clock
from apps.tariffs import selectors as tariff_selectors
from apps.tariffs.models import PriceVersion, Tariff


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _add_error(form: forms.Form, exc: services.ContractError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc))


def _contract_for(request: HttpRequest, contract_id: int) -> Contract:
    return selectors.contract_for_user(_user(request), contract_id)


def _is_owner(user: User, account: Account) -> bool:
    return membership_role(user, account) == Membership.Role.OWNER


def _account_for_page(request: HttpRequest) -> Account | None:
    """``?account=`` (404 if not theirs) or the account chosen in the portal."""
    user = _user(request)
    if "account" in request.GET:
        return account_for_user(user, request.GET["account"])
    return current_account(user, request.session)


def _can_switch(contract: Contract) -> bool:
    return contract.status == Contract.Status.ACTIVE and contract.end_date is None


def _fmt_rate(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.000001")).normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return text


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 100.000 → "100", 5.1127 → "5.1127"."""
    return format(value.normalize(), "f")


def price_summary(tariff: Tariff, on: dt.date) -> list[tuple[str, str]]:
    """The prices of ``tariff`` in force on ``on`` as (label, value) rows (prefetched data)."""
    version = tariff_selectors.version_in_force(tariff, on)
    if version is None:
        return []
    currency = tariff.currency
    rows = [(_("Standing charge"), f"{_fmt_rate(version.standing_charge_per_day)} {currency}/day")]
    if version.fixed_monthly_charge:
        rows.append(
            (_("Fixed charge"), f"{_fmt_rate(version.fixed_monthly_charge)} {currency}/month")
        )
    if version.energy_kind == PriceVersion.EnergyKind.DYNAMIC:
        formula = _("hourly market price × %(factor)s + %(margin)s %(currency)s/kWh") % {
            "factor": _fmt_rate(version.dynamic_factor or Decimal(0)),
            "margin": _fmt_rate(version.dynamic_margin or Decimal(0)),
            "currency": currency,
        }
        rows.append((_("Energy"), formula))
        if version.dynamic_floor is not None:
            rows.append(
                (_("Lowest energy price"), f"{_fmt_rate(version.dynamic_floor)} {currency}/kWh")
            )
        if version.dynamic_cap is not None:
            rows.append(
                (_("Highest energy price"), f"{_fmt_rate(version.dynamic_cap)} {currency}/kWh")
            )
    else:
        energy_rates = sorted(version.energy_rates.all(), key=lambda r: (r.period, r.tier, r.pk))
        tiered = len({r.tier for r in energy_rates}) > 1
        for rate in energy_rates:
            label = str(_("Energy"))
            if version.energy_kind == PriceVersion.EnergyKind.TIME_OF_USE:
                label = f"{label} – {rate.period_name or rate.period}"
            if tiered:
                limit = (
                    _("up to %(kwh)s kWh/month") % {"kwh": _plain(rate.upto_kwh)}
                    if rate.upto_kwh is not None
                    else _("above that")
                )
                label = f"{label} ({limit})"
            rows.append((label, f"{_fmt_rate(rate.rate)} {currency}/kWh"))
    if version.export_rate is not None:
        rows.append((_("Energy you export"), f"{_fmt_rate(version.export_rate)} {currency}/kWh"))
    for tax in version.taxes.all():
        rows.append((tax.name, f"{_plain(tax.rate_percent)} %"))
    return rows


@login_required
def contract_list(request: HttpRequest) -> HttpResponse:
    account = _account_for_page(request)
    contracts = list(selectors.contracts_for_account(account)) if account else []
    return render(request, "contracts/list.html", {"account": account, "contracts": contracts})


@login_required
def contract_detail(request: HttpRequest, contract_id: int) -> HttpResponse:
    contract = _contract_for(request, contract_id)
    now = clock.now()
    refusal = services.cancellation_refusal(contract, now=now)
    context: dict[str, Any] = {
        "contract": contract,
        "history": selectors.status_history(contract),
        "discounts": selectors.discounts_of(contract),
        "successor": selectors.live_successor(contract),
        "can_cancel": refusal is None,
        "cooling_off_over": (
            contract.cooling_off_ends_at is not None and now >= contract.cooling_off_ends_at
        ),
        "can_switch": _can_switch(contract),
        "is_owner": _is_owner(_user(request), contract.account),
    }
    return render(request, "contracts/detail.html", context)


def _sign_up_new_supply_point(data: dict[str, Any]) -> services.NewSupplyPoint | None:
    if data["supply_point"] != NEW_SUPPLY_POINT:
        return None
    return services.NewSupplyPoint(
        cups=data["cups"],
        line1=data["line1"],
        line2=data["line2"],
        postcode=data["postcode"],
        city=data["city"],
        kind=data["premise_kind"],
    )


@login_required
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    account: Account | None
    if request.method == "POST":  # the account the form was rendered for, owners only
        account = account_for_owner(user, request.POST.get("account", ""))
    else:
        account = _account_for_page(request)
    now = clock.now()
    terms = selectors.current_terms(now=now)
    is_owner = account is not None and _is_owner(user, account)
    if account is None or terms is None or not is_owner:
        return render(
            request,
            "contracts/sign_up.html",
            {"account": account, "terms": terms, "form": None, "is_owner": is_owner},
        )
    today = clock.today()
    earliest = today + dt.timedelta(days=1)
    latest = today + dt.timedelta(days=services.SIGN_UP_WINDOW_DAYS)
    tariffs = tariff_selectors.available_tariffs(segment=account.customer.segment, on=today)
    form = SignUpForm(
        request.POST or None,
        supply_points=selectors.supply_points_for_account(account),
        tariffs=tariffs,
        earliest=earliest,
        latest=latest,
        initial={"terms_version": terms.pk, "start_date": earliest, "account": account.pk},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contract = services.contract_sign_up(
                account=account,
                user=user,
                tariff=data["tariff"],
                start_date=data["start_date"],
                terms=selectors.terms_version(data["terms_version"]),
                accepted_terms=data["accept_terms"],
                supply_point=form.chosen_supply_point(),
                new_supply_point=_sign_up_new_supply_point(data),
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.headers.get("User-Agent", ""),
                now=now,
            )
        except services.ContractError as exc:
            _add_error(form, exc)
        else:
            messages.success(
                request,
                _(
                    "Contract %(number)s is signed. Supply starts on %(date)s; you can "
                    "cancel it online until %(until)s."
                )
                % {
                    "number": contract.number,
                    "date": contract.start_date.isoformat(),
                    "until": _last_cooling_off_day(contract).isoformat(),
                },
            )
            return redirect("contracts:detail", contract_id=contract.pk)
    context = {
        "account": account,
        "terms": terms,
        "form": form,
        "is_owner": is_owner,
        "tariff_prices": [(t, price_summary(t, earliest)) for t in tariffs],
    }
    return render(request, "contracts/sign_up.html", context)


def _last_cooling_off_day(contract: Contract) -> dt.date:
    assert contract.cooling_off_ends_at is not None
    local = contract.cooling_off_ends_at.astimezone(clock.local_zone())
    return local.date() - dt.timedelta(days=1)


@login_required
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, contract_id: int) -> HttpResponse:
    contract = _contract_for(request, contract_id)
    user = _user(request)
    if request.method == "POST":
        account_for_owner(user, contract.account_id)  # members look, owners change: 403
    now = clock.now()
    form = CancelForm(request.POST or None)
    refusal = services.cancellation_refusal(contract, now=now)
    if request.method == "POST" and form.is_valid():
        try:
            services.contract_cancel(
                contract=contract,
                actor=user,
                actor_label=services.actor_label_for(user),
                reason=form.cleaned_data["reason"] or _("Cancelled online by the customer"),
                now=now,
            )
        except services.ContractError as exc:
            _add_error(form, exc)
            refusal = str(exc)
        else:
            messages.success(
                request, _("Contract %(number)s is cancelled.") % {"number": contract.number}
            )
            return redirect("contracts:detail", contract_id=contract.pk)
    return render(
        request,
        "contracts/cancel.html",
        {
            "contract": contract,
            "form": form,
            "refusal": refusal,
            "is_owner": _is_owner(user, contract.account),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def switch(request: HttpRequest, contract_id: int) -> HttpResponse:
    contract = _contract_for(request, contract_id)
    user = _user(request)
    if request.method == "POST":
        account_for_owner(user, contract.account_id)  # members look, owners change: 403
    now = clock.now()
    earliest, latest = services.switch_window(clock.today())
    tariffs = tariff_selectors.available_tariffs(
        segment=contract.account.customer.segment, on=clock.today()
    ).exclude(pk=contract.tariff_id)
    form = SwitchForm(
        request.POST or None,
        tariffs=tariffs,
        earliest=earliest,
        latest=latest,
        initial={"effective_date": earliest, "tariff": request.GET.get("tariff")},
    )
    context: dict[str, Any] = {
        "contract": contract,
        "form": form,
        "can_switch": _can_switch(contract),
        "is_owner": _is_owner(user, contract.account),
        "successor": selectors.live_successor(contract),
        "current_prices": price_summary(
            tariff_selectors.tariffs_with_prices().get(pk=contract.tariff_id), clock.today()
        ),
    }
    if request.method == "POST" and form.is_valid():
        tariff = form.cleaned_data["tariff"]
        effective_date = form.cleaned_data["effective_date"]
        try:
            if request.POST.get("confirm") == "yes":
                new = services.contract_switch_tariff(
                    contract=contract,
                    tariff=tariff,
                    effective_date=effective_date,
                    actor=user,
                    now=now,
                )
            else:
                quote = services.contract_switch_quote(
                    contract=contract, tariff=tariff, effective_date=effective_date, now=now
                )
                context.update(
                    quote=quote,
                    new_prices=price_summary(quote.tariff, effective_date),
                )
                return render(request, "contracts/switch_confirm.html", context)
        except services.ContractError as exc:
            _add_error(form, exc)
        else:
            messages.success(
                request,
                _("You switch to %(tariff)s on %(date)s (new contract %(number)s).")
                % {
                    "tariff": tariff.name,
                    "date": effective_date.isoformat(),
                    "number": new.number,
                },
            )
            return redirect("contracts:detail", contract_id=new.pk)
    return render(request, "contracts/switch.html", context)


@login_required
@require_http_methods(["GET"])
def compare(request: HttpRequest, contract_id: int) -> HttpResponse:
    contract = _contract_for(request, contract_id)
    form = CompareForm(request.GET or None)
    result = comparison.plan_comparison(
        contract=contract, today=clock.today(), declared_annual_kwh=form.declared()
    )
    if result.source == "PROFILE" and not form.is_bound:
        form = CompareForm(initial={"annual_kwh": result.annual_kwh})
    return render(
        request,
        "contracts/compare.html",
        {
            "contract": contract,
            "comparison": result,
            "form": form,
            "can_switch": _can_switch(contract) and _is_owner(_user(request), contract.account),
        },
    )
