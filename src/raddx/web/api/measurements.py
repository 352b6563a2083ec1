"""``/api/studies/{uid}/measurements``: the viewer's measurements saved into the study as a
DICOM Measurement Report (TID 1500) and read back.

The door only translates: :mod:`raddx.archive.measurement_store` checks the images and
stores the SR through the ingest. Both are audited as DICOM Instances Accessed (PS3.15
A.5.3.6): saving as Create, reading as Read (the answer discloses the study's images).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Request
from pydantic import BaseModel, Field

from raddx.archive.measurement_store import (
    SavedMeasurements,
    list_measurements,
    save_measurements,
)
from raddx.archive.measurements import Measurement
from raddx.errors import InvalidInput
from raddx.security.audit import EventActionCodeValues
from raddx.web import _audit as web_audit
from raddx.web.api._listing import UIDPath
from raddx.web.api._route import api_router, endpoint
from raddx.web.auth import CurrentPrincipal
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("studies")

Point = Annotated[list[Annotated[float, Field(ge=0, le=1e6)]], Field(min_length=2, max_length=2)]


class MeasurementBody(BaseModel):
    """One measurement as the viewer took it: the image (and frame) it was drawn on, its
    points in image coordinates ``[column, row]`` (origin: the top-left corner of the
    top-left pixel), and its values."""

    kind: Literal["length", "angle", "ellipse"]
    sop_instance_uid: str = Field(max_length=64, pattern=r"^[0-9.]+$")
    frame: int | None = Field(None, ge=1)
    points: list[Point] = Field(min_length=2, max_length=4)
    #: mm (length), degrees (angle) or mm² (ellipse area).
    value: float
    #: The ellipse's statistics' unit: "HU" (CT), else "".
    unit: Literal["HU", ""] = ""
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    label: str | None = Field(None, max_length=64)

    def to_domain(self) -> Measurement:
        stats = {
            k: v
            for k, v in (("mean", self.mean), ("sd", self.sd), ("min", self.min), ("max", self.max))
            if v is not None
        }
        try:
            return Measurement(
                kind=self.kind,
                sop_class_uid="",
                sop_instance_uid=self.sop_instance_uid,
                frame=self.frame,
                points=tuple((p[0], p[1]) for p in self.points),
                value=self.value,
                unit=self.unit,
                stats=stats,
                label=self.label,
            )
        except ValueError as exc:
            raise InvalidInput(f"measurement: {exc}") from None

    @classmethod
    def of(cls, m: Measurement) -> MeasurementBody:
        return cls(
            kind=m.kind,
            sop_instance_uid=m.sop_instance_uid,
            frame=m.frame,
            points=[[x, y] for x, y in m.points],
            value=m.value,
            unit="HU" if m.unit == "HU" else "",
            label=m.label,
            **m.stats,
        )


class SaveBody(BaseModel):
    measurements: list[MeasurementBody] = Field(min_length=1, max_length=500)


class Saved(BaseModel):
    """The stored Measurement Report."""

    sop_instance_uid: str


class SavedSet(BaseModel):
    """One Measurement Report of the study: who saved it, when, and its measurements."""

    sop_instance_uid: str
    observer: str | None = None
    #: ContentDate + ContentTime of the report (YYYYMMDDHHMMSS).
    saved_at: str | None = None
    measurements: list[MeasurementBody]

    @classmethod
    def of(cls, saved: SavedMeasurements) -> SavedSet:
        return cls(
            sop_instance_uid=saved.sop_instance_uid,
            observer=saved.observer,
            saved_at=saved.saved_at,
            measurements=[MeasurementBody.of(m) for m in saved.measurements],
        )


@endpoint(
    router,
    "POST",
    "/studies/{uid}/measurements",
    action="measurements.write",
    response_model=Saved,
    status_code=201,
)
def post_measurements(
    services: ServicesDep,
    uid: UIDPath,
    body: SaveBody,
    principal: CurrentPrincipal,
    request: Request,
) -> Saved:
    """Save measurements into the study as one DICOM Measurement Report (TID 1500,
    Comprehensive SR, series 9002). 400 when an image is not in the study or a frame does
    not exist; 404 for an unknown study."""
    sop_uid = save_measurements(
        session_factory=services.session_factory,
        blobs=services.blobs,
        ingest=services.ingest,
        study_uid=uid,
        measurements=[m.to_domain() for m in body.measurements],
        observer=principal.name,
    )
    web_audit.studies_accessed(
        request, services.session_factory, [uid], action=EventActionCodeValues.CREATE
    )
    return Saved(sop_instance_uid=sop_uid)


@endpoint(
    router,
    "GET",
    "/studies/{uid}/measurements",
    action="dicomweb.read",
    response_model=list[SavedSet],
)
def get_measurements(services: ServicesDep, uid: UIDPath, request: Request) -> list[SavedSet]:
    """The study's Measurement Reports (saved by raddx's viewer or any other), oldest first."""
    with services.session_factory() as session:
        saved = list_measurements(session=session, blobs=services.blobs, study_uid=uid)
    web_audit.studies_accessed(
        request, services.session_factory, [uid], action=EventActionCodeValues.READ
    )
    return [SavedSet.of(s) for s in saved]
