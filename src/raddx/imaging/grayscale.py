"""The grayscale pipeline of PS3.4 N.2.1 for one monochrome frame: stored values →
Modality LUT (C.11.1) → VOI LUT (C.11.2) → polarity (MONOCHROME1, Presentation LUT Shape
C.11.6) → 8-bit display values.

For integer pixel data of at most 16 bits the whole chain is computed once per distinct
stored value, over [min, max] of the frame, and applied with one ``np.take``: at most
65,536 evaluations of the formulas however large the frame, and no per-pixel Python. The
formulas are written here rather than taken from :func:`pydicom.pixels.apply_windowing`
because that function keeps the stored bit depth as its output range, and we need the
8-bit display values of the standard's formula with ymin=0, ymax=255 in one table.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi

from raddx.imaging.window import VOILUTFunctionValues, Window

__all__ = ["frame_attribute", "stored_window", "to_display_gray"]

log = logging.getLogger(__name__)

#: Functional group macros holding the per-frame value of a keyword in enhanced
#: multi-frame objects (PS3.3 C.7.6.16.2.9 Pixel Value Transformation, C.7.6.16.2.10 Frame
#: VOI LUT).
_MACRO_OF = {
    "RescaleSlope": "PixelValueTransformationSequence",
    "RescaleIntercept": "PixelValueTransformationSequence",
    "WindowCenter": "FrameVOILUTSequence",
    "WindowWidth": "FrameVOILUTSequence",
    "VOILUTFunction": "FrameVOILUTSequence",
}


def frame_attribute(ds: Dataset, keyword: str, frame_index: int) -> Any:
    """The value of ``keyword`` for one frame (0-based): from the frame's Per-frame
    Functional Groups item, else the Shared one (C.7.6.16), else the top level; ``None``
    when absent everywhere."""
    macro = _MACRO_OF.get(keyword)
    if macro is not None:
        groups = []
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if per_frame is not None and frame_index < len(per_frame):
            groups.append(per_frame[frame_index])
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared:
            groups.append(shared[0])
        for group in groups:
            items = group.get(macro)
            if items and keyword in items[0] and items[0][keyword].value not in (None, ""):
                return items[0][keyword].value
    if keyword in ds and ds[keyword].value not in (None, ""):
        return ds[keyword].value
    return None


def _first(value: Any) -> float:
    """The first value of a possibly multi-valued DS (C.11.2.1.2: the first is the default)."""
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        return float(value)
    return float(value[0])


def stored_window(ds: Dataset, frame_index: int = 0) -> Window | None:
    """The object's own first window for the frame, or ``None`` when it has none (or only
    an unusable one, which is logged: the caller falls back to the frame's range)."""
    center = frame_attribute(ds, "WindowCenter", frame_index)
    width = frame_attribute(ds, "WindowWidth", frame_index)
    if center is None or width is None:
        return None
    function = str(frame_attribute(ds, "VOILUTFunction", frame_index) or "LINEAR").upper()
    try:
        return Window(_first(center), _first(width), VOILUTFunctionValues(function))
    except (ValueError, TypeError, IndexError):
        log.warning("render: stored window unusable center=%r width=%r", center, width)
        return None


def _modality(values: npt.NDArray[Any], ds: Dataset, frame_index: int) -> npt.NDArray[Any]:
    """Modality LUT (C.11.1): the Modality LUT Sequence when present, else Rescale Slope
    and Intercept (per frame in enhanced objects); identity when neither is there."""
    if ds.get("ModalityLUTSequence"):
        return apply_modality_lut(values, ds)
    slope = frame_attribute(ds, "RescaleSlope", frame_index)
    intercept = frame_attribute(ds, "RescaleIntercept", frame_index)
    slope = 1.0 if slope is None else float(slope)
    intercept = 0.0 if intercept is None else float(intercept)
    if slope == 1.0 and intercept == 0.0:
        return values
    return values * slope + intercept


def _voi_unit(
    modality: npt.NDArray[Any], ds: Dataset, window: Window | None, frame_index: int
) -> npt.NDArray[np.float64]:
    """VOI (C.11.2) into [0, 1]: the asked window, else the object's first window, else its
    first VOI LUT Sequence item, else the full range of the values (the frame's min/max)."""
    chosen = window or stored_window(ds, frame_index)
    if chosen is not None:
        return chosen.to_unit(modality)
    if ds.get("VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        looked_up = apply_voi(np.rint(modality).astype(np.int64), ds)
        return np.asarray(looked_up, dtype=np.float64) / float(2**bits - 1)
    low, high = float(np.min(modality)), float(np.max(modality))
    if high <= low:
        return np.zeros(modality.shape, dtype=np.float64)
    return (np.asarray(modality, dtype=np.float64) - low) / (high - low)


def _inverted(ds: Dataset) -> bool:
    """Whether minimum values display white: Presentation LUT Shape (2050,0020) INVERSE
    when the object has one (C.11.6.1), else Photometric Interpretation MONOCHROME1."""
    shape = ds.get("PresentationLUTShape")
    if shape:
        return str(shape).upper() == "INVERSE"
    return str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"


def _present(
    values: npt.NDArray[Any], ds: Dataset, window: Window | None, frame_index: int
) -> npt.NDArray[np.uint8]:
    unit = _voi_unit(_modality(values, ds, frame_index), ds, window, frame_index)
    if _inverted(ds):
        unit = 1.0 - unit
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def to_display_gray(
    frame: npt.NDArray[Any], ds: Dataset, *, window: Window | None = None, frame_index: int = 0
) -> npt.NDArray[np.uint8]:
    """One monochrome frame's stored values as 8-bit display values (PS3.4 N.2.1).

    Parameters
    ----------
    frame
        The decoded stored values (rows × columns), as pydicom returns them.
    ds
        The object, for its Modality LUT, VOI LUT and polarity attributes.
    window
        A window asked for by the client; it replaces the object's own VOI.
    frame_index
        0-based frame number, for per-frame functional groups.
    """
    if frame.dtype.kind in "iu" and frame.dtype.itemsize <= 2:
        low, high = int(frame.min()), int(frame.max())
        domain = np.arange(low, high + 1, dtype=np.int64)
        table = _present(domain, ds, window, frame_index)
        shown: npt.NDArray[np.uint8] = np.take(table, np.subtract(frame, low, dtype=np.int32))
        return shown
    return _present(frame, ds, window, frame_index)
