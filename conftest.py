"""Fixtures shared by every test: personas, second-factor helpers, service switches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - test persona


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("WATTLINE_ENV", "test")


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Rate limits and metrics live in the cache; each test starts from an empty one."""
    _clear_cache()
    yield
    _clear_cache()


def _clear_cache() -> None:
    if not settings.configured:  # pure tests run with -p no:django
        return
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("RedisCache"):
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    else:
        cache.clear()


def require_service(name: str) -> None:
    """Skip when a server is not configured locally; fail in CI, where it must be."""
    if os.environ.get("WATTLINE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required in CI but not configured")
    pytest.skip(f"{name} not configured (set REDIS_URL to run this test)")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The broker for real-worker tests, with its queue empty before and after.

    A worker that is killed, or stopped while duplicates of already-done messages
    wait, would otherwise hand those messages to the next test's worker.
    """
    if not settings.REDIS_URL:
        require_service("Redis")
    url = str(settings.REDIS_URL)
    _broker_empty(url)
    yield url
    _broker_empty(url)


def _broker_empty(url: str) -> None:
    """Drop waiting messages and those a killed worker held unacknowledged."""
    import redis

    from config.celery import app

    app.control.purge()
    client = redis.Redis.from_url(app.conf.broker_url or url)
    client.delete("unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def make_user(db: None) -> Callable[..., object]:
    from allauth.account.models import EmailAddress

    from apps.accounts.models import User
    from apps.accounts.services import user_assign_role

    def _make(email: str, *, role: str | None = "customer", verified_email: bool = True) -> User:
        user = User.objects.create_user(email=email, password=PASSWORD)
        EmailAddress.objects.create(user=user, email=email, verified=verified_email, primary=True)
        if role:
            user_assign_role(user=user, role=role)
        return user

    return _make


@pytest.fixture
def customer(make_user: Callable[..., object]) -> object:
    return make_user("ana@example.com")


@pytest.fixture
def other_customer(make_user: Callable[..., object]) -> object:
    return make_user("bruno@example.com")


def totp_code(device: object, *, offset_steps: int = 0) -> str:
    """The code an authenticator app would show for ``device`` now."""
    import time

    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)  # type: ignore[attr-defined]
    totp.time = time.time() + offset_steps * device.step  # type: ignore[attr-defined]
    return f"{totp.token():0{device.digits}d}"  # type: ignore[attr-defined]


def enable_totp(user: object) -> object:
    """Give ``user`` a confirmed authenticator (as if they had enrolled) and return it."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def verified_client(user: object) -> Client:
    """A client signed in as ``user`` with the second factor given."""
    device = enable_totp(user)
    client = Client()
    client.force_login(user)
    response = client.post("/account/2fa/verify/", {"token": totp_code(device)})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def staff_client_for(make_user: Callable[..., object]) -> Callable[[str], Client]:
    def _client(role: str) -> Client:
        user = make_user(f"{role}@staff.example.com", role=role)
        return verified_client(user)

    return _client
