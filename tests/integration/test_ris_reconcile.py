"""Reconciliation and patient merge (issue 6 §6) on SQLite and PostgreSQL, through the real
doors: images stored by ingest link to their order; unmatched studies are listed and fixed
over HTTP; ADT^A40 re-points stored studies; DCMTK findscu/getscu see the corrected objects."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydicom import dcmread
from pydicom.uid import generate_uid
from sqlalchemy import select

from dicom_factory import make_dataset, to_part10
from helpers import run_tool, stored_objects
from hl7_samples import IR87, adt, encode, pid
from raddx.archive.deletion import soft_delete
from raddx.archive.query import QueryRetrieveLevelValues
from raddx.db.models import Job, RisOrder, RisStudyLink
from raddx.hl7 import MessageHandler, MllpServer
from raddx.jobs import JobService
from raddx.jobs.merge import RESUMABLE
from raddx.jobs.merge import runners as merge_runners
from raddx.ris import OrderCreate, OrderPublic, PatientData, ProcedureCreate, place_order
from raddx.security import audit
from raddx.security.audit import EventActionCodeValues, EventIDValues
from raddx.services import Services


def _place(services: Services, patient_id: str = "P1", name: str = "Yamada^Taro") -> OrderPublic:
    with services.session_factory() as session, session.begin():
        return place_order(
            OrderCreate(
                patient=PatientData(patient_id, "", name, "19800101", "M"),
                procedures=(ProcedureCreate(modality="CT", scheduled_start_date="20261126"),),
            ),
            session=session,
        )


def _store(services: Services, count: int = 1, issuer: str = "", **kwargs: object) -> str:
    study = str(kwargs.pop("study_uid", None) or generate_uid())
    series = generate_uid()
    for _ in range(count):
        ds = make_dataset(study_uid=study, series_uid=series, **kwargs)  # type: ignore[arg-type]
        if issuer:
            ds.IssuerOfPatientID = issuer
        services.ingest.store(to_part10(ds), source="test")
    return study


def _order(services: Services, accession: str) -> RisOrder:
    with services.session_factory() as session:
        return session.scalars(select(RisOrder).where(RisOrder.accession_number == accession)).one()


def test_arrival_links_by_accession_and_study_uid(services: Services) -> None:
    by_accession = _place(services)
    study = _store(services, 2, accession=by_accession.accession_number)
    by_uid = _place(services, "P2")
    _store(services, study_uid=by_uid.study_instance_uids[0], accession="")
    with services.session_factory() as session:
        links = {
            link.study_instance_uid: link.matched_by
            for link in session.scalars(select(RisStudyLink)).all()
        }
    assert links == {study: "ACCESSION", by_uid.study_instance_uids[0]: "STUDY_UID"}
    # The status rule: images arriving for a scheduled order put it in progress.
    assert _order(services, by_accession.accession_number).status == "IN_PROGRESS"
    assert _order(services, by_uid.accession_number).status == "IN_PROGRESS"


def test_unmatched_study_reconciled_over_http(services: Services, http_url: str) -> None:
    order = _place(services, "P1", "Yamada^Taro=山田^太郎")
    study = _store(services, 3, accession="WRONG", patient_id="TMP1", patient_name="Unknown^X")
    unmatched = httpx.get(f"{http_url}/api/reconciliation/unmatched").json()
    assert [u["StudyInstanceUID"] for u in unmatched] == [study]
    assert unmatched[0]["PatientID"] == "TMP1"

    with audit.capture() as events:
        answer = httpx.post(
            f"{http_url}/api/studies/{study}/reconcile",
            json={"AccessionNumber": order.accession_number, "reason": "wrong worklist entry"},
        )
    assert answer.status_code == 200, answer.text
    (updated,) = [
        e
        for e in events
        if e.event_id is EventIDValues.DICOM_INSTANCES_ACCESSED
        and e.action is EventActionCodeValues.UPDATE
    ]
    assert [s.study_instance_uid for s in updated.studies] == [study]
    assert updated.patient_id == "P1"
    assert answer.json()["instances_rewritten"] == 3
    assert answer.json()["order_status"] == "IN_PROGRESS"
    assert httpx.get(f"{http_url}/api/reconciliation/unmatched").json() == []

    listed = httpx.get(f"{http_url}/api/studies", params={"PatientID": "P1"}).json()
    assert [s["StudyInstanceUID"] for s in listed["items"]] == [study]
    assert listed["items"][0]["AccessionNumber"] == order.accession_number
    for ds in stored_objects(services, study):
        assert ds.PatientID == "P1"
        assert str(ds.PatientName) == "Yamada^Taro=山田^太郎"
        assert ds.SpecificCharacterSet == "ISO_IR 192"  # kanji did not fit the default
        assert ds.AccessionNumber == order.accession_number
        (original,) = ds.OriginalAttributesSequence
        assert original.ReasonForTheAttributeModification == "CORRECT"
        assert original.ModifyingSystem == "raddx"
        (before,) = original.ModifiedAttributesSequence
        assert before.PatientID == "TMP1"
        assert before.AccessionNumber == "WRONG"
        assert str(before.PatientName) == "Unknown^X"
        assert len(ds.PixelData) > 0


def test_reconcile_refusals(services: Services, http_url: str) -> None:
    study = _store(services, accession="WRONG")
    url = f"{http_url}/api/studies/{study}/reconcile"
    unknown_order = httpx.post(url, json={"AccessionNumber": "NOPE", "reason": "x"})
    assert unknown_order.status_code == 404
    assert "NOPE" in unknown_order.json()["detail"]
    ghost = httpx.post(
        f"{http_url}/api/studies/1.2.3.999/reconcile",
        json={"patient": {"PatientID": "P9"}, "reason": "x"},
    )
    assert ghost.status_code == 404
    nothing = httpx.post(url, json={"reason": "x"})
    assert nothing.status_code == 400
    with services.session_factory() as session, session.begin():
        soft_delete(
            session=session, level=QueryRetrieveLevelValues.STUDY, uid=study, now=datetime.now(UTC)
        )
    deleted = httpx.post(url, json={"patient": {"PatientID": "P9"}, "reason": "x"})
    assert deleted.status_code == 409
    assert "deleted" in deleted.json()["detail"]
    # Nothing was rewritten by any refusal.
    assert all(
        not hasattr(ds, "OriginalAttributesSequence") for ds in stored_objects(services, study)
    )


def test_reconcile_during_concurrent_ingest(services: Services, http_url: str) -> None:
    study = _store(services, 5, accession="WRONG", patient_id="TMP")
    series = generate_uid()
    errors: list[BaseException] = []

    def more() -> None:
        try:
            for _ in range(20):
                ds = make_dataset(
                    study_uid=study, series_uid=series, accession="WRONG", patient_id="TMP"
                )
                services.ingest.store(to_part10(ds), source="test")
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=more)
    thread.start()
    answer = httpx.post(
        f"{http_url}/api/studies/{study}/reconcile",
        json={"patient": {"PatientID": "P7", "PatientName": "Sato^Hanako"}, "reason": "fix"},
        timeout=60,
    )
    thread.join()
    assert errors == []
    assert answer.status_code in (200, 409), answer.text
    objects = stored_objects(services, study)  # every indexed object's blob exists and reads
    assert len(objects) == 25
    rewritten = [ds for ds in objects if "OriginalAttributesSequence" in ds]
    assert all(ds.PatientID == "P7" for ds in rewritten)
    assert all(ds.PatientID == "TMP" for ds in objects if ds not in rewritten)
    if answer.status_code == 200:
        assert len(rewritten) == answer.json()["instances_rewritten"]


def _wait_for_merge(services: Services, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with services.session_factory() as session:
            state = session.scalar(select(Job.state).where(Job.kind == "patient-merge"))
        if state in ("done", "failed"):
            assert state == "done"
            return
        assert time.monotonic() < deadline, state
        time.sleep(0.05)  # polling interval


def test_adt_a40_repoints_stored_studies(
    services: Services,
    dimse_server: tuple[str, int],
    dcmtk: Callable[[str], str],
    tmp_path: Path,
) -> None:
    study = _store(
        services, 2, "TOKYO-HP", patient_id="PA", patient_name="Suzuki^Ichiro", accession="X1"
    )
    # Over a real MLLP connection, as the HIS sends it.
    jobs = JobService(
        session_factory=services.session_factory,
        runners=merge_runners(services),
        resumable=RESUMABLE,
    )
    server = MllpServer(MessageHandler(services.session_factory, jobs=jobs), "127.0.0.1", 0)
    server.start()
    try:
        with audit.capture() as events, socket.create_connection(server.address, 10) as sock:
            sock.sendall(b"\x0b" + encode(adt("A40", pid("PB"), mrg="PA"), IR87) + b"\x1c\r")
            received = b""
            while not received.endswith(b"\x1c\r"):
                chunk = sock.recv(65536)
                assert chunk, "connection closed before the answer"
                received += chunk
            # The studies move in a background job after the ACK (raddx.ris.archive_merge).
            _wait_for_merge(services)
    finally:
        server.stop()
    answer = received[1:-2].decode("iso2022_jp")
    assert "|AA|" in answer, answer
    (moved,) = [e for e in events if e.event_id is EventIDValues.DICOM_INSTANCES_ACCESSED]
    assert (moved.action, moved.patient_id) == (EventActionCodeValues.UPDATE, "PB")
    assert [s.study_instance_uid for s in moved.studies] == [study]

    host, port = dimse_server
    found = tmp_path / "found"
    found.mkdir()
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientName"]
    for patient, expected in (("PB", 1), ("PA", 0)):
        out = found / patient
        out.mkdir()
        result = run_tool(
            [
                dcmtk("findscu"),
                "-S",
                "-aec",
                "RADDX",
                "-X",
                "-od",
                str(out),
                *keys,
                "-k",
                f"PatientID={patient}",
                host,
                str(port),
            ]
        )
        assert result.returncode == 0, result.stderr
        responses = [dcmread(p) for p in sorted(out.iterdir())]
        assert len(responses) == expected
    (response,) = [dcmread(p) for p in (found / "PB").iterdir()]
    assert response.StudyInstanceUID == study
    surviving_name = str(response.PatientName)
    assert surviving_name and surviving_name != "Suzuki^Ichiro"

    got = tmp_path / "got"
    got.mkdir()
    result = run_tool(
        [
            dcmtk("getscu"),
            "-S",
            "-aec",
            "RADDX",
            "-od",
            str(got),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study}",
            host,
            str(port),
        ]
    )
    assert result.returncode == 0, result.stderr
    received = [dcmread(p) for p in sorted(got.iterdir())]
    assert len(received) == 2
    for ds in received:
        assert ds.PatientID == "PB"
        assert str(ds.PatientName) == surviving_name
        (before,) = ds.OriginalAttributesSequence[0].ModifiedAttributesSequence
        assert before.PatientID == "PA"
        assert str(before.PatientName) == "Suzuki^Ichiro"


def test_adt_a40_for_a_patient_nobody_knows(services: Services) -> None:
    _store(services, 1, "TOKYO-HP", patient_id="PA")
    handler = MessageHandler(services.session_factory)
    answer = handler(encode(adt("A40", pid("PB"), mrg="GHOST"), IR87)).decode("iso2022_jp")
    segments = [s.split("|") for s in answer.strip("\r").split("\r")]
    msa = next(s for s in segments if s[0] == "MSA")
    err = next(s for s in segments if s[0] == "ERR")
    assert msa[1] == "AE"
    assert err[2] == "MRG^1^1"
    assert "GHOST" in err[8]


def test_images_before_their_order(services: Services, http_url: str) -> None:
    """An emergency exam: images first, the order entered afterwards with the accession
    number the modality used; ``auto`` links them without touching the objects."""
    study = _store(services, 2, accession="ER-1")
    with services.session_factory() as session, session.begin():
        place_order(
            OrderCreate(
                patient=PatientData("PID001", "", "Doe^John"),
                procedures=(ProcedureCreate(modality="CT", scheduled_start_date="20261126"),),
                accession_number="ER-1",
            ),
            session=session,
        )
    unmatched = httpx.get(f"{http_url}/api/reconciliation/unmatched").json()
    assert [u["StudyInstanceUID"] for u in unmatched] == [study]
    linked = httpx.post(f"{http_url}/api/reconciliation/auto")
    assert linked.status_code == 200, linked.text
    assert linked.json() == [{"StudyInstanceUID": study, "AccessionNumber": "ER-1"}]
    assert httpx.get(f"{http_url}/api/reconciliation/unmatched").json() == []
    assert _order(services, "ER-1").status == "IN_PROGRESS"
    assert httpx.post(f"{http_url}/api/reconciliation/auto").json() == []  # nothing left
    assert all("OriginalAttributesSequence" not in ds for ds in stored_objects(services, study))
