"""Importing a Green Button feed: decide which supply point each usage point is, then ingest."""

from __future__ import annotations

from collections.abc import Mapping

from apps.metering.espi._feed import EspiFeed, EspiFeedError, EspiSource, espi_scan
from apps.metering.identifiers import InvalidCups, normalise_cups
from apps.metering.ingestion import IngestReport, ingest_candidates
from apps.metering.models import ImportBatch, SupplyPoint


class UsagePointNotMapped(EspiFeedError):
    """Some usage point of the feed has no supply point; the message names each one."""


class UnknownSupplyPoint(EspiFeedError):
    """A supply point given for the feed is not a valid CUPS or is not in the database."""


def _cups(value: str) -> str:
    try:
        return normalise_cups(value)
    except InvalidCups as exc:
        raise UnknownSupplyPoint(f"supply point {value!r}: {exc}") from None


def espi_supply_points(
    feed: EspiFeed,
    *,
    supply_point: str | None = None,
    usage_points: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Which CUPS each usage point of ``feed`` is: ``{usage point href: CUPS}``.

    In order of precedence: ``usage_points`` (keys are a usage point's number in the
    feed, ``"1"``, or its link); ``supply_point`` when the feed has exactly one usage
    point; the CUPS the feed names itself (``serviceDeliveryPoint/name``, as in our own
    downloads). Raises ``UsagePointNotMapped`` naming the usage points left without one,
    ``EspiFeedError`` for a key that is not in the feed, ``UnknownSupplyPoint`` for an
    invalid CUPS.
    """
    points = feed.usage_points
    mapping: dict[str, str] = {p.href: p.cups for p in points if p.cups}
    if supply_point:
        if len(points) > 1:
            raise UsagePointNotMapped(
                f"This file has {len(points)} usage points: "
                + "; ".join(p.label() for p in points)
                + ". Say which supply point each one is (NUMBER=CUPS), not one for all."
            )
        for point in points:
            mapping[point.href] = _cups(supply_point)
    for key, value in (usage_points or {}).items():
        found = feed.usage_point(key)
        if found is None:
            raise EspiFeedError(
                f"usage point {key!r} is not in this file; it has: "
                + ("; ".join(p.label() for p in points) or "none with readings")
                + "."
            )
        mapping[found.href] = _cups(value)
    missing = [p for p in points if p.href not in mapping]
    if missing:
        raise UsagePointNotMapped(
            f"No supply point for {len(missing)} of the {len(points)} usage points in this "
            "file: "
            + "; ".join(p.label() for p in missing)
            + ". Give the supply point (CUPS)"
            + (" of each as NUMBER=CUPS." if len(points) > 1 else ".")
        )
    return mapping


def espi_import(
    *,
    source: EspiSource,
    supply_point: str | None = None,
    usage_points: Mapping[str, str] | None = None,
    filename: str = "",
    strict: bool = False,
    actor: object | None = None,
    actor_label: str = "",
) -> IngestReport:
    """Import the interval readings of a Green Button (ESPI) feed through ``ingest_candidates``.

    ``source`` is the feed's bytes, a path or a seekable binary file (it is read twice,
    streaming). ``supply_point``/``usage_points`` say which supply point the feed's usage
    points are (see :func:`espi_supply_points`). Import and export readings of the same
    interval become one reading. Bad readings are reported per IntervalReading element
    (``IntervalReading[17].value``…) and the others stored; with ``strict`` one bad
    reading stores nothing.

    Raises ``EspiFeedError`` (not XML, a DOCTYPE, not a Green Button feed),
    ``UsagePointNotMapped`` and ``UnknownSupplyPoint`` before anything is stored.
    """
    feed = espi_scan(source)
    mapping = espi_supply_points(feed, supply_point=supply_point, usage_points=usage_points)
    wanted = set(mapping.values())
    known = set(
        SupplyPoint.objects.filter(external_id__in=wanted).values_list("external_id", flat=True)
    )
    unknown = sorted(wanted - known)
    if unknown:
        raise UnknownSupplyPoint(
            "supply point " + ", ".join(unknown) + ": no such supply point in Wattline."
        )
    return ingest_candidates(
        feed.candidates(mapping),
        source=ImportBatch.Source.ESPI,
        filename=filename,
        strict=strict,
        actor=actor,
        actor_label=actor_label,
    )
