"""C-FIND and C-GET on the fast path (:mod:`raddx.dimse.fast_path`).

C-FIND answers come from :func:`raddx.dimse.find.find_responses`, the same generator
pynetdicom's handler uses, so both paths match and refuse alike; here they are only encoded
and written, and a C-CANCEL-RQ is looked for (without blocking) before each match.

C-GET (PS3.4 C.4.3) runs its C-STORE sub-operations on the requesting association. Each object
goes out as the stored bytes when an accepted context has the stored transfer syntax, else
re-encoded for a context in the other uncompressed syntax (:class:`._stored_send.StoredObject`
decides); compressed objects are never transcoded. Counting and the final status follow PS3.4
C.4.3.1.3 as pynetdicom's C-GET SCP does for the associations it serves: 0x0000 when every
sub-operation succeeded (also for no matches), 0xB000 when some failed or had warnings,
0xA702 when all failed, 0xFE00 after a C-CANCEL-RQ, with the Failed SOP Instance UID List in
the identifier of every non-Success final response. Pending responses carry the counts, at
most one per :data:`raddx.dimse.retrieve.PENDING_INTERVAL` (PS3.4 makes them optional).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from raddx.archive.query import InformationModelValues, InstanceRef, QueryService
from raddx.archive.retrieve import RetrievedInstance, RetrieveService
from raddx.dimse import _audit as dimse_audit
from raddx.dimse._command_codec import encode_command, p_data_pdus
from raddx.dimse._stored_send import StoredObject
from raddx.dimse.fast_path import C_STORE_RQ, Link, Message, ProtocolError, RequestHandler
from raddx.dimse.find import (
    FIND_MODELS,
    FindOptions,
    FindResponse,
    find_responses,
    query_from_identifier,
)
from raddx.dimse.retrieve import (
    PENDING_INTERVAL,
    RETRIEVE_MODELS,
    UNABLE_TO_PERFORM_SUBOPERATIONS,
)
from raddx.dimse.status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    PENDING,
    SUCCESS,
    UNABLE_TO_PROCESS,
)
from raddx.errors import InvalidInput

__all__ = ["ResponsesFor", "c_find_handler", "find_handler", "get_handler"]

log = logging.getLogger(__name__)

_C_FIND_RQ = 0x0020
_C_FIND_RSP = 0x8020
_C_GET_RQ = 0x0010
_C_GET_RSP = 0x8010
_C_STORE_RSP = 0x8001
_MEDIUM_PRIORITY = 0x0000
_DATA_SET_PRESENT = 0x0001
#: Sub-operation warnings (PS3.4 B.2.3, PS3.7 C): Coercion, Elements Discarded, Data Set
#: does not match SOP Class, and the general 0x0001.
_WARNING = range(0xB000, 0xC000)
_UNCOMPRESSED = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


def _model(link: Link, message: Message) -> InformationModelValues:
    return _MODELS_BY_UID[str(link.contexts[message.context_id].abstract_syntax)]


#: The responses of one C-FIND: given the link, the request and its decoded identifier, and
#: whether a C-CANCEL-RQ has come (:meth:`Link.cancel_requested`).
ResponsesFor = Callable[[Link, Message, Dataset, Callable[[], bool]], Iterator[FindResponse]]


def c_find_handler(responses_for: ResponsesFor, service: str = "C-FIND") -> RequestHandler:
    """A fast-path request handler for a C-FIND service (Query/Retrieve, Modality Worklist):
    decodes the identifier, writes each response from ``responses_for``, the identifiers
    hand-encoded (:meth:`FindAnswer.encoded`) where the context allows."""

    def handle(link: Link, message: Message) -> None:
        if message.command_field != _C_FIND_RQ:
            raise ProtocolError(f"command 0x{message.command_field:04x} on a C-FIND context")
        message_id = message.message_id
        syntax = link.contexts[message.context_id].transfer_syntax[0]
        dimse_audit.query(
            calling_ae_title=link.calling_ae_title,
            host=dimse_audit.current_host(),
            sop_class_uid=message.uid(0x0002),
            identifier=bytes(message.data or b""),
            transfer_syntax_uid=str(syntax),
        )
        try:
            request = link.decode(message)
        except Exception:
            log.exception("%s identifier unreadable calling_ae=%s", service, link.calling_ae_title)
            link.respond(message, _C_FIND_RSP, UNABLE_TO_PROCESS, "identifier not decodable")
            return
        responses = responses_for(link, message, request, lambda: link.cancel_requested(message_id))
        hand_encoded = syntax.is_little_endian and not syntax.is_deflated
        with contextlib.closing(responses):  # type: ignore[type-var]
            for status, answer, comment in responses:
                identifier: Dataset | bytes | None = None
                if answer is not None:
                    encoded = (
                        answer.encoded(implicit_vr=syntax.is_implicit_VR) if hand_encoded else None
                    )
                    identifier = answer.dataset() if encoded is None else encoded
                link.respond(message, _C_FIND_RSP, status, comment, identifier=identifier)

    return handle


def find_handler(query_service: QueryService, max_matches: int) -> RequestHandler:
    """The Query/Retrieve C-FIND request handler for the fast path."""

    def responses_for(
        link: Link, message: Message, identifier: Dataset, is_cancelled: Callable[[], bool]
    ) -> Iterator[FindResponse]:
        return find_responses(
            identifier,
            _model(link, message),
            query_service,
            options=FindOptions.from_accepted(link.extended.get(message.uid(0x0002))),
            max_matches=max_matches,
            is_cancelled=is_cancelled,
            retrieve_ae_title=link.local_ae_title,
            calling_ae_title=link.calling_ae_title,
        )

    return c_find_handler(responses_for)


@dataclass(slots=True)
class _Counts:
    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)

    def fail(self, sop_instance_uid: str) -> None:
        self.failed += 1
        self.remaining -= 1
        self.failed_uids.append(sop_instance_uid)

    def record(self, status: int, sop_instance_uid: str) -> None:
        if status == SUCCESS:
            self.completed += 1
            self.remaining -= 1
        elif status == 0x0001 or status in _WARNING:
            self.warning += 1
            self.remaining -= 1
        else:
            self.fail(sop_instance_uid)

    def tuple(self, *, remaining: bool) -> tuple[int | None, int, int, int]:
        return (
            self.remaining if remaining else None,
            self.completed,
            self.failed,
            self.warning,
        )


def get_handler(retrieve_service: RetrieveService) -> RequestHandler:
    """The C-GET request handler for the fast path."""

    def handle(link: Link, message: Message) -> None:
        if message.command_field != _C_GET_RQ:
            raise ProtocolError(f"command 0x{message.command_field:04x} on a C-GET context")
        identifier = None
        try:
            identifier = link.decode(message)
            query = query_from_identifier(identifier, _model(link, message))
            refs = retrieve_service.instances(query)
        except Exception as exc:
            status, comment = _refusal(exc, link)
            link.respond(message, _C_GET_RSP, status, comment)
            return
        audited = {
            "identifier": identifier,
            "sop_classes": [ref.sop_class_uid for ref in refs],
            "calling_ae_title": link.calling_ae_title,
            "host": dimse_audit.current_host(),
        }
        dimse_audit.retrieve(**audited, begin=True)
        failed = _run_get(link, message, retrieve_service, refs)
        dimse_audit.retrieve(**audited, begin=False, failed=failed)

    return handle


def _refusal(exc: BaseException, link: Link) -> tuple[int, str]:
    if isinstance(exc, InvalidInput):
        log.warning("C-GET refused calling_ae=%s reason=%s", link.calling_ae_title, exc)
        return IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)
    log.error("C-GET failed calling_ae=%s", link.calling_ae_title, exc_info=exc)
    return UNABLE_TO_PROCESS, "internal error; see server log"


@dataclass(slots=True)
class _Outgoing:
    """One sub-operation ready to go: its C-STORE-RQ framed into P-DATA PDUs, or ``None``
    when the object cannot be sent (unreadable, no acceptable context, not encodable)."""

    sop_instance_uid: str
    message_id: int
    pdus: bytes | None


def _run_get(
    link: Link, message: Message, retrieve_service: RetrieveService, refs: list[InstanceRef]
) -> int:
    """The sub-operations, one outstanding at a time. The next object is read and framed
    while the peer stores the current one (between our write and its response), so the
    blob read and the framing are off the round trip. Returns how many failed."""
    message_id = message.message_id
    contexts: dict[tuple[str, str], int | None] = {}
    counts = _Counts(remaining=len(refs))
    cancelled = False
    last_pending = time.monotonic()
    with contextlib.closing(retrieve_service.read(refs)) as objects:
        current = _prepare(link, next(objects, None), contexts)
        while current is not None:
            if link.cancel_requested(message_id):
                cancelled = True
                break
            if current.pdus is None:
                counts.fail(current.sop_instance_uid)
                current = _prepare(link, next(objects, None), contexts)
                continue
            link.sock.sendall(current.pdus)
            upcoming = _prepare(link, next(objects, None), contexts)
            counts.record(_await_response(link, current.message_id), current.sop_instance_uid)
            current = upcoming
            now = time.monotonic()
            if counts.remaining and now - last_pending >= PENDING_INTERVAL:
                last_pending = now
                link.respond(message, _C_GET_RSP, PENDING, counts=counts.tuple(remaining=True))
    if cancelled:
        status = CANCEL
    elif not counts.failed and not counts.warning:
        status = SUCCESS
    elif counts.failed == len(refs):
        status = UNABLE_TO_PERFORM_SUBOPERATIONS
    else:
        status = 0xB000
    identifier = None
    if status != SUCCESS:
        identifier = Dataset()
        identifier.FailedSOPInstanceUIDList = counts.failed_uids
    log.info(
        "C-GET done calling_ae=%s completed=%d failed=%d warning=%d status=0x%04x",
        link.calling_ae_title,
        counts.completed,
        counts.failed,
        counts.warning,
        status,
    )
    link.respond(
        message,
        _C_GET_RSP,
        status,
        counts=counts.tuple(remaining=status == CANCEL),
        identifier=identifier,
    )
    return counts.failed


def _prepare(
    link: Link,
    retrieved: RetrievedInstance | None,
    contexts: dict[tuple[str, str], int | None],
) -> _Outgoing | None:
    """Frame ``retrieved`` as a C-STORE-RQ for the link (``None`` at the end of the
    objects). ``contexts`` caches the context choice per (SOP class, stored syntax)."""
    if retrieved is None:
        return None
    ref = retrieved.ref
    failed = _Outgoing(ref.sop_instance_uid, 0, None)
    if retrieved.part10 is None or retrieved.meta is None:
        return failed
    stored_syntax = retrieved.meta.transfer_syntax_uid
    key = (ref.sop_class_uid, stored_syntax)
    if key not in contexts:
        contexts[key] = _context_for(link, *key)
    context_id = contexts[key]
    if context_id is None:
        log.warning(
            "C-GET sub-operation failed: no accepted context with the SCP role "
            "calling_ae=%s sop_class=%s transfer_syntax=%s",
            link.calling_ae_title,
            ref.sop_class_uid,
            stored_syntax,
        )
        return failed
    accepted = link.contexts[context_id].transfer_syntax[0]
    try:
        payload = StoredObject(
            retrieved.part10,
            dataset_offset=retrieved.meta.dataset_offset,
            sop_class_uid=ref.sop_class_uid,
            sop_instance_uid=ref.sop_instance_uid,
            transfer_syntax_uid=stored_syntax,
            verbatim=retrieved.verbatim,
        ).encoded(accepted.is_implicit_VR, accepted.is_little_endian, accepted.is_deflated)
    except Exception:
        log.warning(
            "C-GET sub-operation failed: object not encodable sop_instance_uid=%s",
            ref.sop_instance_uid,
            exc_info=True,
        )
        return failed
    message_id = link.next_message_id()
    command = encode_command(
        [
            (0x0002, "UI", ref.sop_class_uid),
            (0x0100, "US", C_STORE_RQ),
            (0x0110, "US", message_id),
            (0x0700, "US", _MEDIUM_PRIORITY),
            (0x0800, "US", _DATA_SET_PRESENT),
            (0x1000, "UI", ref.sop_instance_uid),
        ]
    )
    pdus = p_data_pdus(context_id, [(command, True), (payload, False)], link.peer_max_pdu)
    return _Outgoing(ref.sop_instance_uid, message_id, pdus)


def _await_response(link: Link, message_id: int) -> int:
    """The status of the C-STORE-RSP to ``message_id``; a C-CANCEL-RQ for the C-GET may come
    first, anything else breaks the protocol."""
    while True:
        reply = link.read_message()
        if reply.command_field == _C_STORE_RSP and reply.responding_to == message_id:
            return reply.us(0x0900)
        link.take_cancel(reply)


def _context_for(link: Link, sop_class_uid: str, stored_syntax: str) -> int | None:
    """An accepted context for the class where we may act as SCU (the requestor took the
    SCP role): the stored syntax if offered, else the other uncompressed one for an
    uncompressed object."""
    fallback = None
    for context_id, context in link.contexts.items():
        if str(context.abstract_syntax) != sop_class_uid or not context.as_scu:
            continue
        syntax = str(context.transfer_syntax[0])
        if syntax == stored_syntax:
            return context_id
        if fallback is None and syntax in _UNCOMPRESSED and stored_syntax in _UNCOMPRESSED:
            fallback = context_id
    return fallback


_MODELS_BY_UID = {str(uid): model for uid, model in (FIND_MODELS | RETRIEVE_MODELS).items()}
