"""WADO-URI against a live server: the stored bytes back, and the refusals.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.services import Services


@pytest.fixture
def stored(services: Services) -> tuple[dict[str, str], bytes]:
    ds = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    data = to_part10(ds, ImplicitVRLittleEndian)
    services.ingest.store(data, source="test")
    params = {
        "requestType": "WADO",
        "studyUID": ds.StudyInstanceUID,
        "seriesUID": ds.SeriesInstanceUID,
        "objectUID": ds.SOPInstanceUID,
        "contentType": "application/dicom",
    }
    return params, data


def test_object_as_stored(http_url: str, stored: tuple[dict[str, str], bytes]) -> None:
    params, data = stored
    response = httpx.get(f"{http_url}/wado", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom"
    assert response.content == data
    same = httpx.get(
        f"{http_url}/wado", params={**params, "transferSyntax": ImplicitVRLittleEndian}
    )
    assert same.content == data


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"requestType": "RENDER"}, 400, "requestType=WADO"),
        ({"objectUID": ""}, 400, "missing parameter(s): objectUID"),
        ({"objectUID": "1.2.x"}, 400, "not a valid UID"),
        ({"objectUID": "1.2.3.4"}, 404, "no image"),
        ({"contentType": "image/jpeg"}, 406, "only contentType=application/dicom"),
        ({"contentType": ""}, 406, "default image/jpeg"),
        ({"transferSyntax": ExplicitVRLittleEndian}, 406, "transcoding"),
    ],
)
def test_refused(
    http_url: str,
    stored: tuple[dict[str, str], bytes],
    change: dict[str, str],
    status: int,
    reason: str,
) -> None:
    params = {k: v for k, v in {**stored[0], **change}.items() if v}
    response = httpx.get(f"{http_url}/wado", params=params)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
