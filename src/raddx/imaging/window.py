"""The VOI window (PS3.3 C.11.2.1.2): Window Center, Window Width and the VOI LUT Function
that maps modality values to display values, as a value object checked when built."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from raddx.errors import InvalidInput

__all__ = ["VOILUTFunctionValues", "Window"]


class VOILUTFunctionValues(StrEnum):
    """VOI LUT Function (0028,1056) Defined Terms (PS3.3 C.11.2.1.3)."""

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"


#: The spelling of each function in the ``window`` query parameter (PS3.18 8.3.5.1.4).
_QUERY_NAMES = {
    "linear": VOILUTFunctionValues.LINEAR,
    "linear-exact": VOILUTFunctionValues.LINEAR_EXACT,
    "sigmoid": VOILUTFunctionValues.SIGMOID,
}


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window: ``center`` and ``width`` in modality units, and the function.

    Raises
    ------
    ValueError
        ``width`` below 1 for LINEAR (C.11.2.1.2.1 requires ≥ 1), or not above 0 for
        LINEAR_EXACT and SIGMOID (C.11.2.1.3.1, C.11.2.1.3.2), or a value is not finite.
    """

    center: float
    width: float
    function: VOILUTFunctionValues = VOILUTFunctionValues.LINEAR

    def __post_init__(self) -> None:
        if not (np.isfinite(self.center) and np.isfinite(self.width)):
            raise ValueError(f"window center and width must be finite numbers: {self}")
        minimum_ok = (
            self.width >= 1 if self.function is VOILUTFunctionValues.LINEAR else self.width > 0
        )
        if not minimum_ok:
            raise ValueError(
                f"window width {self.width:g} is too small for {self.function.value} "
                "(LINEAR needs at least 1, LINEAR_EXACT and SIGMOID more than 0)"
            )

    @classmethod
    def from_query(cls, text: str) -> Window:
        """``center,width[,function]`` of the ``window`` parameter (PS3.18 8.3.5.1.4), the
        function one of ``linear`` (default), ``linear-exact``, ``sigmoid``.

        Raises
        ------
        InvalidInput
            Not two numbers and an optional known function name, or a width too small.
        """
        pieces = [p.strip() for p in text.split(",")]
        if len(pieces) not in (2, 3):
            raise InvalidInput(
                f"window={text!r}: expected center,width[,function] (PS3.18 8.3.5.1.4)"
            )
        try:
            center, width = float(pieces[0]), float(pieces[1])
        except ValueError:
            raise InvalidInput(
                f"window={text!r}: center and width must be decimal numbers"
            ) from None
        name = pieces[2].lower().replace("_", "-") if len(pieces) == 3 else "linear"
        if name not in _QUERY_NAMES:
            raise InvalidInput(
                f"window={text!r}: function must be one of {', '.join(_QUERY_NAMES)}"
            )
        try:
            return cls(center, width, _QUERY_NAMES[name])
        except ValueError as exc:
            raise InvalidInput(f"window={text!r}: {exc}") from None

    def to_unit(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """``x`` (modality values) mapped to [0, 1], the display range, by the function.

        With an output range of 0..255 this is the C.11.2.1.2.1 / C.11.2.1.3 formula divided
        by 255, so ``floor(to_unit(x) * 255 + 0.5)`` is the standard's 8-bit value.
        """
        c, w = self.center, self.width
        values = np.asarray(x, dtype=np.float64)
        if self.function is VOILUTFunctionValues.SIGMOID:
            return 1.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
        if self.function is VOILUTFunctionValues.LINEAR_EXACT:
            unit = (values - c) / w + 0.5
        else:
            # C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 → ymin; x > c - 0.5 + (w-1)/2 → ymax;
            # between, ((x - (c - 0.5)) / (w - 1) + 0.5). Clipping gives both ends; w = 1
            # is a step at c - 0.5.
            if w == 1:
                return (values > c - 0.5).astype(np.float64)
            unit = (values - (c - 0.5)) / (w - 1) + 0.5
        return np.clip(unit, 0.0, 1.0)
