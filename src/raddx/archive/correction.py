"""Correct the patient and order attributes of stored studies: new headers, same pixels.

Reconciliation (a user fixes a study's patient or accession number) and an ADT^A40 patient
merge both change attributes of objects already stored. Fixing only the index would make
C-FIND and C-MOVE/WADO disagree, so the stored objects are rewritten too (issue 6 §6):

* each instance's header gets the new values; the values it had before go into a new item
  of OriginalAttributesSequence (0400,0561) whose ModifiedAttributesSequence (0400,0550)
  holds them (an attribute that was absent is listed with a zero-length value), with
  AttributeModificationDateTime, ModifyingSystem ``raddx`` and
  ReasonForTheAttributeModification ``CORRECT`` (PS3.3 C.12.1, SOP Common Module); earlier
  items are kept, so repeated corrections leave a history;
* the rewritten object is a new blob (blobs are write-once: a content-suffixed key, as a
  replacement copy gets in ingest); the index rows point to it in the caller's transaction;
  the old blobs are deleted only after that transaction commits, the new ones if it rolls
  back (and the orphan sweep removes either kind left by a crash);
* the index follows: the study moves to the (found or created) patient of the new PatientID
  and IssuerOfPatientID, whose demographics become the corrected ones; AccessionNumber is
  updated; the study's patient-conflict flag is cleared (a person decided); a patient left
  without visible studies is hidden like a soft-deleted one.

Only the text attributes in :data:`CORRECTABLE` may be changed; pixel data and every other
element keep their bytes' values. If a new value cannot be written in the object's Specific
Character Set, the object is re-encoded in ISO_IR 192 (UTF-8).

Work is split in two steps so that a door can rewrite blobs outside the write transaction
(:func:`prepare_correction`), then apply them in a short one (:func:`apply_correction`),
which refuses with :class:`StudyChanged` if an object was stored into the study meanwhile.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom import dcmread
from pydicom.charset import encode_string
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from raddx.archive._executor import Executor
from raddx.archive._index_writer import _columns_of, _fuzzy_keys, _patient
from raddx.archive.header import parse_header
from raddx.archive.ingest import blob_key_for
from raddx.db.models import Instance, Patient, Series, Study
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.storage import BlobExistsError, BlobStore

__all__ = [
    "CORRECTABLE",
    "CorrectionResult",
    "PreparedCorrection",
    "StudyChanged",
    "apply_correction",
    "correct_studies",
    "prepare_correction",
    "rewrite_header",
]

log = logging.getLogger(__name__)

#: Attributes a correction may set: the patient's identity and the study's order key.
CORRECTABLE = frozenset(
    {
        "PatientID",
        "IssuerOfPatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
    }
)
#: ReasonForTheAttributeModification (0400,0565) Defined Term (PS3.3 C.12.1.1.9.2).
REASON_CORRECT = "CORRECT"
MODIFYING_SYSTEM = "raddx"


class StudyChanged(Conflict):
    """An object was stored into, replaced in or deleted from the study between preparing
    and applying a correction; prepare again."""


@dataclass(frozen=True, slots=True)
class _Rewritten:
    instance_id: int
    old_key: str
    old_sha256: str
    new_key: str
    new_sha256: str
    size: int
    specific_character_set: str | None


@dataclass(slots=True)
class PreparedCorrection:
    """Rewritten blobs of some studies, not yet in the index (:func:`prepare_correction`)."""

    study_uids: tuple[str, ...]
    changes: dict[str, str]
    rewritten: list[_Rewritten] = field(default_factory=list)
    #: Instances whose header already held the new values (nothing to rewrite).
    unchanged: dict[int, str] = field(default_factory=dict)
    #: The header of the first instance, rewritten: the index values of the patient/study.
    sample: bytes | None = None

    def discard(self, blobs: BlobStore) -> None:
        """Delete the new blobs (the correction will not be applied)."""
        for item in self.rewritten:
            _delete_quietly(blobs, item.new_key)


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    """What a correction changed."""

    study_uids: tuple[str, ...]
    instances_rewritten: int
    patient_id: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_changes(changes: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(changes) - CORRECTABLE)
    if unknown:
        raise InvalidInput(f"attributes {unknown} cannot be corrected; only {sorted(CORRECTABLE)}")
    if not changes:
        raise InvalidInput("no attribute to correct")
    if "PatientID" in changes and not changes["PatientID"].strip():
        raise InvalidInput("PatientID cannot be corrected to an empty value")
    return dict(changes)


def rewrite_header(data: bytes, changes: Mapping[str, str], *, now: dt.datetime) -> bytes | None:
    """The Part 10 object ``data`` with ``changes`` applied and the previous values recorded
    in a new OriginalAttributesSequence item (PS3.3 C.12.1); ``None`` if every attribute
    already has its new value. Pixel data and all other elements are written unchanged.

    Raises
    ------
    InvalidInput
        ``data`` is not a readable Part 10 object.
    """
    try:
        ds = dcmread(io.BytesIO(data))
    except Exception as exc:
        raise InvalidInput(f"stored object is not readable: {exc}") from exc
    differing = {k: v for k, v in changes.items() if (_current(ds, k) or "") != v}
    if not differing:
        return None
    charset = ds.get("SpecificCharacterSet")
    if not _encodable(differing.values(), charset):
        # Values decoded with the old character set are re-encoded in UTF-8 on write.
        ds.decode()
        ds.SpecificCharacterSet = "ISO_IR 192"
    previous = Dataset()
    for keyword in differing:
        tag = tag_for_keyword(keyword)
        assert tag is not None  # CORRECTABLE holds dictionary keywords
        if tag in ds:
            previous[tag] = DataElement(tag, ds[tag].VR, ds[tag].value)
        else:
            previous[tag] = DataElement(tag, dictionary_VR(tag), None)
    item = Dataset()
    item.ModifiedAttributesSequence = DicomSequence([previous])
    item.AttributeModificationDateTime = now.strftime("%Y%m%d%H%M%S.%f+0000")
    item.ModifyingSystem = MODIFYING_SYSTEM
    item.ReasonForTheAttributeModification = REASON_CORRECT
    item.SourceOfPreviousValues = ""
    if "OriginalAttributesSequence" not in ds:
        ds.OriginalAttributesSequence = DicomSequence([])
    ds.OriginalAttributesSequence.append(item)
    for keyword, value in differing.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _current(ds: Dataset, keyword: str) -> str | None:
    if keyword not in ds:
        return None
    value = ds[keyword].value
    return "" if value is None else str(value)


def _encodable(values: Any, charset: Any) -> bool:
    if all(str(v).isascii() for v in values):
        return True
    encodings = _python_encodings(charset)
    # pydicom replaces what it cannot encode and warns; here that means "not encodable".
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            for value in values:
                encode_string(str(value), encodings)
        except (UnicodeError, LookupError, ValueError, UserWarning):
            return False
    return True


def _python_encodings(charset: Any) -> list[str]:
    from pydicom.charset import convert_encodings

    if not charset:
        return ["iso8859"]
    terms = [charset] if isinstance(charset, str) else list(charset)
    return list(convert_encodings(terms))


def prepare_correction(
    *,
    session: Session,
    blobs: BlobStore,
    study_uids: Sequence[str],
    changes: Mapping[str, str],
    now: dt.datetime | None = None,
) -> PreparedCorrection:
    """Rewrite every visible instance of ``study_uids`` into a new blob (nothing indexed yet).

    Raises
    ------
    InvalidInput
        An attribute outside :data:`CORRECTABLE`, an empty PatientID.
    NotFound
        A study is unknown or soft-deleted.
    """
    checked = _check_changes(changes)
    now = now or _now()
    prepared = PreparedCorrection(tuple(study_uids), checked)
    try:
        for uid in study_uids:
            for row in _instances(session, uid):
                data = blobs.get(row.blob_key)
                new = rewrite_header(data, checked, now=now)
                if new is None:
                    prepared.unchanged[row.id] = row.sha256
                    if prepared.sample is None:
                        prepared.sample = data
                    continue
                sha = hashlib.sha256(new).hexdigest()
                key = blob_key_for(row.sop_instance_uid, sha)
                # Taken only by the same bytes (the key holds their hash) from an undone try.
                with contextlib.suppress(BlobExistsError):
                    blobs.put(key, new)
                record = parse_header(new)
                prepared.rewritten.append(
                    _Rewritten(
                        row.id,
                        row.blob_key,
                        row.sha256,
                        key,
                        sha,
                        len(new),
                        record.specific_character_set,
                    )
                )
                if prepared.sample is None:
                    prepared.sample = new
    except BaseException:
        prepared.discard(blobs)
        raise
    return prepared


def _instances(session: Session, study_uid: str) -> list[Any]:
    study = session.scalars(
        select(Study).where(Study.study_instance_uid == study_uid, Study.deleted_at.is_(None))
    ).one_or_none()
    if study is None:
        raise NotFound(f"no study {study_uid}")
    return list(
        session.execute(
            select(Instance.id, Instance.sop_instance_uid, Instance.blob_key, Instance.sha256)
            .join(Series, Instance.series_fk == Series.id)
            .where(Series.study_fk == study.id, Instance.deleted_at.is_(None))
            .order_by(Instance.id)
        ).all()
    )


def apply_correction(
    prepared: PreparedCorrection,
    *,
    session: Session,
    blobs: BlobStore,
    now: dt.datetime | None = None,
) -> CorrectionResult:
    """Point the index at the rewritten blobs and update patient/study rows, in the caller's
    transaction. Old blobs are deleted after it commits; the new ones if it rolls back.

    Raises
    ------
    StudyChanged
        The studies' instances are not those prepared (a concurrent store or delete).
    NotFound
        A study was deleted meanwhile.
    """
    now = now or _now()
    expected = {r.instance_id: r.old_sha256 for r in prepared.rewritten} | prepared.unchanged
    study_ids = []
    for uid in prepared.study_uids:
        # Lock the study row as ingest does (PostgreSQL), so no object joins it meanwhile.
        study_id = session.scalar(
            select(Study.id)
            .where(Study.study_instance_uid == uid, Study.deleted_at.is_(None))
            .with_for_update()
        )
        if study_id is None:
            raise NotFound(f"no study {uid}")
        study_ids.append(study_id)
    current = {
        row.id: row.sha256
        for row in session.execute(
            select(Instance.id, Instance.sha256)
            .join(Series, Instance.series_fk == Series.id)
            .where(Series.study_fk.in_(study_ids), Instance.deleted_at.is_(None))
        )
    }
    if current != expected:
        raise StudyChanged("objects were stored into the study meanwhile; try again")
    _register_cleanup(session, blobs, prepared)
    for item in prepared.rewritten:
        session.execute(
            update(Instance)
            .where(Instance.id == item.instance_id)
            .values(
                blob_key=item.new_key,
                sha256=item.new_sha256,
                size=item.size,
                specific_character_set=item.specific_character_set,
            )
        )
    patient_id = None
    if prepared.sample is not None:
        patient_id = _reindex(session, prepared, study_ids, now)
    session.flush()
    log.info(
        "studies corrected studies=%d instances=%d",
        len(study_ids),
        len(prepared.rewritten),
    )
    return CorrectionResult(prepared.study_uids, len(prepared.rewritten), patient_id)


def _reindex(
    session: Session, prepared: PreparedCorrection, study_ids: list[int], now: dt.datetime
) -> str:
    assert prepared.sample is not None
    record = parse_header(prepared.sample)
    db = Executor(session.connection())
    patient_fk = _patient(db, record, [], now)
    # The corrected demographics are authoritative (a person or the HIS decided them).
    demographics: dict[str, Any] = {}
    for column, keyword in (
        ("patient_name", "PatientName"),
        ("patient_birth_date", "PatientBirthDate"),
        ("patient_sex", "PatientSex"),
    ):
        if keyword in prepared.changes:
            demographics.update(_columns_of(column, record.patient))
            if column == "patient_name":
                demographics.update(_fuzzy_keys(column, record.patient))
    if demographics:
        session.execute(
            update(Patient).where(Patient.id == patient_fk).values(updated_at=now, **demographics)
        )
    previous = set(
        session.scalars(select(Study.patient_fk).where(Study.id.in_(study_ids))).all()
    ) - {patient_fk}
    values: dict[str, Any] = {
        "patient_fk": patient_fk,
        "patient_conflict": False,
        "patient_conflict_detail": None,
        "updated_at": now,
    }
    if "AccessionNumber" in prepared.changes:
        values["accession_number"] = record.study["accession_number"]
    session.execute(update(Study).where(Study.id.in_(study_ids)).values(**values))
    for old in previous:
        visible = session.scalar(
            select(Study.id).where(Study.patient_fk == old, Study.deleted_at.is_(None)).limit(1)
        )
        if visible is None:
            session.execute(update(Patient).where(Patient.id == old).values(deleted_at=now))
    return str(record.patient["patient_id"])


def _register_cleanup(session: Session, blobs: BlobStore, prepared: PreparedCorrection) -> None:
    def committed(_: Session) -> None:
        for item in prepared.rewritten:
            _delete_quietly(blobs, item.old_key)

    def rolled_back(_: Session) -> None:
        prepared.discard(blobs)

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_soft_rollback", rolled_back, once=True)


def _delete_quietly(blobs: BlobStore, key: str) -> None:
    try:
        blobs.delete(key)
    except OSError:  # the orphan sweep finds it later
        log.exception("could not delete blob key=%s", key)


def correct_studies(
    *,
    session: Session,
    blobs: BlobStore,
    study_uids: Sequence[str],
    changes: Mapping[str, str],
) -> CorrectionResult:
    """Prepare and apply a correction in one unit of work (the caller's).

    Simpler than the two steps for a caller that already holds the write transaction (an
    HL7 message's unit of work); the index stays locked while the objects are rewritten.
    Errors are those of :func:`prepare_correction` and :func:`apply_correction`.
    """
    now = _now()
    prepared = prepare_correction(
        session=session, blobs=blobs, study_uids=study_uids, changes=changes, now=now
    )
    try:
        return apply_correction(prepared, session=session, blobs=blobs, now=now)
    except BaseException:
        prepared.discard(blobs)
        raise
