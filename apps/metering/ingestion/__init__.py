"""Reading ingestion: every way in (CSV, ESPI XML, API) goes through ``ingest_candidates``."""

from apps.metering.ingestion._csv import BadHeader, CsvReadings, csv_candidates
from apps.metering.ingestion._load import IngestReport, ingest_candidates
from apps.metering.ingestion._parse import (
    CandidateRow,
    RowChecker,
    RowError,
    SupplyPointFacts,
    check_row,
)

__all__ = [
    "BadHeader",
    "CandidateRow",
    "CsvReadings",
    "IngestReport",
    "RowChecker",
    "RowError",
    "SupplyPointFacts",
    "check_row",
    "csv_candidates",
    "ingest_candidates",
]
