"""WADO-RS Retrieve Thumbnail (PS3.18 10.4.1.1.4): one small image that stands for a
study, series, instance or frame list, for study browsers and viewers' series strips.

The representative image (the origin server chooses, PS3.18 10.4.1.1.4):

- study: the middle instance of its first series that holds images;
- series: its middle image instance (instance-number order);
- instance: its middle frame (the first for single-frame images);
- frames: the first frame listed.

It is rendered as the rendered resources render (the object's own VOI), fitted into
``viewport`` (default 128×128, aspect ratio kept). One image, ``image/jpeg`` (default),
``image/png`` or ``image/gif``; an ETag lets browsers cache it.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from pydicom.dataset import Dataset
from pydicom.uid import UID

from raddx.archive import RetrieveService
from raddx.archive.query import InstanceRef
from raddx.errors import InvalidInput, NotFound
from raddx.imaging import (
    NotAnImage,
    RenderedMediaTypeValues,
    RenderOptions,
    Viewport,
    number_of_frames,
)
from raddx.services import Services
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._media import negotiate
from raddx.web.dicomweb.frames import frame_numbers
from raddx.web.dicomweb.rendered import decoded, render_or_refuse
from raddx.web.dicomweb.wado import (
    not_modified,
    part10_bytes,
    readable_instances,
    resource_etag,
    resource_instances,
)

__all__ = ["DEFAULT_VIEWPORT", "router"]

#: The thumbnail size when the request has no ``viewport`` (the origin server's choice).
DEFAULT_VIEWPORT = Viewport(128, 128)
_OFFERS: list[tuple[str, str | None]] = [(t.value, None) for t in RenderedMediaTypeValues]


def _looks_like_image(ref: InstanceRef) -> bool:
    """An image storage SOP class by its name in pydicom's UID dictionary (CT Image
    Storage, Multi-frame … Image Storage…): checked before reading, so a study's SRs and
    presentation states are not read just to be passed over."""
    return "Image" in UID(ref.sop_class_uid).name


def _middle_out(refs: list[InstanceRef]) -> list[InstanceRef]:
    """``refs`` from the middle outwards: the middle one first, then its neighbours."""
    middle = (len(refs) - 1) // 2
    order = sorted(range(len(refs)), key=lambda i: abs(i - middle))
    return [refs[i] for i in order]


def _first_image(retrieve: RetrieveService, refs: list[InstanceRef]) -> Dataset | None:
    candidates = [r for r in refs if _looks_like_image(r)] or refs
    for retrieved in readable_instances(retrieve, candidates):
        ds = decoded(part10_bytes(retrieved))
        if "PixelData" in ds:
            return ds
    return None


def _representative(
    services: Services,
    retrieve: RetrieveService,
    refs: list[InstanceRef],
    study: str,
    series: str | None,
) -> Dataset:
    """The image standing for a study (``series`` None) or a series of ``refs``."""
    if series is None:
        first = _first_image(retrieve, refs)
        if first is None:
            raise NotAnImage("the study has no image instance to show")
        retrieve, refs = resource_instances(services, study, str(first.SeriesInstanceUID))
    images = [r for r in refs if _looks_like_image(r)] or refs
    chosen = _first_image(retrieve, _middle_out(images))
    if chosen is None:
        raise NotAnImage(f"the {'series' if series else 'study'} has no image instance to show")
    return chosen


def _thumbnail(
    request: Request,
    refs: list[InstanceRef],
    pick: Callable[[], tuple[Dataset, int | None]],
    key: str = "",
) -> Response:
    """The thumbnail of the image ``pick`` reads (and its frame; None: the middle one),
    after the ETag check: a cached thumbnail costs a query, no object read."""
    offer, _ = negotiate(request.headers.get("accept"), _OFFERS)  # one image, never multipart
    image = RenderedMediaTypeValues(offer)
    text = request.query_params.get("viewport")
    viewport = Viewport.from_query(text) if text else DEFAULT_VIEWPORT
    etag = resource_etag(refs, f"thumbnail;{image.value};{viewport};{key}")
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    ds, frame = pick()
    number = frame if frame is not None else (number_of_frames(ds) + 1) // 2
    data = render_or_refuse(ds, RenderOptions(image, viewport=viewport), number)
    return Response(data, media_type=image.value, headers={"ETag": etag})


def _instance(retrieve: RetrieveService, refs: list[InstanceRef], instance: str) -> Dataset:
    ds = next((decoded(part10_bytes(r)) for r in readable_instances(retrieve, refs)), None)
    if ds is None:
        raise NotFound(f"instance {instance} is indexed but its stored object cannot be read")
    number_of_frames(ds)  # NotAnImage (400) for an object without pixel data
    return ds


router = APIRouter(tags=["WADO-RS"])


@router.get("/studies/{study}/thumbnail")
def retrieve_study_thumbnail(request: Request, services: ServicesDep, study: str) -> Response:
    """Study thumbnail (PS3.18 10.4.1.1.4): 400 when the study has no image, 406 when Accept
    admits no image type we render."""
    retrieve, refs = resource_instances(services, study)
    return _thumbnail(
        request, refs, lambda: (_representative(services, retrieve, refs, study, None), None)
    )


@router.get("/studies/{study}/series/{series}/thumbnail")
def retrieve_series_thumbnail(
    request: Request, services: ServicesDep, study: str, series: str
) -> Response:
    """Series thumbnail (PS3.18 10.4.1.1.4)."""
    retrieve, refs = resource_instances(services, study, series)
    return _thumbnail(
        request, refs, lambda: (_representative(services, retrieve, refs, study, series), None)
    )


@router.get("/studies/{study}/series/{series}/instances/{instance}/thumbnail")
def retrieve_instance_thumbnail(
    request: Request, services: ServicesDep, study: str, series: str, instance: str
) -> Response:
    """Instance thumbnail (PS3.18 10.4.1.1.4): 400 for an object without Pixel Data."""
    retrieve, refs = resource_instances(services, study, series, instance)
    return _thumbnail(request, refs, lambda: (_instance(retrieve, refs, instance), None))


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail")
def retrieve_frames_thumbnail(
    request: Request, services: ServicesDep, study: str, series: str, instance: str, frames: str
) -> Response:
    """Frames thumbnail (PS3.18 10.4.1.1.4): the first frame listed; 400 beyond Number of
    Frames."""
    first = frame_numbers(frames)[0]
    retrieve, refs = resource_instances(services, study, series, instance)

    def pick() -> tuple[Dataset, int | None]:
        ds = _instance(retrieve, refs, instance)
        count = number_of_frames(ds)
        if first > count:
            raise InvalidInput(f"frame {first} asked for, but the instance has {count} frame(s)")
        return ds, first

    return _thumbnail(request, refs, pick, key=str(first))
