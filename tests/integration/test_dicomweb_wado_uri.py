"""WADO-URI against a live server: the object (stored bytes or Explicit VR Little Endian),
rendered images with the rendering parameters, and the refusals.

Runs on SQLite and PostgreSQL (the ``services`` fixture)."""

from __future__ import annotations

from io import BytesIO

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import (
    BasicTextSRStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.services import Services


def _params(ds: Dataset, **extra: str) -> dict[str, str]:
    return {
        "requestType": "WADO",
        "studyUID": ds.StudyInstanceUID,
        "seriesUID": ds.SeriesInstanceUID,
        "objectUID": ds.SOPInstanceUID,
        **extra,
    }


def _image() -> Dataset:
    """A 32×16 CT whose left half is 0 HU and right half 1000 HU; with its window 500/1000
    they show as 0 (((0 - 499.5) / 999 + 0.5) × 255 = 0.13) and 255."""
    ds = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    ds.Rows, ds.Columns = 16, 32
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = 500, 1000
    pixels = np.full((16, 32), 1024, dtype=np.uint16)
    pixels[:, 16:] = 2024
    ds.PixelData = pixels.tobytes()
    return ds


@pytest.fixture
def stored(services: Services) -> tuple[dict[str, str], bytes]:
    ds = _image()
    data = to_part10(ds, ImplicitVRLittleEndian)
    services.ingest.store(data, source="test")
    return _params(ds, contentType="application/dicom"), data


def _pixels(response: httpx.Response) -> np.ndarray:
    with Image.open(BytesIO(response.content)) as image:
        return np.asarray(image)


def test_object_in_explicit_vr_little_endian_by_default(
    http_url: str, stored: tuple[dict[str, str], bytes]
) -> None:
    params, data = stored
    response = httpx.get(f"{http_url}/wado", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom"
    sent = pydicom.dcmread(BytesIO(response.content))
    original = pydicom.dcmread(BytesIO(data))
    assert sent.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian  # PS3.18 9.4.2.4
    assert sent == original  # the same dataset, re-encoded
    assert str(sent.PatientName) == JAPANESE_NAME


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, "*"])
def test_object_as_stored(http_url: str, stored: tuple[dict[str, str], bytes], syntax: str) -> None:
    params, data = stored
    response = httpx.get(f"{http_url}/wado", params={**params, "transferSyntax": syntax})
    assert response.content == data


def test_rendered_by_default(http_url: str, stored: tuple[dict[str, str], bytes]) -> None:
    params = {k: v for k, v in stored[0].items() if k != "contentType"}
    response = httpx.get(f"{http_url}/wado", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"  # the default for images
    assert response.content.startswith(b"\xff\xd8")


def test_rendering_parameters(http_url: str, stored: tuple[dict[str, str], bytes]) -> None:
    png = {**stored[0], "contentType": "image/png"}
    whole = _pixels(httpx.get(f"{http_url}/wado", params=png))
    assert whole.shape == (16, 32)
    assert whole[0, 0] == 0 and whole[0, 31] == 255  # the object's window 500/1000
    windowed = _pixels(
        httpx.get(f"{http_url}/wado", params={**png, "windowCenter": "0", "windowWidth": "1"})
    )
    assert set(np.unique(windowed)) == {255}  # 0 HU and up are white with a step at -0.5
    rows = _pixels(httpx.get(f"{http_url}/wado", params={**png, "rows": "8"}))
    assert rows.shape == (8, 16)  # aspect ratio kept
    both = _pixels(httpx.get(f"{http_url}/wado", params={**png, "rows": "64", "columns": "64"}))
    assert both.shape == (32, 64)
    right = _pixels(httpx.get(f"{http_url}/wado", params={**png, "region": "0.5,0,1,1"}))
    assert right.shape == (16, 16) and set(np.unique(right)) == {255}
    low = httpx.get(
        f"{http_url}/wado", params={**png, "contentType": "image/jpeg", "imageQuality": "5"}
    )
    assert low.status_code == 200 and low.headers["content-type"] == "image/jpeg"
    gif = httpx.get(f"{http_url}/wado", params={**png, "contentType": "image/gif"})
    assert gif.content.startswith(b"GIF8")
    listed = httpx.get(f"{http_url}/wado", params={**png, "contentType": "video/mpeg,image/png"})
    assert listed.headers["content-type"] == "image/png"  # the first we produce


def test_multi_frame_and_compressed_objects(http_url: str, services: Services) -> None:
    ds = make_dataset()
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4, 4, 2
    ds.WindowCenter, ds.WindowWidth = 5, 2
    ds.PixelData = np.stack([np.zeros((4, 4)), np.full((4, 4), 9)]).astype(np.uint16).tobytes()
    services.ingest.store(to_part10(ds), source="test")
    png = _params(ds, contentType="image/png")
    first = _pixels(httpx.get(f"{http_url}/wado", params=png))
    second = _pixels(httpx.get(f"{http_url}/wado", params={**png, "frameNumber": "2"}))
    assert first.max() == 0 and second.min() == 255
    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")
    assert path is not None
    with open(path, "rb") as handle:
        jpeg = handle.read()
    services.ingest.store(jpeg, source="test")
    stored = pydicom.dcmread(BytesIO(jpeg))
    red = _pixels(httpx.get(f"{http_url}/wado", params=_params(stored, contentType="image/png")))
    assert np.abs(red[2, 50].astype(int) - [255, 0, 0]).max() <= 3
    # JPEG baseline is lossy: sent as received by default (PS3.18 8.7.3.4).
    as_dicom = httpx.get(
        f"{http_url}/wado", params=_params(stored, contentType="application/dicom")
    )
    assert as_dicom.content == jpeg
    decoded = httpx.get(
        f"{http_url}/wado",
        params=_params(
            stored, contentType="application/dicom", transferSyntax=ExplicitVRLittleEndian
        ),
    )
    assert pydicom.dcmread(BytesIO(decoded.content)).pixel_array.shape == (100, 100, 3)


def test_non_image(http_url: str, services: Services) -> None:
    ds = make_dataset(sop_class=BasicTextSRStorage, modality="SR")
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit"):
        delattr(ds, keyword)
    for keyword in ("PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, keyword)
    del ds.PixelData
    data = to_part10(ds)
    services.ingest.store(data, source="test")
    default = httpx.get(f"{http_url}/wado", params=_params(ds))
    assert default.headers["content-type"] == "application/dicom"  # not an image
    assert default.content == data
    refused = httpx.get(f"{http_url}/wado", params=_params(ds, contentType="image/jpeg"))
    assert refused.status_code == 400
    assert "no Pixel Data" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"requestType": "RENDER"}, 400, "requestType=WADO"),
        ({"objectUID": ""}, 400, "missing parameter(s): objectUID"),
        ({"objectUID": "1.2.x"}, 400, "not a valid UID"),
        ({"objectUID": "1.2.3.4"}, 404, "no image"),
        ({"contentType": "video/mpeg"}, 406, "we produce"),
        ({"transferSyntax": JPEGBaseline8Bit}, 406, "not supported"),
        ({"contentType": "image/png", "windowCenter": "40"}, 400, "go together"),
        ({"contentType": "image/png", "windowCenter": "40", "windowWidth": "x"}, 400, "decimal"),
        ({"contentType": "image/png", "rows": "0"}, 400, "rows='0'"),
        ({"contentType": "image/png", "region": "0.5,0.5,0.2,1"}, 400, "fractions"),
        ({"contentType": "image/png", "region": "a"}, 400, "xmin,ymin,xmax,ymax"),
        ({"contentType": "image/png", "imageQuality": "101"}, 400, "imageQuality"),
        ({"contentType": "image/png", "frameNumber": "1"}, 400, "multi-frame"),
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
