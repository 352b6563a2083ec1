"""``/api/instances``: list, get, soft-delete and restore instances (IMAGE level)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from raddx.archive.query import QueryRetrieveLevelValues
from raddx.web.api._deletion import delete_entity, restore_entity
from raddx.web.api._listing import Limit, Offset, UIDPath, fetch_one, fetch_page
from raddx.web.api._models import UID_PATTERN, DeletionPublic, InstancePublic, Page
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("instances")

_RETURNED: dict[str, str | None] = {
    name: None for name in ("SOPClassUID", "InstanceNumber", "NumberOfFrames", "Rows", "Columns")
}


def _uid_filter(keyword: str, description: str) -> object:
    return Query(alias=keyword, pattern=UID_PATTERN, max_length=64, description=description)


@endpoint(router, "GET", "/instances", action="archive.read", response_model=Page[InstancePublic])
def list_instances(
    services: ServicesDep,
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    study_uid: Annotated[
        str | None, _uid_filter("StudyInstanceUID", "The instances of this study.")
    ] = None,
    series_uid: Annotated[
        str | None, _uid_filter("SeriesInstanceUID", "The instances of this series.")
    ] = None,
    sop_class_uid: Annotated[
        str | None, _uid_filter("SOPClassUID", "Instances of this SOP Class.")
    ] = None,
) -> Page[InstancePublic]:
    """Visible instances matching every filter given, by series, in index order."""
    keys = {
        **_RETURNED,
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": series_uid,
        "SOPClassUID": sop_class_uid,
    }
    items, next_url = fetch_page(
        services, request, level="IMAGE", keys=keys, limit=limit, offset=offset
    )
    return Page[InstancePublic](
        items=[InstancePublic(**i) for i in items], limit=limit, offset=offset, next=next_url
    )


@endpoint(router, "GET", "/instances/{uid}", action="archive.read", response_model=InstancePublic)
def get_instance(services: ServicesDep, uid: UIDPath) -> InstancePublic:
    """One instance by SOPInstanceUID."""
    keys = {**_RETURNED, "SOPInstanceUID": uid}
    return InstancePublic(**fetch_one(services, level="IMAGE", keys=keys, what=f"instance {uid}"))


@endpoint(
    router,
    "DELETE",
    "/instances/{uid}",
    action="archive.delete",
    response_model=DeletionPublic,
)
def delete_instance(services: ServicesDep, uid: UIDPath, request: Request) -> DeletionPublic:
    """Soft-delete an instance (see DELETE /api/studies/{uid}); its series and study are
    recounted, and deleted too when it was their last instance."""
    return delete_entity(services, QueryRetrieveLevelValues.IMAGE, uid, request)


@endpoint(
    router,
    "POST",
    "/instances/{uid}/restore",
    action="archive.delete",
    response_model=DeletionPublic,
)
def restore_instance(services: ServicesDep, uid: UIDPath, request: Request) -> DeletionPublic:
    """Undo a soft delete: the instance, and its series, study and patient."""
    return restore_entity(services, QueryRetrieveLevelValues.IMAGE, uid, request)
