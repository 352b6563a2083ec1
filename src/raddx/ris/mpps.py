"""Modality Performed Procedure Steps (PS3.4 F.7): their rules, and the order status they move.

A step is created IN PROGRESS (N-CREATE, F.7.2.1.3: any other status is refused), may be set
while IN PROGRESS, and ends COMPLETED or DISCONTINUED; after that it is frozen (an N-SET is
refused, F.7.2.2.3, dcm4che's Error ID A710). The order the step references moves with it:
IN PROGRESS → the order is in progress, COMPLETED → completed, DISCONTINUED → discontinued
(dcm4chee's PPS → SPS mapping, reference note §4.3). A step is linked through the SPS IDs of
its Scheduled Step Attributes Sequence, else the Study Instance UID, else the accession
number; a step matching no order is kept as unscheduled.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import RisOrder, RisPerformedStep, RisRequestedProcedure, RisScheduledStep
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.outbox import OutboxEventValues, record_event
from raddx.ris.mpps_attributes import missing_at_final_state
from raddx.ris.records import check_date, check_time
from raddx.ris.service import change_order_status
from raddx.ris.status import OrderStatusValues

__all__ = [
    "PerformedProcedureStepStatusValues",
    "ScheduledStepReference",
    "StepFinished",
    "create_performed_step",
    "set_performed_step",
]

log = logging.getLogger(__name__)


class PerformedProcedureStepStatusValues(StrEnum):
    """PerformedProcedureStepStatus (0040,0252) Defined Terms (PS3.3 C.4.14)."""

    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"


_P = PerformedProcedureStepStatusValues
_ORDER = {
    _P.IN_PROGRESS: OrderStatusValues.IN_PROGRESS,
    _P.COMPLETED: OrderStatusValues.COMPLETED,
    _P.DISCONTINUED: OrderStatusValues.DISCONTINUED,
}


class StepFinished(Conflict):
    """The step is COMPLETED or DISCONTINUED and may no longer be updated (PS3.4 F.7.2.2)."""


@dataclass(frozen=True, slots=True)
class ScheduledStepReference:
    """One item of the Scheduled Step Attributes Sequence (0040,0270)."""

    study_instance_uid: str
    scheduled_procedure_step_id: str | None = None
    accession_number: str | None = None


def _status(value: str) -> PerformedProcedureStepStatusValues:
    try:
        return _P(value)
    except ValueError:
        allowed = ", ".join(m.value for m in _P)
        raise InvalidInput(f"PerformedProcedureStepStatus {value!r} is not {allowed}") from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _linked_order(
    references: Sequence[ScheduledStepReference], session: Session
) -> RisOrder | None:
    for ref in references:
        sps_id = ref.scheduled_procedure_step_id
        if sps_id:
            order = session.scalars(
                select(RisOrder)
                .join(RisRequestedProcedure, RisRequestedProcedure.order_fk == RisOrder.id)
                .join(RisScheduledStep, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
                .where(
                    RisScheduledStep.scheduled_procedure_step_id == ref.scheduled_procedure_step_id
                )
            ).first()
            if order is not None:
                return order
        order = session.scalars(
            select(RisOrder)
            .join(RisRequestedProcedure, RisRequestedProcedure.order_fk == RisOrder.id)
            .where(RisRequestedProcedure.study_instance_uid == ref.study_instance_uid)
        ).first()
        if order is None and ref.accession_number:
            order = session.scalars(
                select(RisOrder).where(RisOrder.accession_number == ref.accession_number)
            ).first()
        if order is not None:
            return order
    return None


def _move_order(
    step: RisPerformedStep, status: PerformedProcedureStepStatusValues, session: Session
) -> None:
    if step.order_fk is None:
        return
    order = session.get(RisOrder, step.order_fk)
    assert order is not None  # foreign key
    try:
        change_order_status(order, _ORDER[status], session=session)
    except Conflict as exc:
        # The modality did perform the step: the MPPS is kept, the order left as it is.
        log.warning("MPPS did not move order order_id=%d reason=%s", order.id, exc)


def create_performed_step(
    *,
    sop_instance_uid: str,
    status: str,
    references: Sequence[ScheduledStepReference],
    performed_procedure_step_id: str,
    performed_station_ae_title: str,
    start_date: str,
    start_time: str,
    modality: str,
    session: Session,
    performed_series: int = 0,
) -> RisPerformedStep:
    """N-CREATE (PS3.4 F.7.2.1): store the step and move its order to IN PROGRESS.
    ``performed_series``: the items of its PerformedSeriesSequence (for the final state).

    Raises
    ------
    InvalidInput
        The status is not IN PROGRESS, no Scheduled Step Attributes item, a malformed start
        date or time.
    Conflict
        A step with this SOP Instance UID exists.
    """
    if _status(status) is not _P.IN_PROGRESS:
        raise InvalidInput(f"an MPPS is created IN PROGRESS, not {status!r} (PS3.4 F.7.2.1.3)")
    if not references:
        raise InvalidInput("ScheduledStepAttributesSequence needs at least one item")
    check_date(start_date, "PerformedProcedureStepStartDate")
    check_time(start_time, "PerformedProcedureStepStartTime")
    if session.scalar(
        select(RisPerformedStep.id).where(RisPerformedStep.sop_instance_uid == sop_instance_uid)
    ):
        raise Conflict(f"MPPS {sop_instance_uid} already exists")
    order = _linked_order(references, session)
    now = _now()
    step = RisPerformedStep(
        sop_instance_uid=sop_instance_uid,
        performed_procedure_step_status=_P.IN_PROGRESS.value,
        performed_procedure_step_id=performed_procedure_step_id,
        modality=modality,
        performed_station_ae_title=performed_station_ae_title,
        performed_procedure_step_start_date=start_date,
        performed_procedure_step_start_time=start_time,
        study_instance_uid=references[0].study_instance_uid,
        scheduled_procedure_step_ids="\\".join(
            r.scheduled_procedure_step_id for r in references if r.scheduled_procedure_step_id
        )
        or None,
        order_fk=order.id if order is not None else None,
        performed_series_count=performed_series,
        created_at=now,
        updated_at=now,
    )
    session.add(step)
    session.flush()
    _move_order(step, _P.IN_PROGRESS, session)
    return step


def set_performed_step(
    *,
    sop_instance_uid: str,
    status: str | None,
    end_date: str | None,
    end_time: str | None,
    session: Session,
    billing: Mapping[str, Any] | None = None,
    performed_series: int | None = None,
    strict: bool = False,
) -> RisPerformedStep:
    """N-SET (PS3.4 F.7.2.2): update an IN PROGRESS step; COMPLETED or DISCONTINUED ends it
    and moves its order.

    The step that ends must meet Table F.7.2-1's final state (F.7.2.2.2): end date and
    time, and at least one performed series (``performed_series``: the items of a
    PerformedSeriesSequence in this N-SET, ``None`` if it carries none). COMPLETED without
    end date/time is always refused; every other gap is refused when ``strict``
    (``validation_mode = strict``) and otherwise accepted with a logged warning, because
    modalities that discontinue before acquiring anything often send no series, and a
    refused DISCONTINUED would leave the order in progress.

    A step of an order that ends is announced to the HIS as OMI^Z23 (the performed-exam
    notification, reference note §5.4; ``raddx.hl7.z23``) through the outbox, with
    ``billing`` (materials, films, exposures of the final N-SET) for its ZE1/ZE2 segments.

    Raises
    ------
    NotFound
        No such step.
    StepFinished
        The step is already COMPLETED or DISCONTINUED (nothing is changed).
    InvalidInput
        An unknown status, IN PROGRESS → COMPLETED without end date/time, malformed dates.
    """
    step = session.scalars(
        select(RisPerformedStep).where(RisPerformedStep.sop_instance_uid == sop_instance_uid)
    ).one_or_none()
    if step is None:
        raise NotFound(f"no MPPS {sop_instance_uid}")
    if step.performed_procedure_step_status != _P.IN_PROGRESS.value:
        raise StepFinished(
            f"MPPS {sop_instance_uid} is {step.performed_procedure_step_status} and may no "
            "longer be updated"
        )
    target = _status(status) if status else _P.IN_PROGRESS
    check_date(end_date, "PerformedProcedureStepEndDate")
    check_time(end_time, "PerformedProcedureStepEndTime")
    if end_date:
        step.performed_procedure_step_end_date = end_date
    if end_time:
        step.performed_procedure_step_end_time = end_time
    if performed_series is not None:
        step.performed_series_count = performed_series
    if target is _P.COMPLETED and not (
        step.performed_procedure_step_end_date and step.performed_procedure_step_end_time
    ):
        raise InvalidInput("a COMPLETED MPPS needs PerformedProcedureStepEndDate and EndTime")
    if target is not _P.IN_PROGRESS:
        missing = missing_at_final_state(
            end_date=step.performed_procedure_step_end_date,
            end_time=step.performed_procedure_step_end_time,
            performed_series=step.performed_series_count,
        )
        if missing and strict:
            raise InvalidInput(
                f"a {target.value} MPPS needs {', '.join(missing)} (PS3.4 F.7.2.2.2 final state)"
            )
        if missing:
            log.warning(
                "MPPS ended without final-state attributes sop_instance_uid=%s status=%s "
                "missing=%s",
                sop_instance_uid,
                target.value,
                ",".join(missing),
            )
    step.performed_procedure_step_status = target.value
    step.updated_at = _now()
    session.flush()
    if target is not _P.IN_PROGRESS:
        _move_order(step, target, session)
        if step.order_fk is not None:
            record_event(
                session=session,
                event=OutboxEventValues.Z23,
                subject=sop_instance_uid,
                action=target.value,
                detail=billing or {},
            )
    return step
