"""REST door for reports (/api/reports): the user's workflow through HTTP, on SQLite and
PostgreSQL. Asserts status codes, problem+json errors and the formats a client gets."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from lxml import etree

from dicom_factory import make_dataset, to_part10
from helpers import api_token
from raddx.services import Services
from raddx.web import create_app

STUDY = "1.2.392.200036.9116.2.6.1.501"
DRAFT = {
    "report_id": "R-API-1",
    "patient": {"patient_id": "P501", "name_kanji": "山田^太郎", "name_kana": "ヤマダ^タロウ"},
    "order": {"accession_no": "A501", "procedure_name": "胸部CT"},
    "studies": [{"study_uid": STUDY, "modalities": ["CT"]}],
    "sections": {"findings": "右肺上葉に結節影。"},
    "author": {"name": "読影^一郎", "id": "D1"},
    "created_at": "2024-04-01T09:00:00+09:00",
}
VERIFIER = {"verifier": {"name": "確定^花子", "id": "D2"}, "at": "2024-04-01T11:00:00+09:00"}


@pytest.fixture
def client(services: Services) -> TestClient:
    ds = make_dataset(study_uid=STUDY, accession="A501", patient_id="P501")
    services.ingest.store(to_part10(ds), source="test")
    # An admin API token: deny by default is what these tests go through (issue 9).
    return TestClient(
        create_app(services), headers={"Authorization": f"Bearer {api_token(services)}"}
    )


def _problem(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    return str(response.json()["detail"])  # type: ignore[attr-defined]


def test_draft_edit_finalise_amend_addendum(client: TestClient) -> None:
    assert client.post("/api/reports", json=DRAFT).status_code == 201
    edited = client.patch("/api/reports/R-API-1", json={"sections": {"impression": "肺癌疑い"}})
    assert edited.status_code == 200
    assert edited.json()["sections"]["findings"] == "右肺上葉に結節影。"
    # A partial object is merged: the rest of the patient stays.
    edited = client.patch("/api/reports/R-API-1", json={"patient": {"name_alpha": "Yamada^Taro"}})
    assert edited.json()["patient"]["patient_id"] == "P501"
    assert edited.json()["patient"]["name_alpha"] == "Yamada^Taro"
    # Finalising without... the impression is there now, so it signs.
    final = client.post("/api/reports/R-API-1/final", json=VERIFIER)
    assert final.status_code == 200 and final.json()["status"] == "final"
    assert len(final.json()["content_sha256"]) == 64
    # Stored back into its study as SR and Encapsulated PDF.
    assert final.json()["archive_copy"]["errors"] == []
    stored = final.json()["archive_copy"]["stored"]
    series = client.get(f"/dicom-web/studies/{STUDY}/series", params={"includefield": "all"})
    modalities = sorted(s["00080060"]["Value"][0] for s in series.json())
    assert len(stored) == 2 and modalities == ["CT", "DOC", "SR"]
    # An edit of a final report in place is refused: amend instead.
    assert "amend" in _problem(
        client.patch("/api/reports/R-API-1", json={"sections": {"impression": "x"}}), 409
    )
    amended = client.post(
        "/api/reports/R-API-1/amendments", json={**VERIFIER, "sections": {"impression": "訂正"}}
    )
    assert amended.status_code == 201
    assert (amended.json()["version"], amended.json()["predecessor"]["version"]) == (2, 1)
    added = client.post(
        "/api/reports/R-API-1/addenda",
        json={"text": "追記", "author": VERIFIER["verifier"], **VERIFIER},
    )
    assert added.json()["version"] == 3
    versions = client.get("/api/reports/R-API-1/versions").json()
    assert [(v["version"], v["status"]) for v in versions] == [
        (1, "final"),
        (2, "amended"),
        (3, "amended"),
    ]
    listed = client.get("/api/reports", params={"study_uid": STUDY}).json()
    assert [(r["report_id"], r["version"]) for r in listed] == [("R-API-1", 3)]
    assert client.get("/api/reports", params={"status": "draft"}).json() == []


def test_get_in_every_format(client: TestClient) -> None:
    client.post("/api/reports", json={**DRAFT, "sections": {"impression": "診断"}})
    client.post("/api/reports/R-API-1/final", json=VERIFIER)
    cda = client.get("/api/reports/R-API-1", headers={"Accept": "application/cda+xml"})
    assert cda.headers["content-type"].startswith("application/cda+xml")
    assert etree.fromstring(cda.content).tag == "{urn:hl7-org:v3}ClinicalDocument"
    fhir = client.get("/api/reports/R-API-1", params={"format": "fhir"})
    Bundle.model_validate_json(fhir.content)
    csv = client.get("/api/reports/R-API-1", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and "山田^太郎" in csv.text
    assert json.loads(client.get("/api/reports/R-API-1").content)["status"] == "final"
    pdf = client.get("/api/reports/R-API-1", headers={"Accept": "application/pdf"})
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "unknown report format" in _problem(
        client.get("/api/reports/R-API-1", params={"format": "docx"}), 406
    )


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"studies": [{"study_uid": "1.2.3.4"}]}, 404, "not in the archive"),
        ({"order": {"accession_no": "OTHER"}}, 409, "accession"),
        ({"studies": [{"study_uid": "not a uid"}]}, 400, "not a valid UID"),
        ({"created_at": "2024-04-01T09:00:00"}, 400, "UTC offset"),
    ],
)
def test_create_is_checked(
    client: TestClient, change: dict[str, object], status: int, message: str
) -> None:
    assert message in _problem(client.post("/api/reports", json={**DRAFT, **change}), status)


def test_finalise_without_impression_and_unknown_report(client: TestClient) -> None:
    client.post("/api/reports", json=DRAFT)
    assert "impression" in _problem(client.post("/api/reports/R-API-1/final", json=VERIFIER), 400)
    assert "does not exist" in _problem(client.get("/api/reports/NOPE"), 404)


def test_quarantine_is_listed(client: TestClient, services: Services) -> None:
    from raddx.reports import service
    from raddx.reports.samples import sample_record

    with services.session_factory.begin() as s:
        service.import_record(session=s, record=sample_record(9), source="pkg.zip")
    (item,) = client.get("/api/reports/quarantine").json()
    assert (item["report_id"], item["source"]) == ("R00000009", "pkg.zip")
    assert "not in the archive" in item["reason"]
    assert item["record"]["patient"]["name_kanji"]


def test_two_windows_saving_one_draft_do_not_overwrite_each_other(client: TestClient) -> None:
    """Editing a draft keeps its version number, so base_version cannot tell two saves
    apart; the revision can: the second window, whose text was loaded before the first
    window saved, is refused and the first window's text stays."""
    assert client.post("/api/reports", json=DRAFT).status_code == 201
    [summary] = client.get("/api/reports/R-API-1/versions").json()
    loaded = summary["revision"]
    first = client.patch(
        "/api/reports/R-API-1",
        json={"sections": {"impression": "右肺癌疑い"}, "base_revision": loaded},
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1 and first.json()["revision"] != loaded
    second = client.patch(
        "/api/reports/R-API-1",
        json={"sections": {"impression": "異常なし"}, "base_revision": loaded},
    )
    assert "saved by another request" in _problem(second, 409)
    kept = client.get("/api/reports/R-API-1").json()
    assert kept["sections"]["impression"] == "右肺癌疑い"
    # Reloaded, the second window saves on the current revision.
    [summary] = client.get("/api/reports/R-API-1/versions").json()
    assert summary["revision"] == first.json()["revision"]
    again = client.patch(
        "/api/reports/R-API-1",
        json={
            "sections": {"impression": "右肺癌疑い。要精査。"},
            "base_revision": summary["revision"],
        },
    )
    assert again.status_code == 200, again.text
    # Nobody signs a text they have not seen: finalising on the first revision is refused.
    stale = client.post("/api/reports/R-API-1/final", json={**VERIFIER, "base_revision": loaded})
    assert "saved by another request" in _problem(stale, 409)
    assert client.get("/api/reports/R-API-1").json()["status"] == "draft"
    current = again.json()["revision"]
    signed = client.post("/api/reports/R-API-1/final", json={**VERIFIER, "base_revision": current})
    assert signed.status_code == 200, signed.text
    assert signed.json()["sections"]["impression"] == "右肺癌疑い。要精査。"
