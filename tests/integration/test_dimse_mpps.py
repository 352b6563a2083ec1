"""MPPS SCP with a pynetdicom MPPS SCU on SQLite and PostgreSQL: N-CREATE moves the order to
in progress, N-SET COMPLETED completes it, and the PS3.4 F.7 refusals leave state unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]
from sqlalchemy import select

from helpers import start_dimse_server
from raddx.db.models import RisOrder, RisScheduledStep
from raddx.ris import OrderCreate, OrderPublic, PatientData, ProcedureCreate, place_order
from raddx.services import Services


@pytest.fixture
def placed(services: Services) -> OrderPublic:
    procedure = ProcedureCreate(
        modality="CT", scheduled_start_date="20261126", scheduled_station_ae_title="CT01"
    )
    with services.session_factory() as session, session.begin():
        return place_order(
            OrderCreate(
                patient=PatientData("P1", "HOSP", "Yamada^Taro=山田^太郎"),
                procedures=(procedure,),
                placer_order_number="ORD1",
            ),
            session=session,
        )


@pytest.fixture
def assoc(services: Services) -> Iterator[Association]:
    server = start_dimse_server(services)
    ae = AE(ae_title="CT01")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    host, port = server.address
    association = ae.associate(host, port, ae_title="RADDX")
    assert association.is_established
    yield association
    association.release()
    server.stop()


def _create(placed: OrderPublic, status: str = "IN PROGRESS") -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    item = Dataset()
    item.StudyInstanceUID = placed.study_instance_uids[0]
    item.ScheduledProcedureStepID = placed.scheduled_procedure_step_ids[0]
    item.AccessionNumber = placed.accession_number
    item.ReferencedStudySequence = Sequence([])
    ds.ScheduledStepAttributesSequence = Sequence([item])
    ds.PatientName = "Yamada^Taro=山田^太郎"
    ds.PatientID = "P1"
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepStartDate = "20261126"
    ds.PerformedProcedureStepStartTime = "093500"
    ds.PerformedProcedureStepStatus = status
    ds.Modality = "CT"
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.PerformedSeriesSequence = Sequence([])
    return ds


def _set(**values: str) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def _order_status(services: Services) -> tuple[str, str]:
    with services.session_factory() as s:
        order = s.scalars(select(RisOrder.status)).one()
        step = s.scalars(select(RisScheduledStep.scheduled_procedure_step_status)).one()
    return order, step


def _status(result: tuple[Any, Any]) -> int:
    status, _ = result
    return int(status.Status)


def test_create_then_complete_moves_the_order(
    services: Services, placed: OrderPublic, assoc: Association
) -> None:
    uid = generate_uid()
    created = assoc.send_n_create(_create(placed), ModalityPerformedProcedureStep, uid)
    assert _status(created) == 0x0000
    assert _order_status(services) == ("IN_PROGRESS", "STARTED")
    completed = assoc.send_n_set(
        _set(
            PerformedProcedureStepStatus="COMPLETED",
            PerformedProcedureStepEndDate="20261126",
            PerformedProcedureStepEndTime="094500",
        ),
        ModalityPerformedProcedureStep,
        uid,
    )
    assert _status(completed) == 0x0000
    assert _order_status(services) == ("COMPLETED", "COMPLETED")
    # A COMPLETED step is frozen: 0x0110 with Error ID A710, nothing changes.
    again = assoc.send_n_set(
        _set(PerformedProcedureStepStatus="DISCONTINUED"), ModalityPerformedProcedureStep, uid
    )
    status, _ = again
    assert (status.Status, status.ErrorID) == (0x0110, 0xA710)
    assert _order_status(services) == ("COMPLETED", "COMPLETED")


def test_refusals(services: Services, placed: OrderPublic, assoc: Association) -> None:
    # N-CREATE must be IN PROGRESS (F.7.2.1.3).
    bad = assoc.send_n_create(
        _create(placed, "COMPLETED"), ModalityPerformedProcedureStep, generate_uid()
    )
    assert _status(bad) == 0x0106
    # A Type 1 attribute without a value.
    empty = _create(placed)
    empty.PerformedStationAETitle = ""
    missing = assoc.send_n_create(empty, ModalityPerformedProcedureStep, generate_uid())
    assert _status(missing) == 0x0121
    # N-SET of an unknown step.
    unknown = assoc.send_n_set(
        _set(PerformedProcedureStepStatus="COMPLETED"),
        ModalityPerformedProcedureStep,
        generate_uid(),
    )
    assert _status(unknown) == 0x0112
    # COMPLETED without end date/time is refused; the step stays in progress.
    uid = generate_uid()
    assert _status(assoc.send_n_create(_create(placed), ModalityPerformedProcedureStep, uid)) == 0
    early = assoc.send_n_set(
        _set(PerformedProcedureStepStatus="COMPLETED"), ModalityPerformedProcedureStep, uid
    )
    assert _status(early) == 0x0106
    assert _order_status(services) == ("IN_PROGRESS", "STARTED")
    # The same SOP Instance UID again.
    again = assoc.send_n_create(_create(placed), ModalityPerformedProcedureStep, uid)
    assert _status(again) == 0x0111
