"""Green Button / NAESB ESPI: import "Download My Data" feeds and produce our own.

Import: ``espi_import(source=…, supply_point=…)`` → ``IngestReport`` (through the one
ingestion service). Export: ``espi_feed_for(supply_point=…, start=…, end=…)`` → bytes
(``espi_feed_chunks`` for a streaming response), valid against ESPI
``ESPI_SCHEMA_VERSION`` (``validate_espi_feed``). Decisions 0500-0502.
"""

from apps.metering.espi._export import (
    CONTENT_TYPE,
    espi_feed_chunks,
    espi_feed_for,
    espi_filename,
    local_time_parameters,
)
from apps.metering.espi._feed import (
    QUALITY_CODES,
    EspiFeed,
    EspiFeedError,
    EspiSource,
    UsagePointInfo,
    espi_scan,
    to_kwh,
)
from apps.metering.espi._import import (
    UnknownSupplyPoint,
    UsagePointNotMapped,
    espi_import,
    espi_supply_points,
)
from apps.metering.espi._schema import (
    ESPI_SCHEMA_VERSION,
    EspiSchemaInvalid,
    espi_schema,
    espi_validation_errors,
    validate_espi_feed,
)

__all__ = [
    "CONTENT_TYPE",
    "ESPI_SCHEMA_VERSION",
    "QUALITY_CODES",
    "EspiFeed",
    "EspiFeedError",
    "EspiSchemaInvalid",
    "EspiSource",
    "UnknownSupplyPoint",
    "UsagePointInfo",
    "UsagePointNotMapped",
    "espi_feed_chunks",
    "espi_feed_for",
    "espi_filename",
    "espi_import",
    "espi_scan",
    "espi_schema",
    "espi_supply_points",
    "espi_validation_errors",
    "local_time_parameters",
    "to_kwh",
    "validate_espi_feed",
]
