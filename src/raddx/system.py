"""The state of one raddx process for its operators: is the index reachable, how much disk
is left where the objects are kept, what the job queue and the outbound message queue hold,
and where HL7 messages go.

``/healthz`` answers a load balancer yes or no; this answers a person who must decide
whether to add a disk, restart a peer or retry a delivery (issue 10 §5, the administration
pages). Nothing here names a patient.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from raddx.db.models import Job, OutboxMessage
from raddx.outbox import OutboxStatusValues

__all__ = [
    "DatabaseStatus",
    "DiskStatus",
    "OutboxBacklog",
    "database_status",
    "disk_status",
    "job_counts",
    "outbox_backlog",
]

_PENDING = OutboxStatusValues.PENDING.value
_FAILED = OutboxStatusValues.FAILED.value


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """Whether the index answers, and which engine it is (sqlite, postgresql)."""

    ok: bool
    dialect: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DiskStatus:
    """The file system holding ``path``: its size and what is left (``shutil.disk_usage``)."""

    path: str
    ok: bool
    writable: bool
    total_bytes: int | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Deliveries not yet acknowledged (``pending``), refused ones awaiting a person
    (``failed``), and how long the oldest pending one has waited."""

    pending: int
    failed: int
    oldest_pending_at: dt.datetime | None


def database_status(engine: Engine) -> DatabaseStatus:
    """Run ``SELECT 1`` on the index; a failure is reported, not raised (this exists to say
    so)."""
    dialect = engine.dialect.name
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable" to the operator
        return DatabaseStatus(ok=False, dialect=dialect, error=type(exc).__name__)
    return DatabaseStatus(ok=True, dialect=dialect)


def disk_status(path: Path) -> DiskStatus:
    """Size and free space of the file system under ``path`` (the blob store's root)."""
    shown = str(path)
    if not path.is_dir():
        return DiskStatus(path=shown, ok=False, writable=False, error="not a directory")
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return DiskStatus(path=shown, ok=False, writable=False, error=exc.strerror or str(exc))
    writable = os.access(path, os.W_OK)
    return DiskStatus(
        path=shown,
        ok=writable,
        writable=writable,
        total_bytes=usage.total,
        used_bytes=usage.used,
        free_bytes=usage.free,
        error=None if writable else "not writable",
    )


def job_counts(*, session: Session) -> dict[str, int]:
    """Jobs (send, retrieve, de-identify) per state, e.g. ``{"running": 1, "done": 7}``."""
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state))
    return {str(state): int(count) for state, count in rows}


def outbox_backlog(*, session: Session) -> OutboxBacklog:
    """The outbound queue's deliveries (rows with a destination) still owed or refused."""
    deliveries = OutboxMessage.destination.is_not(None)
    counts: dict[str, Any] = dict(
        session.execute(
            select(OutboxMessage.status, func.count())
            .where(deliveries, OutboxMessage.status.in_((_PENDING, _FAILED)))
            .group_by(OutboxMessage.status)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(
            deliveries, OutboxMessage.status == _PENDING
        )
    )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return OutboxBacklog(
        pending=int(counts.get(_PENDING, 0)),
        failed=int(counts.get(_FAILED, 0)),
        oldest_pending_at=oldest,
    )
