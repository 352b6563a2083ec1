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
from raddx.config import Settings, ValidationModeValues
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


@pytest.fixture(params=["lenient", "strict"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def assoc(services: Services, settings: Settings) -> Iterator[Association]:
    yield from _associate(services, settings)


def _associate(services: Services, settings: Settings) -> Iterator[Association]:
    server = start_dimse_server(services, settings)
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
        ("PatientSex", "F"),
        ("PerformedLocation", "ROOM 2"),
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
    film = Dataset()  # "all other attributes" (billing) may be set
    film.NumberOfFilms = 1
    request.FilmConsumptionSequence = Sequence([film])
    request.PerformedProcedureStepStatus = "COMPLETED"
    request.PerformedProcedureStepEndDate = "20261126"
    request.PerformedProcedureStepEndTime = "094500"
    status, _ = assoc.send_n_set(request, ModalityPerformedProcedureStep, uid)
    assert status.Status == 0x0000
    assert _state(services) == ("COMPLETED", "COMPLETED", "20261126")


def _as_list(value: object) -> list[object]:
    """AttributeIdentifierList: one tag (an int) or a MultiValue of tags."""
    return [value] if isinstance(value, int) else list(value)  # type: ignore[call-overload]


def test_final_state_without_series(
    services: Services,
    settings: Settings,
    placed: OrderPublic,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PS3.4 F.7.2.2.2: a step ends with end date/time and at least one performed series.
    Strict mode refuses a DISCONTINUED without series (0x0106, state unchanged); lenient mode
    accepts it and logs a warning."""
    if mode == "strict":
        settings = settings.model_copy(update={"validation_mode": ValidationModeValues.STRICT})
    for assoc in _associate(services, settings):
        uid = _created(placed, assoc)
        request = Dataset()
        request.PerformedProcedureStepStatus = "DISCONTINUED"
        request.PerformedProcedureStepEndDate = "20261126"
        request.PerformedProcedureStepEndTime = "094500"
        with caplog.at_level("WARNING", logger="raddx.ris.mpps"):
            status, _ = assoc.send_n_set(request, ModalityPerformedProcedureStep, uid)
        if mode == "lenient":
            assert status.Status == 0x0000
            assert _state(services) == ("DISCONTINUED", "DISCONTINUED", "20261126")
            assert "missing=PerformedSeriesSequence" in caplog.text
            continue
        assert status.Status == 0x0106
        assert "PerformedSeriesSequence" in status.ErrorComment
        assert _state(services) == ("IN PROGRESS", "IN_PROGRESS", None)
        series = Dataset()
        series.SeriesInstanceUID = generate_uid()
        series.ProtocolName = "CHEST"
        request.PerformedSeriesSequence = Sequence([series])
        status, _ = assoc.send_n_set(request, ModalityPerformedProcedureStep, uid)
        assert status.Status == 0x0000
        assert _state(services) == ("DISCONTINUED", "DISCONTINUED", "20261126")
