from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core.logging import request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (the caller's ``X-Request-ID`` when sane) for logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ClientAddressMiddleware:
    """Put the real client's address in ``REMOTE_ADDR`` and drop ``X-Forwarded-For``.

    Behind ``settings.TRUSTED_PROXY_COUNT`` reverse proxies that we run, each appends the
    address it received the request from to ``X-Forwarded-For``; the client is the entry
    that many places from the right. Anything further left was written by the client and
    can be forged, so it is never used. With no trusted proxies the header is ignored.

    Everything that records an address (the audit trail, signed contracts and mandates,
    sign-in throttling) reads ``REMOTE_ADDR``; the header is removed so that no library
    trusts it on its own (django-auditlog would take its first, forgeable, entry).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.trusted = int(settings.TRUSTED_PROXY_COUNT)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        forwarded = request.META.pop("HTTP_X_FORWARDED_FOR", "")
        if self.trusted and forwarded:
            hops = [hop.strip() for hop in forwarded.split(",")]
            if len(hops) >= self.trusted:
                client = _address(hops[-self.trusted])
                if client:
                    request.META["REMOTE_ADDR"] = client
        return self.get_response(request)


def _address(text: str) -> str:
    """``text`` as a bare IP address (a port or IPv6 brackets removed), or "" if it is none."""
    value = text.strip()
    if value.startswith("["):  # [2001:db8::1]:443
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # 203.0.113.7:51234
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return ""
