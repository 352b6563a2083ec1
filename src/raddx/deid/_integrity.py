"""Is a file complete? pydicom reads a truncated file without a word (it stops at the end of
the data), and a de-identified copy of half an object must not leave as if it were whole."""

from __future__ import annotations

import struct
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

__all__ = ["truncation_reason"]

_UNDEFINED = 0xFFFFFFFF
_ROWS, _COLUMNS, _SAMPLES, _FRAMES, _BITS = (
    0x00280010,
    0x00280011,
    0x00280002,
    0x00280008,
    0x00280100,
)
_PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = (_PIXEL_DATA, 0x7FE00008, 0x7FE00009)  # PixelData, Float-, DoubleFloatPixelData
_SOP_CLASS = 0x00080016


def truncation_reason(ds: Dataset) -> str | None:
    """Why ``ds`` looks truncated, or ``None``.

    Checks, before any value is decoded: the last top-level value has the length its header
    declares (PS3.5 7.1; the ones before it were read whole, or reading would have stopped);
    an image has Rows and pixel data; native pixel data is as long as Rows × Columns ×
    SamplesPerPixel × BitsAllocated/8 × frames (PS3.5 8.1.1). The values read here are left
    as read (the engine keeps them, and the writer copies them byte for byte).
    """
    # Elements are read in order and a cut file stops inside one: only the last top-level
    # element can be short (a cut inside a sequence fails when the sequence is decoded).
    tags = list(ds.keys())  # not iterating ds itself: that would decode every value
    raw = ds.get_item(max(tags, key=int)) if tags else None  # int: BaseTag's > is Python
    if (
        isinstance(raw, RawDataElement)
        and raw.length != _UNDEFINED
        and raw.value is not None
        and len(raw.value) < raw.length
    ):
        tag = raw.tag
        return (
            f"truncated: ({tag.group:04X},{tag.element:04X}) has {len(raw.value)} of "
            f"{raw.length} bytes"
        )
    has_rows = _ROWS in ds
    if not has_rows and UID(_text(ds, _SOP_CLASS)).name.endswith("Image Storage"):
        return "truncated: an image object without Rows and pixel data"
    if has_rows and not any(k in ds for k in _PIXEL_TAGS):
        return "truncated: an image without pixel data"
    if _PIXEL_DATA in ds and not ds.file_meta.get("TransferSyntaxUID", "1").is_compressed:
        frames = int(_number(ds, _FRAMES) or 1)
        bits = int(_number(ds, _BITS) or 8)
        # An absent Rows or Columns fails as ``ds.Rows`` does (the quarantine reason).
        rows = int(_number(ds, _ROWS) if has_rows else ds.Rows)
        columns = int(_number(ds, _COLUMNS) if _COLUMNS in ds else ds.Columns)
        expected = (rows * columns * int(_number(ds, _SAMPLES) or 1) * frames * bits) // 8
        pixels = ds.get_item(_PIXEL_DATA)
        raw_pixels = isinstance(pixels, RawDataElement) and pixels.value is not None
        data = pixels.value if raw_pixels else ds[_PIXEL_DATA].value
        if len(data) < expected:
            return f"truncated: pixel data has {len(data)} of {expected} bytes"
    return None


def _text(ds: Dataset, tag: int) -> str:
    """A top-level text value; ASCII bytes are read as they stand (the same in every
    character set), anything else as pydicom decodes it."""
    raw = ds.get_item(tag)
    if raw is None:
        return ""
    if isinstance(raw, RawDataElement) and raw.value is not None and raw.value.isascii():
        return raw.value.decode("ascii").strip("\0 ")
    return str(ds[tag].value or "")


def _number(ds: Dataset, tag: int) -> Any:
    """The value of a US or IS attribute as ``ds.get`` gives it (``None`` if absent or empty),
    without decoding a little-endian US or an ASCII IS: they stay raw for the writer."""
    raw = ds.get_item(tag)
    if raw is None:
        return None
    if isinstance(raw, RawDataElement) and raw.value is not None:
        value = raw.value
        vr = raw.VR or dictionary_VR(tag)
        if vr == "US" and raw.is_little_endian and len(value) == 2:
            return struct.unpack("<H", value)[0]
        if vr == "IS" and value.isascii():
            text = value.decode("ascii").strip(" \0")
            if not text:
                return None
            if text.isdigit():
                return text  # anything else ("1.0", "-1", "1\\2"): as pydicom reads it
    return ds[tag].value
