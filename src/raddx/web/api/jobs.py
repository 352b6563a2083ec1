"""``/api/jobs``: send to and retrieve from remote AEs as background jobs, with progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from raddx.archive.retrieve import RetrieveService
from raddx.errors import NotFound
from raddx.jobs import JobInfo, JobKindValues, JobStateValues
from raddx.jobs.transfer import instances_to_send
from raddx.web.api._deps import JobsDep, RemotesDep
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._models import JobPublic, RetrieveJobCreate, SendJobCreate
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("jobs")


def _public(job: JobInfo) -> JobPublic:
    return JobPublic(
        id=job.id,
        kind=job.kind.value,
        state=job.state.value,
        remote_ae_title=job.remote_ae_title,
        request=job.request,
        total=job.total,
        completed=job.completed,
        failed=job.failed,
        warning=job.warning,
        remaining=job.remaining,
        reason=job.reason,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@endpoint(
    router,
    "POST",
    "/jobs/send",
    action="jobs.send",
    response_model=JobPublic,
    status_code=202,
)
def send(
    services: ServicesDep, remotes: RemotesDep, jobs: JobsDep, body: SendJobCreate
) -> JobPublic:
    """Queue a C-STORE of the given studies and series to a remote AE; follow it with
    GET /api/jobs/{id}. 404 for an unknown remote AE or when nothing stored matches."""
    remote = remotes.get(body.remote_ae_title).remote
    retrieve = RetrieveService(services.session_factory, services.blobs)
    if not instances_to_send(retrieve, studies=body.studies, series=body.series):
        raise NotFound("nothing to send: no stored study or series matches")
    request = {"studies": body.studies, "series": body.series}
    return _public(jobs.submit(JobKindValues.SEND, remote, request))


@endpoint(
    router,
    "POST",
    "/jobs/retrieve",
    action="jobs.retrieve",
    response_model=JobPublic,
    status_code=202,
)
def retrieve(remotes: RemotesDep, jobs: JobsDep, body: RetrieveJobCreate) -> JobPublic:
    """Queue a retrieve of studies from a remote AE: C-GET into this archive (``get``,
    the default) or C-MOVE to ``destination`` (``move``). 404 for an unknown remote AE."""
    remote = remotes.get(body.remote_ae_title).remote
    request = {"studies": body.studies, "method": body.method, "destination": body.destination}
    return _public(jobs.submit(JobKindValues.RETRIEVE, remote, request))


@endpoint(router, "GET", "/jobs", action="jobs.read", response_model=list[JobPublic])
def list_jobs(
    jobs: JobsDep,
    limit: Limit = 100,
    offset: Offset = 0,
    state: Annotated[JobStateValues | None, Query(description="Only jobs in this state.")] = None,
) -> list[JobPublic]:
    """Jobs, newest first."""
    return [_public(job) for job in jobs.list(limit=limit, offset=offset, state=state)]


@endpoint(router, "GET", "/jobs/{job_id}", action="jobs.read", response_model=JobPublic)
def get_job(jobs: JobsDep, job_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> JobPublic:
    """One job: state (queued, running, done, failed, interrupted), counts, reason."""
    return _public(jobs.get(job_id))
