"""REST de-identification jobs on archive selections (POST /api/deid-jobs): a download
package or a new study set in the archive, progress through /api/jobs/{id}; on SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from dicom_factory import make_dataset, to_part10
from helpers import wait_for
from raddx.db.models import Job
from raddx.services import Services


def _store(services: Services, patient_id: str, count: int, *, us: bool = False) -> str:
    study = generate_uid()
    for _ in range(count):
        ds = make_dataset(patient_id=patient_id, patient_name="Yamada^Tarou", study_uid=study)
        services.ingest.store(to_part10(ds), source="test")
    if us:  # burned-in text risk and no pixel rule: quarantined, not in the package
        ds = make_dataset(patient_id=patient_id, study_uid=study, modality="US")
        services.ingest.store(to_part10(ds), source="test")
    return study


def _wait(api: str, job_id: int) -> dict:
    job: dict = {}

    def finished() -> bool:
        job.update(httpx.get(f"{api}/jobs/{job_id}").json())
        return job["state"] in {"done", "failed", "interrupted"}

    wait_for(finished, timeout=60)
    return job


def test_package_job_for_a_study_list(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    study = _store(services, "DEID1", 3, us=True)
    _store(services, "OTHER", 1)

    response = httpx.post(f"{api}/deid-jobs", json={"studies": [study], "policy": "anonymize"})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.json()["kind"] == "deidentify"
    assert httpx.get(f"{api}/deid-jobs/{job_id}/package").status_code in (200, 409)

    job = _wait(api, job_id)
    assert job["state"] == "done", job
    assert (job["total"], job["completed"], job["warning"], job["failed"]) == (4, 3, 1, 0)

    package = httpx.get(f"{api}/deid-jobs/{job_id}/package")
    assert package.status_code == 200
    assert package.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(package.content)) as zf:
        names = zf.namelist()
        assert json.loads(zf.read("manifest.json"))["profile"]["edition"] == "2026d"
        objects = [pydicom.dcmread(io.BytesIO(zf.read(n))) for n in names if n.endswith(".dcm")]
    assert len(objects) == 3
    for ds in objects:
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.PatientID != "DEID1" and ds.StudyInstanceUID != study
        assert b"Yamada" not in to_part10(ds)
    assert len({ds.StudyInstanceUID for ds in objects}) == 1  # references kept together
    with services.session_factory() as session:
        record = json.loads(session.get(Job, job_id).request)  # type: ignore[union-attr]
    assert record["profile_edition"] == "2026d"


def test_archive_job_for_a_query_stores_a_new_study_set(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    original = _store(services, "DEID2", 2)
    before = {s["StudyInstanceUID"] for s in httpx.get(f"{api}/studies").json()["items"]}

    response = httpx.post(
        f"{api}/deid-jobs",
        json={"query": {"PatientID": "DEID2"}, "policy": "anonymize", "output": "archive"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["request"]["studies"] == [original]
    job = _wait(api, response.json()["id"])
    assert job["state"] == "done", job

    after = {s["StudyInstanceUID"] for s in httpx.get(f"{api}/studies").json()["items"]}
    [new] = after - before
    assert original in after  # the original study stays
    study = httpx.get(f"{api}/studies/{new}").json()
    assert study["PatientID"] not in ("DEID2", None)
    assert httpx.get(f"{api}/deid-jobs/{job['id']}/package").status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"studies": ["1.2.3"], "query": {"PatientID": "X"}}, 422),
        ({}, 422),
        ({"studies": ["1.2.3"], "policy": "no-such"}, 422),
        ({"studies": ["1.2.3"], "policy": "/etc/passwd"}, 422),
        ({"studies": ["1.2.3"], "policy": "coerce"}, 422),
        ({"studies": ["not a uid"]}, 422),
        ({"studies": ["1.2.3.999"]}, 404),
        ({"query": {"NoSuchKeyword": "x"}}, 400),
    ],
)
def test_bad_requests(services: Services, http_url: str, body: dict, status: int) -> None:
    response = httpx.post(f"{http_url}/api/deid-jobs", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_a_project_key_policy_needs_the_servers_key(
    services: Services, http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RADDX_DEID_KEY", raising=False)
    study = _store(services, "DEID3", 1)
    response = httpx.post(
        f"{http_url}/api/deid-jobs", json={"studies": [study], "policy": "pseudonymize"}
    )
    assert response.status_code == 400
    assert "RADDX_DEID_KEY" in response.json()["detail"]
