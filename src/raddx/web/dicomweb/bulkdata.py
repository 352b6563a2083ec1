"""WADO-RS Retrieve Bulkdata (PS3.18 10.4.1.1.4 / 8.7.3.3): the value of one top-level
binary attribute of an instance, where the metadata's BulkDataURI points.

The value is sent as stored: an ``application/octet-stream`` part holding its bytes. Pixel
data follows the frames resource's rules (:mod:`.frames`): native pixel data is one octet
stream; encapsulated pixel data is sent frame by frame in its compressed form, one part per
frame, since the encapsulation itself is not a value anyone can use.
"""

from __future__ import annotations

from io import BytesIO

import pydicom
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydicom.tag import Tag

from raddx.errors import InvalidInput, NotFound
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._dataset_json import BINARY_VRS
from raddx.web.dicomweb._media import negotiate
from raddx.web.dicomweb._multipart import encode_parts, new_boundary
from raddx.web.dicomweb.frames import NATIVE, choose_part_type, split_frames
from raddx.web.dicomweb.wado import audit_instance_sent, instance_bytes

__all__ = ["router"]

_OCTETS = "application/octet-stream"
_PIXEL_DATA = 0x7FE00010

router = APIRouter(tags=["WADO-RS"])


@router.get("/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag}")
def retrieve_bulkdata(
    request: Request, services: ServicesDep, study: str, series: str, instance: str, tag: str
) -> StreamingResponse:
    """The bulk data of attribute ``tag`` (eight hex digits) of one instance.

    400 for a tag that is not eight hex digits or not a binary attribute; 404 when the
    instance or the attribute is absent; 406 when the Accept header admits no octet stream
    (or, for compressed pixel data, not its frames as stored).
    """
    try:
        if len(tag) != 8:
            raise ValueError(tag)
        number = int(Tag(int(tag, 16)))
    except ValueError:
        raise InvalidInput(f"bulk data tag {tag!r} is not eight hexadecimal digits") from None
    data, stored = instance_bytes(services, study, series, instance)
    audit_instance_sent(request, services, study)
    ds = pydicom.dcmread(BytesIO(data))
    if number not in ds:
        raise NotFound(f"instance {instance} has no attribute ({tag[:4]},{tag[4:]})")
    element = ds[number]
    if element.VR not in BINARY_VRS:
        raise InvalidInput(f"({tag[:4]},{tag[4:]}) is {element.VR}, not bulk data")
    accept = request.headers.get("accept")
    if number == _PIXEL_DATA and stored not in NATIVE:
        content_type = choose_part_type(accept, stored)
        parts = [(content_type, frame) for frame in split_frames(ds, native=False)]
    else:
        negotiate(accept, [("multipart/related", _OCTETS)])
        parts = [(_OCTETS, bytes(element.value))]
    boundary = new_boundary()
    media_type = f'multipart/related; type="{parts[0][0].split(";")[0]}"; boundary={boundary}'
    return StreamingResponse(encode_parts(parts, boundary), media_type=media_type)
