"""WADO-RS Retrieve Frames (PS3.18 10.4.1.1.5, 8.7.3.5): frames of one instance as
``multipart/related``, one part per frame asked for, in the stored transfer syntax.

Native (uncompressed) pixel data is cut into frames by size, never decoded: the parts are
``application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1``. Encapsulated pixel data is
split into its compressed frames with :func:`pydicom.encaps.generate_frames` and sent as
stored, with the media type of its transfer syntax (``image/jpeg``, ``image/jls``,
``image/jp2``, ``image/jphc``, ``image/dicom-rle``), or as ``application/octet-stream`` when
the client asks for that with ``transfer-syntax=*`` (what dicom-image-loader, used by OHIF,
sends). A client that asks for ``application/octet-stream`` without a syntax, or with Explicit
VR Little Endian (the default of PS3.18 8.7.3.5, what dicomweb-client sends), gets compressed
frames decoded to native bytes (colour as RGB, as
:func:`raddx.imaging.transcode.decompress_pixel_data` gives them); a syntax no installed decoder
reads is 406 saying so. Native frames are never
compressed: an Accept that needs that is 406 with what we can send.
"""

from __future__ import annotations

from io import BytesIO

import pydicom
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from raddx.errors import InvalidInput
from raddx.imaging.render import CannotDecode
from raddx.imaging.transcode import can_transcode, decompress_pixel_data
from raddx.web._errors import NotAcceptable
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._media import parse_accept, type_matches
from raddx.web.dicomweb._multipart import encode_parts, new_boundary
from raddx.web.dicomweb.wado import audit_instance_sent, instance_bytes

__all__ = ["NATIVE", "choose_part_type", "frame_numbers", "router", "split_frames"]

_OCTETS = "application/octet-stream"
#: Transfer syntaxes whose pixel data is native little endian bytes once read.
NATIVE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})
#: Media type of the frames of each compressed transfer syntax (PS3.18 Table 8.7.3-2 and
#: 8.7.4-1: image/jpeg, image/jls, image/jp2, image/jphc, image/dicom-rle).
_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


def frame_numbers(text: str) -> list[int]:
    """``1,3,5`` → ``[1, 3, 5]`` (PS3.18 10.4.1.1.5: a comma-separated list, from 1).

    Raises
    ------
    InvalidInput
        Not a list of positive integers.
    """
    numbers = []
    for piece in text.split(","):
        if not piece.strip().isdigit() or int(piece) < 1:
            raise InvalidInput(f"frame list {text!r}: frame numbers are integers from 1")
        numbers.append(int(piece))
    return numbers


def split_frames(ds: Dataset, *, native: bool) -> list[bytes]:
    """Every frame of the instance's pixel data, as stored."""
    if "PixelData" not in ds:
        raise InvalidInput("the instance has no Pixel Data (7FE0,0010); it has no frames")
    count = int(ds.get("NumberOfFrames") or 1)
    data: bytes = ds.PixelData
    if not native:
        return list(generate_frames(data, number_of_frames=count))
    bits = int(ds.BitsAllocated)
    if bits % 8:
        raise NotAcceptable(f"frames of {bits}-bit pixel data are not byte-aligned; not served")
    size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * bits // 8
    return [data[i * size : (i + 1) * size] for i in range(count)]


def choose_part_type(accept: str | None, stored: str) -> str:
    """The Content-Type of each part, from the client's Accept and the stored syntax, for
    frames sent as stored (bulk data)."""
    return _part_type(accept, stored, may_decode=False)[0]


def _part_type(accept: str | None, stored: str, *, may_decode: bool) -> tuple[str, bool]:
    """The Content-Type of each part, and whether compressed frames must be decoded for it."""
    native = stored in NATIVE
    media = _OCTETS if native else _MEDIA_TYPES.get(stored)
    part_syntax = ExplicitVRLittleEndian if native else stored
    decodable, why_not = (
        can_transcode(stored, ExplicitVRLittleEndian) if may_decode and not native else (False, "")
    )
    for media_range in parse_accept(accept):
        if media_range.media_type not in ("*/*", "multipart/*", "multipart/related"):
            continue
        wanted_type = media_range.params.get("type") or "*/*"
        wanted_syntax = media_range.params.get("transfer-syntax")
        if media is not None:
            if type_matches(wanted_type, media) and wanted_syntax in (None, "*", part_syntax):
                return f"{media}; transfer-syntax={part_syntax}", False
            # Compressed frames as octet-stream: only when the client says any syntax will do.
            if not native and type_matches(wanted_type, _OCTETS) and wanted_syntax in ("*", stored):
                return f"{_OCTETS}; transfer-syntax={stored}", False
        # Compressed frames decoded: octet-stream in the default syntax (PS3.18 8.7.3.5).
        if (
            decodable
            and type_matches(wanted_type, _OCTETS)
            and wanted_syntax in (None, ExplicitVRLittleEndian)
        ):
            return f"{_OCTETS}; transfer-syntax={ExplicitVRLittleEndian}", True
    offer = f'multipart/related; type="{media}"; transfer-syntax={part_syntax}'
    if native:
        raise NotAcceptable(f"native frames are not transcoded; ask for {offer}")
    if not media:
        raise NotAcceptable(
            f"frames stored in {stored} cannot be sent" + (f": {why_not}" if why_not else "")
        )
    reason = f"ask for {offer} or transfer-syntax=*"
    if may_decode and not decodable:
        reason += f" (not decoded: {why_not})"
    raise NotAcceptable(f"frames are stored in {stored}; {reason}")


router = APIRouter(tags=["WADO-RS"])


@router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}")
def retrieve_frames(
    request: Request, services: ServicesDep, study: str, series: str, instance: str, frames: str
) -> StreamingResponse:
    """Retrieve Frames (PS3.18 10.4.1.1.5): the listed frames, in the order listed.

    400 for a malformed list, a frame number beyond NumberOfFrames or an instance without
    pixel data; 404 for an unknown instance; 406 when the Accept header asks for what we
    cannot produce (native frames compressed, compressed frames no decoder reads).
    """
    numbers = frame_numbers(frames)
    data, stored = instance_bytes(services, study, series, instance)
    audit_instance_sent(request, services, study)
    content_type, decode = _part_type(request.headers.get("accept"), stored, may_decode=True)
    ds = pydicom.dcmread(BytesIO(data))
    if decode:
        if "PixelData" not in ds:
            raise InvalidInput("the instance has no Pixel Data (7FE0,0010); it has no frames")
        try:
            decompress_pixel_data(ds)
        except CannotDecode as exc:
            raise NotAcceptable(str(exc)) from None
    available = split_frames(ds, native=decode or stored in NATIVE)
    beyond = [n for n in numbers if n > len(available)]
    if beyond:
        raise InvalidInput(
            f"frame {beyond[0]} asked for, but the instance has {len(available)} frame(s)"
        )
    boundary = new_boundary()
    parts = [(content_type, available[n - 1]) for n in numbers]
    media_type = f'multipart/related; type="{content_type.split(";")[0]}"; boundary={boundary}'
    return StreamingResponse(encode_parts(parts, boundary), media_type=media_type)
