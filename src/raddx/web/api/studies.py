"""``/api/studies``: list, get, soft-delete and restore studies (STUDY level, Study Root)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request

from raddx.archive.query import REPORT_STATUSES, QueryRetrieveLevelValues
from raddx.web.api._deletion import delete_entity, restore_entity
from raddx.web.api._listing import (
    Limit,
    Offset,
    UIDPath,
    count_matches,
    fetch_one,
    fetch_page,
)
from raddx.web.api._models import DeletionPublic, Page, StudyPublic
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("studies")

_RETURNED: dict[str, str | None] = {
    name: None
    for name in (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    )
}
_WILDCARDS = " `*` and `?` wildcards as in C-FIND/QIDO-RS."
_PN = "Any component group (alphabetic, ideographic, phonetic), case-insensitive;" + _WILDCARDS

#: ``sort`` values: a column, ``-`` in front for descending.
SortValues = Literal[
    "StudyDate",
    "-StudyDate",
    "PatientName",
    "-PatientName",
    "PatientID",
    "-PatientID",
    "AccessionNumber",
    "-AccessionNumber",
    "ModalitiesInStudy",
    "-ModalitiesInStudy",
    "StudyDescription",
    "-StudyDescription",
]
#: The count of matches stops here: counting 100,000 matches would cost more than the page.
COUNT_CAP = 1_000
_STATUS = {"report_status_returned": True}


def _order_by(sort: str | None) -> tuple[str, ...]:
    """A ``sort`` value as the query engine's sort keys: the study date sorts with its time."""
    if not sort:
        return ()
    if sort.lstrip("-") == "StudyDate":
        sign = "-" if sort.startswith("-") else ""
        return (f"{sign}StudyDate", f"{sign}StudyTime")
    return (sort,)


def _filter(keyword: str, description: str) -> object:
    return Query(alias=keyword, description=description)


@endpoint(router, "GET", "/studies", action="archive.read", response_model=Page[StudyPublic])
def list_studies(
    services: ServicesDep,
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    patient_id: Annotated[str | None, _filter("PatientID", "PatientID;" + _WILDCARDS)] = None,
    patient_name: Annotated[str | None, _filter("PatientName", _PN)] = None,
    referring_physician: Annotated[
        str | None, _filter("ReferringPhysicianName", "The referring physician: " + _PN)
    ] = None,
    study_date: Annotated[
        str | None,
        _filter("StudyDate", "YYYYMMDD, or a range YYYYMMDD-YYYYMMDD (either end open)."),
    ] = None,
    accession_number: Annotated[
        str | None, _filter("AccessionNumber", "AccessionNumber;" + _WILDCARDS)
    ] = None,
    modalities: Annotated[
        str | None,
        _filter("ModalitiesInStudy", "A study with a series of this Modality (e.g. CT)."),
    ] = None,
    description: Annotated[
        str | None, _filter("StudyDescription", "StudyDescription;" + _WILDCARDS)
    ] = None,
    study_uid: Annotated[
        str | None,
        _filter("StudyInstanceUID", "One UID, or several separated by backslashes."),
    ] = None,
    report_status: Annotated[
        str | None,
        Query(
            description="The study's report status (see ReportStatus of the answers): one of "
            + ", ".join(REPORT_STATUSES)
            + ", or several separated by commas (any of them).",
            max_length=200,
        ),
    ] = None,
    fuzzy: Annotated[
        bool, Query(alias="fuzzymatching", description="Fuzzy person-name matching.")
    ] = False,
    sort: Annotated[
        SortValues | None,
        Query(
            description="Sort on the server before paging: a column, `-` in front for "
            "descending. StudyDate sorts by date and time; PatientName by the kana reading "
            "(phonetic group), then the alphabetic and ideographic groups. Studies without "
            "the value come first ascending, last descending; ties keep one order between "
            "pages. Without sort: index order."
        ),
    ] = None,
) -> Page[StudyPublic]:
    """Visible studies matching every filter given, sorted by ``sort``, with a count of
    the matches (``total``, exact up to 1,000: beyond that ``total_exact`` is false)."""
    keys = {
        **_RETURNED,
        "PatientID": patient_id,
        "PatientName": patient_name,
        "StudyDate": study_date,
        "AccessionNumber": accession_number,
        "ModalitiesInStudy": modalities,
        "StudyDescription": description,
        "StudyInstanceUID": study_uid,
        "ReferringPhysicianName": referring_physician,
    }
    statuses = tuple(v.strip() for v in (report_status or "").split(",") if v.strip())
    options = {**_STATUS, "order_by": _order_by(sort), "report_status": statuses}
    items, next_url = fetch_page(
        services,
        request,
        level="STUDY",
        keys=keys,
        limit=limit,
        offset=offset,
        fuzzy=fuzzy,
        options=options,
    )
    total = count_matches(
        services, level="STUDY", keys=keys, cap=COUNT_CAP, fuzzy=fuzzy, options=options
    )
    return Page[StudyPublic](
        items=[StudyPublic(**i) for i in items],
        limit=limit,
        offset=offset,
        next=next_url,
        total=min(total, COUNT_CAP),
        total_exact=total <= COUNT_CAP,
    )


@endpoint(router, "GET", "/studies/{uid}", action="archive.read", response_model=StudyPublic)
def get_study(services: ServicesDep, uid: UIDPath) -> StudyPublic:
    """One study by StudyInstanceUID."""
    keys = {**_RETURNED, "StudyInstanceUID": uid}
    answer = fetch_one(services, level="STUDY", keys=keys, what=f"study {uid}", options=_STATUS)
    return StudyPublic(**answer)


@endpoint(
    router, "DELETE", "/studies/{uid}", action="archive.delete", response_model=DeletionPublic
)
def delete_study(services: ServicesDep, uid: UIDPath, request: Request) -> DeletionPublic:
    """Soft-delete a study: it disappears from every door (C-FIND, QIDO-RS, WADO, C-MOVE,
    C-GET, this API) until restored; a purge removes it for good. Deleting a study that is
    already deleted is a 409; an unknown or purged one a 404."""
    return delete_entity(services, QueryRetrieveLevelValues.STUDY, uid, request)


@endpoint(
    router,
    "POST",
    "/studies/{uid}/restore",
    action="archive.delete",
    response_model=DeletionPublic,
)
def restore_study(services: ServicesDep, uid: UIDPath, request: Request) -> DeletionPublic:
    """Undo a soft delete (before the purge): the study with all its series and instances,
    and its patient. 409 when it is not deleted."""
    return restore_entity(services, QueryRetrieveLevelValues.STUDY, uid, request)
