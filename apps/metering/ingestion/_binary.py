"""PostgreSQL binary COPY fields for readings. Pure: no Django, no database.

Binary COPY spares the server from parsing text (time stamps with offsets and
numerics are the dear part of a text COPY). A row is a field count followed by
one length-prefixed field per column; see "Binary Format" under COPY in the
PostgreSQL manual. The checker builds each distinct value once and joins the
cached pieces per row.
"""

from __future__ import annotations

import datetime as dt
import struct

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, extension
TRAILER = struct.pack("!h", -1)
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_BIGINT = struct.Struct("!iq")
_SMALLINT = struct.Struct("!ih")
_INTEGER = struct.Struct("!ii")
_LENGTH = struct.Struct("!i")
_COUNT = struct.Struct("!h")
_NBASE = 10_000


def field_count(count: int) -> bytes:
    return _COUNT.pack(count)


def bigint(value: int) -> bytes:
    return _BIGINT.pack(8, value)


def integer(value: int) -> bytes:
    return _INTEGER.pack(4, value)


def smallint(value: int) -> bytes:
    return _SMALLINT.pack(2, value)


def text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def timestamptz(value: dt.datetime) -> bytes:
    """An aware datetime as microseconds since 2000-01-01 UTC."""
    return _BIGINT.pack(8, (value - _PG_EPOCH) // _MICROSECOND)


def milli_numeric(thousandths: int) -> bytes:
    """``thousandths / 1000`` as a NUMERIC with three decimals (kWh from whole Wh).

    NUMERIC travels as base-10,000 digits: count, weight of the first digit,
    sign, display scale, then the digits, without leading or trailing zeros.
    """
    if thousandths < 0:
        raise ValueError("only non-negative values are encoded")
    whole, fraction = divmod(thousandths, 1000)
    digits: list[int] = []
    while whole:
        whole, digit = divmod(whole, _NBASE)
        digits.insert(0, digit)
    weight = len(digits) - 1
    digits.append(fraction * 10)  # .xyz is the base-10,000 digit xyz0
    while digits and digits[-1] == 0:
        digits.pop()
    while digits and digits[0] == 0:
        digits.pop(0)
        weight -= 1
    if not digits:
        weight = 0
    body = struct.pack(f"!hhhh{len(digits)}h", len(digits), weight, 0, 3, *digits)
    return _LENGTH.pack(len(body)) + body
