"""WADO-RS Retrieve Frames against a live server: native frames cut by size, compressed
frames sent as stored, and the refusals (frame out of range, no pixel data, transcoding).

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import MPEG2MPML

from dicom_factory import make_dataset, to_part10
from raddx.services import Services

OCTETS_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


@dataclass
class Objects:
    url: str
    native: tuple[str, str, str]  # study, series, instance of a 3-frame native image
    native_frames: list[bytes]
    rle: tuple[str, str, str]
    rle_frames: list[bytes]
    jpeg: tuple[str, str, str]
    no_pixels: tuple[str, str, str]


def _uids(ds: pydicom.Dataset) -> tuple[str, str, str]:
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


@pytest.fixture
def objects(services: Services, http_url: str) -> Objects:
    native = make_dataset(pixel_bytes=32)
    frame_size = len(native.PixelData)
    native_frames = [bytes([n]) * frame_size for n in (1, 2, 3)]
    native.NumberOfFrames = 3
    native.PixelData = b"".join(native_frames)
    services.ingest.store(to_part10(native), source="test")
    stored = {}
    for name in ("SC_rgb_rle_2frame.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
        path = get_testdata_file(name)
        assert path is not None
        with open(path, "rb") as handle:
            services.ingest.store(handle.read(), source="test")
        stored[name] = pydicom.dcmread(path)
    rle = stored["SC_rgb_rle_2frame.dcm"]
    no_pixels = make_dataset()
    del no_pixels.PixelData
    services.ingest.store(to_part10(no_pixels), source="test")
    return Objects(
        url=f"{http_url}/dicom-web",
        native=_uids(native),
        native_frames=native_frames,
        rle=_uids(rle),
        rle_frames=list(generate_frames(rle.PixelData, number_of_frames=2)),
        jpeg=_uids(stored["SC_rgb_jpeg_dcmtk.dcm"]),
        no_pixels=_uids(no_pixels),
    )


def _frames_url(objects: Objects, uids: tuple[str, str, str], frames: str) -> str:
    study, series, instance = uids
    return f"{objects.url}/studies/{study}/series/{series}/instances/{instance}/frames/{frames}"


def test_native_frames_with_dicomweb_client(objects: Objects) -> None:
    client = DICOMwebClient(objects.url)
    frames = client.retrieve_instance_frames(*objects.native, frame_numbers=[3, 1])
    assert frames == [objects.native_frames[2], objects.native_frames[0]]


def test_compressed_frames_as_stored(objects: Objects) -> None:
    response = httpx.get(_frames_url(objects, objects.rle, "2"), headers={"Accept": OCTETS_ANY})
    assert response.status_code == 200
    assert response.content.count(objects.rle_frames[1]) == 1
    assert b"transfer-syntax=1.2.840.10008.1.2.5" in response.content
    client = DICOMwebClient(objects.url)
    frames = client.retrieve_instance_frames(
        *objects.rle, frame_numbers=[1, 2], media_types=(("image/dicom-rle", "*"),)
    )
    assert frames == objects.rle_frames
    jpeg = httpx.get(
        _frames_url(objects, objects.jpeg, "1"),
        headers={"Accept": 'multipart/related; type="image/jpeg"'},
    )
    assert jpeg.status_code == 200
    assert jpeg.headers["content-type"].startswith('multipart/related; type="image/jpeg"')
    assert b"\xff\xd8" in jpeg.content  # a JPEG start-of-image marker


@pytest.mark.parametrize(
    ("which", "frames", "accept", "status", "reason"),
    [
        ("native", "4", None, 400, "has 3 frame(s)"),  # out of range
        ("native", "0", None, 400, "integers from 1"),
        ("native", "1,x", None, 400, "integers from 1"),
        ("no_pixels", "1", None, 400, "no Pixel Data"),  # not an image
        ("native", "1", 'multipart/related; type="image/jpeg"', 406, "not transcoded"),
        ("rle", "1", 'multipart/related; type="image/jpeg"', 406, "transfer-syntax=*"),
    ],
)
def test_refused(
    objects: Objects, which: str, frames: str, accept: str | None, status: int, reason: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = httpx.get(_frames_url(objects, getattr(objects, which), frames), headers=headers)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]


@pytest.mark.parametrize("which", ["rle", "jpeg"])
def test_compressed_frames_decoded_for_the_default_syntax(objects: Objects, which: str) -> None:
    """Octet-stream frames in Explicit VR Little Endian (the default syntax of PS3.18
    8.7.3.5, when a client names none): compressed frames come back decoded, as pydicom
    decodes them."""
    name = "SC_rgb_rle_2frame.dcm" if which == "rle" else "SC_rgb_jpeg_dcmtk.dcm"
    path = get_testdata_file(name)
    assert path is not None
    pixels = pydicom.dcmread(path).pixel_array
    first = pixels[0] if which == "rle" else pixels  # the RLE object has two frames
    client = DICOMwebClient(objects.url)
    frames = client.retrieve_instance_frames(
        *getattr(objects, which),
        frame_numbers=[1],
        media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),),
    )
    assert frames == [first.tobytes()]
    response = httpx.get(
        _frames_url(objects, getattr(objects, which), "1"),
        headers={"Accept": 'multipart/related; type="application/octet-stream"'},
    )
    assert response.status_code == 200
    assert b"transfer-syntax=1.2.840.10008.1.2.1" in response.content  # the part's type
    assert response.content.count(first.tobytes()) == 1


def test_frames_no_decoder_reads_are_406_with_the_reason(services: Services, http_url: str) -> None:
    ds = make_dataset()
    ds.Rows = ds.Columns = 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 7, 0
    ds.BitsAllocated = 8
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    services.ingest.store(to_part10(ds, MPEG2MPML), source="test")
    study, series, instance = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    url = f"{http_url}/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/1"
    response = httpx.get(url)
    assert response.status_code == 406, response.text
    assert "no decoder for MPEG2" in response.json()["detail"]


def test_unknown_instance_is_404(objects: Objects) -> None:
    study, series, _ = objects.native
    response = httpx.get(_frames_url(objects, (study, series, "1.2.3.4"), "1"))
    assert response.status_code == 404


def test_compressed_pixel_data_bulkdata_is_its_frames(objects: Objects) -> None:
    study, series, instance = objects.rle
    url = f"{objects.url}/studies/{study}/series/{series}/instances/{instance}/bulkdata/7FE00010"
    response = httpx.get(url, headers={"Accept": OCTETS_ANY})
    assert response.status_code == 200
    assert all(response.content.count(frame) == 1 for frame in objects.rle_frames)
    assert response.content.count(b"Content-Type:") == 2
