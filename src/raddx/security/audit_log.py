"""The tamper-evident audit log: a batching writer, the hash chain, verification, search.

:class:`AuditTrail` is what :func:`raddx.security.audit.record` feeds. Doors only enqueue
(``SimpleQueue.put``, about a microsecond); one writer thread per process takes what has
queued up (at most ``batch_max`` events, waiting at most ``flush_interval`` for more), builds
the PS3.15 A.5 XML, and appends the batch in **one transaction**, in queue order. A failed
write is retried with the same batch, so nothing is dropped or reordered; :meth:`close`
drains the queue before it returns.

Chain: ``hash = SHA-256(prev_hash || canonical row)`` (:func:`row_hash`), ``seq`` without
gaps, and ``audit_chain_head`` holding the last ``(seq, hash)``. Writers of several processes
(DIMSE workers) serialise on that head row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE``), so the chain is one line. :func:`verify` recomputes it: an edited row
breaks its own hash, a deleted row leaves a gap, a deleted tail disagrees with the head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from raddx.config import Settings
from raddx.db.models import AuditChainHead, AuditRecord
from raddx.security.atna import AuditSource, to_xml
from raddx.security.audit import AuditEvent

if TYPE_CHECKING:
    from raddx.security.syslog import SyslogSender

__all__ = [
    "GENESIS_HASH",
    "AuditFilter",
    "AuditTrail",
    "ChainReport",
    "row_hash",
    "search",
    "trail_from_settings",
    "verify",
]

log = logging.getLogger(__name__)

#: What the first record chains to (also seeded by migration 0012).
GENESIS_HASH = "0" * 64
_SEP = "\x1f"  # ASCII unit separator: cannot occur in the XML or in an indexed field


def _utc_text(value: dt.datetime) -> str:
    """The canonical time text: UTC, microseconds, no offset (SQLite returns naive UTC,
    PostgreSQL aware datetimes; both give the same text)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def row_hash(prev_hash: str, row: AuditRecord) -> str:
    """SHA-256 over the previous hash and every stored field of ``row`` except its hash."""
    return _chain_hash(
        prev_hash,
        row.seq,
        row.event_time,
        row.event_id,
        row.event_action_code,
        row.event_outcome_indicator,
        row.user_id,
        row.patient_id,
        row.source_id,
        row.xml,
    )


def _chain_hash(
    prev_hash: str,
    seq: int,
    event_time: dt.datetime,
    event_id: str,
    event_action_code: str,
    event_outcome_indicator: int,
    user_id: str | None,
    patient_id: str | None,
    source_id: str,
    xml: str,
) -> str:
    """:func:`row_hash` of a row given by its values (the writer hashes before inserting)."""
    canonical = _SEP.join(
        (
            str(seq),
            _utc_text(event_time),
            event_id,
            event_action_code,
            str(event_outcome_indicator),
            user_id or "",
            patient_id or "",
            source_id,
            xml,
        )
    )
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


class _Flush:
    """A marker in the queue: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class AuditTrail:
    """The process's audit writer (install it with :func:`raddx.security.audit.install`).

    Parameters
    ----------
    engine
        The index database (the log lives beside the archive's tables).
    source
        raddx's identity in the messages.
    flush_interval
        Seconds the writer waits for more events after the first one of a batch.
    batch_max
        Most events in one transaction.
    sender
        The syslog sender each committed message is handed to (never blocks); closed with
        the trail.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        source: AuditSource,
        flush_interval: float = 0.05,
        batch_max: int = 1000,
        sender: SyslogSender | None = None,
    ) -> None:
        self._engine = engine
        self._source = source
        self._flush_interval = flush_interval
        self._batch_max = batch_max
        self._sender = sender
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        #: Set by flush() and close(): the writer stops waiting for more events at once.
        self._urgent = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    @property
    def source(self) -> AuditSource:
        return self._source

    def submit(self, event: AuditEvent) -> None:
        """Queue ``event`` (called on the door's thread; never blocks)."""
        self._queue.put(event)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event submitted before this call is committed; False on timeout."""
        marker = _Flush()
        self._queue.put(marker)
        self._urgent.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._urgent.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("audit writer did not finish in %.0f s; queued events may be lost", timeout)
        if self._sender is not None:
            self._sender.close()

    @property
    def sender(self) -> SyslogSender | None:
        return self._sender

    # -- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is not _STOP and not isinstance(first, _Flush):
                # Sleep through the batch window instead of waking for every event: a
                # ``get(timeout=…)`` per event took the GIL from the door threads once per
                # event (an HL7 order, ``bench/ris.py``). flush() and close() end the wait.
                self._urgent.wait(self._flush_interval)
            self._urgent.clear()
            batch: list[object] = [first]
            while len(batch) < self._batch_max and batch[-1] is not _STOP:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [item for item in batch if isinstance(item, AuditEvent)]
            stopping = any(item is _STOP for item in batch)
            if events:
                self._write_with_retry(events, stopping=stopping)
            for item in batch:
                if isinstance(item, _Flush):
                    item.done.set()

    def _write_with_retry(self, events: list[AuditEvent], *, stopping: bool) -> None:
        built: list[tuple[AuditEvent, bytes]] = []
        for event in events:
            try:
                built.append((event, to_xml(event, self._source)))
            except Exception:  # a bug of ours must not stop the writer for everyone else
                log.exception("audit message could not be built event_id=%s", event.event_id.name)
        if not built:
            return
        events = [event for event, _ in built]
        messages = [message for _, message in built]
        delay = 0.1
        for attempt in range(1000 if not stopping else 5):
            try:
                chain = self._append(events, messages)
                break
            except Exception:
                log.exception(
                    "audit log write failed; retrying events=%d attempt=%d", len(events), attempt
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        else:
            log.error("audit log write abandoned events=%d", len(events))
            return
        if self._sender is not None:
            for message, link in zip(messages, chain, strict=True):
                try:
                    self._sender.send(message, link)
                except Exception:
                    log.exception("audit message could not be forwarded")

    def _append(
        self, events: Sequence[AuditEvent], messages: Sequence[bytes]
    ) -> list[tuple[int, str]]:
        """Append the batch to the chain in one transaction; return each record's
        ``(seq, hash)`` (what the syslog messages carry as anchors)."""
        # Core on a connection, not a Session: the batch is three statements, and the ORM's
        # session and head object cost as much as the inserts (an HL7 order's audit record).
        with self._engine.begin() as conn:
            seq, prev = conn.execute(_HEAD).one()
            rows = []
            source_id = self._source.source_id
            for event, message in zip(events, messages, strict=True):
                seq += 1
                # Plain rows, not AuditRecord objects: building an ORM object per event cost
                # more than its XML (an HL7 order records one, bench/ris.py).
                row = {
                    "seq": seq,
                    "event_time": event.time,
                    "event_id": event.event_id.code.code,
                    "event_action_code": str(event.action),
                    "event_outcome_indicator": int(event.outcome),
                    "user_id": _clip(event.user, 256),
                    "patient_id": _clip(event.patient_id, 64),
                    "source_id": source_id,
                    "xml": message.decode("utf-8"),
                    "prev_hash": prev,
                }
                row["hash"] = prev = _chain_hash(
                    row["prev_hash"],
                    seq,
                    row["event_time"],
                    row["event_id"],
                    row["event_action_code"],
                    row["event_outcome_indicator"],
                    row["user_id"],
                    row["patient_id"],
                    source_id,
                    row["xml"],
                )
                rows.append(row)
            # One executemany for the batch (the ORM's unit of work cost ~3x more per row).
            conn.execute(_INSERT, rows)
            conn.execute(_MOVE_HEAD, {"seq": seq, "hash": prev})
        return [(row["seq"], row["hash"]) for row in rows]


_INSERT = insert(AuditRecord.__table__)
_HEAD = (
    select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1).with_for_update()
)
_MOVE_HEAD = update(AuditChainHead.__table__).where(AuditChainHead.id == 1)


def _clip(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify` found: ``ok``, how many records, and the first problem."""

    ok: bool
    records: int
    broken_seq: int | None = None
    reason: str | None = None


def verify(engine: Engine, *, chunk: int = 5000) -> ChainReport:
    """Walk the chain from the first record; report the first broken or missing link."""
    count = 0
    expected_seq = 1
    prev = GENESIS_HASH
    with Session(engine) as session:
        last_seq = 0
        while True:
            rows = session.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq > last_seq)
                .order_by(AuditRecord.seq)
                .limit(chunk)
            ).all()
            if not rows:
                break
            for row in rows:
                if row.seq != expected_seq:
                    return ChainReport(
                        False, count, expected_seq, f"record {expected_seq} is missing"
                    )
                if row.prev_hash != prev:
                    return ChainReport(
                        False, count, row.seq, "its link to the previous record does not match"
                    )
                if row_hash(prev, row) != row.hash:
                    return ChainReport(
                        False, count, row.seq, "its content does not match its hash (edited)"
                    )
                prev = row.hash
                expected_seq += 1
                count += 1
            last_seq = rows[-1].seq
            session.expunge_all()
        head = session.get(AuditChainHead, 1)
        if head is None:
            return ChainReport(False, count, None, "the chain head row is missing")
        if head.seq != count or head.hash != prev:
            return ChainReport(
                False,
                count,
                count + 1 if head.seq > count else head.seq,
                f"the chain head says {head.seq} records; the newest ones are missing"
                if head.seq > count
                else "the chain head does not match the last record",
            )
    return ChainReport(True, count)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Search criteria (all optional, combined with AND)."""

    patient_id: str | None = None
    user_id: str | None = None
    event_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    offset: int = 0


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def search(session: Session, criteria: AuditFilter) -> Iterator[AuditRecord]:
    """Records matching ``criteria``, oldest first (``seq`` order)."""
    stmt = select(AuditRecord)
    if criteria.patient_id is not None:
        stmt = stmt.where(AuditRecord.patient_id == criteria.patient_id)
    if criteria.user_id is not None:
        stmt = stmt.where(AuditRecord.user_id == criteria.user_id)
    if criteria.event_id is not None:
        stmt = stmt.where(AuditRecord.event_id == criteria.event_id)
    # Stored times are UTC (naive UTC text on SQLite): compare in UTC.
    if criteria.since is not None:
        stmt = stmt.where(AuditRecord.event_time >= _as_utc(criteria.since))
    if criteria.until is not None:
        stmt = stmt.where(AuditRecord.event_time < _as_utc(criteria.until))
    stmt = stmt.order_by(AuditRecord.seq).limit(criteria.limit).offset(criteria.offset)
    yield from session.scalars(stmt)


def trail_from_settings(settings: Settings, engine: Engine) -> AuditTrail:
    """The process's trail as configured (``audit_*`` settings), with syslog forwarding when
    ``audit_syslog_host`` is set."""
    host = socket.gethostname()
    source = AuditSource(
        source_id=settings.audit_source_id or f"{settings.ae_title}@{host}",
        enterprise_site_id=settings.audit_enterprise_site_id,
        ae_title=settings.ae_title,
        host=host,
        process_id=os.getpid(),
    )
    sender = None
    if settings.audit_syslog_host:
        from raddx.security.syslog import SyslogSender

        sender = SyslogSender(
            settings.audit_syslog_host,
            settings.audit_syslog_port,
            ca_file=settings.audit_syslog_ca_file,
            cert_file=settings.audit_syslog_cert_file,
            key_file=settings.audit_syslog_key_file,
            backlog=settings.audit_syslog_backlog,
            hostname=host,
        )
    return AuditTrail(
        engine=engine,
        source=source,
        flush_interval=settings.audit_flush_interval_ms / 1000,
        batch_max=settings.audit_batch_max,
        sender=sender,
    )
