"""The archive: ingest (validate, keep, index), and later query and retrieve."""

from __future__ import annotations

from raddx.archive.importer import ImportEvent, ImportSummary, import_paths
from raddx.archive.ingest import IngestOutcome, IngestResult, IngestService, blob_key_for
from raddx.archive.retrieve import RetrievedInstance, RetrieveService
from raddx.archive.sweep import SweepReport, sweep_orphans

__all__ = [
    "ImportEvent",
    "ImportSummary",
    "IngestOutcome",
    "IngestResult",
    "IngestService",
    "RetrieveService",
    "RetrievedInstance",
    "SweepReport",
    "blob_key_for",
    "import_paths",
    "sweep_orphans",
]
