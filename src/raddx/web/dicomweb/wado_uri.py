"""WADO-URI (PS3.18 9): ``GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…``
for legacy clients: the stored object (``contentType=application/dicom``) or, for images,
a rendered ``image/jpeg`` (the standard's default for images), ``image/png`` or ``image/gif``.
``transferSyntax`` (PS3.18 9.4.2.4) chooses the object's encoding as WADO-RS does: Explicit
VR Little Endian by default, ``*`` (our extension) as stored, a named syntax or 406.

The same retrieve as WADO-RS (:func:`.wado.instance_bytes`) and the same rendering as the
rendered resources (:mod:`raddx.imaging`). Rendering parameters (PS3.18 9.4, 9.5):
``windowCenter``/``windowWidth`` (together), ``rows``/``columns`` (the image is fitted,
keeping its aspect ratio), ``region=xmin,ymin,xmax,ymax`` (fractions of the image),
``frameNumber`` (multi-frame images; frame 1 when absent), ``imageQuality`` (1–100).
``annotation`` is accepted and not burnt in (a Warning header says so).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.datastructures import QueryParams

from raddx.errors import InvalidInput
from raddx.imaging import (
    DEFAULT_QUALITY,
    RenderedMediaTypeValues,
    RenderOptions,
    Viewport,
    Window,
    number_of_frames,
)
from raddx.imaging.viewport import Region
from raddx.web._errors import NotAcceptable
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb.rendered import decoded, render_or_refuse
from raddx.web.dicomweb.wado import (
    audit_instance_sent,
    default_syntax,
    instance_bytes,
    transcoded_part10,
)

__all__ = ["router"]

_DICOM = "application/dicom"
_REQUIRED = ("studyUID", "seriesUID", "objectUID")
_RENDERED = {t.value: t for t in RenderedMediaTypeValues}
#: Large enough never to bind: a side the request leaves free.
_UNBOUNDED = 1 << 16

router = APIRouter(tags=["WADO-URI"])


def _integer(params: QueryParams, name: str, low: int, high: int = _UNBOUNDED) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"{name}={text!r}: an integer from {low} to {high}")
    return int(text)


def _window(params: QueryParams) -> Window | None:
    center, width = params.get("windowCenter"), params.get("windowWidth")
    if center is None and width is None:
        return None
    if center is None or width is None:
        raise InvalidInput("windowCenter and windowWidth go together (PS3.18 9.4)")
    return Window.from_query(f"{center},{width}")


def _viewport(params: QueryParams, rows: int, columns: int) -> Viewport | None:
    height = _integer(params, "rows", 1)
    width = _integer(params, "columns", 1)
    text = params.get("region")
    if height is None and width is None and text is None:
        return None
    region = None
    if text is not None:
        try:
            xmin, ymin, xmax, ymax = (float(v) for v in text.split(","))
        except ValueError:
            raise InvalidInput(f"region={text!r}: expected xmin,ymin,xmax,ymax") from None
        if not (0 <= xmin < xmax <= 1 and 0 <= ymin < ymax <= 1):
            raise InvalidInput(
                f"region={text!r}: fractions of the image, 0 ≤ min < max ≤ 1 (PS3.18 9.4)"
            )
        left, top = round(xmin * columns), round(ymin * rows)
        region = Region(
            left, top, max(1, round(xmax * columns) - left), max(1, round(ymax * rows) - top)
        )
        if height is None and width is None:
            height, width = region.height, region.width
    return Viewport(width or _UNBOUNDED, height or _UNBOUNDED, region)


def _content_types(params: QueryParams) -> list[str]:
    text = params.get("contentType")
    if not text:
        return []
    return [t.split(";")[0].strip().lower() for t in text.split(",") if t.strip()]


def _in_syntax(data: bytes, stored: str, asked: str | None) -> bytes:
    """The object in the asked transferSyntax (PS3.18 9.4.2.4); without one, in the default
    syntax as WADO-RS chooses it (:func:`.wado.default_syntax`); ``*`` as stored."""
    if asked == "*":
        return data
    return transcoded_part10(data, stored, asked or default_syntax(stored)[0])


@router.get("/wado")
def wado_uri(request: Request, services: ServicesDep) -> Response:
    """Retrieve one DICOM object by its UIDs (PS3.18 9.1, 9.2), as stored or rendered.

    400 when requestType is not WADO, a UID parameter is missing (or not a UID), a
    rendering parameter is malformed, an image content type is asked of an object without
    pixel data, or frameNumber is given for a single-frame image or beyond its frames; 404
    for an unknown object; 406 for a content type we do not produce, a transferSyntax we
    cannot convert to, or pixel data no installed decoder reads.
    """
    params = request.query_params
    if params.get("requestType") != "WADO":
        raise InvalidInput("requestType=WADO is required (PS3.18 9.1.2.1.1)")
    missing = [name for name in _REQUIRED if not params.get(name)]
    if missing:
        raise InvalidInput(f"missing parameter(s): {', '.join(missing)}")
    asked = _content_types(params)
    data, stored = instance_bytes(
        services, params["studyUID"], params["seriesUID"], params["objectUID"]
    )
    audit_instance_sent(request, services, params["studyUID"])
    ds = None
    if not asked:
        # The default is image/jpeg for images, application/dicom for others (9.1.2.1.4).
        ds = decoded(data)
        asked = ["image/jpeg"] if "PixelData" in ds else [_DICOM]
    chosen = next((t for t in asked if t == _DICOM or t in _RENDERED), None)
    if chosen is None:
        raise NotAcceptable(
            f"contentType={params.get('contentType')!r}: we produce application/dicom, "
            + ", ".join(_RENDERED)
        )
    if chosen == _DICOM:
        return Response(_in_syntax(data, stored, params.get("transferSyntax")), media_type=_DICOM)
    ds = ds or decoded(data)
    frames = number_of_frames(ds)  # 400 for an object without pixel data
    frame = _integer(params, "frameNumber", 1)
    if frame is not None and (frames == 1 or frame > frames):
        raise InvalidInput(
            f"frameNumber={frame}: the object has {frames} frame(s) (PS3.18 9.5.2: only for "
            "multi-frame images, up to their Number of Frames)"
        )
    options = RenderOptions(
        media_type=_RENDERED[chosen],
        window=_window(params),
        viewport=_viewport(params, int(ds.get("Rows") or 1), int(ds.get("Columns") or 1)),
        quality=_integer(params, "imageQuality", 1, 100) or DEFAULT_QUALITY,
    )
    headers = {}
    if "annotation" in params:
        headers["Warning"] = '299 raddx "annotation is not rendered"'
    body = render_or_refuse(ds, options, frame or 1)
    return Response(body, media_type=chosen, headers=headers)
