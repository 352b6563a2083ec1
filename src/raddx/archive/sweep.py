"""The orphan sweep: remove bytes nobody indexes, report indexed instances without bytes.

Ingest links the blob before the index transaction commits (``raddx.archive.ingest``), so a
crash between the two leaves a blob no row points to; a crash during the write leaves a
hidden temp file. Neither is ever visible to users; this sweep reclaims the space. Files
younger than the grace period are left alone because they may belong to an ingest that is
still running in another process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import Instance
from raddx.storage import BlobStore

__all__ = ["SweepReport", "sweep_orphans"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep found (and removed, unless it was a dry run)."""

    orphan_blobs: int
    orphan_bytes: int
    temp_files: int
    missing_blobs: int


def sweep_orphans(
    *,
    session_factory: Callable[[], Session],
    blobs: BlobStore,
    grace_seconds: float,
    dry_run: bool = False,
) -> SweepReport:
    """Delete blobs without an index row and stale temp files older than ``grace_seconds``.

    The blob listing is taken *before* the set of indexed keys is read, so a blob committed
    while the sweep runs is seen in the index and kept.
    """
    cutoff = time.time() - grace_seconds
    candidates = [b for b in blobs.list_blobs() if b.mtime < cutoff]
    with session_factory() as session, session.begin():
        indexed = set(session.scalars(select(Instance.blob_key)))
    orphans = [b for b in candidates if b.key not in indexed]
    present = {b.key for b in blobs.list_blobs()}
    missing = len(indexed - present)
    if missing:
        log.error("indexed instances without blob count=%d (restore from backup)", missing)
    temp_files = 0
    if not dry_run:
        for blob in orphans:
            blobs.delete(blob.key)
        temp_files = blobs.remove_stale_temp(cutoff)
    return SweepReport(
        orphan_blobs=len(orphans),
        orphan_bytes=sum(b.size for b in orphans),
        temp_files=temp_files,
        missing_blobs=missing,
    )
