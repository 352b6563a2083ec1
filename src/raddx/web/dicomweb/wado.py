"""WADO-RS, the Retrieve transaction (PS3.18 10.4): studies, series and instances as
``multipart/related; type="application/dicom"``, and their metadata as DICOM JSON.

The instances come from :class:`~raddx.archive.RetrieveService` (the query engine's
matching, shared with C-GET/C-MOVE), and their stored Part 10 bytes are streamed as they
are: one part per instance, read one at a time, never decoded. The one exception is an
object ingest tolerated whose dataset is not encoded as its transfer syntax says (implicit
VR under an explicit syntax): it is re-encoded, or the client would misread it.

Transfer syntax (PS3.18 8.7.3.5): without a ``transfer-syntax`` parameter the default,
Explicit VR Little Endian, is sent (objects received lossy compressed keep their syntax, as
PS3.18 8.7.3.4 permits); ``transfer-syntax=*`` sends each object in the syntax it
was stored in; a named syntax is sent when every object is stored in it or can be
transcoded to it (:mod:`raddx.imaging.transcode`: Explicit VR Little Endian from the other
native syntaxes and from any compressed one a decoder is installed for), else 406. Objects
already in the syntax sent go out byte for byte as stored, so the default costs nothing
for them. Under the default, an object we cannot transcode (no decoder for its syntax) is
sent as stored, its part's Content-Type says so, and a Warning header names it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from io import BytesIO

import pydicom
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydicom.dataset import FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from raddx.archive import RetrievedInstance, RetrieveService
from raddx.archive.query import (
    InformationModelValues,
    InstanceRef,
    Query,
    QueryRetrieveLevelValues,
)
from raddx.errors import NotFound
from raddx.imaging import CannotDecode, can_transcode, is_lossy, transcode
from raddx.services import Services
from raddx.web import _audit as web_audit
from raddx.web._errors import NotAcceptable
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._dataset_json import metadata_json
from raddx.web.dicomweb._media import negotiate
from raddx.web.dicomweb._multipart import encode_parts, new_boundary
from raddx.web.dicomweb._uids import check_uid, resource_url
from raddx.web.dicomweb._zip_stream import zip_stream
from raddx.web.dicomweb.qido import dataset_response

__all__ = [
    "default_syntax",
    "instance_bytes",
    "not_modified",
    "part10_bytes",
    "readable_instances",
    "resource_etag",
    "resource_instances",
    "router",
    "transcoded_part10",
]

log = logging.getLogger(__name__)

_ZIP = "application/zip"
_DICOM: list[tuple[str, str | None]] = [("multipart/related", "application/dicom"), (_ZIP, None)]
_METADATA: list[tuple[str, str | None]] = [
    ("application/dicom+json", None),
    ("application/json", None),
    ("multipart/related", "application/dicom+xml"),
]


def resource_instances(
    services: Services, study: str, series: str | None = None, instance: str | None = None
) -> tuple[RetrieveService, list[InstanceRef]]:
    """The stored instances of the resource, or :class:`NotFound`."""
    keys = {"StudyInstanceUID": check_uid(study)}
    level = QueryRetrieveLevelValues.STUDY
    if series is not None:
        keys["SeriesInstanceUID"] = check_uid(series)
        level = QueryRetrieveLevelValues.SERIES
    if instance is not None:
        keys["SOPInstanceUID"] = check_uid(instance)
        level = QueryRetrieveLevelValues.IMAGE
    query = Query(level=level, information_model=InformationModelValues.STUDY_ROOT, keys=keys)
    retrieve = RetrieveService(services.session_factory, services.blobs)
    refs = retrieve.instances(query)
    if not refs:
        raise NotFound(f"no {level.lower()} {keys[next(reversed(keys))]} in the archive")
    return retrieve, refs


def part10_bytes(retrieved: RetrievedInstance) -> bytes:
    """The bytes to send: as stored, or re-encoded when stored mis-encoded (``verbatim``)."""
    assert retrieved.part10 is not None
    if retrieved.verbatim:
        return retrieved.part10
    meta = retrieved.meta
    assert meta is not None
    syntax = UID(meta.transfer_syntax_uid)
    # Read with the VR encoding the bytes really have (the opposite of the label, the one
    # mismatch ingest tolerates): pydicom would otherwise detect it and warn on every send.
    ds = read_dataset(
        BytesIO(retrieved.part10[meta.dataset_offset :]),
        is_implicit_VR=not syntax.is_implicit_VR,
        is_little_endian=syntax.is_little_endian,
    )
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(meta.media_storage_sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(meta.media_storage_sop_instance_uid)
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def readable_instances(
    retrieve: RetrieveService, refs: list[InstanceRef]
) -> Iterator[RetrievedInstance]:
    """Each instance whose bytes could be read. An unreadable one (missing blob, damaged
    file) is left out and logged: once the first part is on the wire the status cannot
    change any more."""
    for retrieved in retrieve.read(refs):
        if retrieved.part10 is None:
            log.error(
                "WADO-RS: instance left out sop_instance_uid=%s reason=%s",
                retrieved.ref.sop_instance_uid,
                retrieved.error,
            )
            continue
        yield retrieved


def instance_bytes(services: Services, study: str, series: str, instance: str) -> tuple[bytes, str]:
    """One instance's Part 10 bytes (re-encoded if stored mis-encoded) and its transfer
    syntax, for the resources below an instance (frames).

    Raises
    ------
    NotFound
        No such instance, or its stored object cannot be read (logged).
    """
    retrieve, refs = resource_instances(services, study, series, instance)
    for retrieved in readable_instances(retrieve, refs):
        assert retrieved.meta is not None
        return part10_bytes(retrieved), retrieved.meta.transfer_syntax_uid
    raise NotFound(f"instance {instance} is indexed but its stored object cannot be read")


def resource_etag(refs: list[InstanceRef], representation: str) -> str:
    """A strong validator of the resource in one representation: a digest of its instances'
    blob keys. A replaced instance gets a new blob key (content hash), an added or removed
    one changes the list, so the tag changes whenever the bytes we would send do."""
    digest = hashlib.sha256(representation.encode())
    for ref in refs:
        digest.update(ref.blob_key.encode() + b"\n")
    return f'"{digest.hexdigest()[:32]}"'


def not_modified(request: Request, etag: str) -> Response | None:
    """304 when If-None-Match names ``etag`` (RFC 9110 13.1.2, weak comparison)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return None
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if "*" in tags or etag in tags:
        return Response(status_code=304, headers={"ETag": etag})
    return None


def transcoded_part10(data: bytes, stored: str, target: str) -> bytes:
    """A stored object's Part 10 bytes in ``target`` (``data`` itself when stored in it).

    Raises
    ------
    NotAcceptable
        ``target`` is not a syntax we transcode to, or the pixel data cannot be decoded.
    """
    try:
        return transcode(data, stored, target)
    except CannotDecode as exc:
        raise NotAcceptable(
            f"transfer syntax {target} asked for, the object is stored as {stored}: {exc}"
        ) from None


def default_syntax(stored: str) -> tuple[str, str]:
    """The syntax an object stored as ``stored`` is sent in when the client names none, and
    why it is not Explicit VR Little Endian when it is not ('' otherwise).

    PS3.18 8.7.3.4: Explicit VR Little Endian, except that pixel data received lossy
    compressed may be sent in its lossy syntax (decoding it gains nothing and multiplies its
    size). A lossless syntax no installed decoder reads is also sent as stored (a deviation:
    the standard wants every origin server able to decode it; see docs/conformance.md).
    """
    if is_lossy(stored):
        return stored, ""
    ok, reason = can_transcode(stored, ExplicitVRLittleEndian)
    return (ExplicitVRLittleEndian, "") if ok else (stored, reason)


def _send_syntax(
    refs: list[InstanceRef], asked: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """For each stored syntax of ``refs``, the syntax its objects are sent in, and for the
    ones a decoder is missing for under the default, why (for the Warning header).

    Raises
    ------
    NotAcceptable
        A syntax was named (not ``*``) that some object cannot be transcoded to.
    """
    sent: dict[str, str] = {}
    kept: dict[str, str] = {}
    for stored in sorted({r.transfer_syntax_uid for r in refs}):
        if asked == "*":
            sent[stored] = stored
        elif asked is None:
            sent[stored], reason = default_syntax(stored)
            if reason:
                kept[stored] = reason
        else:
            ok, reason = can_transcode(stored, asked)
            if not ok:
                raise NotAcceptable(
                    f"transfer-syntax {asked} asked for, but objects are stored as {stored}: "
                    f"{reason}; ask for transfer-syntax=* to get them as stored"
                )
            sent[stored] = asked
    return sent, kept


def _part_in(retrieved: RetrievedInstance, syntax: str) -> bytes | None:
    """The instance's bytes in ``syntax`` (chosen by :func:`_send_syntax`), or ``None``
    (logged) when its pixel data turns out not to decode: the status is on the wire."""
    assert retrieved.meta is not None
    data = part10_bytes(retrieved)
    try:
        return transcode(data, retrieved.meta.transfer_syntax_uid, syntax)
    except CannotDecode as exc:
        log.error(
            "WADO-RS: instance left out sop_instance_uid=%s reason=%s",
            retrieved.ref.sop_instance_uid,
            exc,
        )
        return None


def _retrieve(request: Request, services: Services, *uids: str | None) -> Response:
    chosen, media_range = negotiate(request.headers.get("accept"), _DICOM)
    asked = media_range.params.get("transfer-syntax")
    retrieve, refs = resource_instances(services, *uids)  # type: ignore[arg-type]
    audit_sent(request, services, uids, refs)
    if chosen == _ZIP:
        return _zip_download(request, retrieve, refs, uids)
    sent, kept = _send_syntax(refs, asked)
    etag = resource_etag(refs, f"application/dicom;{asked}")
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    headers = {"ETag": etag}
    if kept:
        headers["Warning"] = (
            '299 raddx "sent as stored, not in Explicit VR Little Endian: '
            + "; ".join(f"{k} ({v})" for k, v in kept.items())
            + '"'
        )

    def parts() -> Iterator[tuple[str, bytes]]:
        for retrieved in readable_instances(retrieve, refs):
            syntax = sent[retrieved.ref.transfer_syntax_uid]
            data = _part_in(retrieved, syntax)
            if data is not None:
                yield f"application/dicom; transfer-syntax={syntax}", data

    boundary = new_boundary()
    media_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return StreamingResponse(
        encode_parts(parts(), boundary), media_type=media_type, headers=headers
    )


def audit_sent(
    request: Request, services: Services, uids: tuple[str | None, ...], refs: list[InstanceRef]
) -> None:
    """WADO-RS (instances, metadata, rendered): one DICOM Instances Transferred (R) for the
    study (PS3.15 A.5.3.7), with the SOP classes sent."""
    study = str(uids[0])
    web_audit.transferred(
        request,
        services.session_factory,
        ((study, ref.sop_class_uid) for ref in refs),
        received=False,
    )


def audit_instance_sent(request: Request, services: Services, study: str) -> None:
    """One instance's bytes, frames or bulk data sent (WADO-RS frames/bulkdata, WADO-URI):
    DICOM Instances Transferred (R) for its study."""
    web_audit.transferred(request, services.session_factory, [(study, "")], received=False)


def _zip_download(
    request: Request,
    retrieve: RetrieveService,
    refs: list[InstanceRef],
    uids: tuple[str | None, ...],
) -> Response:
    """The resource as a zip of its stored objects (``<SOPInstanceUID>.dcm``), for people
    downloading a study with a browser (issue 5; not a PS3.18 representation)."""
    etag = resource_etag(refs, _ZIP)
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    members = (
        (f"{r.ref.sop_instance_uid}.dcm", part10_bytes(r))
        for r in readable_instances(retrieve, refs)
    )
    name = [u for u in uids if u][-1]
    headers = {"ETag": etag, "Content-Disposition": f'attachment; filename="{name}.zip"'}
    return StreamingResponse(zip_stream(members), media_type=_ZIP, headers=headers)


def _metadata(request: Request, services: Services, *uids: str | None) -> Response:
    media_type, _ = negotiate(request.headers.get("accept"), _METADATA)
    retrieve, refs = resource_instances(services, *uids)  # type: ignore[arg-type]
    audit_sent(request, services, uids, refs)
    base = str(request.base_url).rstrip("/") + "/dicom-web"
    # The URLs inside the metadata depend on the base, so it is part of the representation.
    etag = resource_etag(refs, f"{media_type};{base}")
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    results = []
    for retrieved in readable_instances(retrieve, refs):
        # Read whole (the bytes are in memory already; values are sliced, not decoded) so
        # the pixel data gets its BulkDataURI too.
        ds = pydicom.dcmread(BytesIO(part10_bytes(retrieved)))
        ref = retrieved.ref
        url = resource_url(base, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
        results.append(metadata_json(ds, f"{url}/instances/{ref.sop_instance_uid}"))
    return dataset_response(results, media_type, {"ETag": etag})


router = APIRouter(tags=["WADO-RS"])


@router.get("/studies/{study}")
def retrieve_study(request: Request, services: ServicesDep, study: str) -> Response:
    """Retrieve Study (PS3.18 10.4.1.1): every instance of the study, series by series."""
    return _retrieve(request, services, study)


@router.get("/studies/{study}/series/{series}")
def retrieve_series(request: Request, services: ServicesDep, study: str, series: str) -> Response:
    """Retrieve Series (PS3.18 10.4.1.1)."""
    return _retrieve(request, services, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}")
def retrieve_instance(
    request: Request, services: ServicesDep, study: str, series: str, instance: str
) -> Response:
    """Retrieve Instance (PS3.18 10.4.1.1): one part, still multipart/related."""
    return _retrieve(request, services, study, series, instance)


@router.get("/studies/{study}/metadata")
def retrieve_study_metadata(request: Request, services: ServicesDep, study: str) -> Response:
    """Study metadata (PS3.18 10.4.1.2): a JSON array, one dataset per instance."""
    return _metadata(request, services, study)


@router.get("/studies/{study}/series/{series}/metadata")
def retrieve_series_metadata(
    request: Request, services: ServicesDep, study: str, series: str
) -> Response:
    """Series metadata (PS3.18 10.4.1.2)."""
    return _metadata(request, services, study, series)


@router.get("/studies/{study}/series/{series}/instances/{instance}/metadata")
def retrieve_instance_metadata(
    request: Request, services: ServicesDep, study: str, series: str, instance: str
) -> Response:
    """Instance metadata (PS3.18 10.4.1.2): an array of one."""
    return _metadata(request, services, study, series, instance)
