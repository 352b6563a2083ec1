"""``/api/orders``: RIS orders by hand, for clinics without an HIS feed (issue 6).

List (with a status filter), place an order (raddx assigns the accession number, IDs and
Study Instance UID), cancel one by accession number. The rules are the RIS's
(:mod:`raddx.ris`); errors come back as problem+json (400 bad value such as a JJ1017 code of
the wrong length, 404 unknown accession number, 409 duplicate or a status that cannot change).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from pydantic import AfterValidator, BaseModel, Field, ValidationInfo

from raddx.errors import InvalidInput
from raddx.ris import (
    OrderCreate,
    OrderStatusValues,
    PatientData,
    ProcedureCreate,
    change_order_status,
    find_order,
    place_order,
)
from raddx.ris.accession_issuer import AccessionIssuer
from raddx.ris.listing import OrderRow, list_orders
from raddx.ris.records import check_date, check_time
from raddx.security.audit import EventActionCodeValues
from raddx.web import _audit as web_audit
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("orders")

#: Printable text without control characters or backslash (every database stores it).
_TEXT = r"^[^\x00-\x1f\x7f\\]*$"
Short = Annotated[str, Field(min_length=1, max_length=64, pattern=_TEXT)]
OptionalText = Annotated[str | None, Field(default=None, max_length=200, pattern=_TEXT)]
OptionalId = Annotated[str | None, Field(default=None, max_length=16, pattern=_TEXT)]


def _real_date(value: str | None, info: ValidationInfo) -> str | None:
    # The RIS's own DA check (a real month and day), so a bad date in a form is a 422 that
    # names the field (``errors[].loc``) rather than a bare 400 from deep in the order.
    try:
        return check_date(value, info.field_name or "date")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _required_date(value: str | None, info: ValidationInfo) -> str:
    if not value:
        raise ValueError(f"{info.field_name} is required (YYYYMMDD)")
    return value


def _real_time(value: str, info: ValidationInfo) -> str:
    try:
        check_time(value, info.field_name or "time")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    return value


#: DA ``YYYYMMDD`` with a real month and day.
Date = Annotated[
    str,
    Field(max_length=64, examples=["20261126"]),
    AfterValidator(_real_date),
    AfterValidator(_required_date),
]
OptionalDate = Annotated[str | None, Field(default=None, max_length=64), AfterValidator(_real_date)]
#: TM ``HHMM[SS]`` within range.
Time = Annotated[str, Field(max_length=64, examples=["0930"]), AfterValidator(_real_time)]


class ProcedureIn(BaseModel):
    """One requested procedure with its scheduled step."""

    modality: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9_ ]+$")]
    scheduled_start_date: Date
    scheduled_start_time: Time = "000000"
    description: OptionalText = None
    jj1017_code: Annotated[str | None, Field(default=None, max_length=64, pattern=_TEXT)] = None
    scheduled_station_ae_title: Annotated[
        str | None, Field(default=None, max_length=16, pattern=r"^[ -\[\]-~]*$")
    ] = None
    scheduled_station_name: Annotated[
        str | None, Field(default=None, max_length=64, pattern=_TEXT)
    ] = None


class AccessionIssuerIn(BaseModel):
    """The accession number's issuer (IssuerOfAccessionNumberSequence / HL7 IPC-1 2–4):
    compared with the images' on reconciliation (``raddx.ris.accession_issuer``)."""

    LocalNamespaceEntityID: Annotated[str, Field(max_length=64, pattern=_TEXT)] = ""
    UniversalEntityID: Annotated[str, Field(max_length=64, pattern=_TEXT)] = ""
    UniversalEntityIDType: Annotated[str, Field(max_length=16, pattern=_TEXT)] = ""

    def issuer(self) -> AccessionIssuer | None:
        """As the domain's value object; ``None`` when every component is empty.

        Raises
        ------
        InvalidInput
            ``^`` in a component, a universal ID without its type, an unknown type.
        """
        parts = (self.LocalNamespaceEntityID, self.UniversalEntityID, self.UniversalEntityIDType)
        if not any(parts):
            return None
        try:
            return AccessionIssuer(*parts)
        except ValueError as exc:
            raise InvalidInput(f"issuer_of_accession_number: {exc}") from None


class OrderIn(BaseModel):
    """A new order; PatientName is a DICOM PN (``Yamada^Taro=山田^太郎=ヤマダ^タロウ``)."""

    patient_id: Short
    issuer_of_patient_id: Annotated[str, Field(max_length=64, pattern=_TEXT)] = ""
    patient_name: OptionalText = None
    patient_birth_date: OptionalDate = None
    patient_sex: Annotated[str | None, Field(default=None, pattern=r"^[MFO]$")] = None
    placer_order_number: Annotated[
        str | None, Field(default=None, max_length=64, pattern=_TEXT)
    ] = None
    accession_number: Annotated[str | None, Field(default=None, max_length=16, pattern=_TEXT)] = (
        None
    )
    issuer_of_accession_number: AccessionIssuerIn | None = None
    priority: Annotated[str, Field(pattern=r"^(STAT|HIGH|ROUTINE|MEDIUM|LOW)$")] = "ROUTINE"
    requesting_physician: OptionalText = None
    requesting_service: OptionalText = None
    reason: OptionalText = None
    procedures: Annotated[list[ProcedureIn], Field(min_length=1, max_length=20)]


class StepPublic(BaseModel):
    scheduled_procedure_step_id: str
    modality: str
    scheduled_station_ae_title: str | None
    scheduled_start_date: str
    scheduled_start_time: str
    jj1017_code: str | None


class OrderOut(BaseModel):
    """An order as stored."""

    accession_number: str
    placer_order_number: str | None
    filler_order_number: str
    status: str
    priority: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str | None
    steps: list[StepPublic]


def _public(row: OrderRow) -> OrderOut:
    return OrderOut(
        accession_number=row.accession_number,
        placer_order_number=row.placer_order_number,
        filler_order_number=row.filler_order_number,
        status=row.status,
        priority=row.priority,
        patient_id=row.patient_id,
        issuer_of_patient_id=row.issuer_of_patient_id,
        patient_name=row.patient_name,
        steps=[
            StepPublic(
                scheduled_procedure_step_id=s[0],
                modality=s[1],
                scheduled_station_ae_title=s[2],
                scheduled_start_date=s[3],
                scheduled_start_time=s[4],
                jj1017_code=s[5],
            )
            for s in row.steps
        ],
    )


AccessionPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_TEXT, description="Accession number.")
]


def _one(
    services: ServicesDep, request: Request, accession: str, action: EventActionCodeValues
) -> OrderOut:
    """The order as stored now, audited as an Order Record with ``action``."""
    with services.session_factory() as session:
        find_order(accession_number=accession, session=session)  # NotFound → 404
        (row,) = list_orders(session=session, accession_number=accession, limit=1)
    web_audit.order_records(request, [row.patient_id], action)
    return _public(row)


@endpoint(router, "GET", "/orders", action="orders.read", response_model=list[OrderOut])
def get_orders(
    services: ServicesDep,
    request: Request,
    status: Annotated[OrderStatusValues | None, Query(description="Only this status.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[OrderOut]:
    """Orders, newest first, each with its patient and scheduled steps."""
    with services.session_factory() as session:
        rows = list_orders(
            session=session, status=status.value if status else None, limit=limit, offset=offset
        )
    web_audit.order_records(request, [r.patient_id for r in rows])
    return [_public(r) for r in rows]


@endpoint(
    router, "POST", "/orders", action="orders.write", response_model=OrderOut, status_code=201
)
def add_order(services: ServicesDep, request: Request, body: OrderIn) -> OrderOut:
    """Place an order by hand; raddx assigns what it lacks (accession number, requested
    procedure and step IDs, Study Instance UID). Its steps appear in the Modality Worklist."""
    order = OrderCreate(
        patient=PatientData(
            patient_id=body.patient_id,
            issuer_of_patient_id=body.issuer_of_patient_id,
            patient_name=body.patient_name,
            patient_birth_date=body.patient_birth_date,
            patient_sex=body.patient_sex,
        ),
        procedures=tuple(
            ProcedureCreate(
                modality=p.modality,
                scheduled_start_date=p.scheduled_start_date,
                scheduled_start_time=p.scheduled_start_time,
                description=p.description,
                jj1017_code=p.jj1017_code,
                scheduled_station_ae_title=p.scheduled_station_ae_title,
                scheduled_station_name=p.scheduled_station_name,
            )
            for p in body.procedures
        ),
        placer_order_number=body.placer_order_number,
        accession_number=body.accession_number,
        accession_issuer=(
            body.issuer_of_accession_number.issuer() if body.issuer_of_accession_number else None
        ),
        priority=body.priority,
        requesting_physician=body.requesting_physician,
        requesting_service=body.requesting_service,
        reason=body.reason,
    )
    with services.session_factory() as session, session.begin():
        placed = place_order(
            order,
            session=session,
            refuse_unknown_jj1017=services.settings.jj1017_refuse_unknown,
        )
    return _one(services, request, placed.accession_number, EventActionCodeValues.CREATE)


@endpoint(router, "GET", "/orders/{accession}", action="orders.read", response_model=OrderOut)
def get_order(services: ServicesDep, request: Request, accession: AccessionPath) -> OrderOut:
    """One order by accession number."""
    return _one(services, request, accession, EventActionCodeValues.READ)


@endpoint(
    router, "POST", "/orders/{accession}/cancel", action="orders.write", response_model=OrderOut
)
def cancel_order(services: ServicesDep, request: Request, accession: AccessionPath) -> OrderOut:
    """Cancel a scheduled order (its steps leave the worklist); 409 once it has started or
    ended (a started order is discontinued by the modality's MPPS instead)."""
    with services.session_factory() as session, session.begin():
        order = find_order(accession_number=accession, session=session)
        change_order_status(order, OrderStatusValues.CANCELLED, session=session)
    return _one(services, request, accession, EventActionCodeValues.UPDATE)
