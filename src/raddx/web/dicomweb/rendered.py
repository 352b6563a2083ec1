"""WADO-RS Retrieve Rendered (PS3.18 10.4.1.1.3, query parameters 8.3.5.1): studies,
series, instances and frames as consumer images, rendered by :mod:`raddx.imaging`.

What a resource answers (PS3.18 8.7.4, Rendered Media Types ``image/jpeg`` — the default —
``image/png``, ``image/gif``):

- With an Accept that admits ``multipart/related; type="image/…"`` (or ``*/*``, or no Accept),
  a study, a series, a multi-frame instance and a list of several frames answer one part
  per frame: every frame of every image instance, in instance order (non-image instances,
  e.g. SR, are left out). A single-frame instance and a single frame answer one image.
- With an Accept that admits only single images (``image/jpeg``, as dicomweb-client sends),
  every resource answers one image: its first frame (of its first image instance), as
  Orthanc and Azure answer rendered multi-frame resources.

Parameters: ``window=center,width[,function]``, ``viewport=vw,vh[,sx,sy,sw,sh]``,
``quality`` (1–100, JPEG), ``annotation`` (accepted, not burnt in: a Warning header says
so), ``charset`` (ignored: nothing textual is rendered), ``iccprofile=no`` (the only value
we honour; the others are 400). Others are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import pydicom
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydicom.dataset import Dataset
from starlette.datastructures import QueryParams

from raddx.archive import RetrieveService
from raddx.archive.query import InstanceRef
from raddx.errors import InvalidInput, NotFound
from raddx.imaging import (
    CannotDecode,
    NotAnImage,
    RenderedMediaTypeValues,
    RenderOptions,
    Viewport,
    Window,
    number_of_frames,
    render_frame,
)
from raddx.services import Services
from raddx.web._errors import NotAcceptable
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._media import negotiate
from raddx.web.dicomweb._multipart import encode_parts, new_boundary
from raddx.web.dicomweb.frames import frame_numbers
from raddx.web.dicomweb.wado import (
    audit_sent,
    not_modified,
    part10_bytes,
    readable_instances,
    resource_etag,
    resource_instances,
)

__all__ = [
    "RenderedType",
    "choose_rendered_type",
    "decoded",
    "render_or_refuse",
    "rendering_options",
    "router",
]

log = logging.getLogger(__name__)

_MULTIPART = "multipart/related"
_SINGLE_OFFERS: list[tuple[str, str | None]] = [(t.value, None) for t in RenderedMediaTypeValues]
_MULTIPART_OFFERS: list[tuple[str, str | None]] = [
    (_MULTIPART, t.value) for t in RenderedMediaTypeValues
]
_ANNOTATIONS = frozenset({"patient", "technique"})
_NO_ANNOTATION = '299 raddx "annotation is not rendered; the image is returned without it"'


@dataclass(frozen=True, slots=True)
class RenderedType:
    """The negotiated answer: the image type, and whether it goes in multipart/related."""

    image: RenderedMediaTypeValues
    multipart: bool


def choose_rendered_type(accept: str | None, *, several: bool) -> RenderedType:
    """The representation for a client's Accept header (PS3.18 8.7.4). ``several``: the
    resource holds more than one frame, so multipart/related is offered first.

    Raises
    ------
    NotAcceptable
        Nothing in Accept is an image type we render.
    """
    offers = _MULTIPART_OFFERS + _SINGLE_OFFERS if several else _SINGLE_OFFERS + _MULTIPART_OFFERS
    chosen, media_range = negotiate(accept, offers)
    if chosen != _MULTIPART:
        return RenderedType(RenderedMediaTypeValues(chosen), multipart=False)
    part = next(p for o, p in offers if o == chosen and media_range.covers(o, p))
    assert part is not None
    return RenderedType(RenderedMediaTypeValues(part), multipart=True)


def _one(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"{name} given {len(values)} times; give it once")
    return values[0] if values else None


def rendering_options(params: QueryParams, media_type: RenderedMediaTypeValues) -> RenderOptions:
    """The rendering query parameters of PS3.18 8.3.5.1 as :class:`RenderOptions`.

    Raises
    ------
    InvalidInput
        A malformed ``window``, ``viewport`` or ``quality``, an unknown ``annotation``
        value, or an ``iccprofile`` other than ``no``.
    """
    window = _one(params, "window")
    viewport = _one(params, "viewport")
    quality = _one(params, "quality")
    annotation = _one(params, "annotation")
    if annotation is not None:
        unknown = {a.strip() for a in annotation.split(",")} - _ANNOTATIONS
        if unknown:
            raise InvalidInput(
                f"annotation={annotation!r}: the values are patient and technique (PS3.18 "
                "8.3.5.1.1)"
            )
    icc = _one(params, "iccprofile")
    if icc is not None and icc.strip().lower() != "no":
        raise InvalidInput(f"iccprofile={icc!r} is not supported; iccprofile=no is")
    if quality is not None and not (quality.strip().isdigit() and 1 <= int(quality) <= 100):
        raise InvalidInput(f"quality={quality!r}: an integer from 1 to 100 (PS3.18 8.3.5.1.2)")
    return RenderOptions(
        media_type=media_type,
        window=Window.from_query(window) if window is not None else None,
        viewport=Viewport.from_query(viewport) if viewport is not None else None,
        **({"quality": int(quality)} if quality is not None else {}),
    )


def decoded(data: bytes) -> Dataset:
    """A stored object read for rendering (pixel data included, decoded on demand)."""
    return pydicom.dcmread(BytesIO(data))


def render_or_refuse(ds: Dataset, options: RenderOptions, frame_number: int) -> bytes:
    """One frame rendered, or 406 when its pixel data cannot be decoded here."""
    try:
        return render_frame(ds, options, frame_number=frame_number)
    except CannotDecode as exc:
        # The object exists but we cannot produce the asked representation of it.
        raise NotAcceptable(f"cannot render: {exc}") from None


def _images(retrieve: RetrieveService, refs: list[InstanceRef]) -> Iterator[tuple[Dataset, int]]:
    """Each readable image instance with its number of frames; others are skipped."""
    for retrieved in readable_instances(retrieve, refs):
        ds = decoded(part10_bytes(retrieved))
        try:
            yield ds, number_of_frames(ds)
        except NotAnImage:
            continue


def _multipart(
    parts: Iterator[bytes], first: bytes, image: str, headers: dict[str, str]
) -> Response:
    boundary = new_boundary()

    def all_parts() -> Iterator[tuple[str, bytes]]:
        yield image, first
        for data in parts:
            yield image, data

    media_type = f'multipart/related; type="{image}"; boundary={boundary}'
    return StreamingResponse(
        encode_parts(all_parts(), boundary), media_type=media_type, headers=headers
    )


def _headers(request: Request, etag: str) -> dict[str, str]:
    headers = {"ETag": etag}
    if "annotation" in request.query_params:
        headers["Warning"] = _NO_ANNOTATION
    return headers


def _rendered_resource(request: Request, services: Services, *uids: str | None) -> Response:
    """Study or series rendered: every frame of every image instance, or the first one."""
    chosen = choose_rendered_type(request.headers.get("accept"), several=True)
    options = rendering_options(request.query_params, chosen.image)
    retrieve, refs = resource_instances(services, *uids)  # type: ignore[arg-type]
    audit_sent(request, services, uids, refs)
    etag = resource_etag(refs, f"rendered;{chosen};{request.url.query}")
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    images = _images(retrieve, refs)
    first = next(images, None)
    if first is None:
        raise NotAnImage(
            f"{'series' if len(uids) > 1 else 'study'} has no image instance to render"
        )
    ds, frames = first
    first_image = render_or_refuse(ds, options, 1)
    headers = _headers(request, etag)
    if not chosen.multipart:
        return Response(first_image, media_type=chosen.image.value, headers=headers)

    def rest() -> Iterator[bytes]:
        for number in range(2, frames + 1):
            yield from _safely(ds, options, number)
        for other, count in images:
            for number in range(1, count + 1):
                yield from _safely(other, options, number)

    return _multipart(rest(), first_image, chosen.image.value, headers)


def _safely(ds: Dataset, options: RenderOptions, number: int) -> Iterator[bytes]:
    """One frame for a stream already under way: a frame that cannot be rendered is left
    out and logged (the status is on the wire already)."""
    try:
        yield render_frame(ds, options, frame_number=number)
    except (CannotDecode, InvalidInput) as exc:
        log.error(
            "rendered: frame left out sop_instance_uid=%s frame=%d reason=%s",
            ds.get("SOPInstanceUID"),
            number,
            exc,
        )


def _rendered_frames(
    request: Request,
    services: Services,
    study: str,
    series: str,
    instance: str,
    numbers: list[int] | None,
) -> Response:
    """An instance (``numbers`` None: all its frames) or a list of its frames, rendered."""
    retrieve, refs = resource_instances(services, study, series, instance)
    audit_sent(request, services, (study, series, instance), refs)
    # The answer follows from the stored object, the Accept header, the frames and the
    # parameters: checked before the object is read, a cached answer costs one query.
    accept = request.headers.get("accept")
    etag = resource_etag(refs, f"rendered;{accept};{numbers};{request.url.query}")
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    ds = next((decoded(part10_bytes(r)) for r in readable_instances(retrieve, refs)), None)
    if ds is None:
        raise NotFound(f"instance {instance} is indexed but its stored object cannot be read")
    count = number_of_frames(ds)
    wanted = numbers if numbers is not None else list(range(1, count + 1))
    beyond = [n for n in wanted if n > count]
    if beyond:
        raise InvalidInput(f"frame {beyond[0]} asked for, but the instance has {count} frame(s)")
    chosen = choose_rendered_type(accept, several=len(wanted) > 1)
    options = rendering_options(request.query_params, chosen.image)
    first = render_or_refuse(ds, options, wanted[0])
    headers = _headers(request, etag)
    if not chosen.multipart:
        return Response(first, media_type=chosen.image.value, headers=headers)
    rest = (data for n in wanted[1:] for data in _safely(ds, options, n))
    return _multipart(rest, first, chosen.image.value, headers)


router = APIRouter(tags=["WADO-RS"])


@router.get("/studies/{study}/rendered")
def retrieve_study_rendered(request: Request, services: ServicesDep, study: str) -> Response:
    """Rendered study (PS3.18 10.4.1.1.3): 400 when it has no image, 406 when Accept admits
    no rendered type or an image cannot be decoded here."""
    return _rendered_resource(request, services, study)


@router.get("/studies/{study}/series/{series}/rendered")
def retrieve_series_rendered(
    request: Request, services: ServicesDep, study: str, series: str
) -> Response:
    """Rendered series (PS3.18 10.4.1.1.3)."""
    return _rendered_resource(request, services, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}/rendered")
def retrieve_instance_rendered(
    request: Request, services: ServicesDep, study: str, series: str, instance: str
) -> Response:
    """Rendered instance (PS3.18 10.4.1.1.3): 400 for an object without Pixel Data."""
    return _rendered_frames(request, services, study, series, instance, None)


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered")
def retrieve_frames_rendered(
    request: Request, services: ServicesDep, study: str, series: str, instance: str, frames: str
) -> Response:
    """Rendered frames (PS3.18 10.4.1.1.3): 400 for a malformed list or a frame beyond
    Number of Frames, as the frames resource."""
    return _rendered_frames(request, services, study, series, instance, frame_numbers(frames))
