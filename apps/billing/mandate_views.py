"""The customer's direct-debit page: see the mandate in force, give a new one, revoke it.

The page acts on one account the user is a member of (``?account=`` or the account chosen
in the portal; someone else's account is 404). Giving or revoking a mandate needs the
OWNER role (403 for other members). Each POST makes one service call and turns its
``MandateInputError`` into errors on the named fields.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import selectors as account_selectors
from apps.accounts.models import Account, Membership, User
from apps.billing import direct_debit
from apps.billing.models import Mandate


class MandateForm(forms.Form):
    """The online SEPA mandate. Values are checked by ``direct_debit.mandate_create``."""

    debtor_name = forms.CharField(
        label=gettext_lazy("Account holder name"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("As it appears at your bank."),
        widget=forms.TextInput(attrs={"autocomplete": "name", "aria-required": "true"}),
    )
    iban = forms.CharField(
        label=gettext_lazy("IBAN"),
        required=False,
        max_length=50,
        help_text=gettext_lazy("For example ES79 2100 0813 6101 2345 6789. Spaces are fine."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "aria-required": "true",
            }
        ),
    )
    accepted = forms.BooleanField(
        label=gettext_lazy("I have read the mandate above and I authorise these direct debits."),
        required=False,
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _page_url(account: Account) -> str:
    return f"{reverse('billing:mandate')}?account={account.pk}"


def _context(request: HttpRequest, account: Account, form: MandateForm | None) -> dict[str, Any]:
    user = _user(request)
    current = direct_debit.mandate_active_for(account)
    return {
        "account": account,
        "is_owner": account_selectors.membership_role(user, account) == Membership.Role.OWNER,
        "mandate": current,
        "masked_iban": direct_debit.iban_mask(current.iban) if current else "",
        "iban_last4": current.iban[-4:] if current else "",
        "form": form or MandateForm(initial={"debtor_name": account.customer.name}),
        "mandate_text": direct_debit.mandate_text(),
        "creditor": direct_debit.creditor_details(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def mandate(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        account = account_selectors.account_for_owner(user, request.POST.get("account", ""))
        form = MandateForm(request.POST)
        if form.is_valid():
            try:
                direct_debit.mandate_create(
                    account=account,
                    debtor_name=form.cleaned_data["debtor_name"],
                    iban=form.cleaned_data["iban"],
                    accepted=form.cleaned_data["accepted"],
                    signed_by=user,
                    ip_address=request.META.get("REMOTE_ADDR"),
                )
            except direct_debit.MandateInputError as exc:
                for field, message in exc.errors.items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                messages.success(
                    request, _("Direct debit set up. Your next bills will be collected from it.")
                )
                return HttpResponseRedirect(_page_url(account))
        context = _context(request, account, form)
        return render(request, "billing/direct_debit/mandate.html", context, status=400)
    if "account" in request.GET:
        chosen: Account | None = account_selectors.account_for_user(user, request.GET["account"])
    else:
        chosen = account_selectors.current_account(user, request.session)
    if chosen is None:
        return render(request, "billing/direct_debit/no_account.html")
    return render(request, "billing/direct_debit/mandate.html", _context(request, chosen, None))


@login_required
@require_POST
def mandate_revoke(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    account = account_selectors.account_for_owner(user, request.POST.get("account", ""))
    try:
        target = Mandate.objects.get(account=account, pk=int(request.POST.get("mandate", "")))
    except (Mandate.DoesNotExist, ValueError):
        raise Http404("No such mandate") from None
    if direct_debit.mandate_revoke(mandate=target, actor=user):
        messages.success(
            request,
            _("Direct debit cancelled. Please pay your next bills by card or bank transfer."),
        )
    else:
        messages.info(request, _("This mandate was already cancelled."))
    return HttpResponseRedirect(_page_url(account))
