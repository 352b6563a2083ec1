"""Viewer measurements saved into the study (``POST /api/studies/{uid}/measurements``) as a
DICOM Measurement Report and read back (``GET``), on SQLite and PostgreSQL: what a
radiologist who measured a lesion finds when the study is opened again, what another
viewer finds in the archive (a valid TID 1500 SR), and the refusals."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydicom import dcmread
from pydicom.uid import generate_uid

from dicom3tools import dciodvfy_errors
from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import api_token
from raddx.security import audit
from raddx.services import Services
from raddx.web import create_app

LENGTH = {"kind": "length", "points": [[10.5, 20.25], [30.0, 40.0]], "value": 28.7}
ANGLE = {"kind": "angle", "points": [[1, 2], [3, 4], [5, 1]], "value": 45.0, "label": "角度"}
ELLIPSE = {
    "kind": "ellipse",
    "points": [[5, 1], [5, 9], [1, 5], [9, 5]],
    "value": 50.25,
    "unit": "HU",
    "mean": 40.5,
    "sd": 3.25,
    "min": -10.0,
    "max": 60.0,
    "label": "肝 S6 腫瘤",
}


@pytest.fixture
def study(services: Services) -> tuple[str, list[str]]:
    study_uid = generate_uid()
    images = []
    for _ in range(2):
        ds = make_dataset(study_uid=study_uid, patient_name=JAPANESE_NAME, charset="ISO_IR 192")
        services.ingest.store(to_part10(ds), source="test")
        images.append(str(ds.SOPInstanceUID))
    return study_uid, images


def _client(services: Services, role: str) -> TestClient:
    token = api_token(services, role)
    return TestClient(create_app(services), headers={"Authorization": f"Bearer {token}"})


def _stored(services: Services, sop_uid: str) -> bytes:
    from sqlalchemy import select

    from raddx.db.models import Instance

    with services.session_factory() as session:
        key = session.scalar(select(Instance.blob_key).where(Instance.sop_instance_uid == sop_uid))
    assert key is not None, "the Measurement Report is not in the archive"
    return services.blobs.get(key)


def test_measurements_saved_into_the_study_come_back(
    services: Services, study: tuple[str, list[str]], tmp_path: Path
) -> None:
    study_uid, (first, second) = study
    radiologist = _client(services, "radiologist")
    body = {
        "measurements": [
            {**LENGTH, "sop_instance_uid": first},
            {**ANGLE, "sop_instance_uid": first},
            {**ELLIPSE, "sop_instance_uid": second},
        ]
    }
    with audit.capture() as events:
        saved = radiologist.post(f"/api/studies/{study_uid}/measurements", json=body)
    assert saved.status_code == 201, saved.text
    sop_uid = saved.json()["sop_instance_uid"]
    accessed = [e for e in events if e.event_id.code.code == "110103"]
    assert [str(e.action) for e in accessed] == ["C"]

    # In the archive: a Comprehensive SR of the same patient and study, valid per dciodvfy.
    data = _stored(services, sop_uid)
    sr = dcmread(io.BytesIO(data))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    assert sr.StudyInstanceUID == study_uid and sr.SeriesNumber == 9002
    assert str(sr.PatientName) == JAPANESE_NAME
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    path = tmp_path / "measurements.dcm"
    path.write_bytes(data)
    assert dciodvfy_errors(path) == set()
    series = radiologist.get("/api/series", params={"StudyInstanceUID": study_uid}).json()
    assert [s["SeriesNumber"] for s in series["items"] if s["Modality"] == "SR"] == [9002]

    # Opening the study again: the measurements, where they were drawn, and by whom.
    viewer = _client(services, "viewer")
    back = viewer.get(f"/api/studies/{study_uid}/measurements")
    assert back.status_code == 200, back.text
    [one] = back.json()
    assert one["sop_instance_uid"] == sop_uid
    assert one["observer"].startswith("test-radiologist-")
    got = {m["kind"]: m for m in one["measurements"]}
    assert got["length"]["sop_instance_uid"] == first
    assert got["length"]["points"] == LENGTH["points"] and got["length"]["value"] == 28.7
    assert got["angle"]["label"] == "角度" and got["angle"]["value"] == 45.0
    ellipse = got["ellipse"]
    assert ellipse["sop_instance_uid"] == second and ellipse["unit"] == "HU"
    assert (ellipse["mean"], ellipse["sd"], ellipse["min"], ellipse["max"]) == (40.5, 3.25, -10, 60)
    assert ellipse["label"] == "肝 S6 腫瘤" and ellipse["value"] == 50.25


def test_refusals_store_nothing(services: Services, study: tuple[str, list[str]]) -> None:
    study_uid, (first, _) = study
    radiologist = _client(services, "radiologist")
    url = f"/api/studies/{study_uid}/measurements"
    elsewhere = make_dataset()  # an image of another study
    services.ingest.store(to_part10(elsewhere), source="test")
    outside = {"measurements": [{**LENGTH, "sop_instance_uid": elsewhere.SOPInstanceUID}]}
    refused = radiologist.post(url, json=outside)
    assert refused.status_code == 400
    assert "not a stored image of study" in refused.json()["detail"]
    two_point_ellipse = {**ELLIPSE, "points": [[1, 1], [2, 2]], "sop_instance_uid": first}
    assert radiologist.post(url, json={"measurements": [two_point_ellipse]}).status_code == 400
    negative = {**LENGTH, "points": [[-1, 0], [2, 2]], "sop_instance_uid": first}
    assert radiologist.post(url, json={"measurements": [negative]}).status_code == 422
    assert radiologist.post(url, json={"measurements": []}).status_code == 422
    unknown = radiologist.post(
        f"/api/studies/{generate_uid()}/measurements",
        json={"measurements": [{**LENGTH, "sop_instance_uid": first}]},
    )
    assert unknown.status_code == 404
    # A viewer (referring physician) may read measurements but not file new ones.
    viewer = _client(services, "viewer")
    assert (
        viewer.post(url, json={"measurements": [{**LENGTH, "sop_instance_uid": first}]}).status_code
        == 403
    )
    assert radiologist.get(url).json() == []
    series = radiologist.get("/api/series", params={"StudyInstanceUID": study_uid}).json()
    assert "SR" not in {s["Modality"] for s in series["items"]}
