"""Typed readers for environment variables.

Each helper returns a value of one type or raises ``ImproperlyConfigured`` whose
message names the variable and says what was wrong, so a bad deployment fails
at start-up with a sentence an operator can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_Str = str  # the methods below are named after types; keep the builtin reachable
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads variables from a mapping (``os.environ`` unless given)."""

    def __init__(self, source: Mapping[_Str, _Str] | None = None) -> None:
        self._source = os.environ if source is None else source

    def raw(self, name: _Str) -> _Str | None:
        value = self._source.get(name)
        return None if value is None else value.strip()

    def str(self, name: _Str, default: _Str | None = None) -> _Str:
        value = self.raw(name)
        if value is None or value == "":
            if default is None:
                raise ImproperlyConfigured(f"{name} is required but not set.")
            return default
        return value

    def optional_str(self, name: _Str) -> _Str | None:
        value = self.raw(name)
        return value or None

    def bool(self, name: _Str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"{name} must be one of true/false, yes/no, on/off, 1/0; got {value!r}."
        )

    def int(self, name: _Str, default: int, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
        return number

    def list(self, name: _Str, default: list[_Str] | None = None) -> list[_Str]:
        value = self.raw(name)
        if value is None or value == "":
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: _Str, choices: tuple[_Str, ...], default: _Str) -> _Str:
        value = self.raw(name) or default
        if value not in choices:
            allowed = ", ".join(choices)
            raise ImproperlyConfigured(f"{name} must be one of {allowed}; got {value!r}.")
        return value

    def url(self, name: _Str, *, schemes: tuple[_Str, ...]) -> _Str | None:
        value = self.raw(name)
        if not value:
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ImproperlyConfigured(
                f"{name} must start with {allowed}; got {scheme or value!r}."
            )
        return value


env = Env()
