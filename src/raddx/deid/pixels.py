"""Clean Pixel Data (PS3.15 E.3.1, option 113101): blank the regions where a device burns text.

Burned-in annotations sit at fixed places for a given device and screen layout (the idea of
CTP's ``DicomPixelAnonymizer.script`` signatures): a policy's ``pixel_rules`` name a device
signature (modality, manufacturer, model, rows × columns) and the rectangles to blank. A
matched object is decoded with pydicom's pixel handlers (numpy, Pillow, pylibjpeg are base
dependencies), every region of every frame is set to 0, and the pixels are written back
native — never re-compressed, so cleaning adds no loss. An object that was compressed is
written in Explicit VR Little Endian (pydicom's ``set_pixel_data``); if it had been lossy
compressed it keeps LossyImageCompression 01 and gains the method (PS3.3 C.7.6.1.1.5: once
lossy, always declared lossy). BurnedInAnnotation becomes NO only here, after a rule covered
the object. Objects no rule covers keep going to quarantine (``risk.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom.uid
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from raddx.deid.policy import PixelRule
from raddx.errors import InvalidInput

__all__ = ["clean_pixels", "matching_rule"]

#: PS3.3 C.7.6.1.1.5.1 Defined Terms of Lossy Image Compression Method, by transfer syntax.
_LOSSY_METHOD = {
    pydicom.uid.JPEGBaseline8Bit: "ISO_10918_1",
    pydicom.uid.JPEGExtended12Bit: "ISO_10918_1",
    pydicom.uid.JPEGLSNearLossless: "ISO_14495_1",
    pydicom.uid.JPEG2000: "ISO_15444_1",
    pydicom.uid.HTJ2K: "ISO_15444_15",
}


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip().upper()


def matching_rule(ds: Dataset, rules: tuple[PixelRule, ...]) -> PixelRule | None:
    """The first rule whose signature ``ds`` matches (read before de-identification: the
    device model is removed by the Basic profile)."""
    for rule in rules:
        match = rule.match
        if match.modality is not None and _text(ds, "Modality") != match.modality.upper():
            continue
        if match.manufacturer is not None and match.manufacturer.upper() not in _text(
            ds, "Manufacturer"
        ):
            continue
        if match.model is not None and match.model.upper() not in _text(
            ds, "ManufacturerModelName"
        ):
            continue
        if match.rows is not None and ds.get("Rows") != match.rows:
            continue
        if match.columns is not None and ds.get("Columns") != match.columns:
            continue
        if match.sop_class is not None and str(ds.get("SOPClassUID", "")) != getattr(
            pydicom.uid, match.sop_class
        ):
            continue
        return rule
    return None


def clean_pixels(ds: Dataset, rule: PixelRule) -> int:
    """Blank ``rule``'s regions in every frame of ``ds`` in place; the regions blanked.

    Raises
    ------
    InvalidInput
        No pixel data, a byte order or pixel layout we do not rewrite (big endian, 1-bit,
        32-bit), or pixel data the installed decoders cannot read: the object stays in
        quarantine with this reason.
    """
    if "PixelData" not in ds:
        raise InvalidInput("no Pixel Data to clean")
    meta = getattr(ds, "file_meta", None)
    syntax = UID(str(meta.get("TransferSyntaxUID", "")) if meta is not None else "")
    if not syntax or not syntax.is_little_endian:
        raise InvalidInput(f"pixel cleaning needs a little-endian transfer syntax, not {syntax}")
    if ds.get("BitsAllocated") not in (8, 16):
        raise InvalidInput(f"pixel cleaning of BitsAllocated {ds.get('BitsAllocated')}")
    try:
        arr, info = get_decoder(syntax).as_array(ds, as_rgb=True)
    except Exception as exc:  # no decoder plugin, corrupt codestream
        raise InvalidInput(f"cannot decode the pixels to clean: {exc}") from None
    pixels: np.ndarray[Any, Any] = np.array(arr, copy=True)
    frames = int(ds.get("NumberOfFrames") or 1)
    spatial = pixels if frames > 1 else pixels[np.newaxis]  # (frames, rows, columns[, samples])
    rows, columns = spatial.shape[1], spatial.shape[2]
    blanked = 0
    for x, y, width, height in rule.regions:
        if x >= columns or y >= rows:
            continue  # outside this image: nothing there to blank
        spatial[:, y : min(y + height, rows), x : min(x + width, columns), ...] = 0
        blanked += 1
    lossy_method = _LOSSY_METHOD.get(syntax)
    photometric = str(info.get("photometric_interpretation") or ds.PhotometricInterpretation)
    ds.set_pixel_data(pixels, photometric, int(ds.BitsStored), generate_instance_uid=False)
    if lossy_method is not None:
        ds.LossyImageCompression = "01"
        value = ds.get("LossyImageCompressionMethod")
        existing = [] if not value else [str(value)] if isinstance(value, str) else list(value)
        if lossy_method not in existing:
            methods = [*map(str, existing), lossy_method]
            ds.LossyImageCompressionMethod = methods if len(methods) > 1 else methods[0]
    ds.BurnedInAnnotation = "NO"
    return blanked
