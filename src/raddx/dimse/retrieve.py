"""C-GET SCP (PS3.4 C.4.3) and C-MOVE SCP (PS3.4 C.4.2): Patient Root and Study Root.

The handlers decode the identifier into a neutral :class:`~raddx.archive.query.Query` (the same
way C-FIND does), ask :class:`~raddx.archive.retrieve.RetrieveService` for the instances and
yield them; pynetdicom performs the C-STORE sub-operations (on the same association for C-GET,
on a new one to the Move Destination for C-MOVE), counts completed/failed/warning and sends
the pending and final responses. Each object is sent in the transfer syntax it was stored in,
as the stored bytes when the accepted context has that syntax (:mod:`._stored_send`); only a
context in the other uncompressed syntax costs a decode and re-encode.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from raddx.archive.query import InformationModelValues, InstanceRef, Query
from raddx.archive.retrieve import RetrievedInstance, RetrieveService
from raddx.config import Settings
from raddx.dimse import _audit as dimse_audit
from raddx.dimse._direct_link import direct_sub_operations, supports_direct
from raddx.dimse._stored_send import StoredObject
from raddx.dimse._stored_send import install as install_stored_send
from raddx.dimse.find import query_from_identifier
from raddx.dimse.status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    PENDING,
    SUCCESS,
    UNABLE_TO_PROCESS,
)
from raddx.errors import InvalidInput, NotFound
from raddx.remotes import RemoteAERegistry

__all__ = ["RETRIEVE_MODELS", "destination_contexts", "handle_get", "handle_move"]

log = logging.getLogger(__name__)

#: PS3.4 Table C.4-2 (C-MOVE) and C.4-3 (C-GET) statuses only these services use.
#: Refused: Out of Resources – Unable to perform sub-operations (the destination refused).
UNABLE_TO_PERFORM_SUBOPERATIONS = 0xA702
#: Refused: Move Destination unknown (C-MOVE only).
MOVE_DESTINATION_UNKNOWN = 0xA801

RETRIEVE_MODELS = {
    PatientRootQueryRetrieveInformationModelGet: InformationModelValues.PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelGet: InformationModelValues.STUDY_ROOT,
    PatientRootQueryRetrieveInformationModelMove: InformationModelValues.PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelMove: InformationModelValues.STUDY_ROOT,
}
_UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
#: Seconds between the Pending responses of one C-GET/C-MOVE: enough for a progress display.
PENDING_INTERVAL = 0.1
#: PS3.8 9.3.2.2: at most 128 presentation contexts (odd IDs 1-255) per association.
_MAX_CONTEXTS = 128


@contextlib.contextmanager
def _rewrite_final_response(
    event: Event,
    *,
    when: int,
    status: int,
    comment: str,
    failed: int | None = None,
) -> Iterator[None]:
    """While active, this request's response with status ``when`` goes out as ``status``.

    Why: pynetdicom 3.0 builds the final C-GET/C-MOVE responses itself and gives the handler
    no way to refuse with its own status, an Error Comment or counts. It answers a bare
    0xA801 when the handler names no destination or the destination refuses the association,
    and Success when the handler reports no sub-operations. Those are the only places a
    refusal can happen before any sub-operation, so the response is amended on the way out.
    ``failed`` sets the sub-operation counts (PS3.4 C.4.2.1.4: all failed, none completed);
    ``None`` leaves them out.
    """
    dimse = event.assoc.dimse
    send = dimse.send_msg
    message_id = event.request.MessageID

    def send_msg(primitive: Any, context_id: int) -> None:
        if (
            getattr(primitive, "MessageIDBeingRespondedTo", None) == message_id
            and primitive.Status == when
        ):
            primitive.Status = status
            primitive.ErrorComment = comment.replace("\\", "/")[:64]
            primitive.Identifier = None
            primitive.NumberOfRemainingSuboperations = None
            primitive.NumberOfFailedSuboperations = failed
            primitive.NumberOfCompletedSuboperations = None if failed is None else 0
            primitive.NumberOfWarningSuboperations = None if failed is None else 0
        send(primitive, context_id)

    dimse.send_msg = send_msg
    try:
        yield
    finally:
        dimse.__dict__.pop("send_msg", None)


def _instances(event: Event, retrieve_service: RetrieveService) -> list[InstanceRef]:
    model = RETRIEVE_MODELS[event.request.AffectedSOPClassUID]
    query: Query = query_from_identifier(event.identifier, model)
    return retrieve_service.instances(query)


def _refusal(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, InvalidInput):
        return IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)
    return UNABLE_TO_PROCESS, "internal error; see server log"


def _log_refusal(service: str, event: Event, exc: BaseException) -> None:
    calling_ae = event.assoc.requestor.ae_title
    if isinstance(exc, InvalidInput):
        log.warning("%s refused calling_ae=%s reason=%s", service, calling_ae, exc)
    else:
        log.error("%s failed calling_ae=%s", service, calling_ae, exc_info=exc)


def _unsendable(ref: InstanceRef) -> Dataset:
    """Stands in for an instance whose stored object cannot be read.

    pynetdicom's C-STORE refuses a dataset without SOPClassUID before sending anything and
    counts a failed sub-operation, listing its SOPInstanceUID in the Failed SOP Instance UID
    List (PS3.4 C.4.2.1.4.2) and decrementing the remaining count. Yielding a non-dataset
    instead would also count a failure, but with an empty UID and a wrong remaining count.
    """
    ds = Dataset()
    ds.SOPInstanceUID = ref.sop_instance_uid
    return ds


def _sub_operations(
    event: Event,
    retrieve_service: RetrieveService,
    refs: list[InstanceRef],
    store_assoc: Association | None,
) -> Iterator[tuple[int, Dataset | None]]:
    """Pending (status, dataset) per instance, stopping with Cancel after a C-CANCEL.

    ``store_assoc`` is the association the C-STOREs go out on; while the sub-operations run
    its I/O happens on this thread (:mod:`._direct_link`) and the requestor gets at most one
    Pending response per :data:`PENDING_INTERVAL`. ``None`` leaves both to pynetdicom.
    """
    install_stored_send()
    cancelled = False
    with contextlib.ExitStack() as stack:
        requesting = _association(event.assoc)
        if store_assoc is not None and requesting is not None:
            stack.enter_context(direct_sub_operations(store_assoc))
            stack.enter_context(_fewer_pending(requesting, int(event.request.MessageID or 0)))
        for retrieved in retrieve_service.read(refs):
            if event.is_cancelled:
                cancelled = True
                break
            yield PENDING, _sendable(retrieved)
    # After the link is closed: pynetdicom sends the Cancel response and stops iterating.
    if cancelled:
        yield CANCEL, None


@contextlib.contextmanager
def _fewer_pending(assoc: Association, message_id: int) -> Iterator[None]:
    """While active, Pending responses to ``message_id`` go out at most every
    :data:`PENDING_INTERVAL` (the first one at once); the final response always goes out.

    PS3.4 C.4.2.1.4 and C.4.3.1.3 make Pending responses during the sub-operations
    optional; pynetdicom sends one after every sub-operation, and encoding and sending them
    cost about a quarter of a C-GET's time in our profile (``bench/README.md``).
    """
    dimse = assoc.dimse
    send = dimse.send_msg
    last_sent = -PENDING_INTERVAL

    def send_msg(primitive: Any, context_id: int) -> None:
        nonlocal last_sent
        if (
            getattr(primitive, "MessageIDBeingRespondedTo", None) == message_id
            and primitive.Status == PENDING
        ):
            now = time.monotonic()
            if now - last_sent < PENDING_INTERVAL:
                return
            last_sent = now
        send(primitive, context_id)

    dimse.send_msg = send_msg  # type: ignore[method-assign]
    try:
        yield
    finally:
        dimse.__dict__.pop("send_msg", None)


def _association(candidate: object) -> Association | None:
    """``candidate`` if the sub-operations can run over a direct link on it
    (:func:`~raddx.dimse._direct_link.supports_direct`)."""
    return candidate if supports_direct(candidate) else None  # type: ignore[return-value]


def _sendable(retrieved: RetrievedInstance) -> Dataset:
    ref, part10, meta = retrieved.ref, retrieved.part10, retrieved.meta
    if part10 is None or meta is None:
        return _unsendable(ref)
    try:
        return StoredObject(
            part10,
            dataset_offset=meta.dataset_offset,
            sop_class_uid=ref.sop_class_uid,
            sop_instance_uid=ref.sop_instance_uid,
            transfer_syntax_uid=meta.transfer_syntax_uid,
            verbatim=retrieved.verbatim,
        )
    except ValueError:
        log.warning(
            "retrieve: unknown stored transfer syntax sop_instance_uid=%s transfer_syntax=%s",
            ref.sop_instance_uid,
            meta.transfer_syntax_uid,
        )
        return _unsendable(ref)


def handle_get(
    event: Event, retrieve_service: RetrieveService
) -> Iterator[int | tuple[int, Dataset | None]]:
    """C-GET (PS3.4 C.4.3): send the matching instances back over the same association.

    The requestor must have proposed each storage SOP class with the SCP role (PS3.4
    C.4.3.1.2, role selection PS3.7 D.3.3.4); an instance without such a context is a failed
    sub-operation.

    Statuses (PS3.4 Table C.4-3): 0xFF00 Pending after each sub-operation; 0x0000 Success
    (also for no matches, with zero counts); 0xB000 Warning when some sub-operations failed;
    0xA702 when all failed; 0xFE00 Cancel after a C-CANCEL; 0xA900 Identifier does not match
    SOP Class (no or unknown level, no Unique Key for the level, a bad value); 0xC000 Unable to
    process (our fault; logged). Refusals carry an Error Comment.
    """
    try:
        refs = _instances(event, retrieve_service)
    except Exception as exc:
        _log_refusal("C-GET", event, exc)
        status, comment = _refusal(exc)
        with _rewrite_final_response(event, when=SUCCESS, status=status, comment=comment):
            yield 0
        return
    yield len(refs)
    audited = _audited(event, refs)
    dimse_audit.retrieve(**audited, begin=True)
    yield from _sub_operations(event, retrieve_service, refs, _association(event.assoc))
    dimse_audit.retrieve(**audited, begin=False)


def _audited(event: Event, refs: list[InstanceRef], **destination: Any) -> dict[str, Any]:
    """What the C-GET/C-MOVE audit events say (:func:`raddx.dimse._audit.retrieve`)."""
    requestor = event.assoc.requestor
    return {
        "identifier": event.identifier,
        "sop_classes": [ref.sop_class_uid for ref in refs],
        "calling_ae_title": requestor.ae_title,
        "host": requestor.address,
        **destination,
    }


def destination_contexts(refs: list[InstanceRef]) -> list[PresentationContext]:
    """The contexts to propose to a Move Destination for ``refs``.

    Per SOP class one context with the uncompressed syntaxes (pynetdicom converts between
    them) and one per compressed syntax stored: objects are never transcoded, so a compressed
    object reaches a destination only in its stored syntax. Beyond 128 contexts the rest are
    left out and their instances fail.
    """
    wanted: dict[tuple[str, tuple[UID, ...]], None] = {}
    for ref in refs:
        syntax = UID(ref.transfer_syntax_uid)
        syntaxes = _UNCOMPRESSED if syntax in _UNCOMPRESSED else (syntax,)
        wanted.setdefault((ref.sop_class_uid, syntaxes), None)
    contexts = [build_context(sop_class, list(ts)) for sop_class, ts in wanted]
    return contexts[:_MAX_CONTEXTS]


def _destination(
    settings: Settings, ae_title: str | None, remotes: RemoteAERegistry | None = None
) -> tuple[str, int] | None:
    title = (ae_title or "").strip()
    for remote in settings.remote_aes:
        if remote.ae_title.strip() == title:
            return remote.host, remote.port
    if remotes is not None and title:
        try:
            found = remotes.get(title).remote  # added at runtime through the REST API
        except NotFound:
            return None
        return found.host, found.port
    return None


def handle_move(
    event: Event,
    retrieve_service: RetrieveService,
    settings: Settings,
    remotes: RemoteAERegistry | None = None,
) -> Iterator[Any]:
    """C-MOVE (PS3.4 C.4.2): send the matching instances to a configured Move Destination.

    Destinations are ``settings.remote_aes`` and the remote AEs added at runtime
    (``remotes``), looked up by AE title.

    Statuses (PS3.4 Table C.4-2): 0xFF00 Pending after each sub-operation; 0x0000 Success
    (also for no matches); 0xB000 Warning when some sub-operations failed; 0xA702 when all
    failed, including when the destination refuses the association or cannot be reached
    (every sub-operation counted failed); 0xA801 Move Destination unknown; 0xFE00 Cancel;
    0xA900 Identifier does not match SOP Class; 0xC000 Unable to process (our fault;
    logged). Refusals carry an Error Comment.
    """
    destination_ae = event.move_destination
    try:
        refs = _instances(event, retrieve_service)
    except Exception as exc:
        _log_refusal("C-MOVE", event, exc)
        status, comment = _refusal(exc)
        with _rewrite_final_response(
            event, when=MOVE_DESTINATION_UNKNOWN, status=status, comment=comment
        ):
            yield None, None
        return
    address = _destination(settings, destination_ae, remotes)
    if address is None:
        log.warning(
            "C-MOVE refused calling_ae=%s unknown destination=%s",
            event.assoc.requestor.ae_title,
            destination_ae,
        )
        comment = f"unknown move destination {destination_ae!r}"
        with _rewrite_final_response(
            event, when=MOVE_DESTINATION_UNKNOWN, status=MOVE_DESTINATION_UNKNOWN, comment=comment
        ):
            yield None, None
        return
    host, port = address
    comment = f"move destination {destination_ae} refused or unreachable"
    established: list[Association] = []

    def on_established(store_event: Event) -> None:
        established.append(store_event.assoc)

    association_options = {
        "contexts": destination_contexts(refs),
        # pynetdicom opens the destination association itself; this is how the handler
        # gets hold of it, to run the sub-operations over a direct link.
        "evt_handlers": [(evt.EVT_ESTABLISHED, on_established)],
    }
    with _rewrite_final_response(
        event,
        when=MOVE_DESTINATION_UNKNOWN,
        status=UNABLE_TO_PERFORM_SUBOPERATIONS,
        comment=comment,
        failed=len(refs),
    ):
        yield host, port, association_options
        yield len(refs)
    # Reached only once pynetdicom has associated with the destination.
    store_assoc = _association(established[0]) if established else None
    audited = _audited(
        event, refs, destination_ae_title=destination_ae.strip(), destination_host=host
    )
    dimse_audit.retrieve(**audited, begin=True)
    yield from _sub_operations(event, retrieve_service, refs, store_assoc)
    dimse_audit.retrieve(**audited, begin=False, failed=0 if store_assoc else len(refs))
