"""The door to staff pages outside the admin: staff, second factor given, and a permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django_otp import user_has_device

View = Callable[..., HttpResponseBase]


def staff_verified_required(permission: str) -> Callable[[View], View]:
    """Signed in, staff, second factor given in this session, and ``permission``.

    Anonymous visitors are sent to sign in; staff who have not given their second
    factor are sent to give (or set up) it; everyone else gets 403.
    """

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_staff:
                raise PermissionDenied("Staff only.")
            if not getattr(user, "is_verified", lambda: False)():
                target = "mfa_verify" if user_has_device(user, confirmed=True) else "mfa_setup"
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse(target)}?{query}")
            if not user.has_perm(permission):
                raise PermissionDenied(f"Needs {permission}.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
