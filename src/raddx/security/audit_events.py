"""Constructors for the PS3.15 A.5.3 events raddx emits, one per event, with the codes fixed.

A door calls one of these and passes the result to :func:`raddx.security.audit.record`, so the
EventID / EventActionCode / EventTypeCode / roles of each event are decided here, once, as
PS3.15 A.5.3 lays them down (table in ``docs/conformance.md`` "Audit trail"):

================================  ======  ======  =====================================
Event (PS3.15)                    EventID Action  raddx's role / participants
================================  ======  ======  =====================================
Application Activity (A.5.3.1)    110100  E       Application 110150; type 110120/110121
Audit Log Used (A.5.3.2)          110101  R       reader (requestor); log object role 13
Begin Transferring (A.5.3.3)      110102  E       source 110153; destination 110152
Instances Accessed (A.5.3.6)      110103  C/R/U/D user (requestor)
Instances Transferred (A.5.3.7)   110104  C/R/U   source 110153, destination 110152
Study Deleted (A.5.3.8)           110105  D       user (requestor)
Export (A.5.3.4)                  110106  R       source 110153; media 110154
Import (A.5.3.5)                  110107  C       destination 110152; media 110155
Order Record (A.5.3.13)           110109  C/R/U/D user/process
Patient Record (A.5.3.14)         110110  C/R/U/D user/process
Procedure Record (A.5.3.15)       110111  C/U     MPPS N-CREATE / N-SET
Query (A.5.3.10)                  110112  E       querier 110153, raddx responder 110152
Security Alert (A.5.3.11)         110113  E       reporter; type 110126…110142
User Authentication (A.5.3.12)    110114  E       user (requestor); type 110122/110123
================================  ======  ======  =====================================
"""

from __future__ import annotations

from collections.abc import Iterable

from raddx.security.audit import (
    ActiveParticipant,
    AuditEvent,
    Code,
    EventActionCodeValues,
    EventIDValues,
    EventOutcomeIndicatorValues,
    EventTypeCodeValues,
    MediaTypeValues,
    ParticipantObject,
    PatientRef,
    RoleIDCodeValues,
    StudyRef,
)

__all__ = [
    "application_activity",
    "audit_log_used",
    "begin_transferring",
    "export",
    "import_",
    "instances_accessed",
    "instances_transferred",
    "order_record",
    "patient_record",
    "procedure_record",
    "query",
    "security_alert",
    "study_deleted",
    "user_authentication",
    "user_security_changed",
]

Outcome = EventOutcomeIndicatorValues
Action = EventActionCodeValues
Role = RoleIDCodeValues

_SOP_CLASS_UID = Code("110181", "DCM", "SOP Class UID")
_URI = Code("12", "RFC-3881", "URI")
_USER_IDENTIFIER = Code("11", "RFC-3881", "User Identifier")


def _with_role(participant: ActiveParticipant, role: RoleIDCodeValues) -> ActiveParticipant:
    return ActiveParticipant(
        user_id=participant.user_id,
        user_is_requestor=participant.user_is_requestor,
        role=role,
        host=participant.host,
        user_name=participant.user_name,
        alternative_user_id=participant.alternative_user_id,
        media_type=participant.media_type,
    )


def _patients(patient: PatientRef | None) -> tuple[PatientRef, ...]:
    return () if patient is None else (patient,)


def application_activity(*, start: bool, launcher: ActiveParticipant | None = None) -> AuditEvent:
    """raddx started or stopped (PS3.15 A.5.3.1)."""
    return AuditEvent(
        event_id=EventIDValues.APPLICATION_ACTIVITY,
        action=Action.EXECUTE,
        event_types=(
            EventTypeCodeValues.APPLICATION_START
            if start
            else EventTypeCodeValues.APPLICATION_STOP,
        ),
        participants=() if launcher is None else (_with_role(launcher, Role.APPLICATION_LAUNCHER),),
        local_role=Role.APPLICATION,
    )


def audit_log_used(
    *, reader: ActiveParticipant, log_uri: str, outcome: Outcome = Outcome.SUCCESS
) -> AuditEvent:
    """Someone read or exported the audit log (PS3.15 A.5.3.2): object TypeCode 2 (system),
    role 13 (security resource), ID type 12 (URI)."""
    return AuditEvent(
        event_id=EventIDValues.AUDIT_LOG_USED,
        action=Action.READ,
        outcome=outcome,
        participants=(reader,),
        objects=(
            ParticipantObject(
                object_id=log_uri,
                id_type=_URI,
                type_code="2",
                type_code_role="13",
                name="Security Audit Log",
            ),
        ),
    )


def begin_transferring(
    *,
    destination: ActiveParticipant,
    requestor: ActiveParticipant | None,
    patient: PatientRef | None,
    studies: Iterable[StudyRef],
) -> AuditEvent:
    """raddx starts sending instances (C-MOVE/C-GET, export) (PS3.15 A.5.3.3)."""
    others = () if requestor is None else (requestor,)
    return AuditEvent(
        event_id=EventIDValues.BEGIN_TRANSFERRING_DICOM_INSTANCES,
        action=Action.EXECUTE,
        participants=(_with_role(destination, Role.DESTINATION), *others),
        local_role=Role.SOURCE,
        patients=_patients(patient),
        studies=tuple(studies),
    )


def instances_transferred(
    *,
    action: EventActionCodeValues,
    peer: ActiveParticipant,
    received: bool,
    patient: PatientRef | None,
    studies: Iterable[StudyRef],
    requestor: ActiveParticipant | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    outcome_description: str | None = None,
) -> AuditEvent:
    """Instances went to or came from ``peer`` (PS3.15 A.5.3.7).

    ``received``: raddx stored them (C-STORE in, STOW-RS; ``action`` C, or U for a
    replacement) and is the destination; otherwise raddx sent them (C-MOVE/C-GET, WADO-RS;
    ``action`` R) and is the source. ``requestor`` is the C-MOVE requestor when it is not the
    destination.
    """
    others = () if requestor is None else (requestor,)
    return AuditEvent(
        event_id=EventIDValues.DICOM_INSTANCES_TRANSFERRED,
        action=action,
        outcome=outcome,
        outcome_description=outcome_description,
        participants=(_with_role(peer, Role.SOURCE if received else Role.DESTINATION), *others),
        local_role=Role.DESTINATION if received else Role.SOURCE,
        patients=_patients(patient),
        studies=tuple(studies),
    )


def instances_accessed(
    *,
    action: EventActionCodeValues,
    user: ActiveParticipant,
    patient: PatientRef | None,
    studies: Iterable[StudyRef],
    outcome: Outcome = Outcome.SUCCESS,
    outcome_description: str | None = None,
) -> AuditEvent:
    """Instances read, created, changed or deleted by a user (PS3.15 A.5.3.6): metadata
    and report views, edits, deletions through the REST API and the UI."""
    return AuditEvent(
        event_id=EventIDValues.DICOM_INSTANCES_ACCESSED,
        action=action,
        outcome=outcome,
        outcome_description=outcome_description,
        participants=(user,),
        patients=_patients(patient),
        studies=tuple(studies),
    )


def study_deleted(
    *, user: ActiveParticipant, patient: PatientRef | None, study: StudyRef
) -> AuditEvent:
    """A whole study was deleted (PS3.15 A.5.3.8)."""
    return AuditEvent(
        event_id=EventIDValues.DICOM_STUDY_DELETED,
        action=Action.DELETE,
        participants=(user,),
        patients=_patients(patient),
        studies=(study,),
    )


def export(
    *,
    user: ActiveParticipant,
    media: MediaTypeValues,
    destination: str,
    patient: PatientRef | None,
    studies: Iterable[StudyRef],
    outcome: Outcome = Outcome.SUCCESS,
) -> AuditEvent:
    """Data left raddx's control on media or as a download (PS3.15 A.5.3.4); a
    de-identified export carries ``StudyRef(anonymized=True)``."""
    return AuditEvent(
        event_id=EventIDValues.EXPORT,
        action=Action.READ,
        outcome=outcome,
        participants=(
            _with_role(user, Role.SOURCE),
            ActiveParticipant(user_id=destination, role=Role.DESTINATION_MEDIA, media_type=media),
        ),
        patients=_patients(patient),
        studies=tuple(studies),
    )


def import_(
    *,
    user: ActiveParticipant,
    media: MediaTypeValues,
    source: str,
    patient: PatientRef | None,
    studies: Iterable[StudyRef],
    outcome: Outcome = Outcome.SUCCESS,
) -> AuditEvent:
    """Data was imported from media or files (PS3.15 A.5.3.5; ``raddx import``)."""
    return AuditEvent(
        event_id=EventIDValues.IMPORT,
        action=Action.CREATE,
        outcome=outcome,
        participants=(
            _with_role(user, Role.DESTINATION),
            ActiveParticipant(user_id=source, role=Role.SOURCE_MEDIA, media_type=media),
        ),
        patients=_patients(patient),
        studies=tuple(studies),
    )


def query(
    *,
    querier: ActiveParticipant,
    sop_class_uid: str,
    query_bytes: bytes,
    transfer_syntax_uid: str | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    outcome_description: str | None = None,
) -> AuditEvent:
    """A query reached raddx (PS3.15 A.5.3.10): the C-FIND identifier (or the QIDO-RS URL)
    as sent, base64 in ParticipantObjectQuery; object ID the SOP Class UID, role 24 Query."""
    details = (
        () if transfer_syntax_uid is None else (("TransferSyntax", transfer_syntax_uid.encode()),)
    )
    return AuditEvent(
        event_id=EventIDValues.QUERY,
        action=Action.EXECUTE,
        outcome=outcome,
        outcome_description=outcome_description,
        participants=(_with_role(querier, Role.SOURCE),),
        local_role=Role.DESTINATION,
        objects=(
            ParticipantObject(
                object_id=sop_class_uid,
                id_type=_SOP_CLASS_UID,
                type_code="2",
                type_code_role="24",
                query=query_bytes,
                details=details,
            ),
        ),
    )


def security_alert(
    *,
    alert: EventTypeCodeValues,
    reporter: ActiveParticipant | None,
    description: str,
    subject: str | None = None,
    outcome: Outcome = Outcome.MINOR_FAILURE,
) -> AuditEvent:
    """A security-relevant event (PS3.15 A.5.3.11): a refused node, a configuration or role
    change, break-glass. ``subject`` names what it concerns (e.g. a user or an AE title)."""
    objects: tuple[ParticipantObject, ...] = ()
    if subject:
        objects = (
            ParticipantObject(
                object_id=subject,
                id_type=_USER_IDENTIFIER,
                type_code="2",
                details=(("Alert Description", description.encode()),),
            ),
        )
    return AuditEvent(
        event_id=EventIDValues.SECURITY_ALERT,
        action=Action.EXECUTE,
        outcome=outcome,
        outcome_description=description,
        event_types=(alert,),
        participants=() if reporter is None else (reporter,),
        objects=objects,
    )


def user_security_changed(
    *,
    by: ActiveParticipant | None,
    subject: str,
    description: str,
    role_changed: bool = False,
) -> AuditEvent:
    """An account's or API token's security attributes were changed by ``by`` (an
    administrator over REST, an operator with ``raddx user``/``raddx token``): Security Alert
    (PS3.15 A.5.3.11) with EventTypeCode 110136 Security Roles Changed when its role changed,
    110137 User Security Attributes Changed otherwise (created, disabled, enabled, unlocked,
    password or 2FA reset, token created or revoked). ``subject`` is the account or token."""
    return security_alert(
        alert=(
            EventTypeCodeValues.SECURITY_ROLES_CHANGED
            if role_changed
            else EventTypeCodeValues.USER_SECURITY_ATTRIBUTES_CHANGED
        ),
        reporter=by,
        description=description,
        subject=subject,
        outcome=Outcome.SUCCESS,
    )


def user_authentication(
    *,
    user: ActiveParticipant,
    login: bool,
    outcome: Outcome = Outcome.SUCCESS,
    outcome_description: str | None = None,
) -> AuditEvent:
    """A login or logout, successful or not (PS3.15 A.5.3.12); raddx is the authenticating
    node."""
    return AuditEvent(
        event_id=EventIDValues.USER_AUTHENTICATION,
        action=Action.EXECUTE,
        outcome=outcome,
        outcome_description=outcome_description,
        event_types=(EventTypeCodeValues.LOGIN if login else EventTypeCodeValues.LOGOUT,),
        participants=(user,),
    )


def _record_event(
    event_id: EventIDValues,
    action: EventActionCodeValues,
    user: ActiveParticipant,
    patient: PatientRef,
    outcome: Outcome,
    outcome_description: str | None,
) -> AuditEvent:
    return AuditEvent(
        event_id=event_id,
        action=action,
        outcome=outcome,
        outcome_description=outcome_description,
        participants=(user,),
        patients=(patient,),
    )


def order_record(
    *,
    action: EventActionCodeValues,
    user: ActiveParticipant,
    patient: PatientRef,
    outcome: Outcome = Outcome.SUCCESS,
    outcome_description: str | None = None,
) -> AuditEvent:
    """An order was created, read, changed or cancelled (PS3.15 A.5.3.13; HL7 ORM/OMI,
    ``/api/orders``)."""
    return _record_event(
        EventIDValues.ORDER_RECORD, action, user, patient, outcome, outcome_description
    )


def patient_record(
    *,
    action: EventActionCodeValues,
    user: ActiveParticipant,
    patient: PatientRef,
    outcome: Outcome = Outcome.SUCCESS,
    outcome_description: str | None = None,
) -> AuditEvent:
    """A patient's demographics were created, read, changed or merged (PS3.15 A.5.3.14;
    HL7 ADT)."""
    return _record_event(
        EventIDValues.PATIENT_RECORD, action, user, patient, outcome, outcome_description
    )


def procedure_record(
    *,
    action: EventActionCodeValues,
    user: ActiveParticipant,
    patient: PatientRef | None,
    studies: Iterable[StudyRef],
    outcome: Outcome = Outcome.SUCCESS,
) -> AuditEvent:
    """A procedure step was created or updated (PS3.15 A.5.3.15; MPPS N-CREATE is C,
    N-SET is U)."""
    return AuditEvent(
        event_id=EventIDValues.PROCEDURE_RECORD,
        action=action,
        outcome=outcome,
        participants=(user,),
        patients=_patients(patient),
        studies=tuple(studies),
    )
