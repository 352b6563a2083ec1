"""The runner of ``patient-merge`` jobs (ADT^A40 in the archive): the domain work is
:func:`raddx.ris.archive_merge.run_archive_merge`; this module binds it to the services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raddx.config import RemoteAE
from raddx.jobs.service import JobKindValues, Progress, Runner
from raddx.ris.archive_merge import run_archive_merge
from raddx.services import Services

__all__ = ["RESUMABLE", "runners"]

#: Job kinds :meth:`raddx.jobs.JobService.recover` runs again after a restart.
RESUMABLE = frozenset({JobKindValues.PATIENT_MERGE})


def runners(services: Services) -> dict[JobKindValues, Runner]:
    """The ``patient-merge`` runner, on ``services``."""

    def run(request: Mapping[str, Any], remote: RemoteAE | None, progress: Progress) -> str | None:
        return run_archive_merge(
            request, progress, session_factory=services.session_factory, blobs=services.blobs
        )

    return {JobKindValues.PATIENT_MERGE: run}
