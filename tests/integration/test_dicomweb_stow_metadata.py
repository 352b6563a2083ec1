"""STOW-RS of metadata and bulk data (PS3.18 10.5.2) against a live server: DICOM JSON or
PS3.19 XML parts with BulkDataURIs naming octet-stream parts by Content-Location; the
instance comes back from WADO-RS with the same attributes and pixel bytes. Bad metadata is
refused per instance with a reason, and nothing of it is stored.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import httpx
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.dataelem import DataElement
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid
from sqlalchemy import func, select

from dicom_factory import JAPANESE_NAME, make_dataset
from raddx.archive.part10 import check_structure, read_file_meta
from raddx.db.models import Instance
from raddx.services import Services
from raddx.web.dicomweb._dataset_xml import json_to_xml

BOUNDARY = "metadata-boundary-5678"
JSON_TYPE = f'multipart/related; type="application/dicom+json"; boundary={BOUNDARY}'
XML_TYPE = f'multipart/related; type="application/dicom+xml"; boundary={BOUNDARY}'
OCTETS = "application/octet-stream"


def _body(parts: list[tuple[dict[str, str], bytes]]) -> bytes:
    out = b""
    for headers, data in parts:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        out += f"--{BOUNDARY}\r\n{head}\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _metadata(ds: pydicom.Dataset, location: str) -> dict[str, Any]:
    """DICOM JSON of ``ds`` with its Pixel Data as a BulkDataURI (as a STOW client sends)."""

    def bulk(element: DataElement) -> str:
        return location

    return ds.to_json_dict(bulk_data_threshold=64, bulk_data_element_handler=bulk)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _count(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)


def _stored_file(services: Services, sop_instance_uid: str) -> bytes:
    with services.session_factory() as session:
        key = session.scalar(
            select(Instance.blob_key).where(Instance.sop_instance_uid == sop_instance_uid)
        )
    assert key is not None
    return services.blobs.get(key)


def _post(http_url: str, content: bytes, content_type: str = JSON_TYPE) -> httpx.Response:
    return httpx.post(
        f"{http_url}/dicom-web/studies", content=content, headers={"Content-Type": content_type}
    )


def _pixel_dataset(**kwargs: Any) -> pydicom.Dataset:
    ds = make_dataset(pixel_bytes=8192, **kwargs)
    ds.add_new(0x7FE00010, "OW", os.urandom(len(ds.PixelData)))  # OW, as read back
    return ds


def test_json_metadata_with_bulk_data_round_trips(services: Services, http_url: str) -> None:
    first = _pixel_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    second = _pixel_dataset()
    metadata = [_metadata(first, "bulk/1"), _metadata(second, "http://client/bulk/2")]
    assert metadata[0]["7FE00010"] == {"vr": "OW", "BulkDataURI": "bulk/1"}
    body = _body(
        [
            ({"Content-Type": "application/dicom+json"}, json.dumps(metadata).encode()),
            ({"Content-Type": OCTETS, "Content-Location": "bulk/1"}, first.PixelData),
            (
                {"Content-Type": OCTETS, "Content-Location": "http://client/bulk/2"},
                second.PixelData,
            ),
        ]
    )
    response = _post(http_url, body)
    assert response.status_code == 200, response.text
    stored = [i["00081155"]["Value"][0] for i in response.json()["00081199"]["Value"]]
    assert stored == [first.SOPInstanceUID, second.SOPInstanceUID]
    client = DICOMwebClient(f"{http_url}/dicom-web")
    for ds in (first, second):
        back = client.retrieve_instance(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
        )
        assert back == ds  # every attribute, the pixel bytes included
    data = _stored_file(services, first.SOPInstanceUID)
    meta = read_file_meta(data)
    check_structure(data, meta)
    assert meta.transfer_syntax_uid == ExplicitVRLittleEndian
    assert meta.media_storage_sop_instance_uid == first.SOPInstanceUID
    assert pydicom.dcmread(io.BytesIO(data)).PatientName.ideographic == "山田^太郎"


def test_xml_metadata_with_bulk_data(services: Services, http_url: str) -> None:
    ds = _pixel_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    body = _body(
        [
            ({"Content-Type": "application/dicom+xml"}, json_to_xml(_metadata(ds, "px"))),
            ({"Content-Type": OCTETS, "Content-Location": "px"}, ds.PixelData),
        ]
    )
    response = _post(http_url, body, XML_TYPE)
    assert response.status_code == 200, response.text
    back = pydicom.dcmread(io.BytesIO(_stored_file(services, ds.SOPInstanceUID)))
    assert back.PixelData == ds.PixelData
    assert back.PatientName == ds.PatientName
    assert back.Rows == ds.Rows


def test_bad_metadata_is_refused_per_instance(services: Services, http_url: str) -> None:
    good = _pixel_dataset()
    missing = _pixel_dataset()
    compressed = _metadata(_pixel_dataset(), "jpeg")
    compressed["00020010"] = {"vr": "UI", "Value": [JPEGBaseline8Bit]}
    no_uid = _metadata(make_dataset(), "good")
    del no_uid["00080018"]
    body = _body(
        [
            (
                {"Content-Type": "application/dicom+json"},
                json.dumps(
                    [
                        _metadata(good, "good"),
                        _metadata(missing, "nowhere"),
                        compressed,
                        no_uid,
                        {"not a tag": {"vr": "LO"}},
                        42,
                    ]
                ).encode(),
            ),
            ({"Content-Type": OCTETS, "Content-Location": "good"}, good.PixelData),
            ({"Content-Type": "application/dicom+json"}, b'"just a string"'),
            ({"Content-Type": "application/dicom+json"}, b"{not json"),
            ({"Content-Type": "image/jpeg"}, b"\xff\xd8 no location"),
        ]
    )
    response = _post(http_url, body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert [i["00081155"]["Value"][0] for i in answer["00081199"]["Value"]] == [good.SOPInstanceUID]
    failed = answer["00081198"]["Value"]
    assert [f["00081197"]["Value"] for f in failed] == [[0xC000]] * 8
    # The UIDs the metadata had are in the response, so the client knows which one failed.
    assert missing.SOPInstanceUID in {f.get("00081155", {}).get("Value", [""])[0] for f in failed}
    warning = response.headers["warning"]
    for reason in (
        "part 5: a image/jpeg part without Content-Location",
        "dataset 2: BulkDataURI 'nowhere' names no part of the request",
        f"dataset 3: transfer syntax {JPEGBaseline8Bit}: compressed bulk data is not taken",
        "dataset 4: the dataset has no SOPClassUID or SOPInstanceUID",
        "dataset 5: not a valid DICOM JSON dataset",
        "dataset 6 is not a JSON object",
        "part 3: the application/dicom+json part is not a DICOM JSON dataset",
        "part 4: the application/dicom+json part is not JSON",
    ):
        assert reason in warning, warning
    assert _count(services) == 1


def test_compressed_bulk_part_and_other_study(services: Services, http_url: str) -> None:
    """A BulkDataURI naming a compressed part is refused (not encapsulated); an instance of
    another study than the request's target fails with 0xA900; nothing is stored."""
    ds = _pixel_dataset()
    study = generate_uid()
    body = _body(
        [
            (
                {"Content-Type": "application/dicom+json"},
                json.dumps([_metadata(ds, "f1")]).encode(),
            ),
            ({"Content-Type": "image/jpeg", "Content-Location": "f1"}, b"\xff\xd8\xff\xd9"),
        ]
    )
    response = _post(http_url, body)
    assert response.status_code == 409
    assert "bulk data 'f1' is image/jpeg" in response.headers["warning"]
    other = _body(
        [
            ({"Content-Type": "application/dicom+json"}, json.dumps([_metadata(ds, "p")]).encode()),
            ({"Content-Type": OCTETS, "Content-Location": "p"}, ds.PixelData),
        ]
    )
    response = httpx.post(
        f"{http_url}/dicom-web/studies/{study}", content=other, headers={"Content-Type": JSON_TYPE}
    )
    assert response.status_code == 409
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
    assert _count(services) == 0


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        # The boundary of the Content-Type is not the one the body uses.
        (JSON_TYPE.replace(BOUNDARY, "other"), _body([({}, b"[]")]), 400, "boundary"),
        ('multipart/related; type="application/dicom+json"', b"x", 400, "boundary"),
    ],
)
def test_malformed_metadata_requests(
    services: Services, http_url: str, content_type: str, body: bytes, status: int, reason: str
) -> None:
    response = _post(http_url, body, content_type)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert _count(services) == 0


def test_truncated_metadata_request_stores_nothing_of_the_cut_part(
    services: Services, http_url: str
) -> None:
    ds = _pixel_dataset()
    body = _body(
        [
            ({"Content-Type": "application/dicom+json"}, json.dumps([_metadata(ds, "p")]).encode()),
            ({"Content-Type": OCTETS, "Content-Location": "p"}, ds.PixelData),
        ]
    )
    cut = body[: len(body) - 100]  # inside the bulk data part: it is incomplete
    response = _post(http_url, cut)
    assert response.status_code == 409, response.text
    warning = response.headers["warning"]
    assert "part 2: truncated" in warning
    assert "BulkDataURI 'p' names no part" in warning
    assert _count(services) == 0
