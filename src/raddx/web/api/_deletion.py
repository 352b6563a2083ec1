"""Soft delete and restore of one study, series or instance, shared by their routers."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request

from raddx.archive.deletion import restore, soft_delete
from raddx.archive.query import QueryRetrieveLevelValues
from raddx.security.audit import EventActionCodeValues
from raddx.security.audit_lookup import study_of
from raddx.services import Services
from raddx.web import _audit as web_audit
from raddx.web.api._models import DeletionPublic

__all__ = ["delete_entity", "restore_entity"]


def _audit(
    services: Services,
    level: QueryRetrieveLevelValues,
    uid: str,
    request: Request,
    action: EventActionCodeValues,
) -> None:
    """DICOM Instances Accessed (PS3.15 A.5.3.6): D for a delete, U for a restore."""
    study = study_of(services.session_factory, level.value, uid)
    if study is not None:
        web_audit.studies_accessed(request, services.session_factory, [study], action=action)


def delete_entity(
    services: Services, level: QueryRetrieveLevelValues, uid: str, request: Request
) -> DeletionPublic:
    """Soft-delete (``raddx.archive.deletion``) in one unit of work; audited (action D)."""
    with services.session_factory() as session, session.begin():
        done = soft_delete(session=session, level=level, uid=uid, now=dt.datetime.now(dt.UTC))
    _audit(services, level, uid, request, EventActionCodeValues.DELETE)
    return DeletionPublic(
        level=done.level.value,  # type: ignore[arg-type]
        uid=done.uid,
        instances=done.instances,
        deleted_at=done.at,
    )


def restore_entity(
    services: Services, level: QueryRetrieveLevelValues, uid: str, request: Request
) -> DeletionPublic:
    """Undo a soft delete in one unit of work; audited (action U)."""
    with services.session_factory() as session, session.begin():
        done = restore(session=session, level=level, uid=uid)
    _audit(services, level, uid, request, EventActionCodeValues.UPDATE)
    return DeletionPublic(
        level=done.level.value,  # type: ignore[arg-type]
        uid=done.uid,
        instances=done.instances,
        deleted_at=None,
    )
