"""The staff admin: reachable only with a verified second factor."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class WattlineAdminSite(admin.AdminSite):
    site_header = _("Wattline back office")
    site_title = _("Wattline back office")
    index_title = _("Back office")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active and user.is_staff and getattr(user, "is_verified", lambda: False)()
        )

    def login(
        self, request: HttpRequest, extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        """Send staff through the portal sign-in, then through the second factor."""
        next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        query = urlencode({"next": next_url})
        user = request.user
        if not user.is_authenticated:
            return HttpResponseRedirect(f"{reverse('account_login')}?{query}")
        if not user.is_staff:
            return HttpResponseRedirect(reverse("portal_home"))
        if not user.is_verified():  # type: ignore[attr-defined]
            from django_otp import user_has_device

            target = "mfa_verify" if user_has_device(user) else "mfa_setup"
            return HttpResponseRedirect(f"{reverse(target)}?{query}")
        return HttpResponseRedirect(next_url)


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """A tabular inline that shows records and never adds, changes or deletes them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A model admin that shows records and never adds, changes or deletes them.

    Records that only services may write (ledgers, gateway events, alerts, meter
    events, market prices) are shown through it; their own actions and forms call the
    services.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
