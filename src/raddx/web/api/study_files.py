"""``/api/studies/{uid}/archive.zip`` and ``/api/studies/{uid}/procedure-steps``: what the
study page of the web application offers beside the listing (issue 10 §1).

The zip is WADO-RS's study download (``Accept: application/zip``, issue 5) under a plain URL:
a browser link cannot send an Accept header, and a person downloading a study clicks a link.
Same instances (soft-deleted ones left out), same audit event, streamed as it is written.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from raddx.ris.performed_steps import performed_steps_for_study
from raddx.web import _audit as web_audit
from raddx.web.api._listing import UIDPath, fetch_one
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._zip_stream import zip_stream
from raddx.web.dicomweb.wado import (
    audit_sent,
    part10_bytes,
    readable_instances,
    resource_instances,
)

__all__ = ["router"]

router = api_router("studies")


@endpoint(
    router,
    "GET",
    "/studies/{uid}/archive.zip",
    action="dicomweb.read",
    response_model=None,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A zip of the study's stored objects (`<SOPInstanceUID>.dcm`).",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def study_zip(services: ServicesDep, uid: UIDPath, request: Request) -> StreamingResponse:
    """The study's stored objects as they were received, in a zip streamed as it is written
    (members stored, not deflated). 404 for an unknown or deleted study. An object whose
    stored bytes cannot be read is left out and logged (the download has begun by then)."""
    retrieve, refs = resource_instances(services, uid)
    audit_sent(request, services, (uid, None, None), refs)
    members = (
        (f"{r.ref.sop_instance_uid}.dcm", part10_bytes(r))
        for r in readable_instances(retrieve, refs)
    )
    headers = {"Content-Disposition": f'attachment; filename="{uid}.zip"'}
    return StreamingResponse(zip_stream(members), media_type="application/zip", headers=headers)


class PerformedStepPublic(BaseModel):
    """A Modality Performed Procedure Step received for the study (PS3.4 F.7)."""

    SOPInstanceUID: str
    PerformedProcedureStepStatus: str = Field(description="IN PROGRESS, COMPLETED or DISCONTINUED.")
    PerformedProcedureStepID: str | None = None
    Modality: str | None = None
    PerformedStationAETitle: str | None = None
    start: str | None = Field(None, description="Start date and time (YYYYMMDDHHMMSS).")
    end: str | None = Field(None, description="End date and time, once completed.")
    performed_series_count: int = 0


@endpoint(
    router,
    "GET",
    "/studies/{uid}/procedure-steps",
    action="orders.read",
    response_model=list[PerformedStepPublic],
)
def procedure_steps(
    services: ServicesDep, uid: UIDPath, request: Request
) -> list[PerformedStepPublic]:
    """The MPPS received for a stored study, oldest first (empty when none arrived).
    404 for an unknown or deleted study."""
    fetch_one(
        services,
        level="STUDY",
        keys={"StudyInstanceUID": uid},
        what=f"study {uid}",
    )
    with services.session_factory() as session:
        steps = performed_steps_for_study(session=session, study_instance_uid=uid)
    # Reading MPPS is a query of patient data, as an MPPS-based worklist lookup would be.
    web_audit.query(request, ModalityPerformedProcedureStep)
    return [
        PerformedStepPublic(
            SOPInstanceUID=s.sop_instance_uid,
            PerformedProcedureStepStatus=s.performed_procedure_step_status,
            PerformedProcedureStepID=s.performed_procedure_step_id,
            Modality=s.modality,
            PerformedStationAETitle=s.performed_station_ae_title,
            start=s.start,
            end=s.end,
            performed_series_count=s.performed_series_count,
        )
        for s in steps
    ]
