"""Is a file complete? pydicom reads a truncated file without a word (it stops at the end of
the data), and a de-identified copy of half an object must not leave as if it were whole."""

from __future__ import annotations

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

__all__ = ["truncation_reason"]

_UNDEFINED = 0xFFFFFFFF
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def truncation_reason(ds: Dataset) -> str | None:
    """Why ``ds`` looks truncated, or ``None``.

    Checks, before any value is decoded: the last top-level value has the length its header
    declares (PS3.5 7.1; the ones before it were read whole, or reading would have stopped);
    an image has Rows and pixel data; native pixel data is as long as Rows × Columns ×
    SamplesPerPixel × BitsAllocated/8 × frames (PS3.5 8.1.1).
    """
    # Elements are read in order and a cut file stops inside one: only the last top-level
    # element can be short (a cut inside a sequence fails when the sequence is decoded).
    tags = list(ds.keys())  # not iterating ds itself: that would decode every value
    raw = ds.get_item(max(tags)) if tags else None
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
    if "Rows" not in ds and UID(ds.get("SOPClassUID", "")).name.endswith("Image Storage"):
        return "truncated: an image object without Rows and pixel data"
    if "Rows" in ds and not any(k in ds for k in _PIXEL_TAGS):
        return "truncated: an image without pixel data"
    if "PixelData" in ds and not ds.file_meta.get("TransferSyntaxUID", "1").is_compressed:
        frames = int(ds.get("NumberOfFrames") or 1)
        bits = int(ds.get("BitsAllocated") or 8)
        expected = (
            int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * frames * bits
        ) // 8
        if len(ds.PixelData) < expected:
            return f"truncated: pixel data has {len(ds.PixelData)} of {expected} bytes"
    return None
