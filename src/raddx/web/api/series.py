"""``/api/series``: list, get, soft-delete and restore series (SERIES level, Study Root)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from raddx.archive.query import QueryRetrieveLevelValues
from raddx.web.api._deletion import delete_entity, restore_entity
from raddx.web.api._listing import Limit, Offset, UIDPath, fetch_one, fetch_page
from raddx.web.api._models import UID_PATTERN, DeletionPublic, Page, SeriesPublic
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("series")

_RETURNED: dict[str, str | None] = {
    name: None
    for name in (
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "SeriesDate",
        "BodyPartExamined",
        "NumberOfSeriesRelatedInstances",
    )
}


@endpoint(router, "GET", "/series", action="archive.read", response_model=Page[SeriesPublic])
def list_series(
    services: ServicesDep,
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    study_uid: Annotated[
        str | None,
        Query(
            alias="StudyInstanceUID",
            pattern=UID_PATTERN,
            max_length=64,
            description="The series of this study.",
        ),
    ] = None,
    modality: Annotated[str | None, Query(alias="Modality", description="e.g. CT, MR.")] = None,
    description: Annotated[
        str | None, Query(alias="SeriesDescription", description="`*`/`?` wildcards.")
    ] = None,
) -> Page[SeriesPublic]:
    """Visible series matching every filter given, in index order."""
    keys = {
        **_RETURNED,
        "StudyInstanceUID": study_uid,
        "Modality": modality,
        "SeriesDescription": description,
    }
    items, next_url = fetch_page(
        services, request, level="SERIES", keys=keys, limit=limit, offset=offset
    )
    return Page[SeriesPublic](
        items=[SeriesPublic(**i) for i in items], limit=limit, offset=offset, next=next_url
    )


@endpoint(router, "GET", "/series/{uid}", action="archive.read", response_model=SeriesPublic)
def get_series(services: ServicesDep, uid: UIDPath) -> SeriesPublic:
    """One series by SeriesInstanceUID."""
    keys = {**_RETURNED, "SeriesInstanceUID": uid}
    return SeriesPublic(**fetch_one(services, level="SERIES", keys=keys, what=f"series {uid}"))


@endpoint(router, "DELETE", "/series/{uid}", action="archive.delete", response_model=DeletionPublic)
def delete_series(services: ServicesDep, uid: UIDPath, request: Request) -> DeletionPublic:
    """Soft-delete a series (see DELETE /api/studies/{uid}); its study is recounted, and
    deleted too when this was its last series."""
    return delete_entity(services, QueryRetrieveLevelValues.SERIES, uid, request)


@endpoint(
    router,
    "POST",
    "/series/{uid}/restore",
    action="archive.delete",
    response_model=DeletionPublic,
)
def restore_series(services: ServicesDep, uid: UIDPath, request: Request) -> DeletionPublic:
    """Undo a soft delete: the series, its instances, and its study and patient."""
    return restore_entity(services, QueryRetrieveLevelValues.SERIES, uid, request)
