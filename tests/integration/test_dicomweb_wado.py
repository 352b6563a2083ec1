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
from pydicom.data import get_testdata_file
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


STAR = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def test_retrieve_study_is_byte_identical(stored: Stored) -> None:
    response = httpx.get(f"{stored.url}/studies/{stored.study}", headers={"Accept": STAR})
    assert response.status_code == 200
    parts = _raw_parts(response)
    assert sorted(parts) == sorted(stored.files.values())


def test_default_is_explicit_vr_little_endian(stored: Stored) -> None:
    """PS3.18 8.7.3.4: without a transfer-syntax the objects come in Explicit VR Little
    Endian; the ones stored so are sent byte for byte, the implicit one re-encoded."""
    response = httpx.get(f"{stored.url}/studies/{stored.study}")
    assert response.status_code == 200
    parts = _raw_parts(response)
    assert response.content.count(f"transfer-syntax={ExplicitVRLittleEndian}".encode()) == 3
    explicit = [d for d in stored.files.values() if b"1.2.840.10008.1.2\x00" not in d]
    assert all(data in parts for data in explicit)
    [converted] = [p for p in parts if p not in explicit]
    ds = pydicom.dcmread(io.BytesIO(converted))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    original = pydicom.dcmread(io.BytesIO(stored.files[ds.SOPInstanceUID]))
    assert ds == original and str(ds.PatientName) == JAPANESE_NAME


def test_retrieve_instance_keeps_the_stored_syntax_when_asked(stored: Stored) -> None:
    [(sop, data)] = [(k, v) for k, v in stored.files.items() if b"1.2.840.10008.1.2\x00" in v]
    explicit = stored.client.retrieve_instance(
        stored.study,
        stored.series[1],
        sop,
        media_types=(("application/dicom", ExplicitVRLittleEndian),),
    )
    assert explicit.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    # dicomweb-client asks for transfer-syntax=* unless told otherwise.
    ds = stored.client.retrieve_instance(stored.study, stored.series[1], sop)
    assert ds.SOPInstanceUID == sop
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    response = httpx.get(
        f"{stored.url}/studies/{stored.study}/series/{stored.series[1]}/instances/{sop}",
        headers={"Accept": STAR},
    )
    assert _raw_parts(response) == [data]
    assert f"transfer-syntax={ImplicitVRLittleEndian}".encode() in response.content


def test_named_transfer_syntax(stored: Stored) -> None:
    explicit = (
        f'multipart/related; type="application/dicom"; transfer-syntax={ExplicitVRLittleEndian}'
    )
    ok = httpx.get(f"{stored.url}/studies/{stored.study}", headers={"Accept": explicit})
    assert ok.status_code == 200
    assert len(_raw_parts(ok)) == 3  # the implicit VR one transcoded
    implicit = explicit.replace(ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    refused = httpx.get(f"{stored.url}/studies/{stored.study}", headers={"Accept": implicit})
    assert refused.status_code == 406  # we transcode to Explicit VR Little Endian only
    assert "transfer-syntax=*" in refused.json()["detail"]
    same = httpx.get(
        f"{stored.url}/studies/{stored.study}/series/{stored.series[1]}",
        headers={"Accept": implicit},
    )
    assert same.status_code == 200  # every object of the series is stored so


def test_compressed_objects_are_decoded(stored: Stored, services: Services) -> None:
    """Lossless compressed objects are decoded for the default syntax; lossy ones are sent
    as received unless Explicit VR Little Endian is named (PS3.18 8.7.3.4)."""
    names = ["MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg_dcmtk.dcm"]
    originals = {}
    for name in names:
        path = get_testdata_file(name)
        assert path is not None
        with open(path, "rb") as handle:
            originals[name] = handle.read()
        services.ingest.store(originals[name], source="test")
    for name in names[:2]:
        ds = pydicom.dcmread(io.BytesIO(originals[name]))
        url = f"{stored.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        [part] = _raw_parts(httpx.get(f"{url}/instances/{ds.SOPInstanceUID}"))
        sent = pydicom.dcmread(io.BytesIO(part))
        assert sent.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert sent.SOPInstanceUID == ds.SOPInstanceUID  # the same instance
        assert (sent.pixel_array == ds.pixel_array).all()
    jpeg = pydicom.dcmread(io.BytesIO(originals["SC_rgb_jpeg_dcmtk.dcm"]))
    url = (
        f"{stored.url}/studies/{jpeg.StudyInstanceUID}/series/{jpeg.SeriesInstanceUID}"
        f"/instances/{jpeg.SOPInstanceUID}"
    )
    assert _raw_parts(httpx.get(url)) == [originals["SC_rgb_jpeg_dcmtk.dcm"]]
    explicit = (
        f'multipart/related; type="application/dicom"; transfer-syntax={ExplicitVRLittleEndian}'
    )
    [part] = _raw_parts(httpx.get(url, headers={"Accept": explicit}))
    sent = pydicom.dcmread(io.BytesIO(part))
    assert sent.PhotometricInterpretation == "RGB" and sent.pixel_array.shape == (100, 100, 3)


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
    objects = httpx.get(f"{stored.url}/studies/{stored.study}", headers={**gzip, "Accept": STAR})
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
