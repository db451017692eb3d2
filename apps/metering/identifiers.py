"""Supply-point identifiers: the Spanish CUPS (Código Universal del Punto de Suministro).

Pure functions, no Django. A CUPS is ``ES`` + 4-digit distributor code + 12 digits
+ 2 check letters, optionally followed by a 2-character border-point suffix
(a digit and a letter, e.g. ``0F``). The check letters come from the 16 digits
N: R = N mod 529, then letters[R // 23] and letters[R % 23] with the table
below (the same table as the Spanish DNI).
"""

from __future__ import annotations

import re

_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_SHAPE = re.compile(r"^ES(\d{16})([A-Z]{2})(\d[A-Z])?$")


class InvalidCups(ValueError):
    """The text is not a valid CUPS; the message says why."""


def cups_check_letters(digits: str) -> str:
    """The two check letters for the 16 digits of a CUPS."""
    if len(digits) != 16 or not digits.isdigit():
        raise InvalidCups("A CUPS has 16 digits after ES.")
    remainder = int(digits) % 529
    return _LETTERS[remainder // 23] + _LETTERS[remainder % 23]


def normalise_cups(value: str) -> str:
    """Upper-case ``value`` without spaces or dashes and check it; raise ``InvalidCups``."""
    text = re.sub(r"[\s-]", "", value or "").upper()
    if not text.startswith("ES"):
        raise InvalidCups("A CUPS starts with ES.")
    if len(text) not in (20, 22):
        raise InvalidCups(f"A CUPS has 20 or 22 characters; this one has {len(text)}.")
    match = _SHAPE.match(text)
    if match is None:
        raise InvalidCups(
            "A CUPS is ES, 16 digits, 2 check letters and optionally a digit and a letter."
        )
    digits, letters, _border = match.groups()
    expected = cups_check_letters(digits)
    if letters != expected:
        raise InvalidCups(f"The check letters of this CUPS should be {expected}, not {letters}.")
    return text


def make_cups(distributor: int, serial: int, border: str = "") -> str:
    """Build a valid CUPS (for demo data and tests)."""
    digits = f"{distributor:04d}{serial:012d}"
    return f"ES{digits}{cups_check_letters(digits)}{border}"
