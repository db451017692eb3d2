"""The client's address comes from our own proxies only, never from what a client forges."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from apps.core.middleware import ClientAddressMiddleware

PROXY = "10.0.0.5"


def _seen(settings: Any, *, trusted: int, forwarded: str | None) -> tuple[str, str | None]:
    """REMOTE_ADDR and X-Forwarded-For as the view behind the middleware sees them."""
    settings.TRUSTED_PROXY_COUNT = trusted
    seen: dict[str, Any] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["addr"] = request.META["REMOTE_ADDR"]
        seen["xff"] = request.META.get("HTTP_X_FORWARDED_FOR")
        return HttpResponse()

    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, **extra)
    ClientAddressMiddleware(view)(request)
    return seen["addr"], seen["xff"]


@pytest.mark.parametrize(
    ("trusted", "forwarded", "client"),
    [
        (0, None, PROXY),
        (0, "198.51.100.9", PROXY),  # no proxies of ours: the header is the client's word
        (1, None, PROXY),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.9, 203.0.113.7", "203.0.113.7"),  # a forged first entry is skipped
        (2, "198.51.100.9, 203.0.113.7, 10.0.0.4", "203.0.113.7"),
        (2, "203.0.113.7", PROXY),  # fewer hops than proxies: not what our proxies send
        (1, "203.0.113.7:51234", "203.0.113.7"),
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        (1, "2001:db8::2", "2001:db8::2"),
        (1, "unknown", PROXY),
        (1, "<script>", PROXY),
    ],
)
def test_client_address_is_read_from_trusted_hops_only(
    settings: Any, trusted: int, forwarded: str | None, client: str
) -> None:
    assert _seen(settings, trusted=trusted, forwarded=forwarded) == (client, None)
