"""Background jobs (send to / retrieve from remote AEs) with progress kept in the index."""

from __future__ import annotations

from raddx.jobs.service import (
    JobInfo,
    JobKindValues,
    JobService,
    JobStateValues,
    Progress,
    Runner,
)

__all__ = ["JobInfo", "JobKindValues", "JobService", "JobStateValues", "Progress", "Runner"]
