from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_otp import user_has_device

_ALWAYS_ALLOWED = ("/static/", "/healthz", "/metrics", "/i18n/", "/favicon.ico")


class SecondFactorMiddleware:
    """Ask for the second factor of every session that has not given it yet.

    A user with a confirmed device is sent to the verification page until the
    session is verified. Staff without a device are sent to set one up before
    the admin opens (the admin site itself refuses unverified sessions too).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        redirect = self._redirect_for(request)
        return redirect or self.get_response(request)

    def _redirect_for(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or user.is_verified():  # type: ignore[attr-defined]
            return None
        path = request.path
        exempt = (
            reverse("mfa_verify"),
            reverse("mfa_setup"),
            reverse("account_logout"),
            *_ALWAYS_ALLOWED,
        )
        if path.startswith(exempt):
            return None
        query = urlencode({"next": request.get_full_path()})
        if user_has_device(user, confirmed=True):
            return HttpResponseRedirect(f"{reverse('mfa_verify')}?{query}")
        if user.is_staff and path.startswith("/" + settings.ADMIN_URL):
            return HttpResponseRedirect(f"{reverse('mfa_setup')}?{query}")
        return None
