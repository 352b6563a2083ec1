"""FHIR ServiceRequest: one per requested procedure of a RIS order, and orders placed as a
ServiceRequest (the alternative to an HL7 OMG^O19).

``ServiceRequest/<n>`` is requested procedure row n. Its identifiers are the order's
accession (type ACSN), placer (PLAC) and filler (FILL) numbers and the requested procedure
ID; ``requisition`` is the order's accession number, shared by the procedures of one order.
``code.coding`` holds the JJ1017-32 code with the master's name as display
(:mod:`raddx.ris.jj1017_master`); ``orderDetail`` the DICOM modality (DCM) of the worklist
item; ``occurrenceDateTime`` its scheduled start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from raddx.db.models import (
    Jj1017MasterCode,
    RisOrder,
    RisPatient,
    RisRequestedProcedure,
    RisScheduledStep,
)
from raddx.errors import NotFound
from raddx.reports.profile import FHIR
from raddx.ris.fhir._common import ACSN, DCM, JJ1017_SYSTEM, DateRange, PatientKey, fhir_datetime
from raddx.ris.status import OrderStatusValues

__all__ = [
    "ORDER_STATUS",
    "PRIORITY",
    "ServiceRequestSearch",
    "read_service_request",
    "search_service_requests",
    "service_request_resource",
]

_S = OrderStatusValues
#: Order status → ServiceRequest.status (R4 request-status): a started order is still
#: active; discontinued and cancelled orders ended before completion, "revoked".
ORDER_STATUS: dict[str, str] = {
    _S.SCHEDULED.value: "active",
    _S.IN_PROGRESS.value: "active",
    _S.COMPLETED.value: "completed",
    _S.DISCONTINUED.value: "revoked",
    _S.CANCELLED.value: "revoked",
}
#: RequestedProcedurePriority (0040,1003) → ServiceRequest.priority (R4 request-priority).
PRIORITY: dict[str, str] = {
    "STAT": "stat",
    "HIGH": "urgent",
    "MEDIUM": "routine",
    "ROUTINE": "routine",
    "LOW": "routine",
}
_IMAGING = {"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}


@dataclass(frozen=True, slots=True)
class ServiceRequestSearch:
    """Search criteria (all given ones must hold). ``patient`` is an identity (PatientID,
    issuer); ``identifier`` matches the accession, placer, filler or requested procedure
    number; ``statuses`` are order statuses; ``authored`` the order's creation day."""

    patient: tuple[str, str] | None = None
    identifier: str | None = None
    statuses: tuple[str, ...] | None = None
    authored: DateRange | None = None
    code: str | None = None


_Row = tuple[RisRequestedProcedure, RisOrder, RisPatient, RisScheduledStep, str | None]


def _select() -> Select[Any]:
    return (
        select(RisRequestedProcedure, RisOrder, RisPatient, RisScheduledStep, Jj1017MasterCode.name)
        .join(RisOrder, RisRequestedProcedure.order_fk == RisOrder.id)
        .join(RisPatient, RisOrder.patient_fk == RisPatient.id)
        .join(RisScheduledStep, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
        .outerjoin(Jj1017MasterCode, Jj1017MasterCode.code == RisRequestedProcedure.jj1017_code)
    )


def _clauses(search: ServiceRequestSearch, tz: dt.timezone) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if search.patient is not None:
        clauses += [
            RisPatient.patient_id == search.patient[0],
            RisPatient.issuer_of_patient_id == search.patient[1],
        ]
    if search.identifier is not None:
        v = search.identifier
        clauses.append(
            or_(
                RisOrder.accession_number == v,
                RisOrder.placer_order_number == v,
                RisOrder.filler_order_number == v,
                RisRequestedProcedure.requested_procedure_id == v,
            )
        )
    if search.statuses is not None:
        clauses.append(RisOrder.status.in_(search.statuses))
    if search.authored is not None:
        # Days in the site's timezone, compared as instants (created_at is UTC).
        if search.authored.start:
            start = dt.datetime.combine(search.authored.start, dt.time(), tzinfo=tz)
            clauses.append(RisOrder.created_at >= start)
        if search.authored.end:
            end = dt.datetime.combine(search.authored.end + dt.timedelta(days=1), dt.time(), tz)
            clauses.append(RisOrder.created_at < end)
    if search.code is not None:
        clauses.append(RisRequestedProcedure.jj1017_code == search.code)
    return clauses


def search_service_requests(
    search: ServiceRequestSearch, *, session: Session, offset: int, limit: int, tz: dt.timezone
) -> tuple[int, list[_Row]]:
    """``(total, page)`` of requested procedures, newest first."""
    if (search.authored is not None and search.authored.empty) or search.statuses == ():
        return 0, []
    stmt = _select().where(*_clauses(search, tz))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = session.execute(
        stmt.order_by(RisRequestedProcedure.id.desc()).offset(offset).limit(limit)
    ).all()
    return total, [tuple(r) for r in page]  # type: ignore[misc]


def read_service_request(row_id: int, *, session: Session) -> _Row:
    """One requested procedure with its order, patient, step and master name.

    Raises
    ------
    NotFound
        No such requested procedure.
    """
    found = session.execute(_select().where(RisRequestedProcedure.id == row_id)).first()
    if found is None:
        raise NotFound(f"no ServiceRequest/{row_id}")
    return tuple(found)  # type: ignore[return-value]


def _identifier(type_code: str | None, kind: str, value: str) -> dict[str, Any]:
    ident: dict[str, Any] = {"system": f"{FHIR.order_id_system}:{kind}", "value": value}
    if type_code:
        ident["type"] = {"coding": [{"system": FHIR.accession_type_system, "code": type_code}]}
    return ident


def service_request_resource(row: _Row, *, tz: dt.timezone) -> dict[str, Any]:
    """A requested procedure as an R4 ServiceRequest (see the module docstring)."""
    procedure, order, patient, step, master_name = row
    identifiers = [_identifier(ACSN, ACSN.lower(), order.accession_number)]
    if order.placer_order_number:
        identifiers.append(_identifier("PLAC", "plac", order.placer_order_number))
    identifiers.append(_identifier("FILL", "fill", order.filler_order_number))
    identifiers.append(_identifier(None, "rp", procedure.requested_procedure_id))
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(procedure.id),
        "identifier": identifiers,
        "requisition": _identifier(ACSN, ACSN.lower(), order.accession_number),
        "status": ORDER_STATUS.get(order.status, "unknown"),
        "intent": "order",
        "category": [{"coding": [_IMAGING]}],
        "priority": PRIORITY.get(order.requested_procedure_priority, "routine"),
        "subject": {"reference": f"Patient/{PatientKey('r', patient.id)}"},
        "authoredOn": order.created_at.astimezone(tz).isoformat(),
        "orderDetail": [{"coding": [{"system": DCM, "code": step.modality}]}],
    }
    description = procedure.requested_procedure_description
    if procedure.jj1017_code or description:
        code: dict[str, Any] = {}
        if procedure.jj1017_code:
            coding = {"system": JJ1017_SYSTEM, "code": procedure.jj1017_code}
            if master_name:
                coding["display"] = master_name
            code["coding"] = [coding]
        if description or master_name:
            code["text"] = description or master_name
        resource["code"] = code
    occurrence = fhir_datetime(
        step.scheduled_procedure_step_start_date, step.scheduled_procedure_step_start_time, tz
    )
    if occurrence:
        resource["occurrenceDateTime"] = occurrence
    if order.requesting_physician:
        resource["requester"] = {"display": order.requesting_physician}
    if order.reason_for_the_requested_procedure:
        resource["reasonCode"] = [{"text": order.reason_for_the_requested_procedure}]
    if step.scheduled_station_ae_title or step.scheduled_procedure_step_location:
        resource["locationCode"] = [
            {"text": step.scheduled_procedure_step_location or step.scheduled_station_ae_title}
        ]
    return resource
