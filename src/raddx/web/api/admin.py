"""``/api/statistics`` and ``/api/purge``: what the archive holds, and removing for good what
was soft-deleted."""

from __future__ import annotations

import datetime as dt

from raddx.archive.deletion import purge
from raddx.archive.statistics import archive_statistics
from raddx.db import READ_ONLY_OPTIONS
from raddx.web.api._models import (
    ModalityStatistics,
    PurgePublic,
    PurgeRequest,
    StatisticsPublic,
)
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("administration")


@endpoint(
    router, "GET", "/statistics", action="archive.statistics", response_model=StatisticsPublic
)
def statistics(services: ServicesDep) -> StatisticsPublic:
    """Counts of visible patients, studies, series and instances, the bytes of their stored
    objects, per-modality counts, and what soft-deleted objects still take until the purge."""
    with services.session_factory() as session, session.begin():
        session.connection(execution_options=READ_ONLY_OPTIONS)
        stats = archive_statistics(session=session)
    return StatisticsPublic(
        patients=stats.patients,
        studies=stats.studies,
        series=stats.series,
        instances=stats.instances,
        stored_bytes=stats.stored_bytes,
        deleted_instances=stats.deleted_instances,
        deleted_bytes=stats.deleted_bytes,
        modalities=[
            ModalityStatistics(Modality=m.modality, series=m.series, instances=m.instances)
            for m in stats.modalities
        ],
    )


@endpoint(router, "POST", "/purge", action="archive.purge", response_model=PurgePublic)
def purge_deleted(services: ServicesDep, body: PurgeRequest) -> PurgePublic:
    """Remove for good what was soft-deleted at least ``older_than_days`` ago: index rows in
    one transaction, then the blobs. Cannot be undone. (CLI: ``raddx purge --older-than``.)"""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=body.older_than_days)
    report = purge(
        session_factory=services.session_factory, blobs=services.blobs, deleted_before=cutoff
    )
    return PurgePublic(
        patients=report.patients,
        studies=report.studies,
        series=report.series,
        instances=report.instances,
        bytes=report.bytes,
        blobs_deleted=report.blobs_deleted,
    )
