"""Alert settings: how eager unusual-consumption alerts are, per supply point the customer holds.

A supply point is the customer's when an account they are a member of has a live
contract for it (read through ``apps.accounts.selectors`` and
``apps.contracts.selectors``); any other supply point is a 404 and nothing
changes. Any member may change the settings (they only decide what the account's
people are told). The view makes one service call and shows its errors on the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from apps.accounts import selectors as account_selectors
from apps.accounts.models import Account, User
from apps.contracts import selectors as contract_selectors
from apps.metering import alerts as metering_alerts
from apps.metering.models import AlertPreference, ConsumptionAlert, SupplyPoint

RECENT_ALERTS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class HeldSupplyPoint:
    supply_point: SupplyPoint
    account: Account


def held_supply_points(user: User) -> list[HeldSupplyPoint]:
    """Supply points with a live contract on one of ``user``'s accounts, by CUPS."""
    held: dict[int, HeldSupplyPoint] = {}
    for account in account_selectors.accounts_for_user(user):
        for contract in contract_selectors.contracts_for_account(account):
            if contract.is_live:
                held.setdefault(
                    contract.supply_point_id, HeldSupplyPoint(contract.supply_point, account)
                )
    return sorted(held.values(), key=lambda h: (h.supply_point.external_id, h.supply_point.pk))


def _held(user: User, supply_point_id: int) -> HeldSupplyPoint:
    for item in held_supply_points(user):
        if item.supply_point.pk == supply_point_id:
            return item
    raise Http404("No such supply point")


class AlertSettingsForm(forms.Form):
    sensitivity = forms.ChoiceField(
        label=_("How sensitive should alerts be?"),
        choices=AlertPreference.Sensitivity.choices,
        widget=forms.RadioSelect,
    )
    kinds = forms.MultipleChoiceField(
        label=_("Tell me about"),
        choices=ConsumptionAlert.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Untick a kind of alert to stop receiving it."),
    )


_FORM_FIELD = {"sensitivity": "sensitivity", "disabled_kinds": "kinds"}


@login_required
@require_http_methods(["GET", "POST"])
def alert_settings(request: HttpRequest, supply_point_id: int) -> HttpResponse:
    user = cast(User, request.user)
    held = _held(user, supply_point_id)
    preference = metering_alerts.alert_preference_for(supply_point_id=supply_point_id)
    if request.method == "POST":
        form = AlertSettingsForm(request.POST)
        if form.is_valid():
            enabled = set(form.cleaned_data["kinds"])
            try:
                metering_alerts.alert_preference_update(
                    supply_point_id=supply_point_id,
                    sensitivity=form.cleaned_data["sensitivity"],
                    disabled_kinds=[k for k in ConsumptionAlert.Kind.values if k not in enabled],
                    actor=user,
                )
            except metering_alerts.AlertPreferenceError as exc:
                form.add_error(_FORM_FIELD.get(exc.field), exc.message)
            else:
                messages.success(request, gettext("Your alert settings are saved."))
                return HttpResponseRedirect(reverse("alert_settings", args=[supply_point_id]))
    else:
        disabled = set(preference.disabled_kinds or [])
        form = AlertSettingsForm(
            initial={
                "sensitivity": preference.sensitivity,
                "kinds": [k for k in ConsumptionAlert.Kind.values if k not in disabled],
            }
        )
    context = {
        "held": held,
        "supply_point": held.supply_point,
        "form": form,
        "recent": metering_alerts.recent_alerts(
            supply_point_ids=[supply_point_id], limit=RECENT_ALERTS_SHOWN
        ),
    }
    return render(
        request, "portal/alerts/settings.html", context, status=400 if form.errors else 200
    )
