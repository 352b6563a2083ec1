"""Worklist items by hand: list, add and cancel scheduled procedure steps (issue 6 §8).

For clinics without an HIS feed: beside whole orders (:func:`raddx.ris.place_order`,
``raddx order``, ``/api/orders``) a person lists the Modality Worklist items themselves, adds
a step to an existing order (a further requested procedure, e.g. the CT a radiologist adds
to an X-ray order) and cancels one step without cancelling the order. The status rules are
those of :mod:`raddx.ris.status`: only a SCHEDULED step may be cancelled; an order whose every
step is cancelled is cancelled itself; steps are added only to an order not yet ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import generate_uid
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raddx.db.models import (
    Jj1017MasterCode,
    RisOrder,
    RisPatient,
    RisRequestedProcedure,
    RisScheduledStep,
)
from raddx.errors import Conflict, NotFound
from raddx.ris.records import ProcedureCreate
from raddx.ris.service import announce_order, change_order_status, find_order
from raddx.ris.status import (
    OrderStatusValues,
    ScheduledProcedureStepStatusValues,
    check_step_cancel,
    step_status,
)

__all__ = ["StepRow", "add_step", "cancel_step", "list_steps"]

_S = ScheduledProcedureStepStatusValues


@dataclass(frozen=True, slots=True)
class StepRow:
    """One worklist item as a person reads it."""

    scheduled_procedure_step_id: str
    scheduled_procedure_step_status: str
    modality: str
    scheduled_station_ae_title: str | None
    scheduled_start_date: str
    scheduled_start_time: str
    description: str | None
    requested_procedure_id: str
    study_instance_uid: str
    jj1017_code: str | None
    accession_number: str
    order_status: str
    patient_id: str
    patient_name: str | None
    scheduled_station_name: str | None = None
    requested_procedure_priority: str = "ROUTINE"
    #: The JJ1017 master's name of the procedure (kanji), when the master holds the code.
    procedure_name: str | None = None
    procedure_name_kana: str | None = None


def _padded_time(value: str) -> str:
    whole, dot, fraction = value.partition(".")
    return whole.ljust(6, "0") + dot + fraction


def _select() -> object:
    return (
        select(
            RisScheduledStep,
            RisRequestedProcedure,
            RisOrder,
            RisPatient,
            Jj1017MasterCode.name,
            Jj1017MasterCode.name_kana,
        )
        .join(RisRequestedProcedure, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
        .join(RisOrder, RisRequestedProcedure.order_fk == RisOrder.id)
        .join(RisPatient, RisOrder.patient_fk == RisPatient.id)
        # The procedure's name as the hospital's master spells it (a code the master does
        # not hold, or no code, leaves it empty: the step's description still says what).
        .outerjoin(Jj1017MasterCode, Jj1017MasterCode.code == RisRequestedProcedure.jj1017_code)
    )


def _row(
    step: RisScheduledStep,
    rp: RisRequestedProcedure,
    order: RisOrder,
    p: RisPatient,
    procedure_name: str | None,
    procedure_name_kana: str | None,
) -> StepRow:
    return StepRow(
        step.scheduled_procedure_step_id,
        step.scheduled_procedure_step_status,
        step.modality,
        step.scheduled_station_ae_title,
        step.scheduled_procedure_step_start_date,
        step.scheduled_procedure_step_start_time,
        step.scheduled_procedure_step_description,
        rp.requested_procedure_id,
        rp.study_instance_uid,
        rp.jj1017_code,
        order.accession_number,
        order.status,
        p.patient_id,
        p.patient_name,
        step.scheduled_station_name,
        order.requested_procedure_priority,
        procedure_name,
        procedure_name_kana,
    )


def list_steps(
    *,
    session: Session,
    status: str | None = None,
    modality: str | None = None,
    station_ae_title: str | None = None,
    station_name: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    accession_number: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StepRow]:
    """Worklist items ordered by scheduled start; every filter is optional and exact (single
    value matching; dates are an inclusive ``YYYYMMDD`` range). ``station_ae_title`` and
    ``station_name`` pick a room: ScheduledStationAETitle and ScheduledStationName."""
    stmt = _select()
    conditions = []
    if status:
        conditions.append(RisScheduledStep.scheduled_procedure_step_status == status)
    if modality:
        conditions.append(RisScheduledStep.modality == modality)
    if station_ae_title:
        conditions.append(RisScheduledStep.scheduled_station_ae_title == station_ae_title)
    if station_name:
        conditions.append(RisScheduledStep.scheduled_station_name == station_name)
    if date_from:
        conditions.append(RisScheduledStep.scheduled_procedure_step_start_date >= date_from)
    if date_to:
        conditions.append(RisScheduledStep.scheduled_procedure_step_start_date <= date_to)
    if accession_number:
        conditions.append(RisOrder.accession_number == accession_number)
    stmt = (
        stmt.where(*conditions)  # type: ignore[attr-defined]
        .order_by(
            RisScheduledStep.scheduled_procedure_step_start_date,
            RisScheduledStep.scheduled_procedure_step_start_time,
            RisScheduledStep.id,
        )
        .limit(limit)
        .offset(offset)
    )
    return [_row(*r) for r in session.execute(stmt).all()]


def _one(session: Session, sps_id: str) -> StepRow:
    found = session.execute(
        _select().where(RisScheduledStep.scheduled_procedure_step_id == sps_id)  # type: ignore[attr-defined]
    ).one_or_none()
    if found is None:
        raise NotFound(f"no scheduled procedure step {sps_id!r}")
    return _row(*found)


def _unused(session: Session, column: object, value: str | None, name: str) -> None:
    if value and session.scalar(select(column).where(column == value)) is not None:  # type: ignore[call-overload]
        raise Conflict(f"{name} {value!r} is already used")


def add_step(*, session: Session, accession_number: str, procedure: ProcedureCreate) -> StepRow:
    """Add a requested procedure with its scheduled step to an existing order; raddx assigns
    the IDs and Study Instance UID the procedure lacks (as for a new order).

    Raises
    ------
    NotFound
        No order with this accession number.
    Conflict
        The order has ended or was cancelled; a given ID or Study UID is already used.
    """
    order = find_order(accession_number=accession_number, session=session)
    if order.status not in (OrderStatusValues.SCHEDULED.value, OrderStatusValues.IN_PROGRESS.value):
        raise Conflict(f"order {accession_number} is {order.status}; no step can be added")
    _unused(
        session,
        RisRequestedProcedure.requested_procedure_id,
        procedure.requested_procedure_id,
        "RP ID",
    )
    _unused(
        session, RisRequestedProcedure.study_instance_uid, procedure.study_instance_uid, "Study UID"
    )
    _unused(
        session,
        RisScheduledStep.scheduled_procedure_step_id,
        procedure.scheduled_procedure_step_id,
        "SPS ID",
    )
    count = (
        session.scalar(
            select(func.count())
            .select_from(RisRequestedProcedure)
            .where(RisRequestedProcedure.order_fk == order.id)
        )
        or 0
    )
    number = count + 1
    rp_id = procedure.requested_procedure_id
    while rp_id is None:
        candidate = f"{order.accession_number}-{number}"
        taken = session.scalar(
            select(RisRequestedProcedure.id).where(
                RisRequestedProcedure.requested_procedure_id == candidate
            )
        )
        rp_id = None if taken else candidate
        number += 1
    rp = RisRequestedProcedure(
        order_fk=order.id,
        requested_procedure_id=rp_id,
        study_instance_uid=procedure.study_instance_uid or generate_uid(prefix=None),
        requested_procedure_description=procedure.description,
        jj1017_code=procedure.jj1017_code or None,
    )
    session.add(rp)
    session.flush()
    step = RisScheduledStep(
        procedure_fk=rp.id,
        scheduled_procedure_step_id=procedure.scheduled_procedure_step_id or rp_id,
        modality=procedure.modality,
        scheduled_station_ae_title=procedure.scheduled_station_ae_title,
        scheduled_station_name=procedure.scheduled_station_name,
        scheduled_procedure_step_location=procedure.location,
        scheduled_procedure_step_start_date=procedure.scheduled_start_date,
        scheduled_procedure_step_start_time=_padded_time(procedure.scheduled_start_time),
        scheduled_performing_physician_name=procedure.performing_physician,
        scheduled_procedure_step_description=procedure.description,
        # A step added to an order under way is still to be done.
        scheduled_procedure_step_status=step_status(OrderStatusValues.SCHEDULED).value,
    )
    session.add(step)
    session.flush()
    # The modalities/PACS that took the order learn of the new procedure (OMI^O23 XO).
    announce_order(order.accession_number, "XO", session=session)
    return _one(session, step.scheduled_procedure_step_id)


def cancel_step(*, session: Session, scheduled_procedure_step_id: str) -> StepRow:
    """Cancel one worklist item (it leaves the Modality Worklist); when no step of its order
    is left uncancelled, the order is cancelled too.

    Raises
    ------
    NotFound
        No such step.
    Conflict
        The step is not SCHEDULED (started, completed, discontinued or already cancelled).
    """
    step = session.scalars(
        select(RisScheduledStep).where(
            RisScheduledStep.scheduled_procedure_step_id == scheduled_procedure_step_id
        )
    ).one_or_none()
    if step is None:
        raise NotFound(f"no scheduled procedure step {scheduled_procedure_step_id!r}")
    check_step_cancel(_S(step.scheduled_procedure_step_status))
    step.scheduled_procedure_step_status = _S.CANCELED.value
    session.flush()
    rp = session.get(RisRequestedProcedure, step.procedure_fk)
    assert rp is not None  # foreign key
    order = session.get(RisOrder, rp.order_fk)
    assert order is not None
    left = session.scalar(
        select(func.count())
        .select_from(RisScheduledStep)
        .join(RisRequestedProcedure, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
        .where(
            RisRequestedProcedure.order_fk == order.id,
            RisScheduledStep.scheduled_procedure_step_status != _S.CANCELED.value,
        )
    )
    if not left and order.status == OrderStatusValues.SCHEDULED.value:
        change_order_status(order, OrderStatusValues.CANCELLED, session=session)
    return _one(session, scheduled_procedure_step_id)
