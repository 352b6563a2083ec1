"""Dependencies of the REST API: the remote AE registry and the job service, made once per
application by :func:`install` and kept on ``app.state``."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, FastAPI, Request

from raddx.jobs import JobService
from raddx.jobs.deid import recover_hooks as deid_recover_hooks
from raddx.jobs.deid import runners as deid_runners
from raddx.jobs.merge import RESUMABLE
from raddx.jobs.merge import runners as merge_runners
from raddx.jobs.transfer import runners
from raddx.remotes import RemoteAERegistry
from raddx.services import Services

__all__ = ["JobsDep", "RemotesDep", "install"]


def install(app: FastAPI, services: Services) -> None:
    """Create the registry and the job service; jobs a previous process left running are
    marked interrupted now (patient merges are resumed instead)."""
    app.state.remote_aes = RemoteAERegistry(services.settings, services.session_factory)
    jobs = JobService(
        session_factory=services.session_factory,
        runners=runners(services) | deid_runners(services) | merge_runners(services),
        recover_hooks=deid_recover_hooks(services),
        resumable=RESUMABLE,
    )
    jobs.recover()
    app.state.jobs = jobs


def _remotes(request: Request) -> RemoteAERegistry:
    return cast(RemoteAERegistry, request.app.state.remote_aes)


def _jobs(request: Request) -> JobService:
    return cast(JobService, request.app.state.jobs)


RemotesDep = Annotated[RemoteAERegistry, Depends(_remotes)]
JobsDep = Annotated[JobService, Depends(_jobs)]
