"""AuditEvent → DICOM audit message XML (PS3.15 A.5, the format IHE ATNA ITI-20 carries).

Built in the trail's writer thread, never on a door's request path. The element order and
the mandatory attributes follow the schema of PS3.15 A.5.1.1 (vendored as
``data/audit-message.rnc``; every message the tests produce is validated against it):
EventIdentification, ActiveParticipant+, AuditSourceIdentification,
ParticipantObjectIdentification*. Coded values carry ``csd-code``, ``codeSystemName`` and
``originalText`` (the 2017c+ attribute names).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from lxml import etree

from raddx.security.audit import (
    ActiveParticipant,
    AuditEvent,
    Code,
    ParticipantObject,
    PatientRef,
    RoleIDCodeValues,
    StudyRef,
)

__all__ = ["AuditSource", "to_xml"]

#: RFC 3881 / PS3.15 A.5.2 participant object ID type codes.
PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")
STUDY_INSTANCE_UID = Code("110180", "DCM", "Study Instance UID")
SOP_CLASS_UID = Code("110181", "DCM", "SOP Class UID")
NODE_ID = Code("110182", "DCM", "Node ID")
URI = Code("12", "RFC-3881", "URI")
USER_IDENTIFIER = Code("11", "RFC-3881", "User Identifier")
ACCESSION_NUMBER = Code("3", "RFC-3881", "Accession Number")

#: AuditSourceTypeCode 4: "Application Server process tier in a multi-tier system".
_APPLICATION_SERVER = "4"


@dataclass(frozen=True, slots=True)
class AuditSource:
    """Who reports: raddx's identity in every message.

    Parameters
    ----------
    source_id
        AuditSourceID, e.g. ``RADDX@host`` (unique per installation).
    enterprise_site_id
        AuditEnterpriseSiteID (the hospital), optional.
    ae_title, host, process_id
        raddx as an active participant: UserID is the AE title (PS3.15 A.5.2.2), the
        process id is its AlternativeUserID, NetworkAccessPointID the host.
    """

    source_id: str
    ae_title: str
    host: str
    process_id: int
    enterprise_site_id: str | None = None

    def participant(self, role: RoleIDCodeValues | None) -> ActiveParticipant:
        return ActiveParticipant(
            user_id=self.ae_title,
            alternative_user_id=str(self.process_id),
            user_is_requestor=False,
            role=role,
            host=self.host,
        )


def _code(parent: etree._Element, tag: str, code: Code) -> None:
    etree.SubElement(
        parent,
        tag,
        {"csd-code": code.code, "codeSystemName": code.scheme, "originalText": code.meaning},
    )


def _participant(root: etree._Element, p: ActiveParticipant) -> None:
    attrs = {
        "UserID": _token(p.user_id),
        "UserIsRequestor": "true" if p.user_is_requestor else "false",
    }
    if p.alternative_user_id:
        attrs["AlternativeUserID"] = _token(p.alternative_user_id)
    if p.user_name:
        attrs["UserName"] = _token(p.user_name)
    if p.host:
        attrs["NetworkAccessPointID"] = _token(p.host)
        attrs["NetworkAccessPointTypeCode"] = p.host_type or "1"
    el = etree.SubElement(root, "ActiveParticipant", attrs)
    if p.role is not None:
        _code(el, "RoleIDCode", p.role.code)
    if p.media_type is not None:
        media = etree.SubElement(el, "MediaIdentifier")
        _code(media, "MediaType", p.media_type.code)


def _object(
    root: etree._Element,
    *,
    object_id: str,
    id_type: Code,
    type_code: str | None,
    role: str | None,
    name: str | None = None,
    query: bytes | None = None,
    details: tuple[tuple[str, bytes], ...] = (),
    life_cycle: str | None = None,
) -> etree._Element:
    attrs = {"ParticipantObjectID": _token(object_id)}
    if type_code:
        attrs["ParticipantObjectTypeCode"] = type_code
    if role:
        attrs["ParticipantObjectTypeCodeRole"] = role
    if life_cycle:
        attrs["ParticipantObjectDataLifeCycle"] = life_cycle
    el = etree.SubElement(root, "ParticipantObjectIdentification", attrs)
    _code(el, "ParticipantObjectIDTypeCode", id_type)
    # The A.5.1.1 schema requires a name or a query on every object: an object without a
    # natural name (a study) is named by its ID.
    if query is not None:
        etree.SubElement(el, "ParticipantObjectQuery").text = base64.b64encode(query).decode()
    else:
        etree.SubElement(el, "ParticipantObjectName").text = _token(name or object_id)
    for kind, value in details:
        etree.SubElement(
            el,
            "ParticipantObjectDetail",
            {"type": kind, "value": base64.b64encode(value).decode()},
        )
    return el


#: Characters XML 1.0 cannot carry (C0 controls other than tab, LF, CR; lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _token(text: str) -> str:
    """XML-safe text: what XML 1.0 cannot carry is replaced by U+FFFD (a hostile AE title
    or user name must neither break the message nor be dropped silently)."""
    return _NOT_XML.sub("\ufffd", text)


def _patient(root: etree._Element, patient: PatientRef) -> None:
    _object(
        root,
        object_id=patient.patient_id or "(no PatientID)",
        id_type=PATIENT_NUMBER,
        type_code="1",
        role="1",
        name=patient.patient_name or patient.patient_id or "(no PatientID)",
    )


def _study(root: etree._Element, study: StudyRef) -> None:
    el = _object(
        root,
        object_id=study.study_instance_uid,
        id_type=STUDY_INSTANCE_UID,
        type_code="2",
        role="3",
        life_cycle=study.life_cycle,
    )
    if study.sop_classes or study.accession_number or study.anonymized is not None:
        description = etree.SubElement(el, "ParticipantObjectDescription")
        if study.accession_number:
            etree.SubElement(description, "Accession", {"Number": _token(study.accession_number)})
        for uid, count in study.sop_classes:
            etree.SubElement(description, "SOPClass", {"UID": uid, "NumberOfInstances": str(count)})
        if study.anonymized is not None:
            etree.SubElement(description, "Anonymized").text = (
                "true" if study.anonymized else "false"
            )


def _other(root: etree._Element, obj: ParticipantObject) -> None:
    _object(
        root,
        object_id=obj.object_id,
        id_type=obj.id_type,
        type_code=obj.type_code,
        role=obj.type_code_role,
        name=obj.name,
        query=obj.query,
        details=obj.details,
        life_cycle=obj.life_cycle,
    )


def to_xml(event: AuditEvent, source: AuditSource) -> bytes:
    """The PS3.15 A.5 ``AuditMessage`` for ``event``, as UTF-8 XML with a declaration."""
    root = etree.Element("AuditMessage")
    ident = etree.SubElement(
        root,
        "EventIdentification",
        {
            "EventActionCode": str(event.action),
            "EventDateTime": event.time.isoformat(),
            "EventOutcomeIndicator": str(int(event.outcome)),
        },
    )
    _code(ident, "EventID", event.event_id.code)
    for event_type in event.event_types:
        _code(ident, "EventTypeCode", event_type.code)
    if event.outcome_description:
        etree.SubElement(ident, "EventOutcomeDescription").text = _token(event.outcome_description)
    participants = list(event.participants)
    if event.local:
        participants.append(source.participant(event.local_role))
    if not participants:  # the schema wants one; an event always has at least raddx
        participants.append(source.participant(None))
    for participant in participants:
        _participant(root, participant)
    audit_source = {"AuditSourceID": source.source_id}
    if source.enterprise_site_id:
        audit_source["AuditEnterpriseSiteID"] = source.enterprise_site_id
    src = etree.SubElement(root, "AuditSourceIdentification", audit_source)
    etree.SubElement(src, "AuditSourceTypeCode", {"csd-code": _APPLICATION_SERVER})
    for study in event.studies:
        _study(root, study)
    for patient in event.patients:
        _patient(root, patient)
    for obj in event.objects:
        _other(root, obj)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
