"""STOW-RS against a live server: dicomweb-client stores, WADO-RS gives the same bytes back;
bad parts are refused with a reason while the others are stored.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

import io
import logging
import socket
from urllib.parse import urlsplit

import httpx
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from requests import HTTPError
from sqlalchemy import func, select

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import wait_for
from raddx.archive.part10 import check_structure, read_file_meta
from raddx.db.models import Instance
from raddx.services import Services

BOUNDARY = "test-boundary-1234"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _body(parts: list[tuple[str | None, bytes]], close: bool = True) -> bytes:
    out = b""
    for content_type, data in parts:
        header = f"Content-Type: {content_type}\r\n" if content_type else ""
        out += f"--{BOUNDARY}\r\n{header}\r\n".encode() + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def _count(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)


def test_stow_then_wado_is_byte_identical(services: Services, http_url: str) -> None:
    client = DICOMwebClient(f"{http_url}/dicom-web")
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    with open(path, "rb") as handle:
        original = handle.read()
    ds = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    generated = to_part10(ds)
    datasets = [pydicom.dcmread(path), pydicom.dcmread(io.BytesIO(generated))]
    response = client.store_instances(datasets)
    assert len(response.ReferencedSOPSequence) == 2
    assert "FailedSOPSequence" not in response
    # dicomweb-client re-encodes what it sends; raw bytes prove identity end to end.
    raw = httpx.post(
        f"{http_url}/dicom-web/studies",
        content=_body([("application/dicom", original)]),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert raw.status_code == 200
    study = datasets[0].StudyInstanceUID
    sop = datasets[0].SOPInstanceUID
    item = raw.json()["00081199"]["Value"][0]
    assert item["00081155"]["Value"] == [sop]
    assert item["00081190"]["Value"][0].endswith(
        f"/studies/{study}/series/{datasets[0].SeriesInstanceUID}/instances/{sop}"
    )
    back = client.retrieve_instance(study, datasets[0].SeriesInstanceUID, sop)
    assert back.SOPInstanceUID == sop
    wado = httpx.get(f"{http_url}/dicom-web/studies/{study}")
    assert original in wado.content
    [found] = client.search_for_studies(search_filters={"StudyInstanceUID": ds.StudyInstanceUID})
    assert found["00100010"]["Value"][0]["Phonetic"] == "やまだ^たろう"


def _stored_file(services: Services, sop_instance_uid: str) -> bytes:
    with services.session_factory() as session:
        key = session.scalar(
            select(Instance.blob_key).where(Instance.sop_instance_uid == sop_instance_uid)
        )
    assert key is not None
    return services.blobs.get(key)


def test_preamble_less_instance_from_dicomweb_client(services: Services, http_url: str) -> None:
    """dicomweb-client writes an in-memory dataset with pydicom's dcmwrite: no preamble, a
    File Meta group of only the Transfer Syntax UID. It is stored as a valid Part 10 file
    whose dataset bytes are the ones sent."""
    client = DICOMwebClient(f"{http_url}/dicom-web")
    ds = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192", pixel_bytes=4096)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    sent = io.BytesIO()
    pydicom.dcmwrite(sent, ds)
    assert sent.getvalue()[:2] == b"\x02\x00"  # what goes over the wire: no preamble
    response = client.store_instances([ds])
    assert "FailedSOPSequence" not in response
    assert response.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    stored = _stored_file(services, ds.SOPInstanceUID)
    meta = read_file_meta(stored)  # preamble, DICM and a whole File Meta group
    check_structure(stored, meta)
    assert stored[meta.dataset_offset :] == _dataset_bytes(sent.getvalue())
    stored_ds = pydicom.dcmread(io.BytesIO(stored), force=False)
    assert stored_ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert stored_ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert stored_ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    back = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert back == ds  # every data element equal
    assert back.PatientName.phonetic == "やまだ^たろう"
    # Into a study: the StudyInstanceUID of a preamble-less part is read like any other's.
    second = make_dataset(study_uid=ds.StudyInstanceUID)
    second.file_meta = pydicom.dataset.FileMetaDataset()
    second.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    with pytest.raises(HTTPError, match="409"):
        client.store_instances([second], study_instance_uid=generate_uid())
    stored = client.store_instances([second], study_instance_uid=ds.StudyInstanceUID)
    assert stored.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == second.SOPInstanceUID
    assert _count(services) == 2


def _dataset_bytes(preamble_less: bytes) -> bytes:
    meta = read_file_meta(b"\0" * 128 + b"DICM" + preamble_less)
    return preamble_less[meta.dataset_offset - 132 :]


def test_bare_dataset_parts(services: Services, http_url: str) -> None:
    """A dataset without File Meta: uncompressed little endian is recognised; another
    syntax is taken when the part names it; garbage and guesses are refused with reasons."""
    explicit = make_dataset()
    implicit = make_dataset()
    big = make_dataset()
    unnamed_big = make_dataset()
    parts = [
        ("application/dicom", _dataset_bytes_of(explicit, ExplicitVRLittleEndian)),
        ("application/dicom", _dataset_bytes_of(implicit, ImplicitVRLittleEndian)),
        (
            f"application/dicom; transfer-syntax={ExplicitVRBigEndian}",
            _dataset_bytes_of(big, ExplicitVRBigEndian),
        ),
        ("application/dicom", _dataset_bytes_of(unnamed_big, ExplicitVRBigEndian)),
        ("application/dicom", b"\x08\x00\x16\x00UI\x40\x001.2.3"),
    ]
    response = httpx.post(
        f"{http_url}/dicom-web/studies",
        content=_body(parts),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert response.status_code == 202, response.text
    stored = [i["00081155"]["Value"][0] for i in response.json()["00081199"]["Value"]]
    assert stored == [explicit.SOPInstanceUID, implicit.SOPInstanceUID, big.SOPInstanceUID]
    warning = response.headers["warning"]
    assert "part 4: not a DICOM Part 10 file" in warning
    assert "part 5: file is truncated" in warning
    for ds, syntax in (
        (explicit, ExplicitVRLittleEndian),
        (implicit, ImplicitVRLittleEndian),
        (big, ExplicitVRBigEndian),
    ):
        stored_ds = pydicom.dcmread(io.BytesIO(_stored_file(services, ds.SOPInstanceUID)))
        assert stored_ds.file_meta.TransferSyntaxUID == syntax
        assert stored_ds.PatientName == ds.PatientName
    assert _count(services) == 3


def _dataset_bytes_of(ds: pydicom.Dataset, transfer_syntax: str) -> bytes:
    data = to_part10(ds, transfer_syntax)
    return data[read_file_meta(data).dataset_offset :]


def test_bad_parts_are_refused_and_the_others_stored(services: Services, http_url: str) -> None:
    good = to_part10(make_dataset())
    truncated_dicom = to_part10(make_dataset())[:-40]
    body = _body(
        [
            ("application/dicom", good),
            ("application/dicom", b"this is not DICOM at all"),
            ("text/plain", b"hello"),
            ("application/dicom", truncated_dicom),
        ]
    )
    response = httpx.post(
        f"{http_url}/dicom-web/studies", content=body, headers={"Content-Type": CONTENT_TYPE}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert len(answer["00081199"]["Value"]) == 1
    failed = answer["00081198"]["Value"]
    assert [f["00081197"]["Value"] for f in failed] == [[0xC000]] * 3
    warning = response.headers["warning"]
    assert "part 2" in warning and "part 3: a text/plain part" in warning and "part 4" in warning
    assert _count(services) == 1


def test_truncated_upload_keeps_the_complete_parts(services: Services, http_url: str) -> None:
    first, second = to_part10(make_dataset()), to_part10(make_dataset())
    body = _body([("application/dicom", first)])[: -len(f"--{BOUNDARY}--\r\n")]
    body += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + second[:100]
    response = httpx.post(
        f"{http_url}/dicom-web/studies", content=body, headers={"Content-Type": CONTENT_TYPE}
    )
    assert response.status_code == 202
    assert "part 2: truncated" in response.headers["warning"]
    assert _count(services) == 1


def test_nothing_stored_is_409(services: Services, http_url: str) -> None:
    response = httpx.post(
        f"{http_url}/dicom-web/studies",
        content=_body([("application/dicom", b"DICM? no")]),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert response.status_code == 409
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    assert _count(services) == 0


def test_store_into_a_study_refuses_other_studies(services: Services, http_url: str) -> None:
    study = generate_uid()
    other_bytes = to_part10(make_dataset())
    # Read back: dicomweb-client writes a dataset's preamble only when it has one.
    mine = pydicom.dcmread(io.BytesIO(to_part10(make_dataset(study_uid=study))))
    other = pydicom.dcmread(io.BytesIO(other_bytes))
    client = DICOMwebClient(f"{http_url}/dicom-web")
    with pytest.raises(HTTPError, match="409"):
        client.store_instances([other], study_instance_uid=study)
    response = client.store_instances([mine], study_instance_uid=study)
    assert response.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == mine.SOPInstanceUID
    assert response.RetrieveURL.endswith(f"/dicom-web/studies/{study}")
    raw = httpx.post(
        f"{http_url}/dicom-web/studies/{study}",
        content=_body([("application/dicom", other_bytes)]),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert raw.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
    garbage = httpx.post(
        f"{http_url}/dicom-web/studies/{study}",
        content=_body([("application/dicom", b"not DICOM")]),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert garbage.status_code == 409
    assert garbage.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    assert "part 1: not a DICOM" in garbage.headers["warning"]
    assert _count(services) == 1


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        ("application/dicom", b"x", 415, "multipart/related"),
        ('multipart/related; type="text/plain"; boundary=b', b"x", 415, "only"),
        ('multipart/related; type="application/dicom"', b"x", 400, "boundary"),
        (
            CONTENT_TYPE.replace(BOUNDARY, "wrong"),
            _body([("application/dicom", b"x")]),
            400,
            "boundary",
        ),
        (CONTENT_TYPE, b"", 400, "empty"),
        (CONTENT_TYPE, f"--{BOUNDARY}--\r\n".encode(), 400, "no parts"),
    ],
)
def test_malformed_requests(
    services: Services, http_url: str, content_type: str, body: bytes, status: int, reason: str
) -> None:
    response = httpx.post(
        f"{http_url}/dicom-web/studies", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert _count(services) == 0


def test_invalid_study_uid_in_path(http_url: str) -> None:
    response = httpx.post(
        f"{http_url}/dicom-web/studies/abc",
        content=_body([("application/dicom", b"x")]),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert response.status_code == 400
    assert "not a valid UID" in response.json()["detail"]


def test_client_disconnect_mid_upload_stores_nothing(
    services: Services, http_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="raddx.web.dicomweb.stow")
    data = to_part10(make_dataset(pixel_bytes=200_000))
    body = _body([("application/dicom", to_part10(make_dataset())), ("application/dicom", data)])
    address = urlsplit(http_url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        head = (
            f"POST /dicom-web/studies HTTP/1.1\r\nHost: {address.hostname}:{address.port}\r\n"
            f"Authorization: Bearer {address.password}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
    # Once the server has seen the disconnect, nothing of the half-sent body (not even its
    # complete first part) may have been stored.
    wait_for(lambda: "client disconnected" in caplog.text)
    assert _count(services) == 0
    assert not any(p.is_file() for p in services.blobs.root.rglob("*"))


def test_xml_response(services: Services, http_url: str) -> None:
    response = httpx.post(
        f"{http_url}/dicom-web/studies",
        content=_body([("application/dicom", to_part10(make_dataset()))]),
        headers={"Content-Type": CONTENT_TYPE, "Accept": "application/dicom+xml"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom+xml"
    assert b'keyword="ReferencedSOPSequence"' in response.content
    refused = httpx.post(
        f"{http_url}/dicom-web/studies",
        content=_body([("application/dicom", to_part10(make_dataset()))]),
        headers={"Content-Type": CONTENT_TYPE, "Accept": "text/html"},
    )
    assert refused.status_code == 406
    assert _count(services) == 1  # a refused Accept stores nothing


def test_parallel_stores_answer_in_part_order(services: Services, http_url: str) -> None:
    """Parts are stored several at a time (stow_parallel_stores); the response still lists
    them in the order they were sent, failures in between included."""
    datasets = [make_dataset(pixel_bytes=100_000) for _ in range(12)]
    parts: list[tuple[str | None, bytes]] = []
    for number, ds in enumerate(datasets):
        parts.append(("application/dicom", to_part10(ds)))
        if number % 4 == 1:
            parts.append(("application/dicom", f"garbage {number}".encode()))
    response = httpx.post(
        f"{http_url}/dicom-web/studies",
        content=_body(parts),
        headers={"Content-Type": CONTENT_TYPE},
    )
    assert response.status_code == 202
    stored = [i["00081155"]["Value"][0] for i in response.json()["00081199"]["Value"]]
    assert stored == [ds.SOPInstanceUID for ds in datasets]
    assert [w.split(":")[0] for w in response.headers["warning"].split('"')[1::2]] == [
        "part 3",
        "part 8",
        "part 13",
    ]
    assert _count(services) == 12
