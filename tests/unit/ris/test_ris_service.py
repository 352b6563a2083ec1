"""RIS service on SQLite and PostgreSQL: identifiers raddx assigns, status, merge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db import make_engine, upgrade
from raddx.db.models import RisOrder, RisPatient, RisScheduledStep
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.ris import (
    OrderCreate,
    OrderStatusValues,
    PatientData,
    ProcedureCreate,
    change_order_status,
    find_order,
    merge_patients,
    place_order,
)

PATIENT = PatientData("P001", "HOSP", "Yamada^Taro=山田^太郎=ヤマダ^タロウ", "19700101", "M")


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        yield s
    engine.dispose()


def _order(**kwargs: Any) -> OrderCreate:
    procedure = ProcedureCreate(
        modality="CT",
        scheduled_start_date="20261126",
        scheduled_start_time="0930",
        jj1017_code="6000000200020000" + "0" * 16,
    )
    return OrderCreate(patient=PATIENT, procedures=(procedure, procedure), **kwargs)


def test_raddx_assigns_missing_identifiers(session: Session) -> None:
    placed = place_order(_order(placer_order_number="ORD1"), session=session)
    assert placed.accession_number == f"RX{placed.id:010d}"
    assert placed.requested_procedure_ids == (
        f"{placed.accession_number}-1",
        f"{placed.accession_number}-2",
    )
    assert len(set(placed.study_instance_uids)) == 2
    assert all(uid.startswith("2.25.") for uid in placed.study_instance_uids)
    patient = session.scalars(select(RisPatient)).one()
    assert patient.patient_name_ideographic == "山田^太郎"
    assert patient.patient_name_phonetic_norm == "ヤマダ^タロウ"


def test_given_identifiers_are_kept_and_never_reused(session: Session) -> None:
    placed = place_order(
        _order(placer_order_number="ORD2", accession_number="ACC9"), session=session
    )
    assert placed.accession_number == "ACC9"
    with pytest.raises(Conflict, match="placer order number 'ORD2'"):
        place_order(_order(placer_order_number="ORD2"), session=session)
    with pytest.raises(Conflict, match="accession number 'ACC9'"):
        place_order(_order(placer_order_number="ORD3", accession_number="ACC9"), session=session)


def test_status_change_moves_worklist_items(session: Session) -> None:
    place_order(_order(placer_order_number="ORD4"), session=session)
    order = find_order(placer_order_number="ORD4", session=session)
    change_order_status(order, OrderStatusValues.CANCELLED, session=session)
    steps = session.scalars(select(RisScheduledStep.scheduled_procedure_step_status)).all()
    assert steps == ["CANCELED", "CANCELED"]
    with pytest.raises(Conflict):
        change_order_status(order, OrderStatusValues.IN_PROGRESS, session=session)


def test_unknown_order_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="placer_order_number 'NOPE'"):
        find_order(placer_order_number="NOPE", session=session)


def test_merge_moves_orders_and_keeps_history(session: Session) -> None:
    old = PatientData("P-OLD", "HOSP", "Yamada^Taro")
    place_order(
        OrderCreate(patient=old, procedures=_order().procedures, placer_order_number="ORD5"),
        session=session,
    )
    survivor = merge_patients(
        surviving=PATIENT, prior_patient_id="P-OLD", prior_issuer="HOSP", session=session
    )
    order = session.scalars(select(RisOrder)).one()
    assert order.patient_fk == survivor.id
    prior = session.scalars(select(RisPatient).where(RisPatient.patient_id == "P-OLD")).one()
    assert prior.merged_into_fk == survivor.id


def test_merge_of_unknown_patient_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="no patient with ID 'GHOST'"):
        merge_patients(surviving=PATIENT, prior_patient_id="GHOST", session=session)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"scheduled_start_date": "20261331"}, "not a date"),
        ({"scheduled_start_time": "2561"}, "not a time"),
        ({"jj1017_code": "6000000200020000"}, "has 16 characters"),
        ({"modality": " "}, "modality is required"),
    ],
)
def test_bad_procedures_are_refused(kwargs: dict[str, str], reason: str) -> None:
    values = {"modality": "CT", "scheduled_start_date": "20261126"} | kwargs
    with pytest.raises(InvalidInput, match=reason):
        ProcedureCreate(**values)
