"""Soft delete and restore of one study, series or instance, shared by their routers."""

from __future__ import annotations

import datetime as dt

from raddx.archive.deletion import restore, soft_delete
from raddx.archive.query import QueryRetrieveLevelValues
from raddx.services import Services
from raddx.web.api._models import DeletionPublic

__all__ = ["delete_entity", "restore_entity"]


def delete_entity(services: Services, level: QueryRetrieveLevelValues, uid: str) -> DeletionPublic:
    """Soft-delete (``raddx.archive.deletion``) in one unit of work."""
    with services.session_factory() as session, session.begin():
        done = soft_delete(session=session, level=level, uid=uid, now=dt.datetime.now(dt.UTC))
    return DeletionPublic(
        level=done.level.value,  # type: ignore[arg-type]
        uid=done.uid,
        instances=done.instances,
        deleted_at=done.at,
    )


def restore_entity(services: Services, level: QueryRetrieveLevelValues, uid: str) -> DeletionPublic:
    """Undo a soft delete in one unit of work."""
    with services.session_factory() as session, session.begin():
        done = restore(session=session, level=level, uid=uid)
    return DeletionPublic(
        level=done.level.value,  # type: ignore[arg-type]
        uid=done.uid,
        instances=done.instances,
        deleted_at=None,
    )
