"""ADT^A40 with stored studies (issue 6): the HL7 door ACKs once the RIS merge and a queued
``patient-merge`` job are committed; the job moves the studies afterwards, survives a
restart in the middle, and queries answer each study whole under one patient at any time.
Real MLLP socket, real SQLite/PostgreSQL, QIDO-RS and the jobs API over HTTP."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
from pydicom.uid import generate_uid
from sqlalchemy import select, update

from dicom_factory import make_dataset, to_part10
from helpers import stored_objects
from hl7_samples import IR87, adt, encode, pid
from raddx.db.models import Job
from raddx.hl7 import MessageHandler, MllpServer
from raddx.jobs import JobService, Progress
from raddx.jobs.merge import RESUMABLE, runners
from raddx.ris.archive_merge import _move_study, run_archive_merge
from raddx.security import audit
from raddx.security.audit import EventIDValues
from raddx.services import Services
from raddx.web import create_app

#: The prior patient's name in the archive: ISO 2022 IR 87 kanji, as a Japanese modality sends.
PRIOR_NAME = "Yamada^Taro=山田^太郎=やまだ^たろう"


def _store_studies(services: Services, count: int) -> list[str]:
    studies = []
    for _ in range(count):
        study = generate_uid()
        ds = make_dataset(
            study_uid=study,
            patient_id="PA",
            patient_name=PRIOR_NAME,
            charset="\\ISO 2022 IR 87",
        )
        ds.IssuerOfPatientID = "TOKYO-HP"
        services.ingest.store(to_part10(ds), source="test")
        studies.append(study)
    return studies


def _a40_over_mllp(handler: MessageHandler) -> str:
    server = MllpServer(handler, "127.0.0.1", 0)
    server.start()
    try:
        with socket.create_connection(server.address, 10) as sock:
            sock.sendall(b"\x0b" + encode(adt("A40", pid("PB"), mrg="PA"), IR87) + b"\x1c\r")
            received = b""
            while not received.endswith(b"\x1c\r"):
                chunk = sock.recv(65536)
                assert chunk, "connection closed before the answer"
                received += chunk
    finally:
        server.stop()
    return received[1:-2].decode("iso2022_jp")


def _job_service(services: Services) -> JobService:
    return JobService(
        session_factory=services.session_factory, runners=runners(services), resumable=RESUMABLE
    )


def _wait_done(http_url: str, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{http_url}/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "interrupted"):
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.05)  # polling interval, not a wait for the server


def _merge_job(services: Services) -> Job:
    with services.session_factory() as session:
        return session.scalars(select(Job).where(Job.kind == "patient-merge")).one()


def _surviving_fk(job: Job) -> int:
    """The surviving RIS patient the job moves studies to."""
    return int(json.loads(job.request)["surviving_fk"])


def _qido(http_url: str, patient_id: str) -> set[str]:
    found = httpx.get(f"{http_url}/dicom-web/studies", params={"PatientID": patient_id})
    if found.status_code == 204:
        return set()
    assert found.status_code == 200, found.text
    return {item["0020000D"]["Value"][0] for item in found.json()}


def _rewrites(services: Services, study: str) -> list[int]:
    """How many OriginalAttributesSequence items each stored object of ``study`` has."""
    objects = stored_objects(services, study)
    assert all(ds.PatientID == "PB" for ds in objects if "OriginalAttributesSequence" in ds)
    return [len(ds.get("OriginalAttributesSequence", [])) for ds in objects]


def test_a40_acks_before_the_studies_move(services: Services, http_url: str) -> None:
    studies = _store_studies(services, 5)
    # No job service in the door: the ACK cannot have waited for the archive part.
    answer = _a40_over_mllp(MessageHandler(services.session_factory))
    assert "|AA|" in answer, answer
    job = _merge_job(services)
    assert job.state == "queued"
    assert _qido(http_url, "PA") == set(studies)  # nothing moved yet: all still whole
    listed = httpx.get(f"{http_url}/api/jobs").json()
    assert [j["kind"] for j in listed if j["id"] == job.id] == ["patient-merge"]

    with audit.capture() as events:
        _job_service(services).start(job.id)
        done = _wait_done(http_url, job.id)
    assert (done["state"], done["completed"], done["total"]) == ("done", 5, 5)
    assert _qido(http_url, "PB") == set(studies)
    assert _qido(http_url, "PA") == set()
    moved = [e for e in events if e.event_id is EventIDValues.DICOM_INSTANCES_ACCESSED]
    assert sorted(s.study_instance_uid for e in moved for s in e.studies) == sorted(studies)
    assert {e.patient_id for e in moved} == {"PB"}
    for study in studies:
        assert _rewrites(services, study) == [1]


def test_a40_job_started_by_the_door(services: Services, http_url: str) -> None:
    studies = _store_studies(services, 3)
    answer = _a40_over_mllp(MessageHandler(services.session_factory, jobs=_job_service(services)))
    assert "|AA|" in answer, answer
    done = _wait_done(http_url, _merge_job(services).id)
    assert done["state"] == "done", done
    assert _qido(http_url, "PB") == set(studies)
    # The surviving patient's name from PID-5 (kanji and kana groups), in the index.
    found = httpx.get(f"{http_url}/dicom-web/studies", params={"PatientID": "PB"}).json()
    assert {item["00100010"]["Value"][0]["Ideographic"] for item in found} == {"右田^施"}


def test_a40_merge_resumes_after_a_restart(services: Services, http_url: str) -> None:
    studies = _store_studies(services, 4)
    assert "|AA|" in _a40_over_mllp(MessageHandler(services.session_factory))
    job = _merge_job(services)
    # The process that ran the job ended after moving the first study.
    assert _move_study(services.session_factory, services.blobs, studies[0], _surviving_fk(job))
    with services.session_factory() as session, session.begin():
        session.execute(update(Job).where(Job.id == job.id).values(state="running"))
    # Meanwhile queries see the moved study under the survivor, the others unchanged.
    assert _qido(http_url, "PB") == {studies[0]}
    assert _qido(http_url, "PA") == set(studies[1:])

    # The restarted server's application (what raddx serve builds) resumes the job: not
    # marked interrupted, run to its end.
    restarted = create_app(services)
    assert restarted.state.jobs.get(job.id).state in ("queued", "running", "done")
    done = _wait_done(http_url, job.id)
    assert done["state"] == "done", done
    assert _qido(http_url, "PB") == set(studies)
    for study in studies:
        assert _rewrites(services, study) == [1]  # none rewritten twice


def test_a40_without_stored_studies_queues_nothing(services: Services) -> None:
    answer = MessageHandler(services.session_factory)(encode(adt("A01", pid("PA")), IR87)).decode(
        "iso2022_jp"
    )
    assert "|AA|" in answer
    merge = MessageHandler(services.session_factory)(
        encode(adt("A40", pid("PB"), mrg="PA"), IR87)
    ).decode("iso2022_jp")
    assert "|AA|" in merge
    with services.session_factory() as session:
        assert session.scalars(select(Job)).all() == []


class _WritesBetweenStudies(Progress):
    """The job's real progress, which after each moved study (its transaction committed)
    has other writers do their work: a C-STORE-equivalent ingest of another patient's object
    and an HL7 ADT^A01 over MLLP. They must get the writer in the middle of the merge."""

    def __init__(self, job_id: int, services: Services, server: MllpServer) -> None:
        super().__init__(job_id, services.session_factory)
        self._services, self._server = services, server
        self.done_in_the_middle: list[str] = []

    def add(self, *, completed: int = 0, failed: int = 0, warning: int = 0) -> None:
        super().add(completed=completed, failed=failed, warning=warning)
        if self.completed != 1:
            return
        ds = make_dataset(
            patient_id="PX", patient_name="Sato^Jiro=佐藤^次郎", charset="\\ISO 2022 IR 87"
        )
        outcome = self._services.ingest.store(to_part10(ds), source="test")
        self.done_in_the_middle.append(outcome.outcome.value)
        with socket.create_connection(self._server.address, 10) as sock:
            sock.settimeout(10)
            sock.sendall(b"\x0b" + encode(adt("A01", pid("PX")), IR87) + b"\x1c\r")
            received = b""
            while not received.endswith(b"\x1c\r"):
                chunk = sock.recv(65536)
                assert chunk, "connection closed before the answer"
                received += chunk
        self.done_in_the_middle.append(received[1:-2].decode("iso2022_jp").split("\r")[1])


def test_other_writers_go_on_during_a_merge(services: Services, http_url: str) -> None:
    studies = _store_studies(services, 3)
    server = MllpServer(MessageHandler(services.session_factory), "127.0.0.1", 0)
    server.start()
    try:
        assert "|AA|" in _a40_over_mllp(MessageHandler(services.session_factory))
        job = _merge_job(services)
        progress = _WritesBetweenStudies(job.id, services, server)
        reason = run_archive_merge(
            json.loads(job.request),
            progress,
            session_factory=services.session_factory,
            blobs=services.blobs,
        )
    finally:
        server.stop()
    assert reason is None
    assert progress.completed == 3
    # Between the first and the second study: an object stored, an ADT acknowledged.
    assert progress.done_in_the_middle[0] == "stored"
    assert progress.done_in_the_middle[1].startswith("MSA|AA|")
    assert _qido(http_url, "PB") == set(studies)
    assert len(_qido(http_url, "PX")) == 1
