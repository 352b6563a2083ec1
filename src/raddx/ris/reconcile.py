"""Reconciliation: which order a stored study belongs to (issue 6 §6), in one place.

* **On arrival** (:class:`ArrivalLink`, the ingest service's study-arrival hook, run once per
  new study, not per object): the study's StudyInstanceUID is looked up among the requested
  procedures, then its AccessionNumber among the orders, inside the ingest transaction. A
  match is stored after the commit as a :class:`~raddx.db.models.RisStudyLink` and the order
  status rules (:func:`raddx.ris.status.arrival_status`) decide whether the order moves.
* **Unmatched studies** (:func:`unmatched_studies`): visible studies without a link.
* **By hand** (:func:`reconcile_study`): a user names the order (its accession number) and/or
  the right patient; the stored objects are corrected (:mod:`raddx.archive.correction`:
  new headers with OriginalAttributesSequence, reason CORRECT, index updated in the same
  transaction), the link is written, and the correction is recorded for the audit trail.
* **Patient merge** (ADT^A40, :mod:`raddx.ris.archive_merge`): the prior patient's studies
  are corrected to the surviving patient with the same mechanism, by a background job.

A match by accession number also compares the number's issuer when both the order and the
study carry one (:func:`raddx.ris.accession_issuer.issuers_agree`): a different issuer means
another namespace's number, so the study is not linked and the unmatched list says why. A
match by Study Instance UID needs no issuer (the UID is globally unique).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from raddx.archive._executor import Executor
from raddx.archive.correction import (
    StudyChanged,
    apply_correction,
    prepare_correction,
)
from raddx.db import READ_ONLY_OPTIONS
from raddx.db.models import (
    Patient,
    RisOrder,
    RisPatient,
    RisRequestedProcedure,
    RisStudyLink,
    Study,
)
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.ris.accession_issuer import AccessionIssuer, issuers_agree
from raddx.ris.records import PatientData
from raddx.ris.service import change_order_status, find_order
from raddx.ris.status import OrderStatusValues, arrival_status
from raddx.security import audit, audit_events
from raddx.security.audit import ActiveParticipant, EventActionCodeValues, PatientRef, StudyRef
from raddx.storage import BlobStore

__all__ = [
    "ArrivalLink",
    "MatchedByValues",
    "ReconcileResult",
    "UnmatchedStudy",
    "link_arrived_study",
    "link_waiting_studies",
    "patient_changes",
    "reconcile_study",
    "unmatched_studies",
]

log = logging.getLogger(__name__)

_ATTEMPTS = 3


class MatchedByValues(StrEnum):
    """How a study was linked to its order."""

    STUDY_UID = "STUDY_UID"
    ACCESSION = "ACCESSION"
    MANUAL = "MANUAL"


@dataclass(frozen=True, slots=True)
class UnmatchedStudy:
    """A stored study no order claims (what a user sees before reconciling it)."""

    study_instance_uid: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str | None
    accession_number: str | None
    study_date: str | None
    modalities_in_study: str
    number_of_study_related_instances: int
    #: IssuerOfAccessionNumberSequence as ``local^universal^type``.
    issuer_of_accession_number: str | None = None
    #: Why no order claims it (no such accession number, a different issuer, …).
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What :func:`reconcile_study` did."""

    study_instance_uid: str
    accession_number: str | None
    order_status: str | None
    instances_rewritten: int
    patient_id: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _matching_order_id(
    session_or_conn: Any,
    study_instance_uid: str,
    accession_number: str | None,
    accession_issuer: str | None = None,
) -> tuple[int, MatchedByValues] | None:
    found = session_or_conn.execute(
        select(RisRequestedProcedure.order_fk).where(
            RisRequestedProcedure.study_instance_uid == study_instance_uid
        )
    ).first()
    if found is not None:
        return int(found[0]), MatchedByValues.STUDY_UID
    if accession_number:
        found = session_or_conn.execute(
            select(RisOrder.id, RisOrder.issuer_of_accession_number).where(
                RisOrder.accession_number == accession_number
            )
        ).first()
        if found is not None and _same_issuer(found[1], accession_issuer):
            return int(found[0]), MatchedByValues.ACCESSION
    return None


def _same_issuer(order_issuer: str | None, image_issuer: str | None) -> bool:
    ok, reason = issuers_agree(
        AccessionIssuer.parse(order_issuer), AccessionIssuer.parse(image_issuer)
    )
    if not ok:
        log.warning("accession number matches an order of another issuer: %s", reason)
    return ok


def link_arrived_study(
    *,
    session: Session,
    study_instance_uid: str,
    accession_number: str | None,
    accession_issuer: str | None = None,
) -> RisStudyLink | None:
    """Link a newly arrived study to its order, if one matches and none is linked yet, and
    let the status rules move the order. Returns the new link, else ``None``."""
    match = _matching_order_id(session, study_instance_uid, accession_number, accession_issuer)
    if match is None:
        return None
    return _link(session, study_instance_uid, *match)


def _link(
    session: Session, study_instance_uid: str, order_id: int, how: MatchedByValues
) -> RisStudyLink | None:
    if session.scalar(
        select(RisStudyLink.id).where(RisStudyLink.study_instance_uid == study_instance_uid)
    ):
        return None  # linked meanwhile (by hand, or by a concurrent first object)
    link = RisStudyLink(
        study_instance_uid=study_instance_uid,
        order_fk=order_id,
        matched_by=how.value,
        linked_at=_now(),
    )
    session.add(link)
    order = session.get(RisOrder, order_id)
    assert order is not None  # foreign key
    _images_arrived(order, session)
    session.flush()
    return link


def _images_arrived(order: RisOrder, session: Session) -> None:
    target = arrival_status(OrderStatusValues(order.status))
    if target is not None:
        change_order_status(order, target, session=session)


class ArrivalLink:
    """The ingest service's :class:`~raddx.archive.ingest.StudyArrivalHook`: the order of a
    newly arrived study is looked up inside the ingest transaction with prebuilt statements
    (about two indexed lookups per *study*), and only a match costs a short write
    transaction after the commit, which links the study and applies the status rules."""

    def __init__(self, session_factory: sessionmaker[Any]) -> None:
        self._session_factory = session_factory

    def match(
        self,
        db: Executor,
        study_instance_uid: str,
        accession_number: str | None,
        accession_issuer: str | None = None,
    ) -> tuple[int, MatchedByValues] | None:
        """The order (id, how matched) of a study no link names yet, else ``None``; an
        accession number of another issuer than the order's does not match."""
        sql = _arrival_statements()
        if db.first(sql.linked, {"p_uid": study_instance_uid}) is not None:
            return None
        found = db.first(sql.by_study_uid, {"p_uid": study_instance_uid})
        if found is not None:
            return int(found.order_fk), MatchedByValues.STUDY_UID
        if accession_number:
            found = db.first(sql.by_accession, {"p_accession": accession_number})
            if found is not None and _same_issuer(
                found.issuer_of_accession_number, accession_issuer
            ):
                return int(found.id), MatchedByValues.ACCESSION
        return None

    def arrived(self, matched: object, study_instance_uid: str) -> None:
        """Link the study to the matched order and let the status rules move it."""
        order_id, how = cast(tuple[int, MatchedByValues], matched)
        with self._session_factory() as session, session.begin():
            link = _link(session, study_instance_uid, order_id, how)
        if link is not None:
            log.info("study linked to order order_id=%d matched_by=%s", order_id, how.value)


@dataclass(frozen=True, slots=True)
class _ArrivalStatements:
    linked: Any
    by_study_uid: Any
    by_accession: Any


@functools.cache
def _arrival_statements() -> _ArrivalStatements:
    # Built once with bound parameters: the ingest executor compiles each a single time.
    return _ArrivalStatements(
        linked=select(RisStudyLink.id).where(RisStudyLink.study_instance_uid == bindparam("p_uid")),
        by_study_uid=select(RisRequestedProcedure.order_fk).where(
            RisRequestedProcedure.study_instance_uid == bindparam("p_uid")
        ),
        by_accession=select(RisOrder.id, RisOrder.issuer_of_accession_number).where(
            RisOrder.accession_number == bindparam("p_accession")
        ),
    )


def unmatched_studies(
    *, session: Session, limit: int = 100, offset: int = 0
) -> list[UnmatchedStudy]:
    """Visible studies no order is linked to, newest first, each with the reason."""
    rows = session.execute(
        select(Study, Patient, RisOrder.id, RisOrder.issuer_of_accession_number)
        .join(Patient, Study.patient_fk == Patient.id)
        .outerjoin(RisStudyLink, RisStudyLink.study_instance_uid == Study.study_instance_uid)
        .outerjoin(RisOrder, RisOrder.accession_number == Study.accession_number)
        .where(RisStudyLink.id.is_(None), Study.deleted_at.is_(None))
        .order_by(Study.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        UnmatchedStudy(
            study.study_instance_uid,
            patient.patient_id,
            patient.issuer_of_patient_id,
            patient.patient_name,
            study.accession_number,
            study.study_date,
            study.modalities_in_study,
            study.number_of_study_related_instances,
            study.issuer_of_accession_number,
            _unmatched_reason(study, order_id, order_issuer),
        )
        for study, patient, order_id, order_issuer in rows
    ]


def _unmatched_reason(study: Study, order_id: int | None, order_issuer: str | None) -> str:
    if not study.accession_number:
        return "no accession number, and no order has its Study Instance UID"
    if order_id is None:
        return f"no order has accession number {study.accession_number!r}"
    ok, reason = issuers_agree(
        AccessionIssuer.parse(order_issuer),
        AccessionIssuer.parse(study.issuer_of_accession_number),
    )
    if not ok:
        return f"accession number {study.accession_number!r} is another issuer's: {reason}"
    return "an order with this accession number arrived after the images: link it (auto)"


def link_waiting_studies(*, session: Session, limit: int = 1000) -> list[tuple[str, str]]:
    """Link unmatched studies that an order now claims — images that arrived before their
    order (an emergency exam entered in the HIS afterwards) — by the same rules as on
    arrival (Study Instance UID, else accession number; no header is changed, the values
    already agree). Returns (StudyInstanceUID, accession number) of each new link.
    """
    linked: list[tuple[str, str]] = []
    by_uid = (
        select(Study.study_instance_uid, RisRequestedProcedure.order_fk)
        .join(
            RisRequestedProcedure,
            RisRequestedProcedure.study_instance_uid == Study.study_instance_uid,
        )
        .outerjoin(RisStudyLink, RisStudyLink.study_instance_uid == Study.study_instance_uid)
        .where(RisStudyLink.id.is_(None), Study.deleted_at.is_(None))
        .limit(limit)
    )
    by_accession = (
        select(
            Study.study_instance_uid,
            RisOrder.id,
            RisOrder.issuer_of_accession_number,
            Study.issuer_of_accession_number,
        )
        .join(RisOrder, RisOrder.accession_number == Study.accession_number)
        .outerjoin(RisStudyLink, RisStudyLink.study_instance_uid == Study.study_instance_uid)
        .where(RisStudyLink.id.is_(None), Study.deleted_at.is_(None))
        .limit(limit)
    )
    for stmt, how in (
        (by_uid, MatchedByValues.STUDY_UID),
        (by_accession, MatchedByValues.ACCESSION),
    ):
        for uid, order_id, *issuers in session.execute(stmt).all():
            if issuers and not _same_issuer(*issuers):
                continue  # another issuer's number: stays unmatched, with that reason
            if _link(session, uid, order_id, how) is not None:
                order = session.get(RisOrder, order_id)
                assert order is not None  # foreign key
                linked.append((uid, order.accession_number))
    return linked


def patient_changes(patient: PatientData | RisPatient) -> dict[str, str]:
    """The patient attributes a stored study is corrected to (reconciliation, A40 merge)."""
    changes = {
        "PatientID": patient.patient_id,
        "IssuerOfPatientID": patient.issuer_of_patient_id,
    }
    for keyword, value in (
        ("PatientName", patient.patient_name),
        ("PatientBirthDate", patient.patient_birth_date),
        ("PatientSex", patient.patient_sex),
    ):
        if value is not None:
            changes[keyword] = value
    return changes


def _changes_for(
    session: Session,
    study_instance_uid: str,
    accession_number: str | None,
    patient: PatientData | None,
) -> tuple[dict[str, str], RisOrder | None]:
    study = session.scalars(
        select(Study).where(Study.study_instance_uid == study_instance_uid)
    ).one_or_none()
    if study is None:
        raise NotFound(f"no study {study_instance_uid}")
    if study.deleted_at is not None:
        raise Conflict(f"study {study_instance_uid} is deleted; restore it before reconciling")
    if accession_number is None and patient is None:
        raise InvalidInput("give an order (accession number) or the patient's attributes")
    changes: dict[str, str] = {}
    order = None
    if accession_number is not None:
        order = find_order(accession_number=accession_number, session=session)
        linked = session.scalars(
            select(RisStudyLink).where(RisStudyLink.study_instance_uid == study_instance_uid)
        ).one_or_none()
        if linked is not None and linked.order_fk != order.id:
            raise Conflict(f"study {study_instance_uid} is already linked to another order")
        ris_patient = session.get(RisPatient, order.patient_fk)
        assert ris_patient is not None  # foreign key
        changes.update(patient_changes(ris_patient))
        changes["AccessionNumber"] = order.accession_number
    if patient is not None:
        changes.update(patient_changes(patient))  # the user's fixes win over the order's
    return changes, order


def reconcile_study(
    *,
    session_factory: sessionmaker[Any],
    blobs: BlobStore,
    study_instance_uid: str,
    accession_number: str | None = None,
    patient: PatientData | None = None,
    actor: str,
    reason: str,
) -> ReconcileResult:
    """Fix a stored study's order and/or patient attributes (headers and index), link it to
    the order, and record who did it and why.

    Owns its units of work (as ingest does): the objects are rewritten outside the write
    transaction, which then only re-points the index and is retried if an object was stored
    into the study meanwhile.

    Raises
    ------
    NotFound
        Unknown study; unknown accession number.
    Conflict
        The study is soft-deleted, or linked to another order; objects kept arriving.
    InvalidInput
        Neither an order nor patient attributes; an empty PatientID.
    """
    for attempt in range(_ATTEMPTS):
        with session_factory() as session, session.begin():
            # A snapshot read: the objects are rewritten without holding the write lock.
            session.connection(execution_options=READ_ONLY_OPTIONS)
            changes, _ = _changes_for(session, study_instance_uid, accession_number, patient)
            prepared = prepare_correction(
                session=session, blobs=blobs, study_uids=(study_instance_uid,), changes=changes
            )
        try:
            with session_factory() as session, session.begin():
                _, order = _changes_for(session, study_instance_uid, accession_number, patient)
                corrected = apply_correction(prepared, session=session, blobs=blobs)
                status = None
                if order is not None:
                    _link_by_hand(session, study_instance_uid, order, actor, reason)
                    status = order.status
            break
        except StudyChanged:
            if attempt == _ATTEMPTS - 1:
                raise
        except BaseException:
            prepared.discard(blobs)
            raise
    record_audit(
        "study.reconcile",
        actor=actor,
        reason=reason,
        study_instance_uids=(study_instance_uid,),
        accession_number=order.accession_number if order is not None else None,
        patient_id=corrected.patient_id,
    )
    return ReconcileResult(
        study_instance_uid,
        order.accession_number if order is not None else None,
        status,
        corrected.instances_rewritten,
        corrected.patient_id,
    )


def _link_by_hand(
    session: Session, study_instance_uid: str, order: RisOrder, actor: str, reason: str
) -> None:
    link = session.scalars(
        select(RisStudyLink).where(RisStudyLink.study_instance_uid == study_instance_uid)
    ).one_or_none()
    if link is None:
        session.add(
            RisStudyLink(
                study_instance_uid=study_instance_uid,
                order_fk=order.id,
                matched_by=MatchedByValues.MANUAL.value,
                linked_by=actor,
                reason=reason,
                linked_at=_now(),
            )
        )
        _images_arrived(order, session)
    session.flush()


def record_audit(
    action: str,
    *,
    actor: str,
    reason: str,
    study_instance_uids: Sequence[str],
    accession_number: str | None,
    patient_id: str | None,
) -> None:
    """Audit a correction of stored studies (PS3.15 A.5.3.6 DICOM Instances Accessed,
    action Update): who (``actor``), which patient and studies. ``reason`` is kept with the
    study link and logged. (The HL7 door records the A40 itself as Patient Record.)"""
    user = ActiveParticipant(user_id=actor, user_is_requestor=True)
    patient = PatientRef(patient_id) if patient_id else None
    audit.record(
        audit_events.instances_accessed(
            action=EventActionCodeValues.UPDATE,
            user=user,
            patient=patient,
            studies=[
                StudyRef(uid, accession_number=accession_number) for uid in study_instance_uids
            ],
        )
    )
    log.info(
        "studies corrected action=%s actor=%s reason=%s studies=%d",
        action,
        actor,
        reason,
        len(study_instance_uids),
    )
