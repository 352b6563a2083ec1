"""The reading list (``GET /api/reading-list``) and the draft for a study
(``POST /api/reports/from-study``), through HTTP on SQLite and PostgreSQL: which studies a
radiologist sees, in which order, how they leave the list, and the refusals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydicom.uid import generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import api_token
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.security import audit
from raddx.services import Services
from raddx.web import create_app

VERIFIER = {"verifier": {"name": "確定^花子", "id": "D2"}}


def _study(services: Services, **kwargs: object) -> str:
    ds = make_dataset(charset="ISO_IR 192", **kwargs)  # type: ignore[arg-type]
    services.ingest.store(to_part10(ds), source="test")
    return str(ds.StudyInstanceUID)


def _ordered_study(services: Services, priority: str, accession: str, patient_id: str) -> str:
    """A study acquired for a RIS order of ``priority`` (the order assigns the Study UID)."""
    with services.session_factory() as session, session.begin():
        placed = place_order(
            OrderCreate(
                patient=PatientData(patient_id, "", JAPANESE_NAME),
                procedures=(ProcedureCreate(modality="CT", scheduled_start_date="20261126"),),
                accession_number=accession,
                priority=priority,
            ),
            session=session,
        )
    return _study(
        services,
        study_uid=placed.study_instance_uids[0],
        accession=accession,
        patient_id=patient_id,
        patient_name=JAPANESE_NAME,
    )


@pytest.fixture
def client(services: Services) -> TestClient:
    return TestClient(
        create_app(services), headers={"Authorization": f"Bearer {api_token(services)}"}
    )


def _uids(client: TestClient, **params: object) -> list[str]:
    answer = client.get("/api/reading-list", params=params)
    assert answer.status_code == 200, answer.text
    return [i["StudyInstanceUID"] for i in answer.json()["items"]]


def test_stat_first_and_reported_studies_leave(client: TestClient, services: Services) -> None:
    routine = _study(services, patient_id="P1", accession="A1")
    stat = _ordered_study(services, "STAT", "A-STAT", "P2")
    mr = _study(services, patient_id="P3", accession="A3", modality="MR")
    listed = client.get("/api/reading-list").json()["items"]
    # The STAT order comes first, whatever its date; the patient shows in kanji and kana.
    assert listed[0]["StudyInstanceUID"] == stat
    first = listed[0]
    assert (first["priority"], first["status"], first["report_id"]) == ("STAT", "unreported", None)
    assert first["PatientName"]["Ideographic"] == "山田^太郎"
    assert first["PatientName"]["Phonetic"] == "やまだ^たろう"
    assert set(_uids(client)) == {routine, stat, mr}
    assert _uids(client, modality="MR") == [mr]

    # A draft for the STAT study, written from the study: patient and order come from the
    # archive; it stays on the list as "draft", then "preliminary" (waiting for 二次読影).
    made = client.post(
        "/api/reports/from-study",
        json={"study_uid": stat, "author": {"name": "読影^一郎", "id": "dr1"}},
    )
    assert made.status_code == 201, made.text
    report = made.json()
    assert report["patient"]["name_kanji"] == "山田^太郎"
    assert report["order"]["accession_no"] == "A-STAT"
    assert report["studies"][0]["study_uid"] == stat
    rid = report["report_id"]
    item = client.get("/api/reading-list").json()["items"][0]
    assert (item["status"], item["report_id"], item["report_status"]) == ("draft", rid, "draft")
    client.patch(f"/api/reports/{rid}", json={"sections": {"impression": "異常なし"}})
    client.post(f"/api/reports/{rid}/preliminary", json={})
    assert _uids(client, status="preliminary") == [stat]
    waiting = client.get("/api/reading-list", params={"status": "preliminary"}).json()["items"]
    assert waiting[0]["report_author"] == "読影^一郎"  # who did the first reading
    assert stat not in _uids(client, status="unreported")
    final = client.post(f"/api/reports/{rid}/final", json=VERIFIER)
    assert final.status_code == 200, final.text
    assert stat not in _uids(client)
    assert _uids(client, status="reported") == [stat]
    # The versions list says who wrote and who verified.
    (version,) = client.get(f"/api/reports/{rid}/versions").json()
    assert (version["author"], version["verifier"]) == ("読影^一郎", "確定^花子")


def test_paging_and_date_filter(client: TestClient, services: Services) -> None:
    uids = [_study(services, patient_id=f"P{n}", accession=f"A{n}") for n in range(3)]
    first = client.get("/api/reading-list", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["items"]) == 1 and second["next"] is None
    seen = [i["StudyInstanceUID"] for i in first["items"] + second["items"]]
    assert sorted(seen) == sorted(uids)
    # make_dataset's StudyDate is 2026-11-25.
    assert len(_uids(client, date_from="2026-11-25", date_to="20261125")) == 3
    assert _uids(client, date_from="20261126") == []


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"date_from": "2026-13-01"}, 400, "not a date"),
        ({"date_from": "20261201", "date_to": "20261101"}, 400, "ends before"),
        ({"status": "signed"}, 400, "status"),
        ({"modality": "C'T"}, 400, "modality"),
        ({"limit": 0}, 400, "limit"),
    ],
)
def test_bad_filters_are_refused(
    client: TestClient, params: dict[str, object], status: int, message: str
) -> None:
    answer = client.get("/api/reading-list", params=params)
    assert answer.status_code == status, answer.text
    assert message in answer.text


def test_draft_for_unknown_study_and_bad_body(client: TestClient, services: Services) -> None:
    unknown = client.post("/api/reports/from-study", json={"study_uid": generate_uid()})
    assert unknown.status_code == 404 and "not in the archive" in unknown.json()["detail"]
    uid = _study(services)
    bad = client.post(
        "/api/reports/from-study", json={"study_uid": uid, "sections": {"nonsense": "x"}}
    )
    assert bad.status_code == 400 and "sections" in bad.json()["detail"]


def test_permissions_and_audit(services: Services) -> None:
    _study(services)
    app = create_app(services)
    technologist = TestClient(
        app, headers={"Authorization": f"Bearer {api_token(services, 'technologist')}"}
    )
    auditor = TestClient(app, headers={"Authorization": f"Bearer {api_token(services, 'auditor')}"})
    # report.read lets a technologist see the list; writing a report needs report.write.
    assert technologist.get("/api/reading-list").status_code == 200
    uid = technologist.get("/api/reading-list").json()["items"][0]["StudyInstanceUID"]
    assert technologist.post("/api/reports/from-study", json={"study_uid": uid}).status_code == 403
    assert auditor.get("/api/reading-list").status_code == 403
    # Reading the list is a query of patient data (PS3.15 A.5.3.10 Query, 110112).
    with audit.capture() as events:
        assert technologist.get("/api/reading-list?modality=CT").status_code == 200
    queries = [e for e in events if e.event_id.code.code == "110112"]
    assert len(queries) == 1
    assert [o.query for o in queries[0].objects] == [b"/api/reading-list?modality=CT"]
