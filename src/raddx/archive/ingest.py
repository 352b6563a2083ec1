"""Ingest: validate a received object, keep its bytes, index it — all or nothing.

Every door that brings objects in (C-STORE, ``raddx import``, later STOW-RS) calls
:meth:`IngestService.store`; none of them touches the blob store or the index directly.

Order of work, and why (ARCHITECTURE.md "Storage and index"):

1. Parse and validate the header (no lock held). Bad input raises :class:`InvalidInput`
   before anything is written.
2. If an identical copy is already indexed, stop: re-storing the same bytes is a no-op.
3. Write the blob (temp + fsync + link; no database lock held, so associations overlap
   their disk writes). Blob keys are write-once: the first copy of an instance gets
   ``<2 hex>/<sha256(SOPInstanceUID)>``; a different copy gets that name plus ``.`` and the
   first 16 hex digits of its content hash. So an existing file is never overwritten and a
   file that exists under a content-suffixed name has exactly those bytes.
4. Index it in one transaction (patient, study, series, instance rows and counters). If
   that fails, the blob written in step 3 is deleted; if the process dies in between, the
   orphan sweep (``raddx.archive.sweep``) removes it later. A superseded blob is deleted
   only after the commit.

Concurrency: on SQLite every transaction takes the write lock up front (``BEGIN
IMMEDIATE``); on PostgreSQL the study row is locked ``FOR UPDATE`` so counters and
ModalitiesInStudy are updated by one association at a time, and a unique-key race on a new
patient/study/series/instance is resolved by retrying the transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from raddx.archive.header import HeaderRecord, parse_header
from raddx.archive.names import normalize_group
from raddx.config import DuplicatePolicyValues
from raddx.db.models import Instance, Patient, Series, Study
from raddx.errors import Conflict, OutOfResources
from raddx.storage import BlobExistsError, BlobStore
from raddx.types import BlobKey

__all__ = ["IngestOutcome", "IngestResult", "IngestService", "blob_key_for"]

log = logging.getLogger(__name__)

_RETRIES = 5


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
    session_factory
        Makes a new ORM session per stored object (the service owns this unit of work,
        because blob and rows must succeed or fail together).
    blobs
        Where the bytes go.
    duplicate_policy
        Same SOP Instance UID with different bytes: replace (default) or reject.
    strict
        Strict validation of inbound objects (``validation_mode = strict``).
    """

    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        blobs: BlobStore,
        duplicate_policy: DuplicatePolicyValues = DuplicatePolicyValues.REPLACE,
        strict: bool = False,
    ) -> None:
        self._session_factory = session_factory
        self._blobs = blobs
        self._policy = duplicate_policy
        self._strict = strict

    def store(
        self,
        data: bytes,
        *,
        source: str,
        calling_ae_title: str | None = None,
        called_ae_title: str | None = None,
    ) -> IngestResult:
        """Validate, keep and index one Part 10 object.

        Parameters
        ----------
        data
            The complete Part 10 bytes; stored exactly as given.
        source
            Which door it came through (``dimse``, ``import``, …), recorded on the instance.
        calling_ae_title, called_ae_title
            The association's AE titles, when it came over DIMSE.

        Raises
        ------
        InvalidInput
            The object is not a complete, valid DICOM object; nothing was kept.
        Conflict
            Different bytes under a stored SOP Instance UID and the policy is ``reject``.
        OutOfResources
            The disk is full (or another resource ran out); nothing was kept.
        """
        record = parse_header(data, strict=self._strict)
        for warning in record.warnings:
            log.warning(
                "ingest tolerated problem sop_instance_uid=%s problem=%s",
                record.sop_instance_uid,
                warning,
            )
        sha = hashlib.sha256(data).hexdigest()
        existing = self._lookup(record.sop_instance_uid)
        if existing is not None and existing == sha:
            return self._result(record, IngestOutcome.DUPLICATE, len(data))
        if existing is not None and self._policy is DuplicatePolicyValues.REJECT:
            raise Conflict(_reject_message(record.sop_instance_uid))

        pending = _Pending()
        try:
            self._write_blob(record.sop_instance_uid, sha, data, pending)
            for attempt in range(_RETRIES):
                try:
                    result = self._index(
                        record,
                        sha=sha,
                        size=len(data),
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
            if pending.created and pending.key is not None:
                self._blobs.delete(pending.key)
            raise
        for key in pending.delete_after_commit:
            try:
                self._blobs.delete(key)
            except OSError:  # the sweep will find it; the store itself succeeded
                log.exception("could not delete superseded blob key=%s", key)
        return result

    # -- steps -------------------------------------------------------------------------

    def _lookup(self, sop_instance_uid: str) -> str | None:
        with self._session_factory() as session, session.begin():
            return session.scalar(
                select(Instance.sha256).where(Instance.sop_instance_uid == sop_instance_uid)
            )

    def _write_blob(self, sop_instance_uid: str, sha: str, data: bytes, pending: _Pending) -> None:
        for key in (blob_key_for(sop_instance_uid), blob_key_for(sop_instance_uid, sha)):
            try:
                self._blobs.put(key, data)
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
        # Both names taken: the content-suffixed one holds exactly these bytes already
        # (an earlier copy, or a concurrent association storing the same object).
        pending.key, pending.created = blob_key_for(sop_instance_uid, sha), False

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
    ) -> IngestResult:
        assert pending.key is not None
        now = _now()
        with self._session_factory() as session, session.begin():
            instance = session.scalars(
                select(Instance)
                .where(Instance.sop_instance_uid == record.sop_instance_uid)
                .with_for_update()
            ).one_or_none()
            outcome = IngestOutcome.STORED
            if instance is not None:
                if instance.sha256 == sha:
                    # A concurrent association stored the same bytes first.
                    if pending.created and pending.key != instance.blob_key:
                        pending.delete_after_commit.append(pending.key)
                        pending.created = False
                    return self._result(record, IngestOutcome.DUPLICATE, size)
                if self._policy is DuplicatePolicyValues.REJECT:
                    raise Conflict(_reject_message(record.sop_instance_uid))
                outcome = IngestOutcome.REPLACED
                if instance.blob_key != pending.key:
                    pending.delete_after_commit.append(instance.blob_key)
                self._detach(session, instance, now)

            patient, conflicts = self._patient(session, record, now)
            study = self._study(session, record, patient, conflicts, now)
            series = self._series(session, record, study, conflicts, now)
            values: dict[str, Any] = dict(record.instance)
            values.update(
                transfer_syntax_uid=record.meta.transfer_syntax_uid,
                specific_character_set=record.specific_character_set,
                blob_key=pending.key,
                size=size,
                sha256=sha,
                received_at=now,
                calling_ae_title=calling_ae_title,
                called_ae_title=called_ae_title,
                source=source,
            )
            if instance is None:
                instance = Instance(series_fk=series.id, replaced_count=0, **values)
                session.add(instance)
            else:
                for column, value in values.items():
                    setattr(instance, column, value)
                instance.series_fk = series.id
                instance.replaced_count += 1
            series.number_of_series_related_instances += 1
            series.series_size += size
            series.updated_at = now
            study.number_of_study_related_instances += 1
            study.study_size += size
            study.sop_classes_in_study = _add_value(
                study.sop_classes_in_study, instance.sop_class_uid
            )
            study.modalities_in_study = _add_value(study.modalities_in_study, series.modality)
            study.updated_at = now
            if conflicts:
                study.patient_conflict = True
                study.patient_conflict_detail = _append_detail(
                    study.patient_conflict_detail, conflicts
                )
            session.flush()
            patient_conflict = study.patient_conflict
        pending.created = False  # committed: the blob is now owned by the index
        if outcome is IngestOutcome.REPLACED:
            log.warning(
                "instance replaced by different bytes sop_instance_uid=%s source=%s calling_ae=%s",
                record.sop_instance_uid,
                source,
                calling_ae_title,
            )
        if conflicts:
            log.warning(
                "patient attributes conflict; study flagged study_instance_uid=%s",
                record.study_instance_uid,
            )
        return self._result(record, outcome, size, patient_conflict=patient_conflict)

    @staticmethod
    def _detach(session: Session, instance: Instance, now: dt.datetime) -> None:
        """Take a replaced instance out of its series' and study's counters; the new copy is
        then counted like a new instance (possibly in another series)."""
        series = session.get(Series, instance.series_fk, with_for_update=True)
        assert series is not None
        study = session.get(Study, series.study_fk, with_for_update=True)
        assert study is not None
        series.number_of_series_related_instances -= 1
        series.series_size -= instance.size
        study.number_of_study_related_instances -= 1
        study.study_size -= instance.size
        series.updated_at = study.updated_at = now
        session.flush()

    @staticmethod
    def _patient(
        session: Session, record: HeaderRecord, now: dt.datetime
    ) -> tuple[Patient, list[str]]:
        values = record.patient
        patient = session.scalars(
            select(Patient).where(
                Patient.patient_id == values["patient_id"],
                Patient.issuer_of_patient_id == values["issuer_of_patient_id"],
            )
        ).one_or_none()
        if patient is None:
            patient = Patient(created_at=now, updated_at=now, **values)
            session.add(patient)
            session.flush()
            return patient, []
        conflicts: list[str] = []
        for column, label in (
            ("patient_name", "PatientName"),
            ("patient_birth_date", "PatientBirthDate"),
            ("patient_sex", "PatientSex"),
        ):
            stored, received = getattr(patient, column), values[column]
            if received is None:
                continue
            if stored is None:
                _fill_patient(patient, column, values)  # filling a gap is not a conflict
            elif _differs(column, stored, received):
                conflicts.append(
                    f"{label} received {received!r} differs from stored {stored!r} "
                    f"for PatientID {values['patient_id']!r}"
                )
            elif column == "patient_name" and len(received) > len(stored):
                # Same name, more groups (e.g. ideographic and phonetic added): keep the
                # richer form so Japanese queries find the patient.
                _fill_patient(patient, column, values)
        if any(getattr(patient, c) != v for c, v in values.items() if c.startswith("patient_")):
            patient.updated_at = now
        return patient, conflicts

    @staticmethod
    def _study(
        session: Session,
        record: HeaderRecord,
        patient: Patient,
        conflicts: list[str],
        now: dt.datetime,
    ) -> Study:
        study = session.scalars(
            select(Study)
            .where(Study.study_instance_uid == record.study_instance_uid)
            .with_for_update()
        ).one_or_none()
        if study is None:
            study = Study(
                patient_fk=patient.id,
                specific_character_set=record.specific_character_set,
                modalities_in_study="",
                sop_classes_in_study="",
                number_of_study_related_series=0,
                number_of_study_related_instances=0,
                study_size=0,
                patient_conflict=False,
                created_at=now,
                updated_at=now,
                **record.study,
            )
            session.add(study)
            session.flush()
        elif study.patient_fk != patient.id:
            conflicts.append(
                f"study is stored under another patient; this object says PatientID "
                f"{record.patient['patient_id']!r}"
            )
        return study

    @staticmethod
    def _series(
        session: Session,
        record: HeaderRecord,
        study: Study,
        conflicts: list[str],
        now: dt.datetime,
    ) -> Series:
        series = session.scalars(
            select(Series).where(Series.series_instance_uid == record.series_instance_uid)
        ).one_or_none()
        if series is None:
            series = Series(
                study_fk=study.id,
                number_of_series_related_instances=0,
                series_size=0,
                created_at=now,
                updated_at=now,
                **record.series,
            )
            session.add(series)
            session.flush()
            study.number_of_study_related_series += 1
        elif series.study_fk != study.id:
            conflicts.append(
                f"SeriesInstanceUID {record.series_instance_uid} already belongs to another "
                f"study; the object was filed under that series"
            )
        return series

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
        )


_DISK_FULL_ERRNOS = frozenset({28, 122})  # ENOSPC, EDQUOT


def _is_disk_full(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database or disk is full" in text or "no space left" in text


def _reject_message(sop_instance_uid: str) -> str:
    return (
        f"SOP Instance UID {sop_instance_uid} is already stored with different content and "
        f"the duplicate policy is 'reject'"
    )


def _add_value(joined: str, value: str | None) -> str:
    """Add ``value`` to a backslash-separated set kept in first-seen order."""
    if not value:
        return joined
    values = joined.split("\\") if joined else []
    if value in values:
        return joined
    return "\\".join([*values, value])


def _fill_patient(patient: Patient, column: str, values: dict[str, Any]) -> None:
    """Copy ``column`` (for a name: all its group and normalised columns) onto the patient."""
    for name, value in values.items():
        if name == column or name.startswith(f"{column}_"):
            setattr(patient, name, value)


def _differs(column: str, stored: str, received: str) -> bool:
    """Whether a received patient attribute contradicts the stored one.

    Names are compared group by group on the normalised form, and only where both sides have
    the group: ``YAMADA^TAROU`` and ``Yamada^Tarou=山田^太郎`` are the same person, more fully
    written; ``Yamada^Tarou`` and ``Yamada^Hanako`` are not.
    """
    if column != "patient_name":
        return stored.strip().upper() != received.strip().upper()
    stored_groups = [normalize_group(g) for g in stored.split("=")]
    received_groups = [normalize_group(g) for g in received.split("=")]
    return any(a and b and a != b for a, b in zip(stored_groups, received_groups, strict=False))


def _append_detail(existing: str | None, conflicts: list[str]) -> str:
    lines = existing.split("\n") if existing else []
    for conflict in conflicts:
        if conflict not in lines:
            lines.append(conflict)
    return "\n".join(lines[-20:])  # bounded: a study re-sent many times stays readable
