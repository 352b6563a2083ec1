"""MPPS is audited as Procedure Record (PS3.15 A.5.3.15): N-CREATE action C naming the
patient and the scheduled study, N-SET action U; the modality's AE title as requestor."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from audit_schema import assert_valid
from helpers import start_dimse_server
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)


def test_n_create_and_n_set_are_procedure_records(services: Services) -> None:
    procedure = ProcedureCreate(
        modality="CT", scheduled_start_date="20261126", scheduled_station_ae_title="CT01"
    )
    with services.session_factory() as session, session.begin():
        placed = place_order(
            OrderCreate(
                patient=PatientData("P9", "HOSP", "Yamada^Taro"),
                procedures=(procedure,),
                placer_order_number="ORD9",
            ),
            session=session,
        )
    ds = Dataset()
    item = Dataset()
    item.StudyInstanceUID = placed.study_instance_uids[0]
    item.ScheduledProcedureStepID = placed.scheduled_procedure_step_ids[0]
    item.AccessionNumber = placed.accession_number
    item.ReferencedStudySequence = Sequence([])
    ds.ScheduledStepAttributesSequence = Sequence([item])
    ds.PatientName, ds.PatientID = "Yamada^Taro", "P9"
    ds.PerformedProcedureStepID, ds.PerformedStationAETitle = "PPS9", "CT01"
    ds.PerformedProcedureStepStartDate = "20261126"
    ds.PerformedProcedureStepStartTime = "093500"
    ds.PerformedProcedureStepStatus, ds.Modality = "IN PROGRESS", "CT"
    ds.PerformedProcedureStepEndDate = ds.PerformedProcedureStepEndTime = ""
    ds.PerformedSeriesSequence = Sequence([])
    server = start_dimse_server(services)
    ae = AE(ae_title="CT01")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    try:
        assoc = ae.associate(*server.address, ae_title="RADDX")
        assert assoc.is_established
        uid = generate_uid()
        with audit.capture() as events:
            assert assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)[0].Status == 0
            end = Dataset()
            end.PerformedProcedureStepStatus = "COMPLETED"
            end.PerformedProcedureStepEndDate, end.PerformedProcedureStepEndTime = (
                "20261126",
                "094500",
            )
            assert assoc.send_n_set(end, ModalityPerformedProcedureStep, uid)[0].Status == 0
        assoc.release()
    finally:
        server.stop()
    records = [e for e in events if e.event_id.code.code == "110111"]
    assert [(e.action.value, e.user, e.patient_id) for e in records] == [
        ("C", "CT01", "P9"),
        ("U", "CT01", None),
    ]
    assert records[0].studies[0].study_instance_uid == placed.study_instance_uids[0]
    for event in records:
        assert_valid(to_xml(event, SOURCE))
