from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from apps.accounts import mfa
from apps.accounts.forms import ConfirmTotpForm, TokenForm
from apps.accounts.models import User


def _user(request: HttpRequest) -> User:
    """The signed-in user (views below are all behind ``login_required``)."""
    return cast(User, request.user)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
def security(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/security.html",
        {"mfa_enabled": mfa.mfa_is_enabled(user=_user(request))},
    )


@login_required
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = _safe_next(request, reverse("account_security"))
    device = mfa.mfa_pending_totp_device(user=user)
    form = ConfirmTotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = mfa.mfa_confirm_totp(user=user, token=form.cleaned_data["token"])
        except mfa.InvalidToken:
            form.add_error(
                "token", _("That code did not match. Check the time on your phone and try again.")
            )
        else:
            device.refresh_from_db()
            otp_login(request, device)
            return render(request, "accounts/backup_codes.html", {"codes": codes, "next": next_url})
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "form": form,
            "qr_svg": mfa.totp_qr_svg(device),
            "secret": mfa.totp_secret_for_display(device),
            "next": next_url,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, reverse("portal_home"))
    if request.user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(next_url)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.mfa_verify(user=_user(request), token=form.cleaned_data["token"])
        except mfa.InvalidToken:
            form.add_error("token", _("That code is not valid, or it was already used."))
        else:
            otp_login(request, device)
            return HttpResponseRedirect(next_url)
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["POST"])
def mfa_backup_codes(request: HttpRequest) -> HttpResponse:
    if not request.user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(reverse("mfa_verify"))
    codes = mfa.mfa_regenerate_backup_codes(user=_user(request))
    return render(
        request, "accounts/backup_codes.html", {"codes": codes, "next": reverse("account_security")}
    )


@login_required
@require_http_methods(["GET", "POST"])
def mfa_disable(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        messages.error(request, _("Staff accounts must keep two-step verification on."))
        return HttpResponseRedirect(reverse("account_security"))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mfa.mfa_disable(user=_user(request), token=form.cleaned_data["token"])
        except mfa.InvalidToken:
            form.add_error("token", _("That code is not valid, or it was already used."))
        else:
            messages.success(request, _("Two-step verification is off."))
            return HttpResponseRedirect(reverse("account_security"))
    return render(request, "accounts/mfa_disable.html", {"form": form})
