"""The archive: ingest (validate, keep, index), and later query and retrieve."""

from __future__ import annotations

from raddx.archive.ingest import IngestOutcome, IngestResult, IngestService, blob_key_for

__all__ = ["IngestOutcome", "IngestResult", "IngestService", "blob_key_for"]
