"""The grayscale pipeline with known numbers: Modality LUT (rescale and LUT Sequence), VOI
(window, VOI LUT Sequence, min/max), MONOCHROME1 and Presentation LUT Shape."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from raddx.imaging import VOILUTFunctionValues, Window
from raddx.imaging.grayscale import stored_window, to_display_gray

# Stored values of a signed CT frame with intercept -1024: -1000 → -2024 HU, 1024 → 0 HU.
_CT_STORED = np.array([[-1000, 0, 864, 865], [1024, 1064, 1263, 1264]], dtype=np.int16)


def _ct(**attributes: object) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_ct_window_from_the_object() -> None:
    ds = _ct(WindowCenter=40, WindowWidth=400)
    # HU: -2024, -1024, -160, -159 / 0, 40, 239, 240
    expected = [[0, 0, 0, 1], [102, 128, 255, 255]]
    assert to_display_gray(_CT_STORED, ds).tolist() == expected


def test_window_parameter_replaces_the_stored_one() -> None:
    ds = _ct(WindowCenter=1000, WindowWidth=10)
    shown = to_display_gray(_CT_STORED, ds, window=Window(40, 400))
    assert shown.tolist() == [[0, 0, 0, 1], [102, 128, 255, 255]]


def test_first_of_several_windows_and_the_function() -> None:
    ds = _ct(WindowCenter=[40, -600], WindowWidth=[400, 1500], VOILUTFunction="SIGMOID")
    assert stored_window(ds) == Window(40, 400, VOILUTFunctionValues.SIGMOID)
    assert to_display_gray(_CT_STORED, ds)[1, :2].tolist() == [102, 128]


def test_monochrome1_is_inverted() -> None:
    ds = _ct(WindowCenter=40, WindowWidth=400, PhotometricInterpretation="MONOCHROME1")
    assert to_display_gray(_CT_STORED, ds).tolist() == [[255, 255, 255, 254], [153, 127, 0, 0]]


@pytest.mark.parametrize(
    ("photometric", "shape", "inverted"),
    [
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME1", "IDENTITY", False),  # the shape, when present, decides (C.11.6.1)
    ],
)
def test_presentation_lut_shape(photometric: str, shape: str, inverted: bool) -> None:
    ds = _ct(PhotometricInterpretation=photometric, PresentationLUTShape=shape)
    shown = to_display_gray(np.array([[0, 100]], dtype=np.uint16), ds)
    assert shown.tolist() == ([[255, 0]] if inverted else [[0, 255]])


def test_no_window_uses_the_frame_range() -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    frame = np.array([[100, 150, 200]], dtype=np.uint16)
    assert to_display_gray(frame, ds).tolist() == [[0, 128, 255]]  # 127.5 rounds up
    flat = np.full((2, 2), 7, dtype=np.uint16)
    assert to_display_gray(flat, ds).tolist() == [[0, 0], [0, 0]]


def test_modality_lut_sequence() -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.ModalityLUTType = "HU"
    item.add_new("LUTData", "US", [0, 1000, 2000, 3000])
    ds.ModalityLUTSequence = [item]
    frame = np.array([[0, 1, 2, 3]], dtype=np.uint16)
    # Modality values 0..3000, full range: 0, 85, 170, 255.
    assert to_display_gray(frame, ds).tolist() == [[0, 85, 170, 255]]
    # A window on the looked-up values, LINEAR_EXACT 1500/2000: 1000 → 0.25 × 255 = 63.75.
    shown = to_display_gray(frame, ds, window=Window(1500, 2000, VOILUTFunctionValues.LINEAR_EXACT))
    assert shown.tolist() == [[0, 64, 191, 255]]


def test_voi_lut_sequence() -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    item = Dataset()
    item.LUTDescriptor = [4, 0, 8]
    item.add_new("LUTData", "US", [0, 50, 100, 255])
    ds.VOILUTSequence = [item]
    frame = np.array([[0, 1, 2, 3, 9]], dtype=np.uint16)  # 9 is beyond the table: its last
    assert to_display_gray(frame, ds).tolist() == [[0, 50, 100, 255, 255]]


def test_per_frame_rescale_of_an_enhanced_object() -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    transform = Dataset()
    transform.RescaleSlope = 2
    transform.RescaleIntercept = -100
    voi = Dataset()
    voi.WindowCenter = 100
    voi.WindowWidth = 1
    shared = Dataset()
    shared.PixelValueTransformationSequence = [transform]
    shared.FrameVOILUTSequence = [voi]
    ds.SharedFunctionalGroupsSequence = [shared]
    frame = np.array([[99, 100, 101]], dtype=np.uint16)  # → 98, 100, 102; step at 99.5
    assert to_display_gray(frame, ds).tolist() == [[0, 255, 255]]


def test_float_frames_skip_the_table() -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    frame = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert to_display_gray(frame, ds).tolist() == [[0, 128, 255]]
