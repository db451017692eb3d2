"""Settings refuse unsafe or malformed configuration with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import Env

ROOT = Path(__file__).resolve().parents[3]


def _load_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(overrides)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/unused")
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


GOOD_KEY = "k" * 60


def test_production_refuses_debug_on() -> None:
    result = _load_settings(
        WATTLINE_ENV="production",
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY=GOOD_KEY,
        DJANGO_ALLOWED_HOSTS="portal.example.com",
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be off when WATTLINE_ENV=production." in result.stderr


def test_production_refuses_the_default_secret_key() -> None:
    result = _load_settings(WATTLINE_ENV="production", DJANGO_ALLOWED_HOSTS="portal.example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set to a random value" in result.stderr


def test_production_refuses_missing_allowed_hosts() -> None:
    result = _load_settings(WATTLINE_ENV="production", DJANGO_SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must list the site's host names" in result.stderr


def test_production_loads_with_safe_values_and_turns_security_on() -> None:
    result = _load_settings(
        WATTLINE_ENV="production",
        DJANGO_SECRET_KEY=GOOD_KEY,
        DJANGO_ALLOWED_HOSTS="portal.example.com",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("method", "raw", "message"),
    [
        ("bool", "perhaps", "FLAG must be one of true/false"),
        ("int", "ten", "FLAG must be a whole number; got 'ten'."),
        ("int", "-1", "FLAG must be at least 0; got -1."),
    ],
)
def test_env_helpers_reject_bad_values(method: str, raw: str, message: str) -> None:
    env = Env({"FLAG": raw})
    read = (
        (lambda: env.bool("FLAG", default=False))
        if method == "bool"
        else (lambda: env.int("FLAG", 1, minimum=0))
    )
    with pytest.raises(ImproperlyConfigured, match=message):
        read()


def test_env_url_names_the_expected_schemes() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with postgres://"):
        Env({"DATABASE_URL": "mysql://x"}).url("DATABASE_URL", schemes=("postgres", "postgresql"))
    assert Env({}).url("DATABASE_URL", schemes=("postgres",)) is None
    assert Env({"A": "on"}).bool("A", default=False) is True
    assert Env({"L": "a, b,,c"}).list("L") == ["a", "b", "c"]
