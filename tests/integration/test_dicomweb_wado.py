"""WADO-RS against a live server: dicomweb-client retrieves, the bytes are the stored ones.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import httpx
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.archive.part10 import read_file_meta
from raddx.services import Services


@dataclass
class Stored:
    url: str
    client: DICOMwebClient
    study: str
    series: tuple[str, str]
    files: dict[str, bytes]  # SOPInstanceUID → the Part 10 bytes stored


@pytest.fixture
def stored(services: Services, http_url: str) -> Stored:
    study, series = generate_uid(), (generate_uid(), generate_uid())
    files: dict[str, bytes] = {}
    for number, (series_uid, syntax) in enumerate(
        [
            (series[0], ExplicitVRLittleEndian),
            (series[0], ExplicitVRLittleEndian),
            (series[1], ImplicitVRLittleEndian),
        ],
        start=1,
    ):
        ds = make_dataset(
            patient_name=JAPANESE_NAME,
            charset="ISO_IR 192",
            study_uid=study,
            series_uid=series_uid,
            pixel_bytes=4096,
        )
        ds.InstanceNumber = number
        data = to_part10(ds, syntax)
        services.ingest.store(data, source="test")
        files[ds.SOPInstanceUID] = data
    url = f"{http_url}/dicom-web"
    return Stored(url, DICOMwebClient(url), study, series, files)


def _raw_parts(response: httpx.Response) -> list[bytes]:
    """The parts of a multipart/related answer, framed independently of the server."""
    content_type = response.headers["content-type"]
    assert content_type.startswith('multipart/related; type="application/dicom"')
    boundary = content_type.split("boundary=")[1].strip('"')
    body = response.content
    pieces = body.split(b"--" + boundary.encode())
    assert pieces[-1] == b"--\r\n"
    parts = []
    for piece in pieces[1:-1]:
        _, _, content = piece.partition(b"\r\n\r\n")
        parts.append(content[:-2] if content.endswith(b"\r\n") else content)
    return parts


def test_retrieve_study_is_byte_identical(stored: Stored) -> None:
    response = httpx.get(f"{stored.url}/studies/{stored.study}")
    assert response.status_code == 200
    parts = _raw_parts(response)
    assert sorted(parts) == sorted(stored.files.values())


def test_retrieve_study_with_dicomweb_client(stored: Stored) -> None:
    datasets = stored.client.retrieve_study(stored.study)
    assert sorted(ds.SOPInstanceUID for ds in datasets) == sorted(stored.files)
    assert all(str(ds.PatientName) == JAPANESE_NAME for ds in datasets)
    series = stored.client.retrieve_series(stored.study, stored.series[0])
    assert len(series) == 2


def test_retrieve_instance_keeps_the_stored_syntax(stored: Stored) -> None:
    [(sop, data)] = [(k, v) for k, v in stored.files.items() if b"1.2.840.10008.1.2\x00" in v]
    ds = stored.client.retrieve_instance(stored.study, stored.series[1], sop)
    assert ds.SOPInstanceUID == sop
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    response = httpx.get(
        f"{stored.url}/studies/{stored.study}/series/{stored.series[1]}/instances/{sop}"
    )
    assert _raw_parts(response) == [data]
    assert f"transfer-syntax={ImplicitVRLittleEndian}".encode() in response.content


def test_named_transfer_syntax(stored: Stored) -> None:
    explicit = (
        f'multipart/related; type="application/dicom"; transfer-syntax={ExplicitVRLittleEndian}'
    )
    ok = httpx.get(
        f"{stored.url}/studies/{stored.study}/series/{stored.series[0]}",
        headers={"Accept": explicit},
    )
    assert ok.status_code == 200
    assert len(_raw_parts(ok)) == 2
    refused = httpx.get(f"{stored.url}/studies/{stored.study}", headers={"Accept": explicit})
    assert refused.status_code == 406
    assert "transfer-syntax=*" in refused.json()["detail"]
    star = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    assert (
        httpx.get(f"{stored.url}/studies/{stored.study}", headers={"Accept": star}).status_code
        == 200
    )


def test_series_metadata(stored: Stored) -> None:
    metadata = stored.client.retrieve_series_metadata(stored.study, stored.series[0])
    assert len(metadata) == 2
    for item in metadata:
        assert item["00100010"]["Value"][0]["Ideographic"] == "山田^太郎"
        assert item["00080005"]["Value"] == ["ISO_IR 192"]
        uri = item["7FE00010"]["BulkDataURI"]  # bulk data as a URI, not inline
        assert uri.endswith(f"/instances/{item['00080018']['Value'][0]}/bulkdata/7FE00010")
        assert "Value" not in item["7FE00010"] and "InlineBinary" not in item["7FE00010"]
        assert item["00280010"]["Value"]  # Rows is there
    study = stored.client.retrieve_study_metadata(stored.study)
    assert len(study) == 3
    sop = metadata[0]["00080018"]["Value"][0]
    one = stored.client.retrieve_instance_metadata(stored.study, stored.series[0], sop)
    assert one["00080018"]["Value"] == [sop]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/studies/1.2.3.4", 404),
        ("/studies/1.2.3.4/metadata", 404),
        ("/studies/{study}/series/1.2.3.4", 404),
        ("/studies/not.a.uid", 400),
        ("/studies/1.2.x/metadata", 400),
    ],
)
def test_missing_and_invalid(stored: Stored, path: str, status: int) -> None:
    response = httpx.get(stored.url + path.format(study=stored.study))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_not_acceptable(stored: Stored) -> None:
    xml = 'multipart/related; type="application/dicom+xml"'
    response = httpx.get(f"{stored.url}/studies/{stored.study}", headers={"Accept": xml})
    assert response.status_code == 406
    response = httpx.get(f"{stored.url}/studies/{stored.study}/metadata", headers={"Accept": xml})
    assert response.status_code == 200  # metadata comes in XML too
    assert response.content.count(b"<NativeDicomModel") == 3
    assert b"/bulkdata/7FE00010" in response.content
    png = httpx.get(
        f"{stored.url}/studies/{stored.study}/metadata", headers={"Accept": "image/png"}
    )
    assert png.status_code == 406


def test_bulkdata(stored: Stored) -> None:
    [item] = httpx.get(
        f"{stored.url}/studies/{stored.study}/series/{stored.series[1]}/metadata"
    ).json()
    sop = item["00080018"]["Value"][0]
    expected = pydicom.dcmread(io.BytesIO(stored.files[sop])).PixelData
    # dicomweb-client sends "Host" without the port; ask it for our own URL.
    path = item["7FE00010"]["BulkDataURI"].split("/dicom-web", 1)[1]
    [value] = stored.client.retrieve_bulkdata(stored.url + path)
    assert value == expected
    instance = f"{stored.url}/studies/{stored.study}/series/{stored.series[1]}/instances/{sop}"
    for tag, status, reason in [
        ("00100010", 400, "not bulk data"),  # PatientName is PN
        ("7FE0001", 400, "eight hexadecimal digits"),
        ("00420011", 404, "no attribute"),  # EncapsulatedDocument: absent
    ]:
        response = httpx.get(f"{instance}/bulkdata/{tag}")
        assert response.status_code == status
        assert reason in response.json()["detail"]


def test_gzip_for_json_only(stored: Stored) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    metadata = httpx.get(f"{stored.url}/studies/{stored.study}/metadata", headers=gzip)
    assert metadata.headers["content-encoding"] == "gzip"
    assert len(metadata.json()) == 3  # httpx decodes it
    objects = httpx.get(f"{stored.url}/studies/{stored.study}", headers=gzip)
    assert "content-encoding" not in objects.headers
    assert sorted(_raw_parts(objects)) == sorted(stored.files.values())


def test_etag_and_not_modified(stored: Stored, services: Services) -> None:
    study_url = f"{stored.url}/studies/{stored.study}"
    first = httpx.get(study_url)
    etag = first.headers["etag"]
    again = httpx.get(study_url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    metadata = httpx.get(f"{study_url}/metadata")
    assert metadata.headers["etag"] != etag  # another representation
    assert (
        httpx.get(
            f"{study_url}/metadata", headers={"If-None-Match": metadata.headers["etag"]}
        ).status_code
        == 304
    )
    services.ingest.store(to_part10(make_dataset(study_uid=stored.study)), source="test")
    changed = httpx.get(study_url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(_raw_parts(changed)) == 4


def test_zip_download(stored: Stored) -> None:
    response = httpx.get(
        f"{stored.url}/studies/{stored.study}", headers={"Accept": "application/zip"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert f'filename="{stored.study}.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        members = {name: archive.read(name) for name in archive.namelist()}
    assert members == {f"{sop}.dcm": data for sop, data in stored.files.items()}


def test_mislabelled_object_is_re_encoded(stored: Stored, services: Services) -> None:
    """Implicit VR bytes under an Explicit VR file meta (ingest tolerates them, as pydicom
    does) go out re-encoded as their syntax says, or the client would misread them."""
    ds = make_dataset(study_uid=stored.study)
    implicit = to_part10(ds, ImplicitVRLittleEndian)
    explicit = to_part10(ds, ExplicitVRLittleEndian)
    mislabelled = (
        explicit[: read_file_meta(explicit).dataset_offset]
        + implicit[read_file_meta(implicit).dataset_offset :]
    )
    services.ingest.store(mislabelled, source="test")
    response = httpx.get(
        f"{stored.url}/studies/{stored.study}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    [part] = _raw_parts(response)
    assert part != mislabelled
    offset = read_file_meta(part).dataset_offset
    assert part[offset : offset + 6] == b"\x08\x00\x16\x00UI"  # SOPClassUID, explicit VR
    assert pydicom.dcmread(io.BytesIO(part)).SOPInstanceUID == ds.SOPInstanceUID
    series = f"{stored.url}/studies/{stored.study}/series/{ds.SeriesInstanceUID}"
    [item] = httpx.get(f"{series}/metadata").json()
    assert item["00080018"]["Value"] == [ds.SOPInstanceUID]
