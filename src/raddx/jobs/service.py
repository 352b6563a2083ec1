"""Background jobs: queued, run on a thread, their progress and outcome kept in the index.

A job is a row of the ``job`` table (``raddx.db.models.Job``): what to do (``kind`` and its
``request`` as JSON), against which remote AE, and how far it got (total, completed, failed,
warning sub-operations; ``state``; ``reason`` when it failed). Keeping it in the index means
its outcome survives a restart; a job the process was running when it ended is marked
``interrupted`` by :meth:`JobService.recover` at the next start, never left ``running`` —
unless its kind is *resumable* (an ADT^A40 patient merge, whose work is idempotent): such a
job is queued again and run to its end by the next process.

A job may also be stored by a domain operation inside its own unit of work
(:func:`store_job`: the HL7 door's A40 stores the merge job in the message's transaction, so
the ACK and the job are committed together) and started after the commit
(:meth:`JobService.start`).

What a job does is a *runner* (``raddx.jobs.transfer``): a function that gets the request,
the remote AE and a :class:`Progress`, and returns the failure reason or ``None``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from raddx.config import RemoteAE
from raddx.db.models import Job
from raddx.errors import NotFound

__all__ = [
    "JobInfo",
    "JobKindValues",
    "JobService",
    "JobStateValues",
    "Progress",
    "Runner",
    "store_job",
]

log = logging.getLogger(__name__)


class JobKindValues(StrEnum):
    """What a job does."""

    #: C-STORE archived studies/series to a remote AE.
    SEND = "send"
    #: C-GET (into this archive) or C-MOVE studies from a remote AE.
    RETRIEVE = "retrieve"
    #: De-identify archived studies into a package or a new study set (raddx.jobs.deid).
    DEIDENTIFY = "deidentify"
    #: Move a merged patient's stored studies to the surviving patient (ADT^A40,
    #: raddx.ris.archive_merge); resumable.
    PATIENT_MERGE = "patient-merge"


class JobStateValues(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    #: Finished, every sub-operation succeeded (warnings allowed).
    DONE = "done"
    #: Finished with failed sub-operations, or could not run (``reason`` says why).
    FAILED = "failed"
    #: The process ended while the job was queued or running.
    INTERRUPTED = "interrupted"


#: States a job never leaves.
FINAL_STATES = frozenset({JobStateValues.DONE, JobStateValues.FAILED, JobStateValues.INTERRUPTED})


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job as stored."""

    id: int
    kind: JobKindValues
    state: JobStateValues
    remote_ae_title: str
    request: dict[str, Any]
    total: int | None
    completed: int
    failed: int
    warning: int
    reason: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def remaining(self) -> int | None:
        """Sub-operations not yet done (``None`` while the total is unknown)."""
        if self.total is None:
            return None
        return max(self.total - self.completed - self.failed - self.warning, 0)

    @classmethod
    def from_row(cls, row: Job) -> JobInfo:
        return cls(
            id=row.id,
            kind=JobKindValues(row.kind),
            state=JobStateValues(row.state),
            remote_ae_title=row.remote_ae_title,
            request=json.loads(row.request),
            total=row.total,
            completed=row.completed,
            failed=row.failed,
            warning=row.warning,
            reason=row.reason,
            created_at=_aware(row.created_at),
            started_at=_aware(row.started_at) if row.started_at else None,
            finished_at=_aware(row.finished_at) if row.finished_at else None,
        )


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything we write is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Progress:
    """A running job's counts, written to the index at most every ``interval`` seconds
    (a write per instance would compete with ingest for SQLite's single writer)."""

    def __init__(
        self, job_id: int, session_factory: Callable[[], Session], interval: float = 0.5
    ) -> None:
        self._job_id = job_id
        self._session_factory = session_factory
        self._interval = interval
        self._last = 0.0
        self.total: int | None = None
        self.completed = 0
        self.failed = 0
        self.warning = 0

    def set_total(self, total: int) -> None:
        self.total = total
        self.flush()

    def add(self, *, completed: int = 0, failed: int = 0, warning: int = 0) -> None:
        """Count finished sub-operations."""
        self.completed += completed
        self.failed += failed
        self.warning += warning
        self._maybe_flush()

    def set_counts(
        self, *, completed: int, failed: int, warning: int, remaining: int | None
    ) -> None:
        """Take the counts a peer reports (C-MOVE/C-GET pending responses)."""
        self.completed, self.failed, self.warning = completed, failed, warning
        if remaining is not None:
            self.total = completed + failed + warning + remaining
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last >= self._interval:
            self.flush()

    def flush(self, **extra: Any) -> None:
        """Write the counts (and ``extra`` columns) now."""
        self._last = time.monotonic()
        with self._session_factory() as session, session.begin():
            session.execute(
                update(Job)
                .where(Job.id == self._job_id)
                .values(
                    total=self.total,
                    completed=self.completed,
                    failed=self.failed,
                    warning=self.warning,
                    **extra,
                )
            )


#: A job's work: (request, remote AE, progress) → failure reason, or ``None`` on success.
#: The remote AE is ``None`` for a job that talks to no peer (de-identification).
Runner = Callable[[Mapping[str, Any], RemoteAE | None, Progress], str | None]


def store_job(
    *, session: Session, kind: JobKindValues, request: Mapping[str, Any], remote_ae_title: str = ""
) -> int:
    """Store a queued job in the caller's unit of work and return its id; it runs once
    :meth:`JobService.start` is called after the commit (or at the next process start for a
    resumable kind)."""
    row = Job(
        kind=kind.value,
        state=JobStateValues.QUEUED.value,
        remote_ae_title=remote_ae_title,
        request=json.dumps(dict(request)),
        total=None,
        completed=0,
        failed=0,
        warning=0,
        created_at=_now(),
    )
    session.add(row)
    session.flush()
    return int(row.id)


class JobService:
    """Submits jobs and runs them on threads, at most ``max_parallel`` at a time.

    Parameters
    ----------
    session_factory
        Sessions on the index, where jobs are kept.
    runners
        The runner of each job kind.
    max_parallel
        Jobs running at once; the others wait, ``queued``.
    recover_hooks
        Called by :meth:`recover` after the jobs are marked: a job kind's clean-up of what an
        ended process left behind (e.g. de-identification working copies).
    resumable
        Job kinds whose runner can be run again on a half-done job (idempotent work):
        :meth:`recover` starts them again instead of marking them interrupted.
    """

    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        runners: Mapping[JobKindValues, Runner],
        max_parallel: int = 2,
        recover_hooks: Sequence[Callable[[], object]] = (),
        resumable: frozenset[JobKindValues] = frozenset(),
    ) -> None:
        self._session_factory = session_factory
        self._runners = dict(runners)
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._recover_hooks = tuple(recover_hooks)
        self._resumable = frozenset(kind.value for kind in resumable)

    def recover(self) -> int:
        """Mark jobs left queued or running by an ended process as interrupted, and start
        the resumable ones again; returns how many were interrupted. Call once at start,
        before submitting."""
        unfinished = Job.state.in_([JobStateValues.QUEUED, JobStateValues.RUNNING])
        with self._session_factory() as session, session.begin():
            resumed = list(
                session.scalars(
                    select(Job.id).where(unfinished, Job.kind.in_(self._resumable)).order_by(Job.id)
                )
            )
            result = session.execute(
                update(Job)
                .where(unfinished, Job.kind.not_in(self._resumable))
                .values(
                    state=JobStateValues.INTERRUPTED,
                    reason="the server stopped before the job finished",
                    finished_at=_now(),
                )
            )
            count = cast(CursorResult[Any], result).rowcount
        if count:
            log.warning("jobs interrupted by the last shutdown count=%d", count)
        for hook in self._recover_hooks:
            hook()
        for job_id in resumed:
            log.warning("job resumed after the last shutdown id=%d", job_id)
            self.start(job_id)
        return int(count or 0)

    def start(self, job_id: int) -> JobInfo:
        """Run a stored job (:func:`store_job`) on its own thread.

        Raises
        ------
        NotFound
            No such job.
        """
        info = self.get(job_id)
        thread = threading.Thread(
            target=self._run, args=(info, None), name=f"raddx-job-{info.id}", daemon=True
        )
        thread.start()
        return info

    def submit(
        self, kind: JobKindValues, remote: RemoteAE | None, request: Mapping[str, Any]
    ) -> JobInfo:
        """Store a queued job and start it on its own thread."""
        with self._session_factory() as session, session.begin():
            job_id = store_job(
                session=session,
                kind=kind,
                request=request,
                remote_ae_title=remote.ae_title if remote is not None else "",
            )
            row = session.get(Job, job_id)
            assert row is not None  # just stored
            info = JobInfo.from_row(row)
        thread = threading.Thread(
            target=self._run, args=(info, remote), name=f"raddx-job-{info.id}", daemon=True
        )
        thread.start()
        return info

    def _run(self, info: JobInfo, remote: RemoteAE | None) -> None:
        with self._slots:
            progress = Progress(info.id, self._session_factory)
            progress.flush(state=JobStateValues.RUNNING.value, started_at=_now())
            try:
                reason = self._runners[info.kind](info.request, remote, progress)
            except Exception as exc:  # a bug or an unexpected peer: the job fails, we go on
                log.exception("job failed unexpectedly id=%d", info.id)
                reason = f"unexpected error: {type(exc).__name__}: {exc}"
            if reason is None and progress.failed:
                reason = f"{progress.failed} sub-operation(s) failed"
            state = JobStateValues.FAILED if reason else JobStateValues.DONE
            progress.flush(state=state.value, reason=reason, finished_at=_now())
            log.info(
                "job finished id=%d kind=%s state=%s completed=%d failed=%d",
                info.id,
                info.kind,
                state,
                progress.completed,
                progress.failed,
            )

    def get(self, job_id: int) -> JobInfo:
        """The job ``job_id``.

        Raises
        ------
        NotFound
            No such job.
        """
        with self._session_factory() as session:
            row = session.get(Job, job_id)
            if row is None:
                raise NotFound(f"no job {job_id}")
            return JobInfo.from_row(row)

    def list(
        self, *, limit: int, offset: int = 0, state: JobStateValues | None = None
    ) -> list[JobInfo]:
        """Jobs, newest first."""
        stmt = select(Job).order_by(Job.id.desc()).limit(limit).offset(offset)
        if state is not None:
            stmt = stmt.where(Job.state == state.value)
        with self._session_factory() as session:
            return [JobInfo.from_row(row) for row in session.execute(stmt).scalars()]
