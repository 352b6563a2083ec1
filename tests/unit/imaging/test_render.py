"""Rendering real objects (pydicom's test files): compressed syntaxes decode to the same
pixels as their uncompressed originals, PNG round trips, multi-frame, colour, refusals."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from raddx.errors import InvalidInput
from raddx.imaging import (
    CannotDecode,
    NotAnImage,
    RenderedMediaTypeValues,
    RenderOptions,
    Viewport,
    Window,
    display_pixels,
    render_frame,
)


def _read(name: str) -> Dataset:
    path = get_testdata_file(name)  # only files shipped with pydicom: no download
    assert path is not None
    return pydicom.dcmread(path)


def _decode(data: bytes) -> np.ndarray:
    with Image.open(BytesIO(data)) as image:
        return np.asarray(image)


def _multi_frame() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns, ds.NumberOfFrames = 2, 3, 3
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 1000, 2000
    frames = np.stack([np.full((2, 3), v, dtype=np.uint16) for v in (0, 1000, 2000)])
    ds.PixelData = frames.tobytes()
    return ds


def test_png_round_trip_is_the_display_values() -> None:
    ds = _read("CT_small.dcm")
    shown = display_pixels(ds)
    assert shown.dtype == np.uint8 and shown.shape == (128, 128)
    png = render_frame(ds, RenderOptions(RenderedMediaTypeValues.PNG))
    assert png.startswith(b"\x89PNG")
    assert np.array_equal(_decode(png), shown)


def test_jpeg_and_gif() -> None:
    ds = _read("CT_small.dcm")
    jpeg = render_frame(ds, RenderOptions(quality=95))
    assert jpeg.startswith(b"\xff\xd8")
    assert np.abs(_decode(jpeg).astype(int) - display_pixels(ds)).mean() < 3
    smaller = render_frame(ds, RenderOptions(quality=10))
    assert len(smaller) < len(jpeg)
    gif = render_frame(ds, RenderOptions(RenderedMediaTypeValues.GIF))
    assert gif.startswith(b"GIF8")


@pytest.mark.parametrize(
    "compressed",
    ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"],
)
def test_lossless_syntaxes_render_like_the_original(compressed: str) -> None:
    assert np.array_equal(display_pixels(_read(compressed)), display_pixels(_read("MR_small.dcm")))


def test_big_endian_and_deflated_originals() -> None:
    assert np.array_equal(
        display_pixels(_read("MR_small_bigendian.dcm")), display_pixels(_read("MR_small.dcm"))
    )
    assert display_pixels(_read("image_dfl.dcm")).dtype == np.uint8


def test_jpeg_baseline_colour() -> None:
    # SC_rgb_*: horizontal bands; the top one is pure red. YBR_FULL_422 JPEG → RGB.
    shown = display_pixels(_read("SC_rgb_jpeg_dcmtk.dcm"))
    assert shown.shape == (100, 100, 3)
    assert np.abs(shown[2, 50].astype(int) - [255, 0, 0]).max() <= 3
    assert np.array_equal(display_pixels(_read("SC_rgb_rle.dcm"))[2, 50], [255, 0, 0])


def test_sixteen_bit_rgb_is_scaled_to_eight() -> None:
    shown = display_pixels(_read("SC_rgb_rle_16bit.dcm"))
    assert shown.dtype == np.uint8 and shown[2, 50].tolist() == [255, 0, 0]


def test_palette_colour() -> None:
    ds = _read("examples_palette.dcm")
    shown = display_pixels(ds)
    assert shown.shape == (ds.Rows, ds.Columns, 3) and shown.dtype == np.uint8
    assert len(np.unique(shown.reshape(-1, 3), axis=0)) > 10


def test_multi_frame_chooses_the_frame() -> None:
    ds = _multi_frame()
    png = RenderOptions(RenderedMediaTypeValues.PNG)
    frames = [_decode(render_frame(ds, png, frame_number=n)) for n in (1, 2, 3)]
    assert [int(f[0, 0]) for f in frames] == [0, 128, 255]  # window 1000/2000, LINEAR
    with pytest.raises(InvalidInput, match="has 3"):
        render_frame(ds, RenderOptions(), frame_number=4)


def test_window_and_viewport_options() -> None:
    ds = _read("CT_small.dcm")
    options = RenderOptions(
        RenderedMediaTypeValues.PNG, window=Window(0, 1), viewport=Viewport(64, 32)
    )
    image = _decode(render_frame(ds, options))
    assert image.shape == (32, 32)  # 128×128 fit into 64×32 keeps the square
    assert set(np.unique(image)) <= set(range(256))


def test_not_an_image() -> None:
    with pytest.raises(NotAnImage, match="Pixel Data"):
        render_frame(_read("test-SR.dcm"), RenderOptions())


def test_quality_is_checked() -> None:
    with pytest.raises(ValueError, match="quality"):
        RenderOptions(quality=0)


def test_jpeg_lossless_and_twelve_bit_extended() -> None:
    # Both need pylibjpeg-libjpeg (the 'jpeg' extra, installed for the tests).
    lossless = display_pixels(_read("SC_rgb_jpeg_gdcm.dcm"))  # Process 14 SV1
    assert np.array_equal(lossless, display_pixels(_read("SC_rgb_rle.dcm")))
    twelve = display_pixels(_read("JPGExtended.dcm"))
    assert twelve.shape == (1024, 256) and twelve.max() == 255


def test_undecodable_pixel_data_names_the_syntax() -> None:
    # pydicom's example of a damaged JPEG Extended stream: every decoder refuses it.
    with pytest.raises(CannotDecode, match=r"JPEG Extended \(Process 2 and 4\)"):
        display_pixels(_read("JPEG-lossy.dcm"))


def test_unusable_image_attributes_are_cannot_decode() -> None:
    ds = _multi_frame()
    del ds.Rows  # kept by a lenient ingest; nothing can be shown
    with pytest.raises(CannotDecode, match="Rows"):
        display_pixels(ds)
    palette = _multi_frame()
    palette.PhotometricInterpretation = "PALETTE COLOR"  # without its lookup tables
    with pytest.raises(CannotDecode, match="image attributes"):
        display_pixels(palette)
