"""STOW-RS, the Store transaction (PS3.18 10.5): ``multipart/related`` parts of
``application/dicom`` stored through :meth:`~raddx.archive.IngestService.store`, the same
ingest as C-STORE; or metadata (``application/dicom+json`` / ``+xml``) with bulk data
parts, built into instances by :mod:`._stow_metadata` and stored through the same ingest.

The upload is spooled to an anonymous temporary file as it arrives (a 2 GB study is never
held in memory) and framed from a memory map of it, one part at a time. Nothing is stored
before the whole body has arrived: a client that disconnects mid-upload leaves nothing
behind. Each part is stored or refused on its own: a non-DICOM, truncated or foreign part is
listed in FailedSOPSequence with its FailureReason, and the others are stored.

Response (PS3.18 10.5.3, Table 10.5.3-2): 200 when every instance was stored, 202 when some
failed, 409 when none was stored; the body is a DICOM JSON dataset with
ReferencedSOPSequence and FailedSOPSequence. A ``Warning`` header says in words why each
failed part failed (FailureReason is only a code).
"""

from __future__ import annotations

import json
import logging
import mmap
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from raddx.archive.header import parse_header
from raddx.archive.part10 import (
    Part10Error,
    file_meta_header,
    read_file_meta,
    unframed_object,
)
from raddx.errors import Conflict, InvalidInput, OutOfResources
from raddx.security.audit import EventOutcomeIndicatorValues
from raddx.services import Services
from raddx.web import _audit as web_audit
from raddx.web._errors import UnsupportedMediaType
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._dataset_xml import json_to_xml
from raddx.web.dicomweb._media import negotiate
from raddx.web.dicomweb._multipart import Part, iter_parts
from raddx.web.dicomweb._stow_metadata import instances_from_metadata
from raddx.web.dicomweb._uids import check_uid, resource_url

__all__ = ["FailureReasonValues", "router"]

log = logging.getLogger(__name__)

#: PS3.18 10.5.3: the response dataset in DICOM JSON (default) or as one PS3.19 document.
_RESPONSE_TYPES: list[tuple[str, str | None]] = [
    ("application/dicom+json", None),
    ("application/json", None),
    ("application/dicom+xml", None),
]
_DICOM = "application/dicom"
_DICOM_JSON = "application/dicom+json"
_DICOM_XML = "application/dicom+xml"
_OCTET_STREAM = "application/octet-stream"
#: Metadata parts of a metadata + bulk data request (application/json: older clients).
_METADATA_TYPES = frozenset({_DICOM_JSON, _DICOM_XML, "application/json"})


class FailureReasonValues:
    """FailureReason (0008,1197) codes we answer (PS3.4 Annex B.2.3 storage statuses, as
    PS3.18 10.5.3 uses them)."""

    #: Duplicate SOP Instance: different bytes under a stored UID, policy ``reject``.
    DUPLICATE_SOP_INSTANCE = 0x0111
    #: Processing failure: our fault (logged with its traceback).
    PROCESSING_FAILURE = 0x0110
    #: Out of resources: the disk is full; retrying later may succeed.
    OUT_OF_RESOURCES = 0xA700
    #: Data set does not match SOP class: here, not of the study the request targets.
    DATA_SET_DOES_NOT_MATCH = 0xA900
    #: Cannot understand: not DICOM, truncated, or not an application/dicom part.
    CANNOT_UNDERSTAND = 0xC000


_Fail = Callable[[int, str], None]
#: Bytes of received parts waiting for a parallel store (see _store_parts).
_IN_FLIGHT_BYTES = 256 << 20


@dataclass
class _Outcome:
    stored: list[tuple[str, str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, int, str]] = field(default_factory=list)


def _boundary(content_type: str | None) -> tuple[str, str]:
    """The boundary and root part type of a ``multipart/related`` request: instances
    (``application/dicom``, the default) or metadata and bulk data (``application/dicom+json``
    or ``application/dicom+xml``, PS3.18 10.5.2).

    Raises
    ------
    UnsupportedMediaType
        Not multipart/related, or parts of another type.
    InvalidInput
        No boundary parameter.
    """
    message = Message()
    message["content-type"] = content_type or ""
    if message.get_content_type() != "multipart/related":
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r}: STOW-RS takes multipart/related; "
            f'type="application/dicom"'
        )
    part_type = message.get_param("type")
    root_type = part_type.lower().strip() if isinstance(part_type, str) else _DICOM
    if root_type == "application/json":
        root_type = _DICOM_JSON
    if root_type not in (_DICOM, _DICOM_JSON, _DICOM_XML):
        raise UnsupportedMediaType(
            f"multipart/related parts of type {part_type!r} are not taken; only {_DICOM}, "
            f"{_DICOM_JSON} or {_DICOM_XML}"
        )
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise InvalidInput("Content-Type multipart/related without a boundary parameter")
    return boundary, root_type


def _transfer_syntax(part: Part) -> str | None:
    """The part's ``transfer-syntax`` media type parameter (PS3.18 8.7.3.5.2), if any: it
    says how a dataset sent without File Meta is encoded."""
    message = Message()
    message["content-type"] = part.headers.get("content-type", "")
    value = message.get_param("transfer-syntax")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _uids(body: bytes, transfer_syntax: str | None) -> tuple[str, str]:
    """SOP Class and Instance UID from the File Meta (or, without a preamble, the dataset),
    for the response; empty if unreadable."""
    try:
        unframed = unframed_object(body, transfer_syntax_uid=transfer_syntax)
        if unframed is not None:
            return unframed.sop_class_uid, unframed.sop_instance_uid
        meta = read_file_meta(body)
    except Exception:  # any damage: the part fails for the reason ingest gives
        return "", ""
    return meta.media_storage_sop_class_uid, meta.media_storage_sop_instance_uid


def _study_of(body: bytes, transfer_syntax: str | None) -> str:
    """The StudyInstanceUID of a part, read by the same header parser as ingest (lenient:
    the strict check, if configured, is ingest's).

    Raises
    ------
    InvalidInput
        Not a DICOM object ingest could read; the part fails with this reason.
    """
    try:
        unframed = unframed_object(body, transfer_syntax_uid=transfer_syntax)
    except Part10Error as exc:
        raise InvalidInput(str(exc)) from None
    if unframed is None:
        return parse_header(body).study_instance_uid
    header = file_meta_header(
        sop_class_uid=unframed.sop_class_uid,
        sop_instance_uid=unframed.sop_instance_uid,
        transfer_syntax_uid=unframed.transfer_syntax_uid,
    )
    return parse_header(header, dataset=unframed.dataset).study_instance_uid


def _ingest(
    services: Services, data: bytes, transfer_syntax: str | None, fail: _Fail, outcome: _Outcome
) -> None:
    """Store one object through ingest, or fail it with the FailureReason of its error."""
    try:
        result = services.ingest.store(data, source="stowrs", transfer_syntax_uid=transfer_syntax)
    except InvalidInput as exc:
        return fail(FailureReasonValues.CANNOT_UNDERSTAND, str(exc))
    except Conflict as exc:
        return fail(FailureReasonValues.DUPLICATE_SOP_INSTANCE, str(exc))
    except OutOfResources as exc:
        return fail(FailureReasonValues.OUT_OF_RESOURCES, str(exc))
    except Exception:
        log.exception("STOW-RS: an instance failed")
        return fail(FailureReasonValues.PROCESSING_FAILURE, "internal error; see server log")
    outcome.stored.append(
        (
            result.sop_class_uid,
            result.sop_instance_uid,
            result.study_instance_uid,
            result.series_instance_uid,
        )
    )
    return None


def _failer(outcome: _Outcome, part: Part, sop_class: str, sop_instance: str) -> _Fail:
    def fail(reason: int, text: str) -> None:
        outcome.failed.append((sop_class, sop_instance, reason, f"part {part.index + 1}: {text}"))

    return fail


def _store_part(services: Services, part: Part, study: str | None, outcome: _Outcome) -> None:
    transfer_syntax = _transfer_syntax(part)
    sop_class, sop_instance = _uids(part.body, transfer_syntax) if part.complete else ("", "")
    fail = _failer(outcome, part, sop_class, sop_instance)
    cannot = FailureReasonValues.CANNOT_UNDERSTAND
    if not part.complete:
        return fail(cannot, "truncated: the message ended inside this part")
    if part.content_type not in ("", _DICOM):
        return fail(cannot, f"a {part.content_type} part; only {_DICOM} parts are taken")
    try:
        if study is not None and _study_of(part.body, transfer_syntax) != study:
            return fail(
                FailureReasonValues.DATA_SET_DOES_NOT_MATCH,
                f"StudyInstanceUID is not the study {study} of the request",
            )
    except InvalidInput as exc:
        return fail(cannot, str(exc))
    return _ingest(services, part.body, transfer_syntax, fail, outcome)


def _store_parts(
    services: Services, parts: Iterator[Part], study: str | None, outcome: _Outcome
) -> None:
    """Store the parts of an instances request, ``stow_parallel_stores`` at a time, and
    answer in part order.

    Ingest is thread-safe and spends most of a large object's time in the blob's fsync
    (~3-8 ms for 512 kB here), so overlapping a few stores is what lets one STOW-RS client
    run faster than one C-STORE association. At most :data:`_IN_FLIGHT_BYTES` of part
    copies (plus one part) wait for a worker, so a 2 GB upload stays out of memory.
    """
    workers = services.settings.stow_parallel_stores
    if workers == 1:
        for part in parts:
            _store_part(services, part, study, outcome)
        return

    def store(part: Part) -> _Outcome:
        mine = _Outcome()
        _store_part(services, part, study, mine)
        return mine

    def collect(done: Future[_Outcome]) -> None:
        result = done.result()
        outcome.stored.extend(result.stored)
        outcome.failed.extend(result.failed)

    pending: deque[tuple[Future[_Outcome], int]] = deque()
    in_flight = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stow") as pool:
        try:
            for part in parts:
                while pending and (
                    len(pending) >= 2 * workers or in_flight + len(part.body) > _IN_FLIGHT_BYTES
                ):
                    done, size = pending.popleft()
                    in_flight -= size
                    collect(done)
                pending.append((pool.submit(store, part), len(part.body)))
                in_flight += len(part.body)
        finally:  # also when framing fails mid-body: what was handed over finishes first
            while pending:
                done, _ = pending.popleft()
                collect(done)


def _store_metadata_request(
    services: Services,
    buffer: mmap.mmap,
    boundary: str,
    root_type: str,
    study: str | None,
    outcome: _Outcome,
) -> None:
    """Metadata and bulk data (PS3.18 10.5.2): index the bulk data parts by Content-Location
    (kept in the spool, read when referenced), then build and store the instances of each
    metadata part. ``application/dicom`` parts in the same request are stored as such."""
    cannot = FailureReasonValues.CANNOT_UNDERSTAND
    bulk: dict[str, tuple[str, int, int]] = {}
    metadata: list[Part] = []
    for part in iter_parts(buffer, boundary):
        media_type = part.content_type or root_type
        if not part.complete:
            _failer(outcome, part, "", "")(cannot, "truncated: the message ended inside this part")
        elif media_type in _METADATA_TYPES:
            metadata.append(part)
        elif media_type == _DICOM:
            _store_part(services, part, study, outcome)
        elif location := part.headers.get("content-location", "").strip():
            bulk[location] = (media_type, part.start, part.end)
        else:
            _failer(outcome, part, "", "")(
                cannot, f"a {media_type} part without Content-Location: nothing can reference it"
            )

    def resolve(uri: str) -> bytes:
        found = bulk.get(uri.strip())
        if found is None:
            raise InvalidInput(
                f"BulkDataURI {uri!r} names no part of the request (Content-Location)"
            )
        media_type, start, end = found
        if media_type != _OCTET_STREAM:
            raise InvalidInput(
                f"bulk data {uri!r} is {media_type}: only uncompressed {_OCTET_STREAM} bulk "
                f"data is taken; send compressed instances as {_DICOM}"
            )
        return buffer[start:end]

    for part in metadata:
        media_type = _DICOM_XML if (part.content_type or root_type) == _DICOM_XML else _DICOM_JSON
        for instance in instances_from_metadata(part.body, media_type, resolve):
            fail = _failer(outcome, part, instance.sop_class_uid, instance.sop_instance_uid)
            if instance.data is None:
                fail(cannot, instance.problem or "not stored")
            elif study is not None and parse_header(instance.data).study_instance_uid != study:
                fail(
                    FailureReasonValues.DATA_SET_DOES_NOT_MATCH,
                    f"StudyInstanceUID is not the study {study} of the request",
                )
            else:
                _ingest(services, instance.data, None, fail, outcome)


def _store_all(
    services: Services, spool: IO[bytes], boundary: str, root_type: str, study: str | None
) -> _Outcome:
    """Frame the spooled body and store part by part (runs on a worker thread)."""
    spool.flush()
    size = spool.seek(0, 2)
    if size == 0:
        raise InvalidInput("the request body is empty; STOW-RS needs at least one part")
    outcome = _Outcome()
    with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        if root_type == _DICOM:
            _store_parts(services, iter_parts(buffer, boundary), study, outcome)
        else:
            _store_metadata_request(services, buffer, boundary, root_type, study, outcome)
    if not outcome.stored and not outcome.failed:
        raise InvalidInput("the multipart body holds no parts")
    return outcome


def _response_dataset(outcome: _Outcome, base: str, study: str | None) -> Dataset:
    """PS3.18 Table 10.5.3-3: the Store Instances Response Module."""
    ds = Dataset()
    studies = {s for _, _, s, _ in outcome.stored}
    target = study or (next(iter(studies)) if len(studies) == 1 else None)
    if target:
        ds.RetrieveURL = resource_url(base, target)
    referenced = []
    for sop_class, sop_instance, study_uid, series_uid in outcome.stored:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        item.RetrieveURL = resource_url(base, study_uid, series_uid, sop_instance)
        referenced.append(item)
    if referenced:
        ds.ReferencedSOPSequence = referenced
    failed = []
    for sop_class, sop_instance, reason, _ in outcome.failed:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        item.FailureReason = reason
        failed.append(item)
    if failed:
        ds.FailedSOPSequence = failed
    return ds


def _warning(texts: list[str]) -> str:
    """RFC 7234 5.5 warn-values (299: miscellaneous persistent warning), one per failed
    part; quotes and non-ASCII replaced so the header stays a valid quoted string."""
    values = []
    for text in texts:
        clean = text.replace("\\", "/").replace('"', "'").encode("ascii", "replace").decode()
        # A failure text may quote the request (a UID, a media type): no CR/LF, no controls,
        # or the header would split (issue 9, bad input).
        clean = "".join(ch if ch.isprintable() else " " for ch in clean)
        values.append(f'299 raddx "{clean[:300]}"')
    return ", ".join(values)


async def _store(request: Request, services: Services, study: str | None) -> Response:
    media_type, _ = negotiate(request.headers.get("accept"), _RESPONSE_TYPES)
    if study is not None:
        check_uid(study)
    boundary, root_type = _boundary(request.headers.get("content-type"))
    data_dir = services.settings.data_dir
    with tempfile.TemporaryFile(dir=data_dir if data_dir.is_dir() else None) as spool:
        try:
            async for chunk in request.stream():
                spool.write(chunk)  # to the page cache: short enough for the event loop
        except ClientDisconnect:
            log.info("STOW-RS: client disconnected mid-upload; nothing stored")
            return Response(status_code=400)  # nobody is listening any more
        except OSError as exc:  # ENOSPC and friends while spooling: retry later
            raise OutOfResources(f"the upload could not be spooled: {exc.strerror}") from exc
        outcome = await run_in_threadpool(_store_all, services, spool, boundary, root_type, study)
    log.info("STOW-RS stored=%d failed=%d", len(outcome.stored), len(outcome.failed))
    await run_in_threadpool(
        web_audit.transferred,
        request,
        services.session_factory,
        [(stored[2], stored[0]) for stored in outcome.stored],
        received=True,
        outcome=EventOutcomeIndicatorValues.MINOR_FAILURE
        if outcome.failed
        else EventOutcomeIndicatorValues.SUCCESS,
        outcome_description=f"{len(outcome.failed)} instance(s) refused"
        if outcome.failed
        else None,
    )
    base = str(request.base_url).rstrip("/") + "/dicom-web"
    body: dict[str, Any] = _response_dataset(outcome, base, study).to_json_dict()
    status = 200 if not outcome.failed else 202 if outcome.stored else 409
    headers = {"Warning": _warning([t for *_, t in outcome.failed])} if outcome.failed else {}
    if media_type == "application/dicom+xml":
        content = json_to_xml(body)
    else:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, status_code=status, media_type=media_type, headers=headers)


router = APIRouter(tags=["STOW-RS"])


@router.post("/studies")
async def store_instances(request: Request, services: ServicesDep) -> Response:
    """Store Instances (PS3.18 10.5.1): instances of any studies."""
    return await _store(request, services, None)


@router.post("/studies/{study}")
async def store_study_instances(request: Request, services: ServicesDep, study: str) -> Response:
    """Store Instances of one study (PS3.18 10.5.1): instances of another study are
    refused (FailureReason 0xA900) and the others stored."""
    return await _store(request, services, study)
