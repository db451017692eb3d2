"""What an uploaded file really is: its type read from the first bytes, not from its name.

Pure helpers over bytes and names (no Django). The rules (decision 0601): PDF, PNG or JPEG
only, at most 10 MB, not empty, and the name's extension must agree with the content.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Final

MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
MAX_FILES_PER_FIELD: Final = 5
SNIFF_BYTES: Final = 16

PDF: Final = "application/pdf"
PNG: Final = "image/png"
JPEG: Final = "image/jpeg"

#: Magic numbers at the start of each accepted format.
SIGNATURES: Final[dict[str, tuple[bytes, ...]]] = {
    PDF: (b"%PDF-",),
    PNG: (b"\x89PNG\r\n\x1a\n",),
    JPEG: (b"\xff\xd8\xff",),
}

EXTENSIONS: Final[dict[str, tuple[str, ...]]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
}

TYPE_NAMES: Final[dict[str, str]] = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG"}


def sniff(head: bytes) -> str | None:
    """The content type whose magic number ``head`` starts with, or None."""
    for content_type, signatures in SIGNATURES.items():
        if any(head.startswith(signature) for signature in signatures):
            return content_type
    return None


def type_for_name(name: str) -> str | None:
    """The content type the file name's extension claims, or None for any other extension."""
    suffix = PurePath(name).suffix.lower()
    for content_type, suffixes in EXTENSIONS.items():
        if suffix in suffixes:
            return content_type
    return None


def display_size(size: int) -> str:
    """``size`` bytes as megabytes with one decimal (``12.3 MB``)."""
    return f"{size / (1024 * 1024):.1f} MB"


def safe_name(name: str) -> str:
    """The last path part of ``name`` without control or quote characters, at most 200 long."""
    base = PurePath(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')
    return (cleaned.strip() or "file")[-200:]
