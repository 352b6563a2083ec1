"""The DIMSE door's audit calls, shared by both engines (pynetdicom and the fast path).

* C-STORE: PS3.15 A.5.3.7 allows one DICOM Instances Transferred message per study per
  association, so each store only counts the instance in a per-association tally (a few
  dictionary operations on the hot path, no XML) and :func:`association_ended` records one
  event per study (action C; outcome 4 if some of the study's instances were refused).
  A tally belongs to its association: pynetdicom's ``Association`` object, or on the fast
  path the thread that serves the association.
* C-FIND: one Query event (PS3.15 A.5.3.10) per request, carrying the identifier as sent.
* C-GET/C-MOVE: Begin Transferring (A.5.3.3) when the sub-operations start, then one
  Instances Transferred (A.5.3.7, action R) per study with what was sent.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from raddx.security import audit_events
from raddx.security.audit import (
    ActiveParticipant,
    EventActionCodeValues,
    EventOutcomeIndicatorValues,
    PatientRef,
    StudyRef,
    record,
)

__all__ = [
    "association_ended",
    "association_started",
    "instance_refused",
    "instance_stored",
    "procedure_step",
    "query",
    "retrieve",
]


def peer(ae_title: str, host: str | None, *, requestor: bool = True) -> ActiveParticipant:
    """A DICOM peer: UserID its AE title (PS3.15 A.5.2.2), NetworkAccessPointID its address."""
    return ActiveParticipant(
        user_id=ae_title.strip() or "(no AE title)", user_is_requestor=requestor, host=host
    )


@dataclass(slots=True)
class _Study:
    patient_id: str
    patient_name: str | None
    accession_number: str | None
    sop_classes: Counter[str] = field(default_factory=Counter)
    replaced: bool = False


@dataclass(slots=True)
class _Tally:
    calling_ae_title: str
    host: str | None
    studies: dict[str, _Study] = field(default_factory=dict)
    refused: int = 0


# Keyed by the association's owner (see the module docstring). Single dict operations are
# atomic under the GIL; each key is used by one association's thread only.
_tallies: dict[object, _Tally] = {}
_hosts: dict[object, str | None] = {}


def association_started(host: str | None) -> None:
    """A new fast-path association on this thread, from ``host``."""
    owner = threading.current_thread()
    _hosts[owner] = host
    _tallies.pop(owner, None)


def instance_stored(
    *,
    calling_ae_title: str,
    host: str | None,
    study_instance_uid: str,
    sop_class_uid: str,
    patient_id: str,
    patient_name: str | None,
    accession_number: str | None,
    replaced: bool = False,
    owner: object | None = None,
) -> None:
    """Count one stored instance in this association's tally (no I/O, no XML)."""
    tally = _tally(calling_ae_title, host, owner)
    study = tally.studies.get(study_instance_uid)
    if study is None:
        study = tally.studies[study_instance_uid] = _Study(
            patient_id, patient_name, accession_number
        )
    study.sop_classes[sop_class_uid] += 1
    study.replaced = study.replaced or replaced


def instance_refused(
    *, calling_ae_title: str, host: str | None, owner: object | None = None
) -> None:
    """Count one refused C-STORE (reported with the association's studies)."""
    _tally(calling_ae_title, host, owner).refused += 1


def _tally(calling_ae_title: str, host: str | None, owner: object | None) -> _Tally:
    key = threading.current_thread() if owner is None else owner
    tally = _tallies.get(key)
    if tally is None:
        tally = _tallies[key] = _Tally(calling_ae_title, host or _hosts.get(key))
    return tally


def association_ended(owner: object | None = None) -> None:
    """Record what the association stored: one event per study (PS3.15 A.5.3.7).

    ``owner`` is pynetdicom's ``Association``; ``None`` means this thread's fast-path
    association. Calling it again (several end events) records nothing more.
    """
    key = threading.current_thread() if owner is None else owner
    _hosts.pop(key, None)
    tally = _tallies.pop(key, None)
    if tally is None:
        return
    source = peer(tally.calling_ae_title, tally.host)
    outcome = (
        EventOutcomeIndicatorValues.MINOR_FAILURE
        if tally.refused
        else EventOutcomeIndicatorValues.SUCCESS
    )
    description = f"{tally.refused} instance(s) refused" if tally.refused else None
    for uid, study in tally.studies.items():
        record(
            audit_events.instances_transferred(
                action=EventActionCodeValues.UPDATE
                if study.replaced
                else EventActionCodeValues.CREATE,
                peer=source,
                received=True,
                patient=PatientRef(study.patient_id, study.patient_name),
                studies=[
                    StudyRef(
                        uid,
                        sop_classes=tuple(sorted(study.sop_classes.items())),
                        accession_number=study.accession_number,
                    )
                ],
                outcome=outcome,
                outcome_description=description,
            )
        )
    if not tally.studies and tally.refused:  # nothing stored at all: still say who tried
        record(
            audit_events.instances_transferred(
                action=EventActionCodeValues.CREATE,
                peer=source,
                received=True,
                patient=None,
                studies=[],
                outcome=EventOutcomeIndicatorValues.SERIOUS_FAILURE,
                outcome_description=description,
            )
        )


def query(
    *,
    calling_ae_title: str,
    host: str | None,
    sop_class_uid: str,
    identifier: bytes,
    transfer_syntax_uid: str,
) -> None:
    """One C-FIND request (Query/Retrieve or Modality Worklist) reached us."""
    record(
        audit_events.query(
            querier=peer(calling_ae_title, host),
            sop_class_uid=sop_class_uid,
            query_bytes=identifier,
            transfer_syntax_uid=transfer_syntax_uid,
        )
    )


def current_host() -> str | None:
    """The peer address of this thread's fast-path association, if known."""
    return _hosts.get(threading.current_thread())


def _retrieved_studies(identifier: Any, sop_classes: Iterable[str]) -> list[StudyRef]:
    """The studies of a C-GET/C-MOVE as its identifier names them (PS3.4 C.4.2.1.4: a study-
    or lower-level retrieve carries the Study Instance UID(s)). The SOP class counts of what
    was sent are given when it names one study (the instance list carries no study UIDs)."""
    uids = identifier.get("StudyInstanceUID") if identifier is not None else None
    if uids is None or uids == "":
        return []
    values = [str(uids)] if isinstance(uids, str) else [str(uid) for uid in uids]
    counts = tuple(sorted(Counter(sop_classes).items())) if len(values) == 1 else ()
    return [StudyRef(uid, sop_classes=counts) for uid in values]


def retrieve(
    *,
    identifier: Any,
    sop_classes: Iterable[str],
    calling_ae_title: str,
    host: str | None,
    destination_ae_title: str | None = None,
    destination_host: str | None = None,
    begin: bool,
    failed: int = 0,
) -> None:
    """C-GET (destination = the requestor) or C-MOVE: with ``begin`` the Begin Transferring
    event (PS3.15 A.5.3.3) as the sub-operations start, else Instances Transferred (A.5.3.7,
    action R) once they are done; the patient and studies as the identifier names them."""
    requestor = peer(calling_ae_title, host)
    if destination_ae_title is None:
        destination, other = requestor, None
    else:
        destination = peer(destination_ae_title, destination_host, requestor=False)
        other = requestor
    patient_id = identifier.get("PatientID") if identifier is not None else None
    patient = PatientRef(str(patient_id)) if patient_id else None
    studies = _retrieved_studies(identifier, sop_classes)
    if begin:
        event = audit_events.begin_transferring(
            destination=destination, requestor=other, patient=patient, studies=studies
        )
    else:
        event = audit_events.instances_transferred(
            action=EventActionCodeValues.READ,
            peer=destination,
            received=False,
            requestor=other,
            patient=patient,
            studies=studies,
            outcome=EventOutcomeIndicatorValues.MINOR_FAILURE
            if failed
            else EventOutcomeIndicatorValues.SUCCESS,
            outcome_description=f"{failed} sub-operation(s) failed" if failed else None,
        )
    record(event)


def procedure_step(*, calling_ae_title: str, host: str | None, dataset: Any, created: bool) -> None:
    """An MPPS N-CREATE (``created``, action C) or N-SET (U): Procedure Record (PS3.15
    A.5.3.15), naming the patient and the studies the request carries (an N-SET usually
    carries neither)."""
    patient_id = dataset.get("PatientID") if dataset is not None else None
    patient = (
        PatientRef(str(patient_id), str(dataset.get("PatientName") or "") or None)
        if patient_id
        else None
    )
    studies: list[StudyRef] = []
    for item in (dataset.get("ScheduledStepAttributesSequence") or []) if dataset else []:
        uid = item.get("StudyInstanceUID")
        if uid and all(s.study_instance_uid != str(uid) for s in studies):
            studies.append(StudyRef(str(uid)))
    record(
        audit_events.procedure_record(
            action=EventActionCodeValues.CREATE if created else EventActionCodeValues.UPDATE,
            user=peer(calling_ae_title, host),
            patient=patient,
            studies=studies,
        )
    )
