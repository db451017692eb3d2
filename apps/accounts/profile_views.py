"""The customer's profile pages: contact details, billing address, preferences and consents.

Every page acts on one account the user is a member of: the one named in the
request (``?account=`` on pages, the hidden ``account`` field in forms, so a
form submitted from an old tab never lands on another account) or else the
account chosen in the portal. Foreign accounts are 404; changes need the
OWNER role (403 otherwise). Views make one service call and turn its
``AccountsInputError`` into an error on the named form field.
"""

from __future__ import annotations

from typing import Any, cast

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import BillingAddressForm, ContactDetailsForm, PreferencesForm
from apps.accounts.models import Account, ConsentRecord, Membership, User
from apps.core import clock


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _account_for_page(request: HttpRequest) -> Account | None:
    """The account a page shows: ``?account=`` (404 if not theirs) or the chosen one."""
    user = _user(request)
    if "account" in request.GET:
        return selectors.account_for_user(user, request.GET["account"])
    return selectors.current_account(user, request.session)


def _page_url(name: str, account: Account) -> str:
    return f"{reverse(name)}?account={account.pk}"


def _apply_error(form: Form, exc: services.AccountsInputError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# --- Contact details and billing address -----------------------------------------


def _contact_initial(account: Account) -> dict[str, str]:
    return {"email": account.customer.email, "phone": account.customer.phone}


def _address_initial(account: Account) -> dict[str, str]:
    address = account.billing_address
    return {
        "line1": address.line1,
        "line2": address.line2,
        "postcode": address.postcode,
        "city": address.city,
        "region": address.region,
        "country": address.country,
    }


def _profile_context(
    request: HttpRequest,
    account: Account,
    *,
    contact_form: ContactDetailsForm | None = None,
    address_form: BillingAddressForm | None = None,
) -> dict[str, Any]:
    user = _user(request)
    is_owner = selectors.membership_role(user, account) == Membership.Role.OWNER
    verified_emails = list(
        EmailAddress.objects.filter(user=user, verified=True)
        .order_by("-primary", "email", "id")
        .values_list("email", flat=True)
    )
    return {
        "account": account,
        "customer": account.customer,
        "is_owner": is_owner,
        "verified_emails": verified_emails,
        "contact_form": contact_form or ContactDetailsForm(initial=_contact_initial(account)),
        "address_form": address_form or BillingAddressForm(initial=_address_initial(account)),
    }


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    account = _account_for_page(request)
    if account is None:
        return render(request, "accounts/profile_no_account.html")
    return render(request, "accounts/profile.html", _profile_context(request, account))


@login_required
@require_POST
def contact_update(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    account = selectors.account_for_owner(user, request.POST.get("account", ""))
    form = ContactDetailsForm(request.POST)
    if form.is_valid():
        try:
            services.customer_update_contact(
                customer=account.customer,
                email=form.cleaned_data["email"],
                phone=form.cleaned_data["phone"],
                actor=user,
            )
        except services.InvalidContactDetails as exc:
            _apply_error(form, exc)
    if form.errors:
        return _render_profile_part(request, account, "contact", contact_form=form)
    if request.htmx:  # type: ignore[attr-defined]
        context = _profile_context(request, account)
        context["saved"] = _("Contact details saved.")
        return render(request, "accounts/_contact_card.html", context)
    messages.success(request, _("Contact details saved."))
    return HttpResponseRedirect(_page_url("profile", account))


@login_required
@require_POST
def address_update(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    account = selectors.account_for_owner(user, request.POST.get("account", ""))
    form = BillingAddressForm(request.POST)
    if form.is_valid():
        try:
            services.account_update_billing_address(
                account=account, actor=user, **form.cleaned_data
            )
        except services.InvalidAddress as exc:
            _apply_error(form, exc)
    if form.errors:
        return _render_profile_part(request, account, "address", address_form=form)
    if request.htmx:  # type: ignore[attr-defined]
        context = _profile_context(request, account)
        context["saved"] = _("Billing address saved. Bills from now on use it.")
        return render(request, "accounts/_address_card.html", context)
    messages.success(request, _("Billing address saved. Bills from now on use it."))
    return HttpResponseRedirect(_page_url("profile", account))


def _render_profile_part(
    request: HttpRequest, account: Account, part: str, **forms: Any
) -> HttpResponse:
    """A form with errors: its card for htmx, else the whole page (status 200, like Django)."""
    context = _profile_context(request, account, **forms)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, f"accounts/_{part}_card.html", context)
    return render(request, "accounts/profile.html", context)


# --- Communication preferences and consents --------------------------------------


def _preferences_context(
    request: HttpRequest, account: Account, *, form: PreferencesForm | None = None
) -> dict[str, Any]:
    user = _user(request)
    customer = account.customer
    if form is None:
        preference = selectors.communication_preference_for(customer)
        consents = selectors.consents_in_force(customer)
        initial = {
            "paperless_bills": preference.paperless_bills,
            "email_notifications": preference.email_notifications,
            "sms_notifications": preference.sms_notifications,
        }
        for kind, field in PreferencesForm.CONSENT_FIELDS.items():
            initial[field] = consents[kind]
        form = PreferencesForm(initial=initial)
    return {
        "account": account,
        "customer": customer,
        "is_owner": selectors.membership_role(user, account) == Membership.Role.OWNER,
        "form": form,
        "history": list(selectors.consent_history(customer)[:50]),
        "zone": clock.local_zone(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "GET":
        account = _account_for_page(request)
        if account is None:
            return render(request, "accounts/profile_no_account.html")
        return render(request, "accounts/preferences.html", _preferences_context(request, account))

    account = selectors.account_for_owner(user, request.POST.get("account", ""))
    form = PreferencesForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            services.customer_preferences_update(
                customer=account.customer,
                paperless_bills=form.cleaned_data["paperless_bills"],
                email_notifications=form.cleaned_data["email_notifications"],
                sms_notifications=form.cleaned_data["sms_notifications"],
                consents=form.consents(),
                actor=user,
                ip_address=_client_ip(request),
                channel=ConsentRecord.Channel.PORTAL,
                now=clock.now(),
            )
        except (services.InvalidPreferences, services.InvalidConsent) as exc:
            _apply_error(form, exc)
        else:
            saved = True
    if saved and not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, _("Preferences saved."))
        return HttpResponseRedirect(_page_url("profile_preferences", account))
    context = _preferences_context(request, account, form=None if saved else form)
    if saved:
        context["saved"] = _("Preferences saved.")
    template = "accounts/_preferences_card.html" if request.htmx else "accounts/preferences.html"  # type: ignore[attr-defined]
    return render(request, template, context)
