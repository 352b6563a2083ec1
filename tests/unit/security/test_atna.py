"""Every event raddx emits, as a PS3.15 A.5 message: exact codes, valid against A.5.1.1."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from audit_schema import assert_valid
from raddx.security import audit_events as ev
from raddx.security.atna import AuditSource, to_xml
from raddx.security.audit import (
    ActiveParticipant,
    AuditEvent,
    EventActionCodeValues,
    EventIDValues,
    EventTypeCodeValues,
    MediaTypeValues,
    PatientRef,
    StudyRef,
)

SOURCE = AuditSource(source_id="RADDX@pacs1", ae_title="RADDX", host="pacs1", process_id=4242)
MODALITY = ActiveParticipant(user_id="CT01", user_is_requestor=True, host="192.0.2.10")
NURSE = ActiveParticipant(user_id="yamada", user_is_requestor=True, host="192.0.2.20")
# ISO_IR 192 name as ingest keeps it: alphabetic=ideographic=phonetic groups.
PATIENT = PatientRef("P-001", "Yamada^Taro=山田^太郎=やまだ^たろう")
STUDY = StudyRef(
    "1.2.392.200036.9116.2.6.1.48.1214833767.1",
    sop_classes=(("1.2.840.10008.5.1.4.1.1.2", 3),),
    accession_number="A123",
)

CASES = [
    # (event, EventID, ActionCode, EventTypeCode, raddx's RoleIDCode)
    (ev.application_activity(start=True), "110100", "E", "110120", "110150"),
    (ev.application_activity(start=False), "110100", "E", "110121", "110150"),
    (ev.audit_log_used(reader=NURSE, log_uri="raddx:audit"), "110101", "R", None, None),
    (
        ev.begin_transferring(
            destination=MODALITY, requestor=NURSE, patient=PATIENT, studies=[STUDY]
        ),
        "110102",
        "E",
        None,
        "110153",
    ),
    (
        ev.instances_accessed(
            action=EventActionCodeValues.DELETE, user=NURSE, patient=PATIENT, studies=[STUDY]
        ),
        "110103",
        "D",
        None,
        None,
    ),
    (
        ev.instances_transferred(
            action=EventActionCodeValues.CREATE,
            peer=MODALITY,
            received=True,
            patient=PATIENT,
            studies=[STUDY],
        ),
        "110104",
        "C",
        None,
        "110152",
    ),
    (
        ev.instances_transferred(
            action=EventActionCodeValues.READ,
            peer=MODALITY,
            received=False,
            patient=PATIENT,
            studies=[STUDY],
        ),
        "110104",
        "R",
        None,
        "110153",
    ),
    (ev.study_deleted(user=NURSE, patient=PATIENT, study=STUDY), "110105", "D", None, None),
    (
        ev.export(
            user=NURSE,
            media=MediaTypeValues.URI,
            destination="https://example.org/research",
            patient=PATIENT,
            studies=[StudyRef("1.2.3", anonymized=True)],
        ),
        "110106",
        "R",
        None,
        None,
    ),
    (
        ev.import_(
            user=NURSE,
            media=MediaTypeValues.CD,
            source="/media/cd",
            patient=PATIENT,
            studies=[STUDY],
        ),
        "110107",
        "C",
        None,
        None,
    ),
    (
        ev.order_record(action=EventActionCodeValues.CREATE, user=NURSE, patient=PATIENT),
        "110109",
        "C",
        None,
        None,
    ),
    (
        ev.patient_record(action=EventActionCodeValues.UPDATE, user=NURSE, patient=PATIENT),
        "110110",
        "U",
        None,
        None,
    ),
    (
        ev.query(
            querier=MODALITY,
            sop_class_uid="1.2.840.10008.5.1.4.1.2.2.1",
            query_bytes=b"\x08\x00\x52\x00STUDY",
            transfer_syntax_uid="1.2.840.10008.1.2",
        ),
        "110112",
        "E",
        None,
        "110152",
    ),
    (
        ev.security_alert(
            alert=EventTypeCodeValues.NODE_AUTHENTICATION,
            reporter=None,
            description="unknown calling AE",
            subject="EVIL",
        ),
        "110113",
        "E",
        "110126",
        None,
    ),
    (ev.user_authentication(user=NURSE, login=True), "110114", "E", "110122", None),
    (ev.user_authentication(user=NURSE, login=False), "110114", "E", "110123", None),
]


@pytest.mark.parametrize(("event", "event_id", "action", "event_type", "local_role"), CASES)
def test_event_message_codes_and_schema(
    event: AuditEvent, event_id: str, action: str, event_type: str | None, local_role: str | None
) -> None:
    root = assert_valid(to_xml(event, SOURCE))
    ident = root.find("EventIdentification")
    assert ident.find("EventID").get("csd-code") == event_id
    assert ident.find("EventID").get("codeSystemName") == "DCM"
    assert ident.get("EventActionCode") == action
    types = [t.get("csd-code") for t in ident.findall("EventTypeCode")]
    assert types == ([] if event_type is None else [event_type])
    ours = [p for p in root.findall("ActiveParticipant") if p.get("UserID") == "RADDX"]
    assert len(ours) == 1
    assert ours[0].get("AlternativeUserID") == "4242"
    role = ours[0].find("RoleIDCode")
    assert (None if role is None else role.get("csd-code")) == local_role


def test_transfer_lists_patient_and_study_with_sop_class_counts() -> None:
    event = ev.instances_transferred(
        action=EventActionCodeValues.CREATE,
        peer=MODALITY,
        received=True,
        patient=PATIENT,
        studies=[STUDY],
    )
    root = assert_valid(to_xml(event, SOURCE))
    source = root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110153']")[0]
    assert (source.get("UserID"), source.get("NetworkAccessPointID")) == ("CT01", "192.0.2.10")
    assert source.get("NetworkAccessPointTypeCode") == "2"  # an IP address
    patient = root.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='1']")[0]
    assert patient.get("ParticipantObjectID") == "P-001"
    assert patient.findtext("ParticipantObjectName") == PATIENT.patient_name
    study = root.xpath("ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='3']")[0]
    assert study.get("ParticipantObjectID") == STUDY.study_instance_uid
    sop = study.find("ParticipantObjectDescription/SOPClass")
    assert (sop.get("UID"), sop.get("NumberOfInstances")) == ("1.2.840.10008.5.1.4.1.1.2", "3")
    assert study.find("ParticipantObjectDescription/Accession").get("Number") == "A123"


def test_query_carries_identifier_base64() -> None:
    identifier = b"\x10\x00\x10\x00\x08\x00\x00\x00YAMADA*\x00"
    event = ev.query(querier=MODALITY, sop_class_uid="1.2.3", query_bytes=identifier)
    root = assert_valid(to_xml(event, SOURCE))
    text = root.findtext("ParticipantObjectIdentification/ParticipantObjectQuery")
    assert base64.b64decode(text) == identifier


def test_control_characters_in_peer_values_still_give_valid_xml() -> None:
    # A hostile AE title / user name must not make the message unparseable (or inject XML).
    peer = ActiveParticipant(user_id="A\x01<B>&", user_is_requestor=True, host="h\x7f")
    event = ev.user_authentication(user=peer, login=True)
    root = assert_valid(to_xml(event, SOURCE))
    assert root.find("ActiveParticipant").get("UserID") == "A\ufffd<B>&"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time"):
        AuditEvent(
            event_id=EventIDValues.QUERY,
            action=EventActionCodeValues.EXECUTE,
            time=dt.datetime(2026, 1, 1),
        )


def test_empty_user_id_is_refused() -> None:
    with pytest.raises(ValueError, match="user_id"):
        ActiveParticipant(user_id="")
