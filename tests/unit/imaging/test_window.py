"""The VOI window: the ``window`` parameter's syntax and the three VOI LUT Functions with
the numbers of PS3.3 C.11.2.1.2 / C.11.2.1.3 worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from raddx.errors import InvalidInput
from raddx.imaging import VOILUTFunctionValues, Window


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("40,400", Window(40, 400)),
        ("-600,1500,linear", Window(-600, 1500)),
        ("40,400,linear-exact", Window(40, 400, VOILUTFunctionValues.LINEAR_EXACT)),
        ("40, 400, SIGMOID", Window(40, 400, VOILUTFunctionValues.SIGMOID)),
        ("40,0.5,linear-exact", Window(40, 0.5, VOILUTFunctionValues.LINEAR_EXACT)),
    ],
)
def test_from_query(text: str, expected: Window) -> None:
    assert Window.from_query(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("40", "center,width"),
        ("40,400,linear,1", "center,width"),
        ("a,400", "decimal numbers"),
        ("40,400,cubic", "must be one of"),
        ("40,0", "too small"),
        ("40,0.5", "too small"),  # LINEAR needs a width of at least 1
        ("40,-2,sigmoid", "too small"),
        ("nan,400", "finite"),
    ],
)
def test_from_query_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        Window.from_query(text)


def _eight_bit(window: Window, values: list[float]) -> list[int]:
    unit = window.to_unit(np.array(values, dtype=np.float64))
    return [int(v) for v in np.floor(unit * 255 + 0.5)]


def test_linear() -> None:
    # c=40, w=400: x <= -160 → 0, x > 239 → 255; 0 HU → ((0-39.5)/399+0.5)*255 = 102.26.
    assert _eight_bit(Window(40, 400), [-1024, -160, -159, 0, 40, 239, 240]) == [
        0,
        0,
        1,
        102,
        128,
        255,
        255,
    ]


def test_linear_width_one_is_a_step() -> None:
    assert _eight_bit(Window(10, 1), [9, 9.5, 10, 11]) == [0, 0, 255, 255]


def test_linear_exact() -> None:
    # ((x - c)/w + 0.5) * 255: 0 HU → 102.0, 40 HU → 127.5 (rounds up), 240 HU → 255.
    window = Window(40, 400, VOILUTFunctionValues.LINEAR_EXACT)
    assert _eight_bit(window, [-160, 0, 40, 240, 1000]) == [0, 102, 128, 255, 255]


def test_sigmoid() -> None:
    # 255 / (1 + exp(-4 (x - c) / w)): 0 HU → 255/(1+e^0.4) = 102.33, 240 HU → 224.60.
    window = Window(40, 400, VOILUTFunctionValues.SIGMOID)
    assert _eight_bit(window, [-1024, 0, 40, 240]) == [0, 102, 128, 225]
