"""``/api/reading-list``: the radiologist's worklist of studies to report (issue 10 §4).

The door only translates: :func:`raddx.reports.reading_list.reading_list` decides which
studies are unreported, being written or waiting for 二次読影, and in which order. A listing
names patients, so it is audited as a query (PS3.15 A.5.3.10), as ``/api/studies`` is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, Field
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from raddx.errors import InvalidInput
from raddx.reports.reading_list import ReadingItem, ReadingStatusValues, reading_list
from raddx.web import _audit as web_audit
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._models import Page, PersonName
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("reading-list")


class ReadingItemPublic(BaseModel):
    """One study to report: patient, study, the order's priority and the report in progress."""

    StudyInstanceUID: str
    StudyDate: str | None = None
    StudyTime: str | None = None
    AccessionNumber: str | None = None
    StudyDescription: str | None = None
    ModalitiesInStudy: list[str] = Field(default_factory=list)
    NumberOfStudyRelatedInstances: int = 0
    PatientID: str
    PatientName: PersonName | None = None
    PatientBirthDate: str | None = None
    PatientSex: str | None = None
    #: RequestedProcedurePriority of the linked order (STAT, HIGH, ROUTINE, MEDIUM, LOW).
    priority: str | None = None
    status: ReadingStatusValues
    report_id: str | None = None
    report_status: str | None = None
    #: The author of the report in progress (of a preliminary one: the first reader).
    report_author: str | None = None

    @classmethod
    def of(cls, item: ReadingItem) -> ReadingItemPublic:
        return cls(
            StudyInstanceUID=item.study_instance_uid,
            StudyDate=item.study_date,
            StudyTime=item.study_time,
            AccessionNumber=item.accession_number,
            StudyDescription=item.study_description,
            ModalitiesInStudy=list(item.modalities),
            NumberOfStudyRelatedInstances=item.number_of_instances,
            PatientID=item.patient_id,
            PatientName=PersonName.from_value(item.patient_name),
            PatientBirthDate=item.patient_birth_date,
            PatientSex=item.patient_sex,
            priority=item.priority,
            status=item.status,
            report_id=item.report_id,
            report_status=item.report_status,
            report_author=item.report_author,
        )


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise InvalidInput(f"{name} {value!r} is not a date (YYYYMMDD or YYYY-MM-DD)")


@endpoint(
    router,
    "GET",
    "/reading-list",
    action="report.read",
    response_model=Page[ReadingItemPublic],
)
def get_reading_list(
    services: ServicesDep,
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Annotated[
        list[ReadingStatusValues] | None,
        Query(description="Reading statuses to list (repeatable); default: all but reported."),
    ] = None,
    modality: Annotated[
        str | None,
        Query(
            max_length=16,
            pattern=r"^[A-Za-z0-9_ ]*$",
            description="Studies with a series of this Modality (e.g. CT).",
        ),
    ] = None,
    date_from: Annotated[
        str | None, Query(max_length=10, description="Study date from (YYYYMMDD or YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, Query(max_length=10, description="Study date to, inclusive.")
    ] = None,
) -> Page[ReadingItemPublic]:
    """Studies to report, most urgent first: STAT/HIGH orders before routine ones, then the
    longest waiting; each with its reading status and the report in progress, if any."""
    kwargs = {"statuses": status} if status else {}
    with services.session_factory() as session:
        items = reading_list(
            session=session,
            modality=modality or None,
            date_from=_date(date_from, "date_from"),
            date_to=_date(date_to, "date_to"),
            limit=limit + 1,
            offset=offset,
            **kwargs,  # type: ignore[arg-type]
        )
    web_audit.query(request, StudyRootQueryRetrieveInformationModelFind)
    next_url = None
    if len(items) > limit:
        items = items[:limit]
        next_url = str(request.url.include_query_params(offset=offset + limit, limit=limit))
    return Page[ReadingItemPublic](
        items=[ReadingItemPublic.of(i) for i in items], limit=limit, offset=offset, next=next_url
    )
