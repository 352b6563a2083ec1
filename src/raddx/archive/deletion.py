"""Deletion: soft delete, restore, and purge of studies, series and instances.

Deleting is two steps, as in most PACS, so that a mistaken deletion can be undone:

1. **Soft delete** (:func:`soft_delete`) sets ``deleted_at`` on the entity and on everything
   below it that is not already deleted. The rows and blobs stay; every door stops seeing
   them, because the query engine applies :func:`~raddx.archive.query.visibility.visible` to
   every read (C-FIND, QIDO-RS, WADO-RS, C-MOVE, C-GET, the REST API). A parent left with
   nothing visible below it is deleted with it (a study whose last series goes, a patient
   whose last study goes), so no empty study lingers in the answers. The counters kept on
   the study and series rows (NumberOfStudyRelatedInstances, ModalitiesInStudy, sizes…) are
   recounted from what stays visible.
2. **Purge** (:func:`purge`) removes what was soft-deleted before a cutoff, for good: the
   index rows in one transaction, together with a ``purge_pending`` row per blob; the blobs
   after the commit, then their pending rows. A purge interrupted after its commit leaves no
   index row without its blob; the blobs left behind are deleted by the next purge or by the
   sweep (which would otherwise re-index them as lost objects).

:func:`restore` undoes a soft delete before the purge: the entity, everything below it, and
the parents it needs to be seen. Receiving a soft-deleted instance again (C-STORE, STOW-RS,
import) also brings it back, with the bytes just received, and an object received into a
deleted study or series brings that study or series back with it (``_index_writer``).

Every function takes the caller's session (STYLE rule 8) except :func:`purge`, whose blob
deletion must follow its own commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from raddx.archive.query import QueryRetrieveLevelValues
from raddx.archive.query.visibility import visible
from raddx.db.models import (
    Instance,
    Patient,
    ProcedureCode,
    PurgePending,
    RequestAttributes,
    Series,
    Study,
)
from raddx.errors import Conflict, NotFound
from raddx.storage import BlobStore

__all__ = ["Deleted", "PurgeReport", "finish_pending_purges", "purge", "restore", "soft_delete"]

log = logging.getLogger(__name__)

_L = QueryRetrieveLevelValues
#: Level → (table, its UID column, the name used in messages).
_ENTITY: dict[QueryRetrieveLevelValues, tuple[Any, Any, str]] = {
    _L.STUDY: (Study, Study.study_instance_uid, "study"),
    _L.SERIES: (Series, Series.series_instance_uid, "series"),
    _L.IMAGE: (Instance, Instance.sop_instance_uid, "instance"),
}


@dataclass(frozen=True, slots=True)
class Deleted:
    """What a soft delete or a restore changed: the number of instances it hid or showed."""

    level: QueryRetrieveLevelValues
    uid: str
    instances: int
    at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What :func:`purge` removed."""

    patients: int
    studies: int
    series: int
    instances: int
    bytes: int
    blobs_deleted: int


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _row(session: Session, level: QueryRetrieveLevelValues, uid: str) -> Any:
    table, column, name = _ENTITY[level]
    row = session.execute(select(table).where(column == uid).with_for_update()).scalar()
    if row is None:
        raise NotFound(f"no {name} with UID {uid}")
    return row


def _instances_below(level: QueryRetrieveLevelValues, row: Any) -> Any:
    """A ``SELECT Instance.id`` of the instances of ``row`` (itself for an instance)."""
    if level is _L.IMAGE:
        return select(Instance.id).where(Instance.id == row.id)
    if level is _L.SERIES:
        return select(Instance.id).where(Instance.series_fk == row.id)
    series = select(Series.id).where(Series.study_fk == row.id)
    return select(Instance.id).where(Instance.series_fk.in_(series))


def _study_of(session: Session, level: QueryRetrieveLevelValues, row: Any) -> Study:
    if level is _L.STUDY:
        return row  # type: ignore[no-any-return]
    series_fk = row.id if level is _L.SERIES else row.series_fk
    stmt = select(Study).join(Series, Series.study_fk == Study.id).where(Series.id == series_fk)
    return session.execute(stmt).scalar_one()


def soft_delete(
    *, session: Session, level: QueryRetrieveLevelValues, uid: str, now: dt.datetime
) -> Deleted:
    """Hide a study, series or instance (``level`` STUDY, SERIES or IMAGE) from every door.

    Raises
    ------
    NotFound
        Nothing with ``uid`` at ``level`` is in the index (never stored, or purged).
    Conflict
        It is already soft-deleted (restore it, or wait for the purge).
    """
    level = QueryRetrieveLevelValues(level)
    row = _row(session, level, uid)
    if row.deleted_at is not None:
        raise Conflict(
            f"{_ENTITY[level][2]} {uid} is already deleted (since {row.deleted_at.isoformat()}); "
            f"restore it or purge it"
        )
    study = _study_of(session, level, row)
    hidden = _rowcount(
        session.execute(
            update(Instance)
            .where(Instance.id.in_(_instances_below(level, row)), visible(Instance))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if level is _L.STUDY:
        session.execute(
            update(Series)
            .where(Series.study_fk == row.id, visible(Series))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
    if level is not _L.IMAGE:
        row.deleted_at = now
    session.flush()
    _hide_empty_parents(session, study, now)
    _recount(session, study)
    log.info("soft delete level=%s uid=%s instances=%d", level.value, uid, hidden)
    return Deleted(level, uid, hidden, now)


def _hide_empty_parents(session: Session, study: Study, now: dt.datetime) -> None:
    """Series without a visible instance, a study without a visible series and a patient
    without a visible study are deleted too (they would answer queries empty)."""
    empty_series = ~exists(
        select(Instance.id).where(Instance.series_fk == Series.id, visible(Instance))
    )
    session.execute(
        update(Series)
        .where(Series.study_fk == study.id, visible(Series), empty_series)
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(study)
    has_series = session.execute(
        select(exists().where(Series.study_fk == study.id, visible(Series)))
    ).scalar()
    if not has_series and study.deleted_at is None:
        study.deleted_at = now
    session.flush()
    has_study = session.execute(
        select(exists().where(Study.patient_fk == study.patient_fk, visible(Study)))
    ).scalar()
    if not has_study:
        session.execute(
            update(Patient)
            .where(Patient.id == study.patient_fk, visible(Patient))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )


def restore(*, session: Session, level: QueryRetrieveLevelValues, uid: str) -> Deleted:
    """Undo a soft delete: the entity, everything below it (also what was deleted below it
    earlier, on its own) and the series, study and patient above it come back.

    Raises
    ------
    NotFound
        Nothing with ``uid`` at ``level`` is in the index (never stored, or purged).
    Conflict
        It is not deleted.
    """
    level = QueryRetrieveLevelValues(level)
    row = _row(session, level, uid)
    if row.deleted_at is None:
        raise Conflict(f"{_ENTITY[level][2]} {uid} is not deleted")
    study = _study_of(session, level, row)
    shown = _rowcount(
        session.execute(
            update(Instance)
            .where(Instance.id.in_(_instances_below(level, row)), ~visible(Instance))
            .values(deleted_at=None)
            .execution_options(synchronize_session=False)
        )
    )
    if level is _L.STUDY:
        series_filter = Series.study_fk == row.id
    elif level is _L.SERIES:
        series_filter = Series.id == row.id
    else:
        series_filter = Series.id == row.series_fk
    session.execute(
        update(Series)
        .where(series_filter)
        .values(deleted_at=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Study)
        .where(Study.id == study.id)
        .values(deleted_at=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Patient)
        .where(Patient.id == study.patient_fk)
        .values(deleted_at=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(study)
    _recount(session, study)
    log.info("restore level=%s uid=%s instances=%d", level.value, uid, shown)
    return Deleted(level, uid, shown, None)


def _recount(session: Session, study: Study) -> None:
    """Recompute the study's and its series' counters from their visible rows, the way
    ingest keeps them (PS3.4 C.6.2.1.2 computed keys)."""
    now = dt.datetime.now(dt.UTC)
    per_series = (
        select(
            Instance.series_fk,
            func.count(Instance.id),
            func.coalesce(func.sum(Instance.size), 0),
        )
        .join(Series, Series.id == Instance.series_fk)
        .where(Series.study_fk == study.id, visible(Instance))
        .group_by(Instance.series_fk)
    )
    counts = {fk: (n, size) for fk, n, size in session.execute(per_series)}
    series_rows = session.execute(
        select(Series).where(Series.study_fk == study.id).order_by(Series.id)
    ).scalars()
    modalities: list[str] = []
    visible_series = 0
    for series in series_rows:
        n, size = counts.get(series.id, (0, 0))
        series.number_of_series_related_instances = n
        series.series_size = size
        series.updated_at = now
        if series.deleted_at is None:
            visible_series += 1
            if series.modality and series.modality not in modalities:
                modalities.append(series.modality)
    sop_classes = session.execute(
        select(Instance.sop_class_uid)
        .distinct()
        .join(Series, Series.id == Instance.series_fk)
        .where(Series.study_fk == study.id, visible(Instance), visible(Series))
    ).scalars()
    study.number_of_study_related_series = visible_series
    study.number_of_study_related_instances = sum(n for n, _ in counts.values())
    study.study_size = sum(size for _, size in counts.values())
    study.modalities_in_study = "\\".join(modalities)
    study.sop_classes_in_study = "\\".join(sorted(sop_classes))
    study.updated_at = now
    session.flush()


def purge(
    *,
    session_factory: Callable[[], Session],
    blobs: BlobStore,
    deleted_before: dt.datetime,
) -> PurgeReport:
    """Remove for good what was soft-deleted before ``deleted_before``: index rows first
    (one transaction), blobs after the commit (see the module docstring).

    A parent is removed only with all of its children (a study soft-deleted long ago whose
    series was restored and deleted again yesterday waits for the later cutoff).
    """
    now = dt.datetime.now(dt.UTC)
    old = Instance.deleted_at <= deleted_before
    with session_factory() as session, session.begin():
        doomed = session.execute(select(Instance.id, Instance.blob_key, Instance.size).where(old))
        rows = doomed.all()
        ids = [r.id for r in rows]
        for start in range(0, len(ids), 500):
            session.execute(delete(Instance).where(Instance.id.in_(ids[start : start + 500])))
        if rows:
            session.execute(
                insert(PurgePending),
                [{"blob_key": r.blob_key, "purged_at": now} for r in rows],
            )
        no_instances = ~exists(select(Instance.id).where(Instance.series_fk == Series.id))
        series_ids = select(Series.id).where(Series.deleted_at <= deleted_before, no_instances)
        series_gone = list(session.execute(series_ids).scalars())
        for start in range(0, len(series_gone), 500):
            chunk = series_gone[start : start + 500]
            session.execute(delete(RequestAttributes).where(RequestAttributes.series_fk.in_(chunk)))
            session.execute(delete(Series).where(Series.id.in_(chunk)))
        no_series = ~exists(select(Series.id).where(Series.study_fk == Study.id))
        study_ids = select(Study.id).where(Study.deleted_at <= deleted_before, no_series)
        studies_gone = list(session.execute(study_ids).scalars())
        for start in range(0, len(studies_gone), 500):
            chunk = studies_gone[start : start + 500]
            session.execute(delete(ProcedureCode).where(ProcedureCode.study_fk.in_(chunk)))
            session.execute(delete(RequestAttributes).where(RequestAttributes.study_fk.in_(chunk)))
            session.execute(delete(Study).where(Study.id.in_(chunk)))
        no_studies = ~exists(select(Study.id).where(Study.patient_fk == Patient.id))
        patients_gone = _rowcount(
            session.execute(delete(Patient).where(Patient.deleted_at <= deleted_before, no_studies))
        )
    log.info(
        "purge committed instances=%d series=%d studies=%d patients=%d",
        len(rows),
        len(series_gone),
        len(studies_gone),
        patients_gone,
    )
    blobs_deleted = finish_pending_purges(session_factory=session_factory, blobs=blobs)
    return PurgeReport(
        patients=patients_gone,
        studies=len(studies_gone),
        series=len(series_gone),
        instances=len(rows),
        bytes=sum(r.size for r in rows),
        blobs_deleted=blobs_deleted,
    )


def finish_pending_purges(*, session_factory: Callable[[], Session], blobs: BlobStore) -> int:
    """Delete the blobs of purged instances (``purge_pending``) and forget them; returns how
    many blobs were deleted. A key an instance row references again (the object was stored
    anew under the same name since) keeps its blob."""
    with session_factory() as session, session.begin():
        pending = session.execute(select(PurgePending.id, PurgePending.blob_key)).all()
    deleted = 0
    for start in range(0, len(pending), 500):
        chunk = pending[start : start + 500]
        done: list[int] = []
        with session_factory() as session, session.begin():
            keys = {r.blob_key for r in chunk}
            used = set(
                session.execute(
                    select(Instance.blob_key).where(Instance.blob_key.in_(keys))
                ).scalars()
            )
            for row in chunk:
                if row.blob_key not in used:
                    try:
                        deleted += bool(blobs.delete(row.blob_key))
                    except OSError:  # kept pending: the next purge or the sweep retries
                        log.exception("purge could not delete blob key=%s", row.blob_key)
                        continue
                done.append(row.id)
            session.execute(delete(PurgePending).where(PurgePending.id.in_(done)))
    return deleted
