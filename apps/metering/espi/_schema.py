"""Validation against the ESPI 4.0 schema bundled in ``schemas/``, without network access."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import IO

import xmlschema

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ESPI_SCHEMA_VERSION = "4.0.20231213"
_XML_XSD_URL = "https://www.w3.org/2001/03/xml.xsd"
_MAX_MESSAGES = 20


class EspiSchemaInvalid(ValueError):
    """The document does not validate against the ESPI schema; ``messages`` says where."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(
            f"The document does not validate against ESPI {ESPI_SCHEMA_VERSION}: {messages[0]}"
        )
        self.messages = messages


@functools.cache
def espi_schema() -> xmlschema.XMLSchema10:
    """The ESPI schema (with Atom), loaded once per process from the bundled files.

    ``atom.xsd`` imports ``xml.xsd`` by URL; that URL is mapped to the copy shipped with
    ``xmlschema`` and only local resources are allowed, so no network is ever used.
    """
    xml_xsd = Path(xmlschema.__file__).resolve().parent / "schemas" / "XML" / "xml.xsd"
    return xmlschema.XMLSchema10(
        str(SCHEMA_DIR / "espi.xsd"),
        uri_mapper={_XML_XSD_URL: xml_xsd.as_uri()},
        allow="local",
        defuse="always",
    )


def espi_validation_errors(source: bytes | Path | IO[bytes]) -> list[str]:
    """Why ``source`` (a whole Atom feed) is not valid ESPI: an empty list when it is.

    At most the first 20 problems are listed, each with its path in the document.
    """
    document: object = io.BytesIO(source) if isinstance(source, bytes) else source
    if isinstance(document, Path):
        document = str(document)
    messages: list[str] = []
    for error in espi_schema().iter_errors(document):  # type: ignore[arg-type]
        messages.append(f"{error.path}: {error.reason}")
        if len(messages) >= _MAX_MESSAGES:
            break
    return messages


def validate_espi_feed(source: bytes | Path | IO[bytes]) -> None:
    """Raise ``EspiSchemaInvalid`` unless ``source`` validates against the bundled schema."""
    messages = espi_validation_errors(source)
    if messages:
        raise EspiSchemaInvalid(messages)
