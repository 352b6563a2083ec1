"""Rendering (PS3.18 8.3.5, 10.4.1.1.3): one frame of a stored image → a consumer image
(JPEG, PNG or GIF) a browser can show, as the rendered and thumbnail resources and
WADO-URI send it.

Pure: a decoded :class:`~pydicom.dataset.Dataset` in, bytes out, no door and no store.
Pixel data is decoded by pydicom's pixel handlers (native, RLE, and the JPEG / JPEG-LS /
JPEG 2000 plugins that are installed); monochrome frames go through the grayscale pipeline
of :mod:`raddx.imaging.grayscale`, colour frames are shown as RGB (YBR converted by pydicom,
PALETTE COLOR through its lookup tables, C.7.6.3.1.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID

from raddx.errors import InvalidInput
from raddx.imaging.grayscale import to_display_gray
from raddx.imaging.viewport import Viewport
from raddx.imaging.window import Window

__all__ = [
    "CannotDecode",
    "NotAnImage",
    "RenderOptions",
    "RenderedMediaTypeValues",
    "display_pixels",
    "encode",
    "number_of_frames",
    "render_frame",
]


class NotAnImage(InvalidInput):
    """The object has no Pixel Data (an SR, a KOS, a presentation state…): nothing to render."""


class CannotDecode(InvalidInput):
    """The object's pixel data is in a transfer syntax no installed decoder reads."""


class RenderedMediaTypeValues(StrEnum):
    """The Rendered Media Types we produce (PS3.18 Table 8.7.4-1, single-frame images)."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    GIF = "image/gif"


_PILLOW_FORMAT = {
    RenderedMediaTypeValues.JPEG: "JPEG",
    RenderedMediaTypeValues.PNG: "PNG",
    RenderedMediaTypeValues.GIF: "GIF",
}

#: JPEG quality when the request gives none: the origin server chooses (PS3.18 8.3.5.1.2).
DEFAULT_QUALITY = 90


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render: the output media type, and the ``window``, ``viewport`` and
    ``quality`` parameters of PS3.18 8.3.5.1 (``None``: the object's own VOI, its full size).

    Raises
    ------
    ValueError
        ``quality`` outside 1..100.
    """

    media_type: RenderedMediaTypeValues = RenderedMediaTypeValues.JPEG
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality {self.quality} is outside 1..100")


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008), 1 when absent; :class:`NotAnImage` without Pixel Data."""
    if "PixelData" not in ds:
        raise NotAnImage(
            "the object has no Pixel Data (7FE0,0010)"
            + (f" (it is a {UID(ds.SOPClassUID).name})" if "SOPClassUID" in ds else "")
            + "; only images can be rendered"
        )
    return int(ds.get("NumberOfFrames") or 1)


def _decode(ds: Dataset, frame_index: int) -> npt.NDArray[Any]:
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        return pixel_array(ds, index=frame_index)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        name = UID(syntax).name if syntax else "an unknown transfer syntax"
        raise CannotDecode(f"the pixel data ({name}) cannot be decoded here: {exc}") from None


def _to_8bit(values: npt.NDArray[Any], bits: int) -> npt.NDArray[np.uint8]:
    """Colour samples of ``bits`` bits scaled to 8 (the top bits; no VOI for colour)."""
    if bits <= 8:
        return values.astype(np.uint8)
    shifted: npt.NDArray[np.uint8] = np.right_shift(values, bits - 8).astype(np.uint8)
    return shifted


def display_pixels(
    ds: Dataset, *, frame_index: int = 0, window: Window | None = None
) -> npt.NDArray[np.uint8]:
    """The 8-bit display values of one frame (0-based): rows × columns for monochrome,
    rows × columns × 3 (RGB) for colour.

    Raises
    ------
    NotAnImage
        No Pixel Data.
    CannotDecode
        No installed decoder reads its transfer syntax.
    InvalidInput
        ``frame_index`` is beyond Number of Frames.
    """
    frames = number_of_frames(ds)
    if not 0 <= frame_index < frames:
        raise InvalidInput(f"frame {frame_index + 1} asked for, but the instance has {frames}")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    try:
        frame = _decode(ds, frame_index)
        if photometric.startswith("MONOCHROME"):
            return to_display_gray(frame, ds, window=window, frame_index=frame_index)
        if photometric == "PALETTE COLOR":
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            return _to_8bit(apply_color_lut(frame, ds), bits)
        # RGB, and YBR_* which pydicom has converted to RGB while decoding.
        return _to_8bit(frame, int(ds.get("BitsStored") or 8))
    except CannotDecode:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # Ingest keeps what modalities send; an object whose Image Pixel or LUT attributes
        # are missing or malformed is stored, and cannot be shown: say why, not a 500.
        raise CannotDecode(f"its image attributes cannot be used to render it: {exc}") from None


def encode(pixels: npt.NDArray[np.uint8], options: RenderOptions) -> bytes:
    """8-bit display values → the bytes of ``options.media_type``, after the viewport."""
    image = Image.fromarray(pixels)
    if options.viewport is not None:
        image = options.viewport.apply(image)
    buffer = BytesIO()
    if options.media_type is RenderedMediaTypeValues.JPEG:
        image.save(buffer, "JPEG", quality=options.quality)
    elif options.media_type is RenderedMediaTypeValues.PNG:
        # Level 3: about as small as the default level 6 for medical images, much faster.
        image.save(buffer, "PNG", compress_level=3)
    else:
        image.save(buffer, _PILLOW_FORMAT[options.media_type])
    return buffer.getvalue()


def render_frame(ds: Dataset, options: RenderOptions, *, frame_number: int = 1) -> bytes:
    """One frame (numbered from 1, PS3.18 10.4.1.1.5) of ``ds`` as a rendered image.

    Raises
    ------
    NotAnImage, CannotDecode, InvalidInput
        See :func:`display_pixels`.
    """
    pixels = display_pixels(ds, frame_index=frame_number - 1, window=options.window)
    return encode(pixels, options)
