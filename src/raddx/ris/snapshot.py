"""An order as it stands, with its patient, requested procedures and scheduled steps: what an
outbound message about the order (OMI^O23, OMI^Z23) is built from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import (
    RisOrder,
    RisPatient,
    RisPerformedStep,
    RisRequestedProcedure,
    RisScheduledStep,
)
from raddx.errors import NotFound

__all__ = [
    "OrderSnapshot",
    "PerformedStepSnapshot",
    "ProcedureSnapshot",
    "order_snapshot",
    "performed_step_snapshot",
]


@dataclass(frozen=True, slots=True)
class ProcedureSnapshot:
    """A requested procedure and its (first) scheduled step."""

    requested_procedure_id: str
    study_instance_uid: str
    description: str | None
    jj1017_code: str | None
    scheduled_procedure_step_id: str
    modality: str
    scheduled_station_ae_title: str | None
    scheduled_station_name: str | None
    location: str | None
    start_date: str
    start_time: str
    step_status: str


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order with its patient (names in their three PN groups) and procedures."""

    placer_order_number: str | None
    filler_order_number: str
    accession_number: str
    status: str
    priority: str
    requesting_physician: str | None
    requesting_service: str | None
    reason: str | None
    patient_id: str
    issuer_of_patient_id: str
    patient_name_alphabetic: str | None
    patient_name_ideographic: str | None
    patient_name_phonetic: str | None
    patient_birth_date: str | None
    patient_sex: str | None
    procedures: tuple[ProcedureSnapshot, ...]


@dataclass(frozen=True, slots=True)
class PerformedStepSnapshot:
    """An MPPS as stored, and the order it is linked to (``None``: unscheduled)."""

    sop_instance_uid: str
    status: str
    performed_procedure_step_id: str | None
    modality: str | None
    performed_station_ae_title: str | None
    start_date: str | None
    start_time: str | None
    end_date: str | None
    end_time: str | None
    study_instance_uid: str | None
    order: OrderSnapshot | None


def _snapshot(order: RisOrder, session: Session) -> OrderSnapshot:
    patient = session.get(RisPatient, order.patient_fk)
    assert patient is not None  # foreign key
    rows = session.execute(
        select(RisRequestedProcedure, RisScheduledStep)
        .join(RisScheduledStep, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
        .where(RisRequestedProcedure.order_fk == order.id)
        .order_by(RisRequestedProcedure.id, RisScheduledStep.id)
    ).all()
    procedures = tuple(
        ProcedureSnapshot(
            requested_procedure_id=rp.requested_procedure_id,
            study_instance_uid=rp.study_instance_uid,
            description=rp.requested_procedure_description,
            jj1017_code=rp.jj1017_code,
            scheduled_procedure_step_id=step.scheduled_procedure_step_id,
            modality=step.modality,
            scheduled_station_ae_title=step.scheduled_station_ae_title,
            scheduled_station_name=step.scheduled_station_name,
            location=step.scheduled_procedure_step_location,
            start_date=step.scheduled_procedure_step_start_date,
            start_time=step.scheduled_procedure_step_start_time,
            step_status=step.scheduled_procedure_step_status,
        )
        for rp, step in rows
    )
    return OrderSnapshot(
        placer_order_number=order.placer_order_number,
        filler_order_number=order.filler_order_number,
        accession_number=order.accession_number,
        status=order.status,
        priority=order.requested_procedure_priority,
        requesting_physician=order.requesting_physician,
        requesting_service=order.requesting_service,
        reason=order.reason_for_the_requested_procedure,
        patient_id=patient.patient_id,
        issuer_of_patient_id=patient.issuer_of_patient_id,
        patient_name_alphabetic=patient.patient_name_alphabetic,
        patient_name_ideographic=patient.patient_name_ideographic,
        patient_name_phonetic=patient.patient_name_phonetic,
        patient_birth_date=patient.patient_birth_date,
        patient_sex=patient.patient_sex,
        procedures=procedures,
    )


def order_snapshot(*, session: Session, accession_number: str) -> OrderSnapshot:
    """The order with ``accession_number`` as it stands now.

    Raises
    ------
    NotFound
        No such order.
    """
    order = session.scalars(
        select(RisOrder).where(RisOrder.accession_number == accession_number)
    ).first()
    if order is None:
        raise NotFound(f"no order with accession number {accession_number!r}")
    return _snapshot(order, session)


def performed_step_snapshot(*, session: Session, sop_instance_uid: str) -> PerformedStepSnapshot:
    """The MPPS ``sop_instance_uid`` with its order.

    Raises
    ------
    NotFound
        No such MPPS.
    """
    step = session.scalars(
        select(RisPerformedStep).where(RisPerformedStep.sop_instance_uid == sop_instance_uid)
    ).first()
    if step is None:
        raise NotFound(f"no MPPS {sop_instance_uid}")
    order = session.get(RisOrder, step.order_fk) if step.order_fk is not None else None
    return PerformedStepSnapshot(
        sop_instance_uid=step.sop_instance_uid,
        status=step.performed_procedure_step_status,
        performed_procedure_step_id=step.performed_procedure_step_id,
        modality=step.modality,
        performed_station_ae_title=step.performed_station_ae_title,
        start_date=step.performed_procedure_step_start_date,
        start_time=step.performed_procedure_step_start_time,
        end_date=step.performed_procedure_step_end_date,
        end_time=step.performed_procedure_step_end_time,
        study_instance_uid=step.study_instance_uid,
        order=_snapshot(order, session) if order is not None else None,
    )
