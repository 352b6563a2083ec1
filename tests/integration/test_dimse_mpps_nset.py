"""MPPS N-SET attribute rules (PS3.4 F.7.2.2, Table F.7.2-1) with a pynetdicom MPPS SCU on
SQLite and PostgreSQL: an attribute whose N-SET usage is "Not allowed" gets 0x0105 with the
tag in AttributeIdentifierList, and the step and its order stay as they were."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]
from sqlalchemy import select

from helpers import start_dimse_server
from raddx.db.models import RisOrder, RisPerformedStep
from raddx.ris import OrderCreate, OrderPublic, PatientData, ProcedureCreate, place_order
from raddx.services import Services


@pytest.fixture
def placed(services: Services) -> OrderPublic:
    procedure = ProcedureCreate(modality="CT", scheduled_start_date="20261126")
    with services.session_factory() as session, session.begin():
        return place_order(
            OrderCreate(patient=PatientData("P1", "", "Sato^Jiro"), procedures=(procedure,)),
            session=session,
        )


@pytest.fixture
def assoc(services: Services) -> Iterator[Association]:
    server = start_dimse_server(services)
    ae = AE(ae_title="CT01")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    association = ae.associate(*server.address, ae_title="RADDX")
    assert association.is_established
    yield association
    association.release()
    server.stop()


def _created(placed: OrderPublic, assoc: Association) -> str:
    ds = Dataset()
    item = Dataset()
    item.StudyInstanceUID = placed.study_instance_uids[0]
    item.ScheduledProcedureStepID = placed.scheduled_procedure_step_ids[0]
    item.AccessionNumber = placed.accession_number
    ds.ScheduledStepAttributesSequence = Sequence([item])
    ds.PatientName = "Sato^Jiro"
    ds.PatientID = "P1"
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepStartDate = "20261126"
    ds.PerformedProcedureStepStartTime = "093500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    uid = generate_uid()
    status, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    return uid


def _state(services: Services) -> tuple[str, str, str | None]:
    with services.session_factory() as s:
        step = s.scalars(select(RisPerformedStep)).one()
        order = s.scalars(select(RisOrder.status)).one()
    return step.performed_procedure_step_status, order, step.performed_procedure_step_end_date


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientID", "OTHER"),  # the patient is fixed at N-CREATE
        ("PerformedProcedureStepID", "PPS2"),
        ("PerformedProcedureStepStartDate", "20261127"),
        ("Modality", "MR"),
        ("StudyID", "9"),
        ("PerformedStationAETitle", "CT02"),
    ],
)
def test_n_set_of_a_create_only_attribute_is_refused(
    services: Services, placed: OrderPublic, assoc: Association, keyword: str, value: str
) -> None:
    uid = _created(placed, assoc)
    request = Dataset()
    request.PerformedProcedureStepStatus = "COMPLETED"
    request.PerformedProcedureStepEndDate = "20261126"
    request.PerformedProcedureStepEndTime = "094500"
    setattr(request, keyword, value)
    status, _ = assoc.send_n_set(request, ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0105
    assert Tag(keyword) in [Tag(t) for t in _as_list(status.AttributeIdentifierList)]
    assert keyword in status.ErrorComment
    # Refused as a whole: the COMPLETED in the same request did not happen.
    assert _state(services) == ("IN PROGRESS", "IN_PROGRESS", None)


def test_allowed_attributes_are_set(
    services: Services, placed: OrderPublic, assoc: Association
) -> None:
    uid = _created(placed, assoc)
    series = Dataset()
    series.SeriesInstanceUID = generate_uid()
    series.ProtocolName = "CHEST"
    series.ReferencedImageSequence = Sequence([])
    request = Dataset()
    request.SpecificCharacterSet = "ISO_IR 192"
    request.PerformedSeriesSequence = Sequence([series])
    request.PerformedProcedureStepDescription = "胸部CT"
    request.PerformedProcedureStepStatus = "COMPLETED"
    request.PerformedProcedureStepEndDate = "20261126"
    request.PerformedProcedureStepEndTime = "094500"
    status, _ = assoc.send_n_set(request, ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    assert _state(services) == ("COMPLETED", "COMPLETED", "20261126")


def _as_list(value: object) -> list[object]:
    """AttributeIdentifierList: one tag (an int) or a MultiValue of tags."""
    return [value] if isinstance(value, int) else list(value)  # type: ignore[call-overload]
