"""Fixity check: every stored object still has the bytes it was received with (issue 9).

Ingest records the SHA-256 of each instance's Part 10 bytes (``Instance.sha256``). This check
re-reads every blob through the blob store (so an encrypted store is checked on its
plaintext), re-hashes it and reports each object whose blob is missing or whose digest
changed (MDS2 IGAU-1, MHLW 7.1 真正性). Every problem is also recorded as a Security Alert
(PS3.15 A.5.3.11) in the audit trail, so tampering is visible where an auditor looks.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import Instance
from raddx.storage import BlobStore
from raddx.storage.base import BlobNotFoundError
from raddx.storage.encrypted import BlobIntegrityError

__all__ = ["FixityProblem", "FixityProblemValues", "FixityReport", "check_fixity"]

log = logging.getLogger(__name__)


class FixityProblemValues(StrEnum):
    """What is wrong with a stored object."""

    #: The index names a blob that is not there.
    MISSING = "missing"
    #: The blob's SHA-256 differs from the one recorded at ingest.
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class FixityProblem:
    """One object that failed the check."""

    sop_instance_uid: str
    blob_key: str
    problem: FixityProblemValues
    expected_sha256: str
    actual_sha256: str | None = None


@dataclass(slots=True)
class FixityReport:
    """The outcome of a run: how much was checked, and every problem found."""

    checked: int = 0
    bytes_read: int = 0
    problems: list[FixityProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(session_factory: Callable[[], Session], batch: int) -> Iterator[tuple[str, str, str]]:
    """(SOP Instance UID, blob key, SHA-256) of every live instance, streamed by id."""
    last = 0
    while True:
        with session_factory() as session:
            rows = session.execute(
                select(Instance.id, Instance.sop_instance_uid, Instance.blob_key, Instance.sha256)
                .where(Instance.deleted_at.is_(None), Instance.id > last)
                .order_by(Instance.id)
                .limit(batch)
            ).all()
        if not rows:
            return
        for row in rows:
            yield row[1], row[2], row[3]
        last = rows[-1][0]


def _digest(blobs: BlobStore, key: str) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    for chunk in blobs.iter_chunks(key):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def check_fixity(
    *,
    session_factory: Callable[[], Session] | Any,
    blobs: BlobStore,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> FixityReport:
    """Re-hash every live instance's blob and compare with the digest taken at ingest.

    Parameters
    ----------
    session_factory
        Sessions on the index.
    blobs
        The blob store the instances live in.
    batch
        Index rows read per query.
    progress
        Called with the number of objects checked so far, after each one.

    Returns
    -------
    FixityReport
        Counts and the problems; each problem has also been logged and audited.
    """
    from raddx.security.peers import security_alert

    report = FixityReport()
    for sop_instance_uid, key, expected in _rows(session_factory, batch):
        problem: FixityProblem | None
        try:
            actual, size = _digest(blobs, key)
        except (BlobNotFoundError, FileNotFoundError):
            problem = FixityProblem(sop_instance_uid, key, FixityProblemValues.MISSING, expected)
        except BlobIntegrityError:  # an encrypted blob that no longer authenticates
            problem = FixityProblem(sop_instance_uid, key, FixityProblemValues.MISMATCH, expected)
        else:
            report.bytes_read += size
            problem = (
                None
                if actual == expected
                else FixityProblem(
                    sop_instance_uid, key, FixityProblemValues.MISMATCH, expected, actual
                )
            )
        report.checked += 1
        if problem is not None:
            report.problems.append(problem)
            security_alert(
                f"fixity check: stored object {problem.problem}",
                subject=sop_instance_uid,
                object_changed=True,
                blob=key,
            )
        if progress is not None:
            progress(report.checked)
    log.info(
        "fixity check checked=%d bytes=%d problems=%d",
        report.checked,
        report.bytes_read,
        len(report.problems),
    )
    return report
