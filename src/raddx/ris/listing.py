"""Orders as a person reads them (REST, CLI): one row per order with its steps."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import RisOrder, RisPatient, RisRequestedProcedure, RisScheduledStep

__all__ = ["OrderRow", "list_orders"]


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order with its patient and its scheduled steps (modality, station, start)."""

    accession_number: str
    placer_order_number: str | None
    filler_order_number: str
    status: str
    priority: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str | None
    steps: tuple[tuple[str, str, str | None, str, str, str | None], ...]


def list_orders(
    *,
    session: Session,
    status: str | None = None,
    accession_number: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrderRow]:
    """Orders, newest first; ``status`` keeps one order status, ``accession_number`` one
    order. Each step is (SPS ID, modality, station AE, start date, start time, JJ1017 code)."""
    stmt = select(RisOrder, RisPatient).join(RisPatient, RisOrder.patient_fk == RisPatient.id)
    if status:
        stmt = stmt.where(RisOrder.status == status)
    if accession_number:
        stmt = stmt.where(RisOrder.accession_number == accession_number)
    stmt = stmt.order_by(RisOrder.id.desc()).limit(limit).offset(offset)
    rows = session.execute(stmt).all()
    ids = [order.id for order, _ in rows]
    steps: dict[int, list[tuple[str, str, str | None, str, str, str | None]]] = {}
    if ids:
        found = session.execute(
            select(
                RisRequestedProcedure.order_fk, RisScheduledStep, RisRequestedProcedure.jj1017_code
            )
            .join(RisScheduledStep, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
            .where(RisRequestedProcedure.order_fk.in_(ids))
            .order_by(RisScheduledStep.id)
        ).all()
        for order_fk, step, code in found:
            steps.setdefault(order_fk, []).append(
                (
                    step.scheduled_procedure_step_id,
                    step.modality,
                    step.scheduled_station_ae_title,
                    step.scheduled_procedure_step_start_date,
                    step.scheduled_procedure_step_start_time,
                    code,
                )
            )
    return [
        OrderRow(
            order.accession_number,
            order.placer_order_number,
            order.filler_order_number,
            order.status,
            order.requested_procedure_priority,
            patient.patient_id,
            patient.issuer_of_patient_id,
            patient.patient_name,
            tuple(steps.get(order.id, [])),
        )
        for order, patient in rows
    ]
