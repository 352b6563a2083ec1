"""Archive statistics: how much is stored, by level and by modality, and the disk it takes.

Counts what the doors see (:func:`~raddx.archive.query.visibility.visible`); soft-deleted
objects are reported apart, since their blobs still take disk space until the purge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raddx.archive.query.visibility import visible
from raddx.db.models import Instance, Patient, Series, Study

__all__ = ["ArchiveStatistics", "ModalityCount", "archive_statistics"]


@dataclass(frozen=True, slots=True, order=True)
class ModalityCount:
    """Series and instances of one Modality (series level, PS3.3 C.7.3.1)."""

    modality: str
    series: int
    instances: int


@dataclass(frozen=True, slots=True)
class ArchiveStatistics:
    """Counts of the visible entities, the bytes of their stored objects, and what waits for
    the purge."""

    patients: int
    studies: int
    series: int
    instances: int
    stored_bytes: int
    deleted_instances: int
    deleted_bytes: int
    modalities: list[ModalityCount]


def _count(session: Session, table: Any) -> int:
    stmt = select(func.count()).select_from(table).where(visible(table))
    return int(session.execute(stmt).scalar_one())


def archive_statistics(*, session: Session) -> ArchiveStatistics:
    """Gather the statistics in the caller's (read-only) unit of work."""
    size = func.coalesce(func.sum(Instance.size), 0)
    stored = session.execute(select(func.count(), size).where(visible(Instance))).one()
    deleted = session.execute(
        select(func.count(), size).where(Instance.deleted_at.is_not(None))
    ).one()
    per_modality = session.execute(
        select(Series.modality, func.count(func.distinct(Series.id)), func.count(Instance.id))
        .join(Instance, Instance.series_fk == Series.id)
        .where(visible(Series), visible(Instance))
        .group_by(Series.modality)
    ).all()
    modalities = sorted(ModalityCount(m or "", int(s), int(i)) for m, s, i in per_modality)
    return ArchiveStatistics(
        patients=_count(session, Patient),
        studies=_count(session, Study),
        series=_count(session, Series),
        instances=int(stored[0]),
        stored_bytes=int(stored[1]),
        deleted_instances=int(deleted[0]),
        deleted_bytes=int(deleted[1]),
        modalities=modalities,
    )
