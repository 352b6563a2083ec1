"""The viewport parameter: syntax, fitting with the aspect ratio kept, regions and flips."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from raddx.errors import InvalidInput
from raddx.imaging import Region, Viewport


def _image(width: int, height: int) -> Image.Image:
    values = (np.arange(width * height) % 256).astype(np.uint8).reshape(height, width)
    return Image.fromarray(values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("128,128", Viewport(128, 128)),
        ("512,256,10,20,100,50", Viewport(512, 256, Region(10, 20, 100, 50))),
        ("64,64,,,,", Viewport(64, 64, Region())),
        ("64,64,32,0,-32,", Viewport(64, 64, Region(32, 0, -32, None))),
    ],
)
def test_from_query(text: str, expected: Viewport) -> None:
    assert Viewport.from_query(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0,128", "at least 1"),  # a zero viewport
        ("128,-1", "at least 1"),
        ("128", "vw,vh"),
        ("128,128,0", "vw,vh"),
        ("a,b", "integers"),
        ("128,128,-1,0,10,10", "offset"),
        ("128,128,0,0,0,10", "non-zero"),
    ],
)
def test_from_query_refuses(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        Viewport.from_query(text)


@pytest.mark.parametrize(
    ("size", "viewport", "expected"),
    [
        ((512, 256), (128, 128), (128, 64)),
        ((256, 512), (128, 128), (64, 128)),
        ((100, 100), (300, 200), (200, 200)),  # enlarged to fit
        ((128, 128), (128, 128), (128, 128)),
        ((16, 8), (100_000, 100_000), (4096, 2048)),  # enlarging stops at 4096
        ((5000, 100), (8000, 8000), (5000, 100)),  # a larger source keeps its size
    ],
)
def test_fit_keeps_the_aspect_ratio(
    size: tuple[int, int], viewport: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert Viewport(*viewport).apply(_image(*size)).size == expected


def test_region_and_flip() -> None:
    source = _image(16, 8)
    cut = Viewport(4, 2, Region(4, 2, 4, 2)).apply(source)
    assert np.array_equal(np.asarray(cut), np.asarray(source)[2:4, 4:8])
    flipped = Viewport(4, 2, Region(8, 2, -4, 2)).apply(source)
    assert np.array_equal(np.asarray(flipped), np.asarray(source)[2:4, 4:8][:, ::-1])
    with pytest.raises(InvalidInput, match="outside the image"):
        Viewport(4, 4, Region(12, 0, 8, 4)).apply(source)
