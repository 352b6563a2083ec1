"""``/api/worklist``: Modality Worklist items (scheduled procedure steps) by hand (issue 6 §8).

``/api/orders`` places and cancels whole orders; here a person lists the worklist items
themselves, adds a step to an existing order and cancels one step
(:mod:`raddx.ris.worklist_items`). 404 unknown accession number or step ID, 409 a step that
is no longer SCHEDULED or an order that has ended, 400 a bad value (e.g. a JJ1017 code).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from raddx.ris import ProcedureCreate, ScheduledProcedureStepStatusValues
from raddx.ris.worklist_items import StepRow, add_step, cancel_step, list_steps
from raddx.security.audit import EventActionCodeValues
from raddx.web import _audit as web_audit
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._route import api_router, endpoint
from raddx.web.api.orders import Date, Time
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb.wado import not_modified

__all__ = ["router"]

router = api_router("worklist")

_TEXT = r"^[^\x00-\x1f\x7f\\]*$"
_DATE = r"^\d{8}$"
_AE = r"^[ -\[\]-~]*$"
SpsIdPath = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=_TEXT, description="Scheduled Procedure Step ID."),
]
AccessionPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_TEXT, description="Accession number.")
]


class StepIn(BaseModel):
    """A further requested procedure with its scheduled step, for an existing order."""

    modality: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9_ ]+$")]
    scheduled_start_date: Date
    scheduled_start_time: Time = "000000"
    description: Annotated[str | None, Field(default=None, max_length=200, pattern=_TEXT)] = None
    jj1017_code: Annotated[str | None, Field(default=None, max_length=64, pattern=_TEXT)] = None
    scheduled_station_ae_title: Annotated[
        str | None, Field(default=None, max_length=16, pattern=_AE)
    ] = None
    scheduled_station_name: Annotated[
        str | None, Field(default=None, max_length=64, pattern=_TEXT)
    ] = None


class StepOut(BaseModel):
    """One worklist item with its order and patient."""

    ScheduledProcedureStepID: str
    ScheduledProcedureStepStatus: str
    Modality: str
    ScheduledStationAETitle: str | None
    ScheduledProcedureStepStartDate: str
    ScheduledProcedureStepStartTime: str
    ScheduledProcedureStepDescription: str | None
    RequestedProcedureID: str
    StudyInstanceUID: str
    jj1017_code: str | None
    AccessionNumber: str
    order_status: str
    PatientID: str
    PatientName: str | None
    ScheduledStationName: str | None = None
    RequestedProcedurePriority: str = "ROUTINE"
    procedure_name: str | None = Field(
        default=None, description="The JJ1017 master's name of the procedure (kanji)."
    )
    procedure_name_kana: str | None = None


def _public(row: StepRow) -> StepOut:
    return StepOut(
        ScheduledProcedureStepID=row.scheduled_procedure_step_id,
        ScheduledProcedureStepStatus=row.scheduled_procedure_step_status,
        Modality=row.modality,
        ScheduledStationAETitle=row.scheduled_station_ae_title,
        ScheduledProcedureStepStartDate=row.scheduled_start_date,
        ScheduledProcedureStepStartTime=row.scheduled_start_time,
        ScheduledProcedureStepDescription=row.description,
        RequestedProcedureID=row.requested_procedure_id,
        StudyInstanceUID=row.study_instance_uid,
        jj1017_code=row.jj1017_code,
        AccessionNumber=row.accession_number,
        order_status=row.order_status,
        PatientID=row.patient_id,
        PatientName=row.patient_name,
        ScheduledStationName=row.scheduled_station_name,
        RequestedProcedurePriority=row.requested_procedure_priority,
        procedure_name=row.procedure_name,
        procedure_name_kana=row.procedure_name_kana,
    )


_STEPS = TypeAdapter(list[StepOut])
_NOT_MODIFIED = {
    304: {"description": "Unchanged since the ETag given in If-None-Match (nothing disclosed)."}
}


@endpoint(
    router,
    "GET",
    "/worklist",
    action="orders.read",
    response_model=list[StepOut],
    responses=_NOT_MODIFIED,
)
def get_worklist(
    services: ServicesDep,
    request: Request,
    status: Annotated[
        ScheduledProcedureStepStatusValues | None, Query(description="Only this step status.")
    ] = None,
    modality: Annotated[str | None, Query(max_length=16, pattern=r"^[A-Z0-9_ ]+$")] = None,
    station: Annotated[
        str | None, Query(max_length=16, pattern=_AE, description="Scheduled station AE title.")
    ] = None,
    station_name: Annotated[
        str | None,
        Query(max_length=64, pattern=_TEXT, description="Scheduled station name (the room)."),
    ] = None,
    date_from: Annotated[str | None, Query(pattern=_DATE)] = None,
    date_to: Annotated[str | None, Query(pattern=_DATE)] = None,
    accession: Annotated[str | None, Query(max_length=64, pattern=_TEXT)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Worklist items in order of scheduled start (what the modalities' MWL query sees,
    plus started, ended and cancelled items when ``status`` asks for them).

    The answer carries an ETag (a digest of its bytes); a request whose If-None-Match names
    it gets 304 and no body. A screen that polls (the web worklist asks every few seconds)
    so costs one query and no transfer while nothing changes, and only an answer that
    discloses something is audited (a Query event, as the MWL C-FIND it mirrors)."""
    with services.session_factory() as session:
        rows = list_steps(
            session=session,
            status=status.value if status else None,
            modality=modality,
            station_ae_title=station,
            station_name=station_name,
            date_from=date_from,
            date_to=date_to,
            accession_number=accession,
            limit=limit,
            offset=offset,
        )
    body = _STEPS.dump_json([_public(r) for r in rows])
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    web_audit.query(request, ModalityWorklistInformationFind)
    return Response(body, media_type="application/json", headers={"ETag": etag})


@endpoint(
    router,
    "POST",
    "/orders/{accession}/steps",
    action="orders.write",
    response_model=StepOut,
    status_code=201,
)
def post_step(
    services: ServicesDep, request: Request, accession: AccessionPath, body: StepIn
) -> StepOut:
    """Add a scheduled step (with its requested procedure and Study Instance UID) to an
    order that has not ended; it appears in the Modality Worklist."""
    procedure = ProcedureCreate(
        modality=body.modality,
        scheduled_start_date=body.scheduled_start_date,
        scheduled_start_time=body.scheduled_start_time,
        description=body.description,
        jj1017_code=body.jj1017_code,
        scheduled_station_ae_title=body.scheduled_station_ae_title,
        scheduled_station_name=body.scheduled_station_name,
    )
    with services.session_factory() as session, session.begin():
        row = add_step(session=session, accession_number=accession, procedure=procedure)
    web_audit.order_records(request, [row.patient_id], EventActionCodeValues.UPDATE)
    return _public(row)


@endpoint(
    router, "POST", "/worklist/{sps_id}/cancel", action="orders.write", response_model=StepOut
)
def post_cancel_step(services: ServicesDep, request: Request, sps_id: SpsIdPath) -> StepOut:
    """Cancel one scheduled step (it leaves the worklist); 409 once it has started or ended.
    The order is cancelled with its last step."""
    with services.session_factory() as session, session.begin():
        row = cancel_step(session=session, scheduled_procedure_step_id=sps_id)
    web_audit.order_records(request, [row.patient_id], EventActionCodeValues.UPDATE)
    return _public(row)
