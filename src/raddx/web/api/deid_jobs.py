"""``/api/deid-jobs``: de-identify archived studies as a background job (issue 8 doors).

A study list or a study-level query (resolved to its studies when the job is submitted, so
the job works on a fixed set) and a shipped policy name give a job of the same job resource
as send/retrieve (``GET /api/jobs/{id}`` for progress: ``completed`` written, ``warning``
quarantined, ``failed`` unreadable). The result is a zip to download from
``GET /api/deid-jobs/{id}/package`` or, with ``output: archive``, a new de-identified study
set stored into this archive. Only shipped policies are accepted: a policy file path from an
HTTP client would read the server's files. Policies with a project key take it from the
server's ``RADDX_DEID_KEY``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Path
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from raddx.archive.query import Query, QueryService
from raddx.archive.retrieve import RetrieveService
from raddx.deid.keys import read_key
from raddx.deid.policy import list_policies, load_policy
from raddx.deid.profile import load_profile
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.jobs import JobKindValues, JobStateValues
from raddx.jobs.deid import DeidOutputValues, package_path
from raddx.jobs.transfer import instances_to_send
from raddx.web.api._deps import JobsDep
from raddx.web.api._models import JobPublic
from raddx.web.api._route import api_router, endpoint
from raddx.web.api.jobs import _public
from raddx.web.deps import ServicesDep

__all__ = ["DeidJobCreate", "router"]

router = api_router("deid-jobs")

_UID = r"^[0-9]+(\.[0-9]+)*$"


class DeidJobCreate(BaseModel):
    """What to de-identify (``studies`` or ``query``, not both), how, and into what."""

    model_config = ConfigDict(extra="forbid")
    studies: list[Annotated[str, Field(pattern=_UID, max_length=64)]] = Field(
        default_factory=list, max_length=10_000
    )
    query: dict[str, str] | None = Field(
        None,
        description='Study-level matching keys, e.g. {"PatientID": "123", '
        '"StudyDate": "20240101-20241231", "ModalitiesInStudy": "CT"}.',
    )
    policy: str = Field("anonymize", description="A shipped policy (raddx deid policies).")
    output: DeidOutputValues = DeidOutputValues.PACKAGE

    @model_validator(mode="after")
    def _one_selection(self) -> DeidJobCreate:
        if bool(self.studies) == bool(self.query):
            raise ValueError("give either studies or a non-empty query")
        if self.policy not in list_policies():
            raise ValueError(f"policy must be one of {', '.join(list_policies())}")
        if load_policy(self.policy).mode != "deidentify":
            raise ValueError(f"policy {self.policy} is not a de-identification policy")
        return self


def _studies(services: ServicesDep, body: DeidJobCreate) -> list[str]:
    if not body.query:
        return list(dict.fromkeys(body.studies))
    keys = {**body.query, "StudyInstanceUID": ""}
    try:
        query = Query(level="STUDY", information_model="STUDY_ROOT", keys=keys)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidInput(f"query: {exc}") from None
    return [str(a["StudyInstanceUID"]) for a in QueryService(services.session_factory).find(query)]


@endpoint(
    router, "POST", "/deid-jobs", action="deid.run", response_model=JobPublic, status_code=202
)
def submit(services: ServicesDep, jobs: JobsDep, body: DeidJobCreate) -> JobPublic:
    """Queue the de-identification of a study list or of the studies a query matches; follow
    it with GET /api/jobs/{id}. 404 when no stored study matches; 400 when the policy needs a
    project key the server does not have."""
    if load_policy(body.policy).key == "project":
        try:
            read_key(None)
        except ValueError as exc:
            raise InvalidInput(f"policy {body.policy}: {exc}") from None
    studies = _studies(services, body)
    retrieve = RetrieveService(services.session_factory, services.blobs)
    if not studies or not instances_to_send(retrieve, studies=studies, series=[]):
        raise NotFound("nothing to de-identify: no stored study matches")
    request = {
        "studies": studies,
        "policy": body.policy,
        "output": body.output.value,
        "package": secrets.token_hex(16) if body.output is DeidOutputValues.PACKAGE else None,
        # the job record says which Table E.1-1 edition it was run under (as the manifest does)
        "profile_edition": load_profile().edition,
    }
    return _public(jobs.submit(JobKindValues.DEIDENTIFY, None, request))


@endpoint(
    router,
    "GET",
    "/deid-jobs/{job_id}/package",
    action="deid.download",
    response_model=None,
    response_class=FileResponse,
    responses={
        200: {
            "description": "The package.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def package(
    services: ServicesDep, jobs: JobsDep, job_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> FileResponse:
    """The zip of a finished package job (``<Study>/<Series>/<SOP>.dcm`` and
    ``manifest.json``). 404 for another kind of job or an archive job; 409 until it is done."""
    job = jobs.get(job_id)
    token = job.request.get("package")
    if job.kind is not JobKindValues.DEIDENTIFY or not token:
        raise NotFound(f"job {job_id} has no de-identified package")
    if job.state is not JobStateValues.DONE:
        raise Conflict(f"job {job_id} is {job.state.value}, not done")
    path = package_path(services, str(token))
    if not path.is_file():
        raise NotFound(f"the package of job {job_id} is gone")
    return FileResponse(path, media_type="application/zip", filename=f"deid-job-{job_id}.zip")


class DeidPolicyPublic(BaseModel):
    """A shipped de-identification policy a job may name."""

    name: str
    key: str = Field(
        description="ephemeral (nothing to keep), or project (needs the server's project key)."
    )


@endpoint(router, "GET", "/deid-policies", action="deid.run", response_model=list[DeidPolicyPublic])
def policies() -> list[DeidPolicyPublic]:
    """The policies ``POST /api/deid-jobs`` accepts (shipped, de-identifying), by name."""
    shipped = ((name, load_policy(name)) for name in list_policies())
    return [DeidPolicyPublic(name=n, key=p.key) for n, p in shipped if p.mode == "deidentify"]
