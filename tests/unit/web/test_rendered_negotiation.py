"""Rendered resources: which representation an Accept header gets, and the query
parameters of PS3.18 8.3.5.1 turned into rendering options."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from raddx.errors import InvalidInput
from raddx.imaging import RenderedMediaTypeValues, Viewport, Window
from raddx.web._errors import NotAcceptable
from raddx.web.dicomweb.rendered import RenderedType, choose_rendered_type, rendering_options

JPEG, PNG, GIF = (
    RenderedMediaTypeValues.JPEG,
    RenderedMediaTypeValues.PNG,
    RenderedMediaTypeValues.GIF,
)


@pytest.mark.parametrize(
    ("accept", "several", "expected"),
    [
        (None, True, RenderedType(JPEG, multipart=True)),  # no Accept: anything goes
        (None, False, RenderedType(JPEG, multipart=False)),
        ("*/*", True, RenderedType(JPEG, multipart=True)),
        ("image/png", True, RenderedType(PNG, multipart=False)),  # single images only
        ("image/*", False, RenderedType(JPEG, multipart=False)),
        ('multipart/related; type="image/png"', True, RenderedType(PNG, multipart=True)),
        ('multipart/related; type="image/gif"', False, RenderedType(GIF, multipart=True)),
        ("image/webp, image/gif;q=0.5", False, RenderedType(GIF, multipart=False)),
    ],
)
def test_choose_rendered_type(accept: str | None, several: bool, expected: RenderedType) -> None:
    assert choose_rendered_type(accept, several=several) == expected


@pytest.mark.parametrize(
    "accept", ["application/dicom", "image/jp2", 'multipart/related; type="application/dicom"']
)
def test_nothing_fits(accept: str) -> None:
    with pytest.raises(NotAcceptable, match="we produce"):
        choose_rendered_type(accept, several=True)


def test_rendering_options() -> None:
    params = QueryParams("window=40,400,sigmoid&viewport=64,32&quality=70&charset=utf-8")
    options = rendering_options(params, PNG)
    assert options.media_type is PNG
    assert options.window == Window.from_query("40,400,sigmoid")
    assert options.viewport == Viewport(64, 32)
    assert options.quality == 70
    defaults = rendering_options(QueryParams(""), JPEG)
    assert defaults.window is None and defaults.viewport is None and defaults.quality == 90


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("quality=abc", "1 to 100"),
        ("quality=101", "1 to 100"),
        ("window=1,2&window=3,4", "given 2 times"),
        ("iccprofile=srgb", "iccprofile=no"),
        ("annotation=patient,logo", "patient and technique"),
    ],
)
def test_rendering_options_refused(query: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        rendering_options(QueryParams(query), JPEG)
