"""REST API remote AEs, C-ECHO and send/retrieve jobs against real peers on loopback: DCMTK
storescp (accepting, and refusing with ``--refuse``) and raddx's own DIMSE server; on
SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from dicom_factory import make_dataset, to_part10
from helpers import dcmtk_env, free_port, run_tool, start_dimse_server, wait_for
from raddx.cli import app
from raddx.config import RemoteAE, Settings, load_settings
from raddx.db.models import Job
from raddx.dimse.scu import echo
from raddx.jobs import JobService
from raddx.remotes import RemoteAERegistry
from raddx.services import Services

# pynetdicom 3.0 leaks the socket of a failed connect (see test_cli_send_retrieve; the
# readiness probe and the closed-port echo hit it): its ResourceWarning is not ours.
pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

CONFIGURED = {"ae_title": "CONFIGURED", "host": "127.0.0.1", "port": 104}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The conftest settings plus one configured remote AE."""
    return load_settings(
        data_dir=tmp_path / "data", database_url=database_url, remote_aes=[CONFIGURED]
    )


@contextlib.contextmanager
def _storescp(dcmtk: Callable[[str], str], out: Path, *extra: str) -> Iterator[int]:
    """DCMTK storescp (AE STORESCP) writing into ``out``; yields its port."""
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [dcmtk("storescp"), "-aet", "STORESCP", "-od", str(out), *extra, str(port)],
        env=dcmtk_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Ready when it answers a C-ECHO; a bare TCP probe would leave the single-threaded
        # storescp waiting on it (under load, longer than a job waits).
        remote = RemoteAE(ae_title="STORESCP", host="127.0.0.1", port=port)

        def answering() -> bool:
            outcome = echo(remote, calling_ae="PROBE")
            return outcome.ok

        wait_for(answering, timeout=30)
        gc.collect()  # failed attempts leak pynetdicom's socket (see below): collect here
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _add(api: str, title: str, port: int) -> None:
    response = httpx.post(
        f"{api}/remote-aes", json={"ae_title": title, "host": "127.0.0.1", "port": port}
    )
    assert response.status_code == 201, response.text


def _wait_job(api: str, job_id: int) -> dict:
    job: dict = {}

    def finished() -> bool:
        job.update(httpx.get(f"{api}/jobs/{job_id}").json())
        return job["state"] in {"done", "failed", "interrupted"}

    wait_for(finished, timeout=120)
    return job


def _store_study(services: Services, count: int = 3) -> tuple[str, set[str]]:
    study = generate_uid()
    uids = set()
    for _ in range(count):
        ds = make_dataset(patient_id="JOB1", study_uid=study)
        services.ingest.store(to_part10(ds), source="test")
        uids.add(str(ds.SOPInstanceUID))
    return study, uids


def test_remote_aes_list_add_remove_and_validation(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    listed = httpx.get(f"{api}/remote-aes").json()
    assert listed == [{**CONFIGURED, "description": "", "source": "config"}]

    _add(api, "PACS2", 11113)

    assert httpx.get(f"{api}/remote-aes/PACS2").json()["source"] == "runtime"
    for title in ("PACS2", "CONFIGURED"):  # duplicate: runtime or configured
        response = httpx.post(
            f"{api}/remote-aes", json={"ae_title": title, "host": "h", "port": 104}
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
    bad = [
        {"ae_title": "OK", "host": "h", "port": 0},
        {"ae_title": "OK", "host": "h", "port": 65536},
        {"ae_title": "A" * 17, "host": "h", "port": 104},  # PS3.8: at most 16
        {"ae_title": "BACK\\SLASH", "host": "h", "port": 104},
        {"ae_title": "CTRL\x07", "host": "h", "port": 104},
        {"ae_title": "   ", "host": "h", "port": 104},
        {"ae_title": "OK", "host": "bad host", "port": 104},
    ]
    for body in bad:
        response = httpx.post(f"{api}/remote-aes", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"]
    # Kept in the index: another registry (a restarted process) sees it.
    registry = RemoteAERegistry(services.settings, services.session_factory)
    assert registry.get("PACS2").remote.port == 11113

    assert httpx.delete(f"{api}/remote-aes/CONFIGURED").status_code == 409
    assert httpx.delete(f"{api}/remote-aes/PACS2").json()["ae_title"] == "PACS2"
    assert httpx.get(f"{api}/remote-aes/PACS2").status_code == 404
    assert httpx.delete(f"{api}/remote-aes/PACS2").status_code == 404


def test_echo_storescp_our_server_and_nobody(
    services: Services,
    http_url: str,
    dimse_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
) -> None:
    api = f"{http_url}/api"
    _add(api, "RADDX", dimse_server[1])
    _add(api, "NOBODY", free_port())
    httpx.post(
        f"{api}/remote-aes",
        json={"ae_title": "NOWHERE", "host": "no-such-host.invalid", "port": 104},
    ).raise_for_status()
    with _storescp(dcmtk, tmp_path / "in") as port:
        _add(api, "STORESCP", port)
        dcmtk_echo = httpx.post(f"{api}/remote-aes/STORESCP/echo").json()

    ours = httpx.post(f"{api}/remote-aes/RADDX/echo").json()
    nobody = httpx.post(f"{api}/remote-aes/NOBODY/echo").json()
    # A host name that does not resolve is a failed echo with the reason, not a 500.
    nowhere = httpx.post(f"{api}/remote-aes/NOWHERE/echo")

    for echoed in (dcmtk_echo, ours):
        assert echoed["success"] is True, echoed
        assert echoed["status"] == 0
        assert 0 < echoed["round_trip_ms"] < 5000
    assert nobody["success"] is False
    assert "cannot associate" in nobody["reason"]
    assert nowhere.status_code == 200, nowhere.text
    assert nowhere.json()["success"] is False
    assert "cannot associate with NOWHERE at no-such-host.invalid:104" in nowhere.json()["reason"]
    assert httpx.post(f"{api}/remote-aes/UNKNOWN/echo").status_code == 404
    gc.collect()


def test_send_job_to_storescp_completes_with_counts(
    services: Services, http_url: str, dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    api = f"{http_url}/api"
    study, uids = _store_study(services)
    other = make_dataset(patient_id="JOB2")  # a series sent on its own
    services.ingest.store(to_part10(other), source="test")
    with _storescp(dcmtk, tmp_path / "in") as port:
        _add(api, "STORESCP", port)
        created = httpx.post(
            f"{api}/jobs/send",
            json={
                "remote_ae_title": "STORESCP",
                "studies": [study],
                "series": [str(other.SeriesInstanceUID)],
            },
        )
        assert created.status_code == 202, created.text
        assert created.json()["state"] in {"queued", "running"}
        job = _wait_job(api, created.json()["id"])

    assert job["state"] == "done", job
    assert (job["total"], job["completed"], job["failed"], job["remaining"]) == (4, 4, 0, 0)
    assert job["reason"] is None
    received = {str(pydicom.dcmread(p).SOPInstanceUID) for p in (tmp_path / "in").iterdir()}
    assert received == uids | {str(other.SOPInstanceUID)}
    listed = httpx.get(f"{api}/jobs", params={"state": "done"}).json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_send_job_refused_association_fails_with_reason(services: Services, http_url: str) -> None:
    """The peer answers A-ASSOCIATE-RJ: a raddx archive that requires its own called AE
    title (RADDX) and is addressed as REFUSER. (DCMTK's storescp --refuse ends after the
    first association it refuses, too fragile to wait for.)"""
    api = f"{http_url}/api"
    study, _ = _store_study(services, count=2)
    strict = services.settings.model_copy(update={"require_called_ae_title": True})
    server = start_dimse_server(services, settings=strict)
    try:
        _add(api, "REFUSER", server.address[1])
        created = httpx.post(
            f"{api}/jobs/send", json={"remote_ae_title": "REFUSER", "studies": [study]}
        )
        job = _wait_job(api, created.json()["id"])
    finally:
        server.stop()

    assert job["state"] == "failed"
    assert (job["completed"], job["failed"]) == (0, 2)
    assert "association rejected by REFUSER" in job["reason"]


def test_send_job_bad_requests(services: Services, http_url: str) -> None:
    api = f"{http_url}/api"
    study, _ = _store_study(services, count=1)
    cases = [
        ({"remote_ae_title": "NOWHERE", "studies": [study]}, 404),  # unknown AE
        ({"remote_ae_title": "CONFIGURED", "studies": [generate_uid()]}, 404),  # no such study
        ({"remote_ae_title": "CONFIGURED"}, 422),  # nothing named
        ({"remote_ae_title": "CONFIGURED", "studies": ["1.2.x"]}, 422),  # not a UID
        ({"remote_ae_title": "CONFIGURED", "studies": [study], "extra": 1}, 422),
    ]
    for body, status in cases:
        response = httpx.post(f"{api}/jobs/send", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{api}/jobs/999999").status_code == 404
    assert httpx.get(f"{api}/jobs/0").status_code == 400
    assert httpx.get(f"{api}/jobs").json() == []


def test_retrieve_jobs_get_and_move_from_another_raddx(
    services: Services, http_url: str, dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    api = f"{http_url}/api"
    with _storescp(dcmtk, tmp_path / "moved") as storescp_port:
        # A second archive (SQLite) that knows STORESCP as a C-MOVE destination.
        remote_settings = load_settings(
            data_dir=tmp_path / "remote",
            remote_aes=[{"ae_title": "STORESCP", "host": "127.0.0.1", "port": storescp_port}],
        )
        remote_services = Services.from_settings(remote_settings)
        server = start_dimse_server(remote_services)
        try:
            study, uids = _store_study(remote_services, count=2)
            _add(api, "REMOTE", server.address[1])

            got = httpx.post(
                f"{api}/jobs/retrieve", json={"remote_ae_title": "REMOTE", "studies": [study]}
            )
            moved = httpx.post(
                f"{api}/jobs/retrieve",
                json={
                    "remote_ae_title": "REMOTE",
                    "studies": [study],
                    "method": "move",
                    "destination": "STORESCP",
                },
            )
            got_job = _wait_job(api, got.json()["id"])
            moved_job = _wait_job(api, moved.json()["id"])
        finally:
            server.stop()
            remote_services.close()

    assert got_job["state"] == "done", got_job
    assert (got_job["completed"], got_job["failed"]) == (2, 0)
    # C-GET stored the study here, through ingest.
    stored = httpx.get(f"{api}/instances", params={"StudyInstanceUID": study}).json()
    assert {i["SOPInstanceUID"] for i in stored["items"]} == uids
    assert moved_job["state"] == "done", moved_job
    assert (moved_job["completed"], moved_job["total"]) == (2, 2)
    received = {str(pydicom.dcmread(p).SOPInstanceUID) for p in (tmp_path / "moved").iterdir()}
    assert received == uids


def test_job_running_when_the_process_died_is_interrupted_on_start(
    services: Services, http_url: str
) -> None:
    with services.session_factory() as session, session.begin():
        job = Job(
            kind="send",
            state="running",
            remote_ae_title="CONFIGURED",
            request=json.dumps({"studies": [], "series": []}),
            total=10,
            completed=4,
            failed=0,
            warning=0,
            created_at=dt.datetime.now(dt.UTC),
        )
        session.add(job)
        session.flush()
        job_id = job.id

    # What the next start does (raddx.web.api.install): recover before serving.
    assert JobService(session_factory=services.session_factory, runners={}).recover() == 1

    shown = httpx.get(f"{http_url}/api/jobs/{job_id}").json()
    assert shown["state"] == "interrupted"
    assert (shown["completed"], shown["remaining"]) == (4, 6)
    assert "stopped" in shown["reason"]


def test_runtime_remote_ae_is_a_c_move_destination(
    services: Services,
    http_url: str,
    dimse_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
) -> None:
    study, uids = _store_study(services, count=2)
    with _storescp(dcmtk, tmp_path / "in") as port:
        _add(f"{http_url}/api", "STORESCP", port)  # not in the configuration
        result = run_tool(
            [
                dcmtk("movescu"),
                "-S",
                "-aec",
                "RADDX",
                "-aem",
                "STORESCP",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={study}",
                dimse_server[0],
                str(dimse_server[1]),
            ]
        )

    assert result.returncode == 0, result.stderr
    received = {str(pydicom.dcmread(p).SOPInstanceUID) for p in (tmp_path / "in").iterdir()}
    assert received == uids


def test_raddx_send_to_a_runtime_remote_ae(
    services: Services, dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    study, uids = _store_study(services, count=2)
    with _storescp(dcmtk, tmp_path / "in") as port:
        registry = RemoteAERegistry(services.settings, services.session_factory)
        registry.add(RemoteAE(ae_title="STORESCP", host="127.0.0.1", port=port))
        storage = [
            "--data-dir",
            str(services.settings.data_dir),
            "--database-url",
            services.settings.resolved_database_url,
        ]
        result = CliRunner().invoke(app, ["send", "STORESCP", "--study", study, "-q", *storage])

    assert result.exit_code == 0, result.output
    assert "sent 2, failed 0" in result.output
    received = {str(pydicom.dcmread(p).SOPInstanceUID) for p in (tmp_path / "in").iterdir()}
    assert received == uids
