"""The sweep: reconcile the blob store with the index after crashes.

Ingest makes the blob durable and then commits the index row (``raddx.archive.ingest``). A
crash can separate the two:

* a process killed between the write and the commit leaves a complete blob that no row points
  to;
* a power cut with SQLite ``synchronous=NORMAL`` can lose the last committed rows, whose
  objects were already acknowledged and whose blobs are durable;
* a crash during a write leaves a hidden temp file, and a power cut during ``put`` can leave a
  torn file under a final name.

So an unreferenced blob is not simply garbage. The sweep re-indexes (adopts) every complete,
valid one whose SOP Instance UID the index does not hold — or holds with a blob that is gone —
and deletes the rest (torn files, redundant or superseded copies whose instance is indexed
with a blob that exists, and blobs of purged instances). Files younger than the grace period
are left alone: they may belong to an ingest still running in another process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.archive.header import parse_header
from raddx.archive.ingest import IngestService
from raddx.db.engine import READ_ONLY_OPTIONS
from raddx.db.models import Instance, PurgePending
from raddx.errors import InvalidInput, RaddxError
from raddx.storage import BlobNotFoundError, BlobStore

__all__ = ["SweepReport", "sweep_orphans"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep found, and removed or recovered unless it was a dry run."""

    #: Unreferenced blobs deleted (torn, or redundant copies of indexed instances).
    orphan_blobs: int
    orphan_bytes: int
    #: Unreferenced complete blobs indexed again (objects whose index row was lost).
    recovered: int
    temp_files: int
    #: Indexed instances whose blob is missing and could not be recovered.
    missing_blobs: int


def sweep_orphans(
    *,
    session_factory: Callable[[], Session],
    blobs: BlobStore,
    ingest: IngestService,
    grace_seconds: float,
    dry_run: bool = False,
) -> SweepReport:
    """Reconcile blobs older than ``grace_seconds`` with the index (see the module docstring).

    The blob listing is taken *before* the index is read, so a blob committed while the sweep
    runs is seen as referenced and kept.
    """
    cutoff = time.time() - grace_seconds
    listed = list(blobs.list_blobs())
    present = {b.key for b in listed}
    with session_factory() as session, session.begin():
        session.connection(execution_options=READ_ONLY_OPTIONS)
        rows = session.execute(select(Instance.sop_instance_uid, Instance.blob_key)).all()
        # Blobs of purged instances (raddx.archive.deletion) are garbage, not lost objects.
        purged = set(session.execute(select(PurgePending.blob_key)).scalars())
    key_of_uid = {uid: key for uid, key in rows}
    referenced = set(key_of_uid.values())
    deleted = deleted_bytes = recovered = 0
    for blob in listed:
        if blob.key in referenced or blob.mtime >= cutoff:
            continue
        uid = None if blob.key in purged else _uid_of(blobs, blob.key)
        indexed_key = key_of_uid.get(uid) if uid else None
        if uid is not None and (indexed_key is None or indexed_key not in present):
            if not dry_run:
                try:
                    ingest.adopt(blob.key)
                except RaddxError as exc:
                    log.error("sweep could not re-index blob key=%s reason=%s", blob.key, exc)
                    continue
                key_of_uid[uid] = blob.key
                present.add(blob.key)
                log.warning("sweep re-indexed an unindexed blob key=%s", blob.key)
            recovered += 1
            continue
        if not dry_run:
            blobs.delete(blob.key)
        deleted += 1
        deleted_bytes += blob.size
    missing = sum(1 for key in key_of_uid.values() if key not in present)
    if missing:
        log.error("indexed instances without blob count=%d (restore from backup)", missing)
    temp_files = 0 if dry_run else blobs.remove_stale_temp(cutoff)
    return SweepReport(
        orphan_blobs=deleted,
        orphan_bytes=deleted_bytes,
        recovered=recovered,
        temp_files=temp_files,
        missing_blobs=missing,
    )


def _uid_of(blobs: BlobStore, key: str) -> str | None:
    """The SOP Instance UID of a complete, valid blob; ``None`` for a torn or foreign file."""
    try:
        return parse_header(blobs.get(key)).sop_instance_uid
    except (InvalidInput, BlobNotFoundError):
        return None
