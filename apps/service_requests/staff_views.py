"""Staff endpoints outside the admin: downloading a request's documents.

Staff only, with the second factor given in this session and the permission to view
service documents; customers get 403, staff without a verified session are sent to verify.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_otp import user_has_device

from apps.service_requests.models import ServiceDocument
from apps.service_requests.views import document_response

View = Callable[..., HttpResponseBase]


def staff_verified_required(permission: str) -> Callable[[View], View]:
    """Signed in, staff, second factor given in this session, and ``permission``."""

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


@require_GET
@staff_verified_required("service_requests.view_servicedocument")
def document_download(request: HttpRequest, request_id: int, document_id: int) -> HttpResponseBase:
    document = (
        ServiceDocument.objects.filter(pk=document_id, service_request_id=request_id)
        .order_by("id")
        .first()
    )
    if document is None:
        raise Http404("No such document")
    return document_response(document)
