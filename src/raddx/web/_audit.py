"""The HTTP doors' audit calls (DICOMweb, /api, reports): one place that turns a request
into the audit trail's participants, so each route adds one line.

The actor is the principal the authentication layer put on ``request.state.principal``
(``raddx.security.principal.Principal``: name, role, kind, host, break_glass); without one
(security not enforced, or a route before authentication) it is ``anonymous`` at the
client's address. A break-glass session is flagged in UserName, so every access made under
it stands out in the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from raddx.security import audit_events
from raddx.security.audit import (
    ActiveParticipant,
    AuditEvent,
    Code,
    EventActionCodeValues,
    EventIDValues,
    EventOutcomeIndicatorValues,
    ParticipantObject,
    PatientRef,
    StudyRef,
    record,
)
from raddx.security.audit_lookup import study_patients

__all__ = [
    "authentication",
    "order_records",
    "query",
    "report",
    "requester",
    "studies_accessed",
    "transferred",
]

ANONYMOUS = "anonymous"


def requester(request: Request) -> ActiveParticipant:
    """The person or client behind ``request`` as the requesting participant."""
    principal: Any = getattr(request.state, "principal", None)
    client = request.client.host if request.client is not None else None
    if principal is None:
        return ActiveParticipant(user_id=ANONYMOUS, user_is_requestor=True, host=client)
    flags = []
    if getattr(principal, "break_glass", False):
        flags.append("break-glass")
    role = getattr(principal, "role", None)
    name = f"{role}" + (f" ({', '.join(flags)})" if flags else "") if role else None
    return ActiveParticipant(
        user_id=str(getattr(principal, "name", "") or ANONYMOUS),
        user_is_requestor=True,
        host=getattr(principal, "host", None) or client,
        user_name=name,
    )


def query(request: Request, sop_class_uid: str) -> None:
    """A search (QIDO-RS, PS3.15 A.5.3.10): the request's path and query string, as sent,
    are the ParticipantObjectQuery; ``sop_class_uid`` is the C-FIND model it is equal to."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    record(
        audit_events.query(
            querier=requester(request),
            sop_class_uid=sop_class_uid,
            query_bytes=target.encode("utf-8"),
        )
    )


def _studies(
    session_factory: Any, counts: dict[str, Counter[str]], **study: Any
) -> list[tuple[Any, StudyRef]]:
    patients = study_patients(session_factory, counts)
    return [
        (
            patients.get(uid),
            StudyRef(uid, sop_classes=tuple(sorted(c for c in classes.items() if c[0])), **study),
        )
        for uid, classes in counts.items()
    ]


def transferred(
    request: Request,
    session_factory: Any,
    sent: Iterable[tuple[str, str]],
    *,
    received: bool,
    outcome: EventOutcomeIndicatorValues = EventOutcomeIndicatorValues.SUCCESS,
    outcome_description: str | None = None,
) -> None:
    """Instances sent to (WADO-RS) or received from (STOW-RS) the client: one DICOM
    Instances Transferred per study (PS3.15 A.5.3.7), ``sent`` as (study UID, SOP class)."""
    counts: dict[str, Counter[str]] = {}
    for study_uid, sop_class_uid in sent:
        counts.setdefault(study_uid, Counter())[sop_class_uid] += 1
    client = requester(request)
    for patient, study in _studies(session_factory, counts):
        record(
            audit_events.instances_transferred(
                action=EventActionCodeValues.CREATE if received else EventActionCodeValues.READ,
                peer=client,
                received=received,
                patient=patient,
                studies=[study],
                outcome=outcome,
                outcome_description=outcome_description,
            )
        )


def studies_accessed(
    request: Request,
    session_factory: Any,
    study_uids: Iterable[str],
    *,
    action: EventActionCodeValues,
    outcome: EventOutcomeIndicatorValues = EventOutcomeIndicatorValues.SUCCESS,
) -> None:
    """Studies read, changed or deleted by a user (DICOM Instances Accessed, PS3.15
    A.5.3.6): REST deletions (D), restores (U), report views (R) and signatures (U)."""
    counts: dict[str, Counter[str]] = {uid: Counter() for uid in study_uids}
    user = requester(request)
    for patient, study in _studies(session_factory, counts):
        record(
            audit_events.instances_accessed(
                action=action, user=user, patient=patient, studies=[study], outcome=outcome
            )
        )


def order_records(
    request: Request,
    patient_ids: Iterable[str],
    action: EventActionCodeValues = EventActionCodeValues.READ,
) -> None:
    """Orders answered (Read), placed (Create) or changed (Update) through REST or FHIR: one
    Order Record (PS3.15 A.5.3.13) per order, naming its patient by Patient ID."""
    user = requester(request)
    for patient_id in patient_ids:
        record(audit_events.order_record(action=action, user=user, patient=PatientRef(patient_id)))


#: RFC 3881 participant object ID type 9 "Report Number".
_REPORT_NUMBER = Code("9", "RFC-3881", "Report Number")


def report(request: Request, report_record: Any, action: EventActionCodeValues) -> None:
    """A report read (R) or signed (U: final, amendment, addendum): DICOM Instances
    Accessed (PS3.15 A.5.3.6) naming the patient, the report (TypeCode 2, role 3 Report)
    and its studies."""
    patient = report_record.patient
    name = patient.name_alpha or patient.name_kanji or patient.name_kana or None
    record_event = AuditEvent(
        event_id=EventIDValues.DICOM_INSTANCES_ACCESSED,
        action=action,
        participants=(requester(request),),
        patients=(PatientRef(patient.patient_id, name),),
        studies=tuple(
            StudyRef(study.study_uid)
            for study in report_record.studies
            if getattr(study, "study_uid", None)
        ),
        objects=(
            ParticipantObject(
                object_id=f"{report_record.report_id}/{report_record.version}",
                id_type=_REPORT_NUMBER,
                type_code="2",
                type_code_role="3",
                name=(
                    f"report {report_record.report_id} version {report_record.version} "
                    f"({report_record.status})"
                ),
            ),
        ),
    )
    record(record_event)


def authentication(
    request: Request,
    user_name: str,
    *,
    login: bool,
    success: bool = True,
    reason: str | None = None,
) -> None:
    """A login or logout through the HTTP door (User Authentication, PS3.15 A.5.3.12): the
    user as requestor at the client's address; a refused login has outcome 4 and ``reason``
    (never the password). For the authentication layer's login and logout routes."""
    client = request.client.host if request.client is not None else None
    record(
        audit_events.user_authentication(
            user=ActiveParticipant(
                user_id=user_name or ANONYMOUS, user_is_requestor=True, host=client
            ),
            login=login,
            outcome=EventOutcomeIndicatorValues.SUCCESS
            if success
            else EventOutcomeIndicatorValues.MINOR_FAILURE,
            outcome_description=reason,
        )
    )
