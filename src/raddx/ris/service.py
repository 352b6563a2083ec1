"""RIS operations: patients, orders, cancellations, status changes, merges (issue 6).

Every door (HL7 v2, REST, CLI, MPPS) calls these with a session it owns (STYLE rule 8);
nothing here commits. raddx is the RIS: the accession number, filler order number, requested
procedure ID, scheduled procedure step ID and Study Instance UID an order lacks are assigned
here, from the row ids (unique and short enough for SH: ``RX0000000042``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pydicom.uid import generate_uid
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from raddx.archive.names import split_person_name
from raddx.db.models import RisOrder, RisPatient, RisRequestedProcedure, RisScheduledStep
from raddx.db.statements import statements
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.outbox import OutboxEventValues, record_event
from raddx.ris.jj1017_master import MasterName, master_name
from raddx.ris.records import OrderCreate, PatientData
from raddx.ris.status import (
    OrderStatusValues,
    ScheduledProcedureStepStatusValues,
    check_transition,
    step_status,
)

__all__ = [
    "OrderPublic",
    "UnknownJj1017Code",
    "change_order_status",
    "find_order",
    "merge_patients",
    "place_order",
    "update_order",
    "upsert_patient",
]


class UnknownJj1017Code(InvalidInput):
    """An order's JJ1017 code is not in the hospital's master and the door refuses such
    codes (setting ``jj1017_refuse_unknown``)."""


@dataclass(frozen=True, slots=True)
class OrderPublic:
    """What a door reports back about an order (ORG^O20, REST)."""

    id: int
    placer_order_number: str | None
    filler_order_number: str
    accession_number: str
    status: str
    requested_procedure_ids: tuple[str, ...]
    study_instance_uids: tuple[str, ...]
    scheduled_procedure_step_ids: tuple[str, ...]
    #: JJ1017 codes of the order that the hospital's master does not hold, or holds as not
    #: valid on the procedure's scheduled date (flagged, allowed unless the caller refuses
    #: them; ``raddx.ris.jj1017_master``).
    unknown_jj1017_codes: tuple[str, ...] = ()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _padded_time(value: str) -> str:
    """TM stored as ``HHMMSS[.F]``, as the archive index keeps it, so range matching of
    ScheduledProcedureStepStartTime compares like with like."""
    whole, dot, fraction = value.partition(".")
    return whole.ljust(6, "0") + dot + fraction


def upsert_patient(patient: PatientData, *, session: Session) -> RisPatient:
    """Create the patient or update its demographics (ADT^A01/A04/A08, and every order)."""
    return session.get(RisPatient, _upsert_patient_id(patient, session), populate_existing=True)  # type: ignore[return-value]


_PATIENTS = RisPatient.__table__
_ORDERS = RisOrder.__table__
_PROCEDURES = RisRequestedProcedure.__table__
_STEPS = RisScheduledStep.__table__
# The order path's statements, built once: building a Core statement per call (coercing
# every value, computing its cache key) cost more than executing it (profiled).
_PATIENT_ID = select(_PATIENTS.c.id).where(
    _PATIENTS.c.patient_id == bindparam("b_patient_id"),
    _PATIENTS.c.issuer_of_patient_id == bindparam("b_issuer"),
)
_INSERT_PATIENT = insert(_PATIENTS).returning(_PATIENTS.c.id)
_UPDATE_PATIENT = update(_PATIENTS).where(_PATIENTS.c.id == bindparam("b_pk"))
_PLACER_USED = select(_ORDERS.c.id).where(_ORDERS.c.placer_order_number == bindparam("b_placer"))
_INSERT_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
_UPDATE_ORDER = update(_ORDERS).where(_ORDERS.c.id == bindparam("b_pk"))
_INSERT_PROCEDURE = insert(_PROCEDURES).returning(_PROCEDURES.c.id)
_INSERT_STEP = insert(_STEPS)


def _upsert_patient_id(patient: PatientData, session: Session) -> int:
    """:func:`upsert_patient` as Core statements, returning the row id.

    Orders arrive at hundreds per second over one MLLP connection (issue 6 target 500/s);
    the ORM unit of work cost more than the SQL itself (profiled: ~1 ms of the 4 ms per
    order), so the order path writes with prepared INSERT/UPDATE statements."""
    now = _now()
    values: dict[str, object] = {"updated_at": now}
    if patient.patient_name is not None:
        groups = split_person_name(patient.patient_name)
        norm = groups.normalized if groups else (None, None, None)
        values |= {
            "patient_name": groups.full if groups else None,
            "patient_name_alphabetic": groups.alphabetic if groups else None,
            "patient_name_ideographic": groups.ideographic if groups else None,
            "patient_name_phonetic": groups.phonetic if groups else None,
            "patient_name_alphabetic_norm": norm[0],
            "patient_name_ideographic_norm": norm[1],
            "patient_name_phonetic_norm": norm[2],
        }
    if patient.patient_birth_date is not None:
        values["patient_birth_date"] = patient.patient_birth_date
    if patient.patient_sex is not None:
        values["patient_sex"] = patient.patient_sex or None
    run = statements(session)
    row_id = run.scalar(
        _PATIENT_ID,
        {"b_patient_id": patient.patient_id, "b_issuer": patient.issuer_of_patient_id},
    )
    if row_id is None:
        values |= {
            "patient_id": patient.patient_id,
            "issuer_of_patient_id": patient.issuer_of_patient_id,
            "created_at": now,
        }
        return int(run.scalar(_INSERT_PATIENT, values))
    run.execute(_UPDATE_PATIENT, {"b_pk": row_id, **values})
    return int(row_id)


def place_order(
    order: OrderCreate, *, session: Session, refuse_unknown_jj1017: bool = False
) -> OrderPublic:
    """Store a new order with its requested procedures and scheduled steps.

    Written with prepared Core statements (see :func:`_upsert_patient_id` for why): one
    INSERT per row, plus one UPDATE when raddx assigns the id-based accession number.

    A procedure's JJ1017 code is looked up in the hospital's master: a procedure without a
    description takes the master's name; a code the master lacks, or holds as not valid on
    the procedure's scheduled date, is reported in ``unknown_jj1017_codes`` (or refused with
    ``refuse_unknown_jj1017``, the door's setting).

    Raises
    ------
    Conflict
        The placer order number, accession number, requested procedure ID, step ID or Study
        Instance UID is already used by another order.
    InvalidInput
        ``refuse_unknown_jj1017`` and a JJ1017 code the master does not hold, or holds with
        a validity (``valid_from``/``valid_to``) that excludes the scheduled date.
    """
    unknown: list[str] = []
    outdated: list[str] = []  # "code (valid …, not on day)": held, but not for that day
    names: dict[str, str] = {}
    entries: dict[str, MasterName | None] = {}
    for procedure in order.procedures:
        code = procedure.jj1017_code
        if not code:
            continue
        if code not in entries:
            entries[code] = master_name(code, session=session)
        entry = entries[code]
        if entry is None:
            if code not in unknown:
                unknown.append(code)
            continue
        names[code] = entry.name
        day = procedure.scheduled_start_date
        if not entry.valid_on(day):
            outdated.append(f"{code} (valid {entry.validity()}, not on {day})")
    if (unknown or outdated) and refuse_unknown_jj1017:
        reasons = [f"not in the master: {', '.join(unknown)}"] if unknown else []
        if outdated:
            reasons.append(f"not valid on the scheduled date: {', '.join(outdated)}")
        raise UnknownJj1017Code("JJ1017 code(s) " + "; ".join(reasons))
    for text in outdated:
        if (code := text.split(" ", 1)[0]) not in unknown:
            unknown.append(code)
    run = statements(session)
    if order.placer_order_number and run.scalar(
        _PLACER_USED, {"b_placer": order.placer_order_number}
    ):
        raise Conflict(f"placer order number {order.placer_order_number!r} already exists")
    _check_unused(order, session)
    patient_id = _upsert_patient_id(order.patient, session)
    now = _now()
    placeholder = uuid.uuid4().hex  # unique until the id-based numbers are known
    order_id = int(
        run.scalar(
            _INSERT_ORDER,
            {
                "patient_fk": patient_id,
                "placer_order_number": order.placer_order_number,
                "filler_order_number": order.filler_order_number or "F" + placeholder,
                "accession_number": order.accession_number or "A" + placeholder,
                "issuer_of_accession_number": (
                    order.accession_issuer.canonical if order.accession_issuer else None
                ),
                "requested_procedure_priority": order.priority,
                "requesting_physician": order.requesting_physician,
                "requesting_service": order.requesting_service,
                "reason_for_the_requested_procedure": order.reason,
                "status": OrderStatusValues.SCHEDULED.value,
                "created_at": now,
                "updated_at": now,
            },
        )
    )
    accession = order.accession_number or f"RX{order_id:010d}"
    filler = order.filler_order_number or accession
    if not (order.accession_number and order.filler_order_number):
        run.execute(
            _UPDATE_ORDER,
            {"b_pk": order_id, "accession_number": accession, "filler_order_number": filler},
        )
    rp_ids, uids, sps_ids = [], [], []
    scheduled = step_status(OrderStatusValues.SCHEDULED).value
    for number, procedure in enumerate(order.procedures, start=1):
        rp_id = procedure.requested_procedure_id or f"{accession}-{number}"
        description = procedure.description or names.get(procedure.jj1017_code or "")
        uid = procedure.study_instance_uid or generate_uid(prefix=None)
        procedure_pk = run.scalar(
            _INSERT_PROCEDURE,
            {
                "order_fk": order_id,
                "requested_procedure_id": rp_id,
                "study_instance_uid": uid,
                "requested_procedure_description": description,
                "jj1017_code": procedure.jj1017_code or None,
            },
        )
        sps_id = procedure.scheduled_procedure_step_id or rp_id
        run.execute(
            _INSERT_STEP,
            {
                "procedure_fk": procedure_pk,
                "scheduled_procedure_step_id": sps_id,
                "modality": procedure.modality,
                "scheduled_station_ae_title": procedure.scheduled_station_ae_title,
                "scheduled_station_name": procedure.scheduled_station_name,
                "scheduled_procedure_step_location": procedure.location,
                "scheduled_procedure_step_start_date": procedure.scheduled_start_date,
                "scheduled_procedure_step_start_time": _padded_time(procedure.scheduled_start_time),
                "scheduled_performing_physician_name": procedure.performing_physician,
                "scheduled_procedure_step_description": description,
                "scheduled_procedure_step_status": scheduled,
            },
        )
        rp_ids.append(rp_id)
        uids.append(uid)
        sps_ids.append(sps_id)
    _announce(accession, "NW", session)
    return OrderPublic(
        order_id,
        order.placer_order_number,
        filler,
        accession,
        OrderStatusValues.SCHEDULED.value,
        tuple(rp_ids),
        tuple(uids),
        tuple(sps_ids),
        tuple(unknown),
    )


def announce_order(accession_number: str, control: str, *, session: Session) -> None:
    """Queue OMI^O23 with ORC-1 ``control`` (``raddx.hl7.outbound.ORDER_CONTROLS``) for the
    modalities/PACS configured to take orders, in ``session``'s unit of work."""
    _announce(accession_number, control, session)


def _announce(accession_number: str, control: str, session: Session) -> None:
    """Queue OMI^O23 with ORC-1 ``control`` (NW new, XO changed, CA cancelled, DC
    discontinued, SC status changed) for the
    modalities/PACS configured to take orders (``raddx.outbox``; IHE RAD-4/RAD-13)."""
    record_event(
        session=session,
        event=OutboxEventValues.OMI,
        subject=accession_number,
        action=control,
    )


def _check_unused(order: OrderCreate, session: Session) -> None:
    checks = [
        (RisOrder.accession_number, order.accession_number, "accession number"),
        (RisOrder.filler_order_number, order.filler_order_number, "filler order number"),
    ]
    for p in order.procedures:
        checks += [
            (RisRequestedProcedure.requested_procedure_id, p.requested_procedure_id, "RP ID"),
            (RisRequestedProcedure.study_instance_uid, p.study_instance_uid, "Study UID"),
            (RisScheduledStep.scheduled_procedure_step_id, p.scheduled_procedure_step_id, "SPS ID"),
        ]
    for column, value, name in checks:
        if value and session.scalar(select(column).where(column == value)) is not None:
            raise Conflict(f"{name} {value!r} is already used by another order")


def find_order(
    *,
    session: Session,
    placer_order_number: str | None = None,
    filler_order_number: str | None = None,
    accession_number: str | None = None,
) -> RisOrder:
    """The order with any of the given numbers (the first one given decides).

    Raises
    ------
    NotFound
        No number given, or no order has it.
    """
    for column, value in (
        (RisOrder.placer_order_number, placer_order_number),
        (RisOrder.filler_order_number, filler_order_number),
        (RisOrder.accession_number, accession_number),
    ):
        if value:
            row = session.scalars(select(RisOrder).where(column == value)).first()
            if row is None:
                raise NotFound(f"no order with {column.key} {value!r}")
            return row
    raise NotFound("no order number given")


#: ORC-1 (HL7 Table 0119) of the OMI^O23 announcing a status change: cancelled, discontinued,
#: or "status changed" with ORC-5 IP/CM (started, completed: by MPPS, images, the HIS).
_STATUS_CONTROLS = {
    OrderStatusValues.CANCELLED: "CA",
    OrderStatusValues.DISCONTINUED: "DC",
    OrderStatusValues.IN_PROGRESS: "SC",
    OrderStatusValues.COMPLETED: "SC",
}


def change_order_status(order: RisOrder, target: OrderStatusValues, *, session: Session) -> None:
    """Move ``order`` (and its worklist items) to ``target`` under the rules of
    :mod:`raddx.ris.status`.

    Raises
    ------
    Conflict
        The transition is not allowed.
    """
    check_transition(OrderStatusValues(order.status), target)
    if order.status != target.value and target in _STATUS_CONTROLS:
        _announce(order.accession_number, _STATUS_CONTROLS[target], session)
    order.status = target.value
    order.updated_at = _now()
    procedures = select(RisRequestedProcedure.id).where(RisRequestedProcedure.order_fk == order.id)
    session.execute(
        update(RisScheduledStep)
        .where(
            RisScheduledStep.procedure_fk.in_(procedures),
            # A step cancelled on its own (raddx.ris.worklist_items) stays cancelled.
            RisScheduledStep.scheduled_procedure_step_status
            != ScheduledProcedureStepStatusValues.CANCELED.value,
        )
        .values(scheduled_procedure_step_status=step_status(target).value)
    )
    session.flush()


def merge_patients(
    *,
    surviving: PatientData,
    prior_patient_id: str,
    prior_issuer: str = "",
    session: Session,
) -> RisPatient:
    """ADT^A40: move the prior patient's orders to the surviving patient and mark the prior
    one merged (the row stays as history).

    Raises
    ------
    NotFound
        The prior patient is unknown.
    Conflict
        The prior patient is the surviving one, or was already merged.
    """
    prior = session.scalars(
        select(RisPatient).where(
            RisPatient.patient_id == prior_patient_id,
            RisPatient.issuer_of_patient_id == prior_issuer,
        )
    ).one_or_none()
    if prior is None:
        raise NotFound(f"no patient with ID {prior_patient_id!r} to merge")
    if prior.merged_into_fk is not None:
        raise Conflict(f"patient {prior_patient_id!r} was already merged")
    target = upsert_patient(surviving, session=session)
    if target.id == prior.id:
        raise Conflict("a patient cannot be merged into itself")
    session.execute(
        update(RisOrder).where(RisOrder.patient_fk == prior.id).values(patient_fk=target.id)
    )
    prior.merged_into_fk = target.id
    prior.updated_at = _now()
    session.flush()
    return target


def update_order(
    order: RisOrder,
    *,
    changes: OrderCreate,
    session: Session,
) -> None:
    """An order change from the HIS (HL7 ORC-1 ``XO``): patient demographics, priority,
    requester, reason, and the start date/time and station of its scheduled steps (by
    position). Only a SCHEDULED order may change.

    Raises
    ------
    Conflict
        The order is no longer SCHEDULED.
    """
    if order.status != OrderStatusValues.SCHEDULED.value:
        raise Conflict(f"order in status {order.status} can no longer be changed")
    upsert_patient(changes.patient, session=session)
    order.requested_procedure_priority = changes.priority
    order.requesting_physician = changes.requesting_physician or order.requesting_physician
    order.requesting_service = changes.requesting_service or order.requesting_service
    order.reason_for_the_requested_procedure = (
        changes.reason or order.reason_for_the_requested_procedure
    )
    order.updated_at = _now()
    steps = session.scalars(
        select(RisScheduledStep)
        .join(RisRequestedProcedure, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
        .where(RisRequestedProcedure.order_fk == order.id)
        .order_by(RisScheduledStep.id)
    ).all()
    for step, procedure in zip(steps, changes.procedures, strict=False):
        step.scheduled_procedure_step_start_date = procedure.scheduled_start_date
        step.scheduled_procedure_step_start_time = _padded_time(procedure.scheduled_start_time)
        if procedure.scheduled_station_ae_title:
            step.scheduled_station_ae_title = procedure.scheduled_station_ae_title
    session.flush()
    _announce(order.accession_number, "XO", session)
