"""Transcoding to Explicit VR Little Endian: every native and decodable compressed syntax,
the same dataset and pixels afterwards, the stored bytes untouched when already there."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import (
    MPEG2MPML,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
)

from raddx.imaging import CannotDecode, can_transcode, is_lossy, transcode


def _file(name: str) -> bytes:
    path = get_testdata_file(name)  # shipped with pydicom: no download
    assert path is not None
    with open(path, "rb") as handle:
        return handle.read()


def _syntax(data: bytes) -> str:
    return str(pydicom.dcmread(BytesIO(data)).file_meta.TransferSyntaxUID)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",  # OW pixel words swapped by us, the rest by pydicom
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_RLE.dcm",
    ],
)
def test_same_pixels_as_the_original(name: str) -> None:
    data = _file(name)
    sent = pydicom.dcmread(BytesIO(transcode(data, _syntax(data), ExplicitVRLittleEndian)))
    original = pydicom.dcmread(BytesIO(_file("MR_small.dcm")))
    assert sent.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert sent.SOPInstanceUID == original.SOPInstanceUID  # the same instance
    assert np.array_equal(sent.pixel_array, original.pixel_array)
    assert sent.PatientName == original.PatientName


def test_big_endian_colour_and_deflated() -> None:
    data = _file("SC_rgb_small_odd_big_endian.dcm")
    sent = pydicom.dcmread(BytesIO(transcode(data, _syntax(data), ExplicitVRLittleEndian)))
    assert np.array_equal(sent.pixel_array, pydicom.dcmread(BytesIO(data)).pixel_array)
    deflated = _file("image_dfl.dcm")
    sent = pydicom.dcmread(BytesIO(transcode(deflated, _syntax(deflated), ExplicitVRLittleEndian)))
    assert sent.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(sent.pixel_array, pydicom.dcmread(BytesIO(deflated)).pixel_array)


def test_ycbcr_jpeg_becomes_rgb() -> None:
    data = _file("SC_rgb_jpeg_dcmtk.dcm")
    sent = pydicom.dcmread(BytesIO(transcode(data, JPEGBaseline8Bit, ExplicitVRLittleEndian)))
    assert sent.PhotometricInterpretation == "RGB"
    assert np.abs(sent.pixel_array[2, 50].astype(int) - [255, 0, 0]).max() <= 3


def test_already_there_is_the_stored_bytes() -> None:
    data = _file("MR_small.dcm")
    assert transcode(data, ExplicitVRLittleEndian, ExplicitVRLittleEndian) is data


@pytest.mark.parametrize(
    ("stored", "target", "ok", "reason"),
    [
        (ImplicitVRLittleEndian, ExplicitVRLittleEndian, True, ""),
        (RLELossless, ExplicitVRLittleEndian, True, ""),
        (RLELossless, RLELossless, True, ""),
        (ExplicitVRLittleEndian, ImplicitVRLittleEndian, False, "not supported"),
        (ExplicitVRLittleEndian, JPEGBaseline8Bit, False, "not supported"),
        (MPEG2MPML, ExplicitVRLittleEndian, False, "no decoder"),  # video: none in pydicom
        ("1.2.3.4", ExplicitVRLittleEndian, False, "not a transfer syntax we know"),
    ],
)
def test_can_transcode(stored: str, target: str, ok: bool, reason: str) -> None:
    assert can_transcode(stored, target)[0] is ok
    assert reason in can_transcode(stored, target)[1]


def test_refused_transcoding_raises() -> None:
    with pytest.raises(CannotDecode, match="not supported"):
        transcode(_file("MR_small.dcm"), ExplicitVRLittleEndian, JPEGBaseline8Bit)


def test_lossy_syntaxes() -> None:
    assert is_lossy(JPEGBaseline8Bit) and is_lossy(MPEG2MPML)
    assert not is_lossy(RLELossless) and not is_lossy(ExplicitVRLittleEndian)
