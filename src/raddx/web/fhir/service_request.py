"""``/fhir/ServiceRequest``: read, search (patient, identifier/accession, status, authored,
code) and create — placing a RIS order as a FHIR ServiceRequest instead of an HL7 OMG^O19.

A create answers 201 with the stored ServiceRequest and its ``Location``; a body that is not
a well-formed R4 ServiceRequest is 400, one the RIS refuses (a JJ1017 code of the wrong
length or with an unknown modality digit, an unknown Patient, no date or modality) is 422,
and a duplicate accession or placer number 409 — each as an OperationOutcome. A JJ1017 code
the master does not hold is accepted with a ``Warning`` header (refused with
``jj1017_refuse_unknown``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Query, Request
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from raddx.db.models import RisRequestedProcedure
from raddx.errors import InvalidInput, NotFound
from raddx.ris import place_order
from raddx.ris.fhir import (
    ServiceRequestSearch,
    identity_of,
    order_from_service_request,
    read_service_request,
    search_service_requests,
    service_request_resource,
)
from raddx.ris.status import OrderStatusValues
from raddx.security.audit import EventActionCodeValues
from raddx.web._errors import UnsupportedMediaType
from raddx.web.deps import ServicesDep
from raddx.web.fhir import _audit
from raddx.web.fhir._common import Count, Offset, page_size, site_timezone
from raddx.web.fhir._route import FhirResponse, Unprocessable, endpoint, fhir_router
from raddx.web.fhir._search import base_url, date_range, searchset, split_token
from raddx.web.fhir.patient import parse_key

__all__ = ["router"]

router = fhir_router("fhir")

_S = OrderStatusValues
#: ServiceRequest.status → the order statuses it stands for.
_STATUSES: dict[str, tuple[str, ...]] = {
    "active": (_S.SCHEDULED.value, _S.IN_PROGRESS.value),
    "completed": (_S.COMPLETED.value,),
    "revoked": (_S.DISCONTINUED.value, _S.CANCELLED.value),
    "draft": (),
    "on-hold": (),
    "entered-in-error": (),
    "unknown": (),
}
_MEDIA_TYPES = ("application/fhir+json", "application/json")


def _row_id(value: str) -> int:
    # isascii: str.isdigit also accepts digits int() refuses ("¹", found by the API fuzz test).
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise NotFound(f"no ServiceRequest/{value}")
    return int(value)


@endpoint(router, "GET", "/ServiceRequest/{request_id}", action="fhir.read")
def read(services: ServicesDep, request: Request, request_id: str) -> dict[str, Any]:
    """One requested procedure of a RIS order as a ServiceRequest."""
    with services.session_factory() as session:
        row = read_service_request(_row_id(request_id), session=session)
        resource = service_request_resource(row, tz=site_timezone(services))
    _audit.orders(request, [row[2].patient_id])
    return resource


@endpoint(router, "GET", "/ServiceRequest", action="fhir.read")
def search(
    services: ServicesDep,
    request: Request,
    count: Count = None,
    offset: Offset = 0,
    id_: Annotated[str | None, Query(alias="_id")] = None,
    patient: Annotated[str | None, Query(description="Patient/<id>.")] = None,
    subject: Annotated[str | None, Query(description="Patient/<id>.")] = None,
    identifier: Annotated[
        str | None, Query(description="Accession, placer, filler or requested procedure no.")
    ] = None,
    status: Annotated[
        str | None, Query(description="active, completed, revoked; a,b = any.")
    ] = None,
    authored: Annotated[list[str] | None, Query(description="eq/ge/le/gt/lt + date.")] = None,
    code: Annotated[str | None, Query(description="[system|]JJ1017-32 code.")] = None,
) -> dict[str, Any]:
    """Requested procedures matching every parameter given, newest first."""
    size = page_size(services, count)
    tz = site_timezone(services)
    statuses: tuple[str, ...] | None = None
    if status:
        wanted = status.split(",")
        unknown = [s for s in wanted if s not in _STATUSES]
        if unknown:
            raise InvalidInput(f"status {unknown[0]!r} is not a ServiceRequest status")
        statuses = tuple(s for w in wanted for s in _STATUSES[w])
    with services.session_factory() as session:
        reference = patient or subject
        criteria = ServiceRequestSearch(
            patient=identity_of(parse_key(reference), session=session) if reference else None,
            identifier=split_token(identifier)[1] if identifier else None,
            statuses=statuses,
            authored=date_range(authored or [], "authored"),
            code=split_token(code)[1] if code else None,
        )
        if id_ is not None:
            try:
                rows = [read_service_request(_row_id(id_), session=session)]
            except NotFound:
                rows = []
            total, rows = len(rows), rows[offset : offset + size]
        else:
            total, rows = search_service_requests(
                criteria, session=session, offset=offset, limit=size, tz=tz
            )
        resources = [service_request_resource(r, tz=tz) for r in rows]
    _audit.orders(request, [r[2].patient_id for r in rows])
    return searchset(
        request,
        "ServiceRequest",
        resources,
        offset=offset,
        count=size,
        more=offset + size < total,
        total=total,
    )


def _parse(body: bytes, content_type: str) -> dict[str, Any]:
    if content_type.split(";")[0].strip().lower() not in _MEDIA_TYPES:
        raise UnsupportedMediaType(f"Content-Type {content_type!r}: send application/fhir+json")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    except RecursionError:  # json's decoder recurses per level: "[[[[..." 5,000 deep
        raise InvalidInput("the body's JSON nests too deeply") from None
    if not isinstance(data, dict) or data.get("resourceType") != "ServiceRequest":
        raise InvalidInput("the body is not a ServiceRequest resource")
    try:
        ServiceRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]
        )
        raise InvalidInput(f"not a valid R4 ServiceRequest: {problems}") from None
    return data


@endpoint(router, "POST", "/ServiceRequest", action="fhir.write", status_code=201)
async def create(services: ServicesDep, request: Request) -> FhirResponse:
    """Place an order from a ServiceRequest (see the module docstring for what is read)."""
    data = _parse(await request.body(), request.headers.get("content-type", ""))
    resource, warning, patient_id = await run_in_threadpool(_create, services, data)
    _audit.orders(request, [patient_id], EventActionCodeValues.CREATE)
    headers = {"Location": f"{base_url(request)}/ServiceRequest/{resource['id']}"}
    if warning:
        headers["Warning"] = f'299 raddx "{warning}"'
    return FhirResponse(resource, status_code=201, headers=headers)


def _create(services: Any, data: dict[str, Any]) -> tuple[dict[str, Any], str | None, str]:
    tz = site_timezone(services)
    with services.session_factory() as session, session.begin():
        try:
            order = order_from_service_request(data, session=session, tz=tz)
            placed = place_order(
                order,
                session=session,
                refuse_unknown_jj1017=services.settings.jj1017_refuse_unknown,
            )
        except (InvalidInput, NotFound) as exc:
            raise Unprocessable(str(exc)) from None
        row_id = session.scalar(
            select(RisRequestedProcedure.id).where(
                RisRequestedProcedure.requested_procedure_id == placed.requested_procedure_ids[0]
            )
        )
        assert row_id is not None
        resource = service_request_resource(read_service_request(row_id, session=session), tz=tz)
    warning = None
    if placed.unknown_jj1017_codes:
        warning = "JJ1017 code(s) not in the master: " + ", ".join(placed.unknown_jj1017_codes)
    return resource, warning, order.patient.patient_id
