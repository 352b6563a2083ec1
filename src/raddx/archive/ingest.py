"""Ingest: validate a received object, keep its bytes, index it — all or nothing.

Every door that brings objects in (C-STORE, ``raddx import``, C-GET retrieve, later STOW-RS)
calls :meth:`IngestService.store` or :meth:`IngestService.store_dataset`; none of them touches
the blob store or the index directly.

Order of work, and why (ARCHITECTURE.md "Storage and index"):

1. Parse and validate the header (no lock held). Bad input raises :class:`InvalidInput`
   before anything is written.
2. Write the blob (temp + link + fsync, see ``FileBlobStore``; no database lock held, so
   associations overlap their disk writes). Blob keys are write-once: the first copy of an
   instance gets ``<2 hex>/<sha256(SOPInstanceUID)>``; a different copy gets that name plus
   ``.`` and the first 16 hex digits of its content hash. An existing file is never
   overwritten; one found under a content-suffixed name is verified before it is reused.
3. Index it in one transaction (patient, study, series, instance rows and counters). An
   identical copy already indexed makes this a no-op (and our redundant blob is deleted):
   re-storing the same bytes changes nothing. If the transaction fails, the blob written in
   step 2 is deleted; if the process dies in between, the sweep (``raddx.archive.sweep``)
   re-indexes the complete blob later (:meth:`IngestService.adopt`). A superseded blob is
   deleted only after the commit.

Concurrency: on SQLite every transaction takes the write lock up front (``BEGIN
IMMEDIATE``); on PostgreSQL the study row is locked ``FOR UPDATE`` so counters and
ModalitiesInStudy are updated by one association at a time, and a unique-key race on a new
patient/study/series/instance is resolved by retrying the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from raddx.archive._executor import Executor, write_transaction
from raddx.archive._index_writer import file_instance
from raddx.archive.header import HeaderRecord, parse_header
from raddx.archive.part10 import Part10Error, file_meta_header, unframed_object
from raddx.config import DuplicatePolicyValues
from raddx.errors import InvalidInput, OutOfResources
from raddx.storage import BlobExistsError, BlobNotFoundError, BlobStore
from raddx.types import BlobKey

__all__ = [
    "IngestOutcome",
    "IngestResult",
    "IngestService",
    "StudyArrivalHook",
    "blob_key_for",
]

log = logging.getLogger(__name__)

_RETRIES = 5
#: Objects at least this large are hashed on a helper thread during the blob write (a thread
#: start costs ~0.05 ms; hashing 256 kB ~0.35 ms).
_PARALLEL_HASH_MIN_BYTES = 256 * 1024


class StudyArrivalHook(Protocol):
    """What another domain does when the first object of a study is filed (see
    :class:`IngestService`, ``study_arrival``)."""

    def match(
        self,
        db: Executor,
        study_instance_uid: str,
        accession_number: str | None,
        accession_issuer: str | None = None,
    ) -> object:
        """Inside the ingest transaction: something to act on after the commit, or
        ``None``. Must be cheap (indexed lookups with prebuilt statements) and read only.
        ``accession_issuer``: the object's IssuerOfAccessionNumberSequence in the form of
        :class:`raddx.ris.accession_issuer.AccessionIssuer`."""
        ...

    def arrived(self, matched: object, study_instance_uid: str) -> None:
        """After the commit, for what ``match`` returned."""
        ...


class IngestOutcome(StrEnum):
    """What happened to one received object."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # identical bytes already stored: nothing changed
    REPLACED = "replaced"  # different bytes under a stored SOP Instance UID replaced them


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of one :meth:`IngestService.store` call."""

    outcome: IngestOutcome
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    size: int
    patient_conflict: bool = False
    warnings: tuple[str, ...] = ()
    #: PatientID, PatientName (verbatim) and AccessionNumber of the object: the audit trail
    #: names the patient and study of every transfer (PS3.15 A.5.3.7).
    patient_id: str = ""
    patient_name: str | None = None
    accession_number: str | None = None


@dataclass(slots=True)
class _Pending:
    """Blob bookkeeping of one store attempt."""

    key: BlobKey | None = None
    created: bool = False
    delete_after_commit: list[BlobKey] = field(default_factory=list)


def blob_key_for(sop_instance_uid: str, content_sha256: str | None = None) -> BlobKey:
    """The blob key of an instance; with ``content_sha256`` the key of a replacement copy."""
    digest = hashlib.sha256(sop_instance_uid.encode("ascii")).hexdigest()
    base = f"{digest[:2]}/{digest}"
    return f"{base}.{content_sha256[:16]}" if content_sha256 else base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IngestService:
    """Stores objects: one instance per call, thread-safe, door-free.

    Parameters
    ----------
    engine
        The index. The service owns each object's unit of work (one transaction), because
        blob and rows must succeed or fail together.
    blobs
        Where the bytes go.
    duplicate_policy
        Same SOP Instance UID with different bytes: replace (default) or reject.
    strict
        Strict validation of inbound objects (``validation_mode = strict``).
    default_timezone_offset
        UTC offset (``+0900``) of objects without TimezoneOffsetFromUTC, for the UTC instants
        the index keeps for date-time matching (``default_timezone_offset`` setting).
    study_arrival
        What the first object of a study sets off (:class:`StudyArrivalHook`; the RIS links
        the study to its order, ``raddx.ris.reconcile.ArrivalLink``): ``match`` runs inside
        the ingest transaction (a couple of indexed lookups on its connection, so it costs
        ingest almost nothing), ``arrived`` after the commit, only when something matched.
        An exception in ``arrived`` is logged and does not fail the store (the object is
        already kept).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        blobs: BlobStore,
        duplicate_policy: DuplicatePolicyValues = DuplicatePolicyValues.REPLACE,
        strict: bool = False,
        default_timezone_offset: str | None = None,
        study_arrival: StudyArrivalHook | None = None,
    ) -> None:
        self._engine = engine
        self._study_arrival = study_arrival
        self._blobs = blobs
        self._policy = duplicate_policy
        self._strict = strict
        self._offset = default_timezone_offset

    @property
    def blobs(self) -> BlobStore:
        """The store the objects are kept in (retrieve reads them from the same one)."""
        return self._blobs

    def store(
        self,
        data: bytes,
        *,
        source: str,
        calling_ae_title: str | None = None,
        called_ae_title: str | None = None,
        transfer_syntax_uid: str | None = None,
    ) -> IngestResult:
        """Validate, keep and index one Part 10 object.

        An object without the 128-byte preamble (File Meta group first, or a bare dataset
        whose encoding is unambiguous; :func:`~raddx.archive.part10.unframed_object` says
        which) is stored as a Part 10 file with a preamble and File Meta written by us, as
        a C-STORE dataset is: STOW-RS clients and some tools write such files.

        Parameters
        ----------
        data
            The complete Part 10 bytes; stored exactly as given (a preamble-less object:
            its dataset bytes exactly as given).
        source
            Which door it came through (``dimse``, ``import``, …), recorded on the instance.
        calling_ae_title, called_ae_title
            The association's AE titles, when it came over DIMSE.
        transfer_syntax_uid
            For a bare dataset: the transfer syntax the sender named (STOW-RS part's
            ``transfer-syntax`` parameter); ignored when the object has File Meta.

        Raises
        ------
        InvalidInput
            The object is not a complete, valid DICOM object; nothing was kept.
        Conflict
            Different bytes under a stored SOP Instance UID and the policy is ``reject``.
        OutOfResources
            The disk is full (or another resource ran out); nothing was kept.
        """
        if data[128:132] != b"DICM":
            try:
                unframed = unframed_object(data, transfer_syntax_uid=transfer_syntax_uid)
            except Part10Error as exc:
                raise InvalidInput(str(exc)) from None
            if unframed is not None:
                log.debug(
                    "ingest of an object without preamble source=%s framing=%s",
                    source,
                    unframed.framing,
                )
                return self.store_dataset(
                    unframed.dataset,
                    sop_class_uid=unframed.sop_class_uid,
                    sop_instance_uid=unframed.sop_instance_uid,
                    transfer_syntax_uid=unframed.transfer_syntax_uid,
                    source=source,
                    calling_ae_title=calling_ae_title,
                    called_ae_title=called_ae_title,
                )
        record = parse_header(data, strict=self._strict, default_timezone_offset=self._offset)
        return self._keep(record, (data,), source, calling_ae_title, called_ae_title)

    def store_dataset(
        self,
        dataset: bytes | memoryview,
        *,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax_uid: str,
        source: str,
        calling_ae_title: str | None = None,
        called_ae_title: str | None = None,
    ) -> IngestResult:
        """Validate, keep and index a dataset received without File Meta (C-STORE).

        The File Meta group is built from the request (``raddx.archive.part10``) and the
        dataset bytes follow it unchanged; they are hashed and written straight from
        ``dataset`` (for C-STORE, pynetdicom's receive buffer) without being copied, which
        saves two copies of every object (~0.25 ms per 512 kB here).

        Parameters and errors are those of :meth:`store`, plus the request's SOP Class,
        SOP Instance and Transfer Syntax UIDs.
        """
        view = memoryview(dataset)
        header = file_meta_header(
            sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid,
            transfer_syntax_uid=transfer_syntax_uid,
            source_ae_title=calling_ae_title,
        )
        record = parse_header(
            header, strict=self._strict, dataset=view, default_timezone_offset=self._offset
        )
        return self._keep(record, (header, view), source, calling_ae_title, called_ae_title)

    def _keep(
        self,
        record: HeaderRecord,
        chunks: tuple[bytes | memoryview, ...],
        source: str,
        calling_ae_title: str | None,
        called_ae_title: str | None,
    ) -> IngestResult:
        """Write the blob and index it (steps 2 and 3 of the module docstring)."""
        for warning in record.warnings:
            log.warning(
                "ingest tolerated problem sop_instance_uid=%s problem=%s",
                record.sop_instance_uid,
                warning,
            )
        content_hash = _ContentHash(chunks)
        size = sum(len(chunk) for chunk in chunks)
        # No "already stored?" read before the write: it cost ~0.3 ms on every object to save
        # a blob write on the rare identical re-send, which the index step detects anyway
        # (and then deletes the redundant copy).
        pending = _Pending()
        try:
            self._write_blob(record.sop_instance_uid, content_hash, chunks, pending)
            sha = content_hash.value()
            for attempt in range(_RETRIES):
                try:
                    result = self._index(
                        record,
                        sha=sha,
                        size=size,
                        pending=pending,
                        source=source,
                        calling_ae_title=calling_ae_title,
                        called_ae_title=called_ae_title,
                    )
                    break
                except IntegrityError:
                    # Another association created the same patient/study/series/instance
                    # between our SELECT and INSERT; the retry will find it.
                    if attempt == _RETRIES - 1:
                        raise
                    pending.delete_after_commit.clear()
                except OperationalError as exc:
                    if _is_disk_full(exc):
                        raise OutOfResources(
                            "the index database is out of disk space; nothing was stored"
                        ) from exc
                    raise
        except BaseException:
            content_hash.value()  # the helper thread must let go of the caller's buffer
            if pending.created and pending.key is not None:
                self._blobs.delete(pending.key)
            raise
        for key in pending.delete_after_commit:
            try:
                self._blobs.delete(key)
            except OSError:  # the sweep will find it; the store itself succeeded
                log.exception("could not delete superseded blob key=%s", key)
        return result

    def adopt(self, key: BlobKey) -> IngestResult:
        """Index a blob that is already in the store, in place (crash recovery).

        Used by the sweep for a complete blob whose index row was never committed or was
        lost (process killed between write and commit; power cut with SQLite
        ``synchronous=NORMAL``). The blob's own bytes decide what is indexed; it replaces
        whatever the index holds for its SOP Instance UID, whose blob the caller has found
        missing.

        Raises
        ------
        InvalidInput
            The blob is not a complete, valid object (e.g. torn by a power cut).
        """
        data = self._blobs.get(key)
        record = parse_header(data, strict=False, default_timezone_offset=self._offset)
        pending = _Pending(key=key, created=False)
        return self._index(
            record,
            sha=hashlib.sha256(data).hexdigest(),
            size=len(data),
            pending=pending,
            source="recovered",
            calling_ae_title=None,
            called_ae_title=None,
            policy=DuplicatePolicyValues.REPLACE,
            adopt=True,
        )

    # -- steps -------------------------------------------------------------------------

    def _write_blob(
        self,
        sop_instance_uid: str,
        content_hash: _ContentHash,
        chunks: tuple[bytes | memoryview, ...],
        pending: _Pending,
    ) -> None:
        for attempt in range(2):
            # The hash is waited for only when the first name is taken (a replacement copy).
            key = blob_key_for(sop_instance_uid, content_hash.value() if attempt else None)
            try:
                self._blobs.put(key, chunks)
            except BlobExistsError:
                continue
            except OSError as exc:
                if exc.errno in _DISK_FULL_ERRNOS:
                    raise OutOfResources(
                        f"storage is full ({exc.strerror}); the object was not stored"
                    ) from exc
                raise
            pending.key, pending.created = key, True
            return
        # Both names taken: the content-suffixed one normally holds exactly these bytes (an
        # earlier copy, or a concurrent association storing the same object). A power cut
        # can leave an incomplete file under it (see FileBlobStore), so check before adopting.
        sha = content_hash.value()
        key = blob_key_for(sop_instance_uid, sha)
        if not _holds(self._blobs, key, sha):
            self._blobs.delete(key)
            self._blobs.put(key, chunks)
            pending.key, pending.created = key, True
            return
        pending.key, pending.created = key, False

    def _index(
        self,
        record: HeaderRecord,
        *,
        sha: str,
        size: int,
        pending: _Pending,
        source: str,
        calling_ae_title: str | None,
        called_ae_title: str | None,
        policy: DuplicatePolicyValues | None = None,
        adopt: bool = False,
    ) -> IngestResult:
        assert pending.key is not None
        matched: object = None
        with write_transaction(self._engine) as db:
            filed = file_instance(
                db,
                record,
                sha256=sha,
                size=size,
                blob_key=pending.key,
                policy=policy or self._policy,
                adopt=adopt,
                now=_now(),
                instance_values={
                    "transfer_syntax_uid": record.meta.transfer_syntax_uid,
                    "specific_character_set": record.specific_character_set,
                    "calling_ae_title": calling_ae_title,
                    "called_ae_title": called_ae_title,
                    "source": source,
                },
            )
            if filed.new_study and self._study_arrival is not None:
                matched = self._study_arrival.match(
                    db,
                    record.study_instance_uid,
                    record.study.get("accession_number"),
                    record.study.get("issuer_of_accession_number"),
                )
        # Committed: the blob now belongs to the index (or is redundant, if a concurrent
        # association stored the same bytes first).
        pending.created = False
        pending.delete_after_commit.extend(filed.superseded)
        if filed.duplicate:
            return self._result(record, IngestOutcome.DUPLICATE, size)
        if filed.replaced:
            log.warning(
                "instance replaced by different bytes sop_instance_uid=%s source=%s calling_ae=%s",
                record.sop_instance_uid,
                source,
                calling_ae_title,
            )
        if filed.conflicts:
            log.warning(
                "patient attributes conflict; study flagged study_instance_uid=%s",
                record.study_instance_uid,
            )
        if matched is not None and self._study_arrival is not None:
            try:
                self._study_arrival.arrived(matched, record.study_instance_uid)
            except Exception:
                log.exception(
                    "study-created hook failed study_instance_uid=%s", record.study_instance_uid
                )
        outcome = IngestOutcome.REPLACED if filed.replaced else IngestOutcome.STORED
        return self._result(record, outcome, size, patient_conflict=filed.patient_conflict)

    @staticmethod
    def _result(
        record: HeaderRecord, outcome: IngestOutcome, size: int, *, patient_conflict: bool = False
    ) -> IngestResult:
        return IngestResult(
            outcome=outcome,
            sop_instance_uid=record.sop_instance_uid,
            sop_class_uid=str(record.instance["sop_class_uid"]),
            study_instance_uid=record.study_instance_uid,
            series_instance_uid=record.series_instance_uid,
            size=size,
            patient_conflict=patient_conflict,
            warnings=tuple(record.warnings),
            patient_id=str(record.patient.get("patient_id") or ""),
            patient_name=record.patient.get("patient_name"),
            accession_number=record.study.get("accession_number"),
        )


class _ContentHash:
    """SHA-256 of an object's bytes (hex), computed beside the blob write for large objects.

    hashlib releases the GIL on large buffers, so for a 512 kB CT image its ~0.7 ms runs on a
    helper thread while the blob is written and fsynced, instead of before: the hash is only
    needed for the index row (identical re-sends) and for naming a replacement copy. A
    thread per object (not a pool) keeps this safe across the server's pre-fork.
    """

    def __init__(self, chunks: tuple[bytes | memoryview, ...]) -> None:
        self._chunks = chunks
        self._hex: str | None = None
        self._thread: threading.Thread | None = None
        if sum(len(chunk) for chunk in chunks) >= _PARALLEL_HASH_MIN_BYTES:
            self._thread = threading.Thread(target=self._compute, daemon=True)
            self._thread.start()
        else:
            self._compute()

    def _compute(self) -> None:
        digest = hashlib.sha256()
        for chunk in self._chunks:
            digest.update(chunk)
        self._hex = digest.hexdigest()

    def value(self) -> str:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        assert self._hex is not None
        return self._hex


def _holds(blobs: BlobStore, key: BlobKey, sha: str) -> bool:
    """Whether the blob under ``key`` exists and has content hash ``sha``."""
    digest = hashlib.sha256()
    try:
        for chunk in blobs.iter_chunks(key):
            digest.update(chunk)
    except BlobNotFoundError:
        return False
    return digest.hexdigest() == sha


_DISK_FULL_ERRNOS = frozenset({28, 122})  # ENOSPC, EDQUOT


def _is_disk_full(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database or disk is full" in text or "no space left" in text
