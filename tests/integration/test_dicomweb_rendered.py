"""WADO-RS rendered and thumbnail resources against a live server: dicomweb-client's
rendered retrieves, the pixel values a viewer would show, multipart for several frames,
thumbnails of the representative image, caching, and the refusals.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, BasicTextSRStorage, generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.services import Services

Uids = tuple[str, str, str]
_IMAGE_PIXEL = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PixelData",
)


@dataclass
class Objects:
    url: str
    client: DICOMwebClient
    study: str
    ct_series: str
    ct: list[Uids]  # three single-frame CT images, shown as 0, 128, 255 with their window
    multi: Uids  # a 3-frame image, frames shown as 0, 128, 255
    sr: Uids
    jpeg: Uids  # a JPEG baseline colour image in its own study


def _uids(ds: Dataset) -> Uids:
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def _ct(study: str, series: str, values: list[int]) -> Dataset:
    """A 16×16 CT (slope 1, intercept -1024, window 40/400), one frame per value."""
    ds = make_dataset(
        patient_name=JAPANESE_NAME, charset="ISO_IR 192", study_uid=study, series_uid=series
    )
    ds.Rows = ds.Columns = 16
    ds.BitsStored, ds.HighBit = 12, 11
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 40, 400
    if len(values) > 1:
        ds.NumberOfFrames = len(values)
    ds.PixelData = np.concatenate([np.full(256, v, dtype=np.uint16) for v in values]).tobytes()
    return ds


@pytest.fixture
def objects(services: Services, http_url: str) -> Objects:
    study, ct_series = generate_uid(), generate_uid()
    sr = make_dataset(
        patient_name=JAPANESE_NAME,
        charset="ISO_IR 192",
        study_uid=study,
        sop_class=BasicTextSRStorage,
        modality="SR",
    )
    for keyword in _IMAGE_PIXEL:
        delattr(sr, keyword)
    services.ingest.store(to_part10(sr), source="test")  # the study's first series: no image
    # HU -1024, 40, 240 → 0, 128, 255 with window 40/400.
    ct = []
    for number, value in enumerate([0, 1064, 1264], start=1):
        ds = _ct(study, ct_series, [value])
        ds.InstanceNumber = number
        services.ingest.store(to_part10(ds), source="test")
        ct.append(_uids(ds))
    multi = _ct(study, generate_uid(), [0, 1064, 1264])
    services.ingest.store(to_part10(multi), source="test")
    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")
    assert path is not None
    with open(path, "rb") as handle:
        services.ingest.store(handle.read(), source="test")
    url = f"{http_url}/dicom-web"
    return Objects(
        url,
        DICOMwebClient(url),
        study,
        ct_series,
        ct,
        _uids(multi),
        _uids(sr),
        _uids(pydicom.dcmread(path)),
    )


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(BytesIO(data)) as image:
        return np.asarray(image)


def _parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/related")
    boundary = content_type.split("boundary=")[1].strip('"')
    pieces = response.content.split(b"--" + boundary.encode())
    assert pieces[-1] == b"--\r\n"
    parts = []
    for piece in pieces[1:-1]:
        header, _, body = piece.partition(b"\r\n\r\n")
        part_type = header.decode().split("Content-Type:")[1].strip()
        parts.append((part_type, body[:-2] if body.endswith(b"\r\n") else body))
    return parts


def _instance_url(objects: Objects, uids: Uids) -> str:
    return f"{objects.url}/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}"


def test_instance_rendered_with_dicomweb_client(objects: Objects) -> None:
    png = objects.client.retrieve_instance_rendered(*objects.ct[1], media_types=("image/png",))
    shown = _pixels(png)
    assert shown.shape == (16, 16) and set(np.unique(shown)) == {128}  # 40 HU at 40/400
    jpeg = objects.client.retrieve_instance_rendered(*objects.ct[2])
    assert jpeg.startswith(b"\xff\xd8")
    response = httpx.get(f"{_instance_url(objects, objects.ct[0])}/rendered")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"]
    assert int(_pixels(response.content).max()) <= 3  # -1024 HU is black


def test_window_viewport_and_quality(objects: Objects) -> None:
    url = f"{_instance_url(objects, objects.ct[1])}/rendered"
    png = {"Accept": "image/png"}
    # 40 HU with window 0,1 (a step at -0.5): white. With 1000,100: black.
    white = httpx.get(url, params={"window": "0,1"}, headers=png)
    assert set(np.unique(_pixels(white.content))) == {255}
    black = httpx.get(url, params={"window": "1000,100,linear-exact"}, headers=png)
    assert set(np.unique(_pixels(black.content))) == {0}
    sigmoid = httpx.get(url, params={"window": "40,400,sigmoid"}, headers=png)
    assert set(np.unique(_pixels(sigmoid.content))) == {128}
    small = httpx.get(url, params={"viewport": "8,4"}, headers=png)
    assert _pixels(small.content).shape == (4, 4)
    region = httpx.get(url, params={"viewport": "32,32,0,0,8,16"}, headers=png)
    assert _pixels(region.content).shape == (32, 16)
    detailed = f"{_instance_url(objects, objects.jpeg)}/rendered"
    low = httpx.get(detailed, params={"quality": "5"})
    high = httpx.get(detailed, params={"quality": "100"})
    assert len(low.content) < len(high.content)


def test_series_rendered(objects: Objects) -> None:
    single = objects.client.retrieve_series_rendered(
        objects.study, objects.ct_series, media_types=("image/png",)
    )
    assert set(np.unique(_pixels(single))) == {0}  # one image: the first
    response = httpx.get(
        f"{objects.url}/studies/{objects.study}/series/{objects.ct_series}/rendered"
    )
    assert response.headers["content-type"].startswith('multipart/related; type="image/jpeg"')
    parts = _parts(response)
    assert [t for t, _ in parts] == ["image/jpeg"] * 3
    means = [float(_pixels(data).mean()) for _, data in parts]
    assert means == sorted(means) and means[0] < 5 < 250 < means[2]


def test_study_rendered_leaves_out_non_images(objects: Objects) -> None:
    response = httpx.get(
        f"{objects.url}/studies/{objects.study}/rendered",
        headers={"Accept": 'multipart/related; type="image/png"'},
    )
    assert response.status_code == 200
    parts = _parts(response)
    assert len(parts) == 6  # 3 CT + 3 frames of the multi-frame image; the SR is not there
    values = [int(_pixels(data)[0, 0]) for _, data in parts]
    assert values == [0, 128, 255, 0, 128, 255]


def test_frames_rendered(objects: Objects) -> None:
    [frame] = [
        objects.client.retrieve_instance_frames_rendered(
            *objects.multi, frame_numbers=[2], media_types=("image/png",)
        )
    ]
    assert set(np.unique(_pixels(frame))) == {128}
    response = httpx.get(
        f"{_instance_url(objects, objects.multi)}/frames/3,1/rendered",
        headers={"Accept": 'multipart/related; type="image/png"'},
    )
    assert [int(_pixels(data)[0, 0]) for _, data in _parts(response)] == [255, 0]
    instance = httpx.get(f"{_instance_url(objects, objects.multi)}/rendered")
    assert len(_parts(instance)) == 3  # a multi-frame instance: one part per frame
    one = httpx.get(
        f"{_instance_url(objects, objects.multi)}/rendered", headers={"Accept": "image/jpeg"}
    )
    assert one.headers["content-type"] == "image/jpeg"  # only single images accepted: frame 1


def test_jpeg_stored_object_renders(objects: Objects) -> None:
    png = objects.client.retrieve_instance_rendered(*objects.jpeg, media_types=("image/png",))
    shown = _pixels(png)
    assert shown.shape == (100, 100, 3)
    assert np.abs(shown[2, 50].astype(int) - [255, 0, 0]).max() <= 3  # the red band


def test_thumbnails(objects: Objects) -> None:
    png = {"Accept": "image/png"}
    study = httpx.get(f"{objects.url}/studies/{objects.study}/thumbnail", headers=png)
    assert study.status_code == 200 and study.headers["content-type"] == "image/png"
    # The study's first image series is the CT one (the SR series is passed over); its
    # middle instance is the second, shown as 128; 16×16 fitted into 128×128.
    assert _pixels(study.content).shape == (128, 128)
    assert set(np.unique(_pixels(study.content))) == {128}
    series = httpx.get(
        f"{objects.url}/studies/{objects.study}/series/{objects.ct_series}/thumbnail",
        params={"viewport": "32,32"},
        headers=png,
    )
    assert _pixels(series.content).shape == (32, 32)
    assert set(np.unique(_pixels(series.content))) == {128}
    instance = httpx.get(f"{_instance_url(objects, objects.multi)}/thumbnail", headers=png)
    assert set(np.unique(_pixels(instance.content))) == {128}  # the middle frame
    frames = httpx.get(f"{_instance_url(objects, objects.multi)}/frames/3/thumbnail", headers=png)
    assert set(np.unique(_pixels(frames.content))) == {255}
    jpeg = httpx.get(f"{objects.url}/studies/{objects.study}/thumbnail")
    assert jpeg.headers["content-type"] == "image/jpeg"


def test_etag_answers_304(objects: Objects) -> None:
    for suffix in ("thumbnail", "rendered"):
        url = f"{_instance_url(objects, objects.ct[0])}/{suffix}"
        first = httpx.get(url)
        etag = first.headers["etag"]
        again = httpx.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        other = httpx.get(url, params={"viewport": "8,8"}, headers={"If-None-Match": etag})
        assert other.status_code == 200  # another representation, another tag


def test_annotation_is_accepted_with_a_warning(objects: Objects) -> None:
    response = httpx.get(
        f"{_instance_url(objects, objects.ct[0])}/rendered",
        params={"annotation": "patient,technique", "charset": "utf-8", "iccprofile": "no"},
    )
    assert response.status_code == 200
    assert "annotation is not rendered" in response.headers["warning"]


@pytest.mark.parametrize(
    ("which", "suffix", "params", "accept", "status", "reason"),
    [
        ("sr", "rendered", {}, None, 400, "no Pixel Data"),
        ("sr", "thumbnail", {}, None, 400, "no Pixel Data"),
        ("ct", "rendered", {"window": "40"}, None, 400, "center,width"),
        ("ct", "rendered", {"window": "40,abc"}, None, 400, "decimal numbers"),
        ("ct", "rendered", {"window": "40,400,cubic"}, None, 400, "function"),
        ("ct", "rendered", {"viewport": "0,0"}, None, 400, "at least 1"),
        ("ct", "thumbnail", {"viewport": "0,128"}, None, 400, "at least 1"),
        ("ct", "rendered", {"viewport": "32,32,8,8,16,16"}, None, 400, "outside the image"),
        ("ct", "rendered", {"quality": "0"}, None, 400, "1 to 100"),
        ("ct", "rendered", {"iccprofile": "yes"}, None, 400, "iccprofile=no"),
        ("ct", "rendered", {"annotation": "everything"}, None, 400, "patient and technique"),
        ("ct", "rendered", {}, "application/dicom", 406, "we produce"),
        ("ct", "thumbnail", {}, 'multipart/related; type="image/png"', 406, "we produce"),
        ("multi", "frames/4/rendered", {}, None, 400, "has 3 frame(s)"),
        ("multi", "frames/0/rendered", {}, None, 400, "integers from 1"),
        ("multi", "frames/9/thumbnail", {}, None, 400, "has 3 frame(s)"),
    ],
)
def test_refused(
    objects: Objects,
    which: str,
    suffix: str,
    params: dict[str, str],
    accept: str | None,
    status: int,
    reason: str,
) -> None:
    uids = objects.ct[0] if which == "ct" else getattr(objects, which)
    headers = {"Accept": accept} if accept else {}
    response = httpx.get(f"{_instance_url(objects, uids)}/{suffix}", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]


def test_resources_without_images(objects: Objects) -> None:
    sr_series = f"{objects.url}/studies/{objects.study}/series/{objects.sr[1]}"
    for suffix in ("rendered", "thumbnail"):
        response = httpx.get(f"{sr_series}/{suffix}")
        assert response.status_code == 400
        assert "no image instance" in response.json()["detail"]
    missing = httpx.get(f"{objects.url}/studies/1.2.3.4/rendered")
    assert missing.status_code == 404


def test_undecodable_syntax_is_406_with_the_reason(services: Services, http_url: str) -> None:
    """Pixel data no installed decoder reads (MPEG-2 video here): rendering says which
    syntax; WADO-RS sends the (lossy) object as received by default and refuses Explicit VR
    Little Endian."""
    ds = make_dataset()
    ds.Rows = ds.Columns = 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 7, 0
    ds.BitsAllocated = 8
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    data = to_part10(ds, MPEG2MPML)
    services.ingest.store(data, source="test")
    base = f"{http_url}/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    url = f"{base}/instances/{ds.SOPInstanceUID}"
    for suffix in ("rendered", "thumbnail"):
        response = httpx.get(f"{url}/{suffix}")
        assert response.status_code == 406, response.text
        assert "MPEG2 Main Profile" in response.json()["detail"]
    as_stored = httpx.get(url)
    assert as_stored.status_code == 200 and data in as_stored.content
    explicit = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'
    refused = httpx.get(url, headers={"Accept": explicit})
    assert refused.status_code == 406
    assert "no decoder for MPEG2" in refused.json()["detail"]
