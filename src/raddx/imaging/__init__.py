"""Imaging: from stored pixel data to what people see (PS3.4 N.2 grayscale pipeline,
PS3.18 8.3.5 rendering) and to what clients can decode (transcoding to native pixels).

Pure functions on pydicom datasets and bytes; the DICOMweb door calls them.
"""

from raddx.imaging.render import (
    DEFAULT_QUALITY,
    CannotDecode,
    NotAnImage,
    RenderedMediaTypeValues,
    RenderOptions,
    display_pixels,
    encode,
    number_of_frames,
    render_frame,
)
from raddx.imaging.transcode import TRANSCODING_TARGETS, can_transcode, is_lossy, transcode
from raddx.imaging.viewport import Region, Viewport
from raddx.imaging.window import VOILUTFunctionValues, Window

__all__ = [
    "DEFAULT_QUALITY",
    "TRANSCODING_TARGETS",
    "CannotDecode",
    "NotAnImage",
    "Region",
    "RenderOptions",
    "RenderedMediaTypeValues",
    "VOILUTFunctionValues",
    "Viewport",
    "Window",
    "can_transcode",
    "display_pixels",
    "encode",
    "is_lossy",
    "number_of_frames",
    "render_frame",
    "transcode",
]
