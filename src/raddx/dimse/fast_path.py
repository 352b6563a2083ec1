"""DIMSE fast path: associations served on raddx's own data-transfer loop, without pynetdicom's
reactors.

Why this exists. pynetdicom runs every association on two polling reactor threads (the DUL
and the association loop) that hand each message through queues. Each C-STORE waited through
their polls and cost ~0.75 ms of CPU in pynetdicom alone, which capped the archive at ~60 % of
Orthanc's rate for small objects; a C-FIND with 30 matches cost ~25 ms of server CPU, a third
of it in the reactors' polls, which also compete for the GIL with the thread doing the work
(``bench/README.md``). The common cases are simple: one request at a time on an association
nobody else touches. For them this module runs the data phase itself, on the association's
own thread with blocking reads (no polling), decoding the few command elements the requests
carry and encoding the responses:

* C-ECHO and C-STORE (a modality sending images);
* C-FIND, Patient and Study Root (a worklist of studies; :mod:`raddx.dimse.find` answers);
* C-GET, Patient and Study Root, with the C-STORE sub-operations on the same association
  (:mod:`raddx.dimse.fast_get`).

The association is accepted here only when every proposed abstract syntax is one of those
services' and the request's user information holds nothing beyond maximum length,
implementation identity, SCP/SCU role selection and the C-FIND extended negotiation (no
asynchronous operations window, no user identity). Anything else — C-MOVE, storage
commitment, a peer that wants several operations outstanding — goes to pynetdicom:

* the A-ASSOCIATE-RQ is only *peeked* (``MSG_PEEK``) for that decision, so an association that
  does not qualify is handed to pynetdicom untouched, as if this module did not exist;
* PDU decoding/encoding of the association request and answer, and presentation context and
  role negotiation, are pynetdicom's own (``pdu``, ``presentation.negotiate_as_acceptor``).

What is hand-written is the P-DATA framing (PS3.8 9.3.5) and the command sets (PS3.7 9.3),
which are small and fixed (:mod:`raddx.dimse._command_codec`). Both paths answer through the
same service functions, so statuses and comments are the same. Protocol violations end the
association with an A-ABORT; a data set that was not received completely is never stored.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
    SOPClassExtendedNegotiation,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor
from pynetdicom.sop_class import Verification

from raddx.config import DicomServiceValues
from raddx.dimse._command_codec import decode_command, encode_command, p_data_pdus
from raddx.dimse.acceptance import (
    NOT_AUTHORIZED,
    REJECT_CALLING_AE,
    allowed_contexts,
    calling_ae_title,
    store_refused,
)
from raddx.dimse.status import CANNOT_UNDERSTAND, SUCCESS, error_comment
from raddx.security.peers import ALL_DICOM_SERVICES, DicomPeerPolicy, security_alert

__all__ = [
    "C_CANCEL_RQ",
    "FastPath",
    "Link",
    "Message",
    "ProtocolError",
    "RequestHandler",
    "StoreFunction",
]

log = logging.getLogger(__name__)

#: ``store(dataset, sop_class_uid, sop_instance_uid, transfer_syntax_uid, calling_ae,
#: called_ae) -> (status, error comment)``.
StoreFunction = Callable[[memoryview, str, str, str, str, str], tuple[int, str | None]]

_A_ASSOCIATE_RQ = 0x01
_P_DATA_TF = 0x04
_A_RELEASE_RQ = 0x05
_A_ABORT = 0x07
_PDU_HEADER = struct.Struct(">BxI")
_PDV_HEADER = struct.Struct(">IBB")
#: Negotiation outcomes kept, by request bytes (one per sender configuration).
_PLAN_CACHE_SIZE = 64
#: An A-ASSOCIATE-RQ larger than this is left to pynetdicom (they are a few kB at most).
_MAX_PEEK = 1 << 20

#: PS3.7 E.1: Command Field values.
C_STORE_RQ = 0x0001
_C_STORE_RSP = 0x8001
_C_ECHO_RQ = 0x0030
_C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF
_NO_DATA_SET = 0x0101
#: Any value but 0x0101 says a data set follows; 0x0001 as pynetdicom and DCMTK write it.
_DATA_SET_PRESENT = 0x0001

# A-ABORT source/reason (PS3.8 9.3.8): service-user abort, and service-provider reasons.
_ABORT_USER = (0x00, 0x00)
_ABORT_UNEXPECTED_PDU = (0x02, 0x02)
_ABORT_INVALID_PARAMETER = (0x02, 0x06)
_A_RELEASE_RP = b"\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00"

#: The user information items a fast-path request may carry.
_PLAIN_USER_ITEMS = (
    MaximumLengthNotification,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    SCP_SCU_RoleSelectionNegotiation,
    SOPClassExtendedNegotiation,
)


class ProtocolError(Exception):
    """The peer broke PS3.8/PS3.7; the association is aborted with ``reason``."""

    def __init__(self, message: str, reason: tuple[int, int] = _ABORT_UNEXPECTED_PDU) -> None:
        super().__init__(message)
        self.reason = reason


class _PeerGone(Exception):
    """The peer closed the connection or released/aborted the association."""


@dataclass(slots=True)
class Message:
    """One complete DIMSE message as received: its context, command set and data set."""

    context_id: int
    command: dict[int, bytes]
    data: bytearray | None

    @property
    def command_field(self) -> int:
        return _us(self.command.get(0x0100))

    @property
    def message_id(self) -> int:
        return _us(self.command.get(0x0110))

    @property
    def responding_to(self) -> int:
        """MessageIDBeingRespondedTo (responses and C-CANCEL-RQ)."""
        return _us(self.command.get(0x0120))

    def uid(self, element: int) -> str:
        """A UI element of the command set (e.g. 0x0002 Affected SOP Class UID)."""
        return _uid(self.command.get(element))

    def us(self, element: int) -> int:
        """A US element of the command set."""
        return _us(self.command.get(element))


#: Serves one request message on the link; a request handler for a service.
RequestHandler = Callable[["Link", Message], None]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What negotiating one A-ASSOCIATE-RQ gave; shared by every association that sends the
    same request (read-only)."""

    calling_ae_title: str
    called_ae_title: str
    contexts: dict[int, PresentationContext]
    peer_max_pdu: int
    accept_pdu: bytes
    #: Accepted C-FIND extended negotiation, by SOP class (PS3.4 C.5.1.1.1).
    extended: dict[str, bytes]


@dataclass(slots=True)
class Link:
    """An association's data phase on its own socket: reads whole messages, writes them.

    Only one operation is outstanding at a time (no asynchronous window is negotiated), so a
    service reads the socket only for its own responses and for a C-CANCEL-RQ.
    """

    sock: socket.socket
    calling_ae_title: str
    called_ae_title: str
    contexts: dict[int, PresentationContext]
    peer_max_pdu: int
    extended: dict[str, bytes]
    #: Our own AE title (the Called AE Title may be anything unless it is checked).
    local_ae_title: str = ""
    #: The services the peer may use (association acceptance policy).
    services: frozenset[DicomServiceValues] = ALL_DICOM_SERVICES
    stored: int = 0
    failed: int = 0
    #: Bytes of the current P-DATA-TF PDU not read yet (a PDU may hold PDVs of two messages).
    _pdu_remaining: int = 0
    _next_message_id: int = 0
    _cancelled: set[int] = field(default_factory=set)
    _poll: Any = None  # select.poll object, made on first use

    # -- reading ---------------------------------------------------------------------------

    def read_message(self) -> Message:
        """The next complete message (blocking). A-RELEASE-RQ is answered and ends the
        association (:class:`_PeerGone`), as does an A-ABORT or a closed connection."""
        command = bytearray()
        command_context = 0
        request: dict[int, bytes] | None = None
        data = bytearray()
        while True:
            if not self._pdu_remaining:
                self._next_pdu(between_messages=not command and request is None)
            if self._pdu_remaining < 6:
                raise ProtocolError("PDV item overruns its PDU", _ABORT_INVALID_PARAMETER)
            pdv_header = _read_exact(self.sock, 6)
            item_length, context_id, control = _PDV_HEADER.unpack(pdv_header)
            if item_length < 2 or item_length + 4 > self._pdu_remaining:
                raise ProtocolError("PDV item length is invalid", _ABORT_INVALID_PARAMETER)
            self._pdu_remaining -= item_length + 4
            value_length = item_length - 2
            if context_id not in self.contexts:
                raise ProtocolError(f"PDV on presentation context {context_id}, not accepted")
            is_command, is_last = bool(control & 0x01), bool(control & 0x02)
            if is_command:
                if request is not None:
                    raise ProtocolError("command fragment while a data set was expected")
                if command and context_id != command_context:
                    raise ProtocolError("command fragments on two presentation contexts")
                command_context = context_id
                _append_from(self.sock, command, value_length)
                if not is_last:
                    continue
                request = decode_command(command)
                if request is None:
                    raise ProtocolError("malformed command set", _ABORT_INVALID_PARAMETER)
                if _us(request.get(0x0800)) == _NO_DATA_SET:
                    return Message(command_context, request, None)
            else:
                if request is None or context_id != command_context:
                    raise ProtocolError("data set fragment without its command")
                _append_from(self.sock, data, value_length)
                if is_last:
                    return Message(command_context, request, data)

    def _next_pdu(self, *, between_messages: bool) -> None:
        pdu_type, length = _PDU_HEADER.unpack(_read_exact(self.sock, 6))
        if pdu_type == _P_DATA_TF:
            self._pdu_remaining = length
            return
        if pdu_type == _A_RELEASE_RQ and between_messages:
            _read_exact(self.sock, length)
            self.sock.sendall(_A_RELEASE_RP)
            raise _PeerGone("released")
        if pdu_type == _A_ABORT:
            raise _PeerGone("aborted by the peer")
        raise ProtocolError(f"unexpected PDU type 0x{pdu_type:02x} during data transfer")

    def message_waiting(self) -> bool:
        """Whether the peer has sent something not read yet (does not block)."""
        if self._pdu_remaining:
            return True
        if self._poll is None:
            # poll(), not select(): select() cannot watch descriptors above FD_SETSIZE. (A
            # MSG_DONTWAIT recv would wait: CPython polls a socket with a timeout first.)
            self._poll = select.poll()
            self._poll.register(self.sock, select.POLLIN)
        return bool(self._poll.poll(0))  # data, or the end of the stream (read says which)

    def cancel_requested(self, message_id: int) -> bool:
        """Whether the peer has sent C-CANCEL-RQ for ``message_id`` (PS3.7 9.3.2.3). Reads
        what is waiting without blocking; any other request while ours is outstanding breaks
        the protocol (no asynchronous operations were negotiated)."""
        while message_id not in self._cancelled and self.message_waiting():
            self.take_cancel(self.read_message())
        return message_id in self._cancelled

    def take_cancel(self, message: Message) -> None:
        """Note a C-CANCEL-RQ read while an operation is outstanding; anything else is a
        protocol error."""
        if message.command_field != C_CANCEL_RQ:
            raise ProtocolError(
                f"request 0x{message.command_field:04x} while another operation is outstanding"
            )
        self._cancelled.add(message.responding_to)

    # -- writing ---------------------------------------------------------------------------

    def send(
        self, context_id: int, command: bytes, dataset: bytes | memoryview | None = None
    ) -> None:
        """Frame a message into P-DATA-TF PDUs within the peer's maximum and write it."""
        parts: list[tuple[bytes | memoryview, bool]] = [(command, True)]
        if dataset is not None:
            parts.append((dataset, False))
        self.sock.sendall(p_data_pdus(context_id, parts, self.peer_max_pdu))

    def respond(
        self,
        request: Message,
        command_field: int,
        status: int,
        comment: str | None = None,
        *,
        counts: tuple[int | None, int, int, int] | None = None,
        identifier: Dataset | bytes | None = None,
    ) -> None:
        """Send the response to ``request`` (PS3.7 9.3): ``counts`` are the remaining
        (``None``: left out), completed, failed and warning sub-operations of a C-GET;
        ``identifier`` a data set, or one already encoded for the request's context."""
        elements: list[tuple[int, str, object]] = [
            (0x0002, "UI", request.uid(0x0002)),
            (0x0100, "US", command_field),
            (0x0120, "US", request.message_id),
            (0x0800, "US", _NO_DATA_SET if identifier is None else _DATA_SET_PRESENT),
            (0x0900, "US", status),
        ]
        if comment:
            elements.append((0x0902, "LO", error_comment(comment)))
        if command_field == _C_STORE_RSP:
            elements.append((0x1000, "UI", request.uid(0x1000)))
        if counts is not None:
            remaining, completed, failed, warning = counts
            if remaining is not None:
                elements.append((0x1020, "US", remaining))
            elements += [(0x1021, "US", completed), (0x1022, "US", failed), (0x1023, "US", warning)]
        encoded = (
            identifier
            if identifier is None or isinstance(identifier, bytes)
            else self.encode(request.context_id, identifier)
        )
        self.send(request.context_id, encode_command(elements), encoded)

    # -- data sets and contexts ------------------------------------------------------------

    def decode(self, message: Message) -> Dataset:
        """The message's data set, decoded for its presentation context."""
        syntax = self.contexts[message.context_id].transfer_syntax[0]
        return decode(
            BytesIO(message.data or b""),
            syntax.is_implicit_VR,
            syntax.is_little_endian,
            syntax.is_deflated,
        )

    def encode(self, context_id: int, dataset: Dataset) -> bytes:
        """``dataset`` encoded for the presentation context."""
        syntax = self.contexts[context_id].transfer_syntax[0]
        encoded = encode(
            dataset, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated
        )
        if encoded is None:
            raise ValueError("the data set could not be encoded for the presentation context")
        return encoded

    def next_message_id(self) -> int:
        """A Message ID for a request we send (C-STORE sub-operations), unique on the link."""
        self._next_message_id = self._next_message_id % 0xFFFF + 1
        return self._next_message_id


class FastPath:
    """Decides, per connection, whether it is served here; serves it if so.

    Parameters
    ----------
    ae
        The pynetdicom AE of the worker: AE title, called-AE check, PDU size, implementation
        identity and timeouts are read from it, so both paths behave alike.
    contexts
        The contexts this path serves (verification, storage with role selection, C-FIND,
        C-GET).
    other_abstract_syntaxes
        Abstract syntaxes served by pynetdicom only (C-MOVE, commitment): a request that
        proposes any of them goes there.
    store
        Called with each complete C-STORE data set (see :data:`StoreFunction`).
    services
        Request handler per abstract syntax for the other requests (C-FIND, C-GET), each
        given the link and the request.
    active_elsewhere
        Number of associations pynetdicom currently serves (for the association limit).
    policy
        The association acceptance policy (:mod:`raddx.security.peers`); ``None`` accepts
        every peer.
    """

    def __init__(
        self,
        *,
        ae: AE,
        contexts: list[PresentationContext],
        other_abstract_syntaxes: Iterable[str],
        store: StoreFunction,
        services: dict[str, RequestHandler] | None = None,
        extended_reply: Callable[[str, bytes | None], bytes | None] | None = None,
        active_elsewhere: Callable[[], int],
        policy: DicomPeerPolicy | None = None,
    ) -> None:
        self._ae = ae
        self._policy = policy
        self._contexts = contexts
        self._other_syntaxes = frozenset(other_abstract_syntaxes)
        self._store = store
        self._services = dict(services or {})
        self._extended_reply = extended_reply
        self._active_elsewhere = active_elsewhere
        self._lock = threading.Lock()
        self._active: set[socket.socket] = set()
        self._plans: OrderedDict[tuple[bytes, frozenset[DicomServiceValues]], _Plan | None] = (
            OrderedDict()
        )

    @property
    def active_count(self) -> int:
        """Associations currently served on the fast path."""
        with self._lock:
            return len(self._active)

    def try_serve(self, sock: socket.socket, address: tuple[str, int]) -> bool:
        """Serve the connection if it qualifies and return ``True`` (the socket is then
        closed); return ``False`` with nothing read from the socket otherwise."""
        request = self._peek_request(sock)
        if request is None:
            return False
        services = ALL_DICOM_SERVICES
        if self._policy is not None:
            calling = calling_ae_title(request)
            decision = self._policy.decide(calling, address[0])
            if not decision.accepted:
                sock.recv(len(request), socket.MSG_WAITALL)
                security_alert(
                    "association rejected",
                    subject=calling,
                    calling_ae=calling,
                    peer=address[0],
                    reason=decision.reason,
                )
                with contextlib.suppress(OSError):
                    sock.sendall(_REJECT_CALLING_AE)
                _close(sock)
                return True
            services = decision.services
        plan = self._plan(request, services)
        if plan is None:
            return False
        sock.recv(len(request), socket.MSG_WAITALL)  # consume what was peeked
        with self._lock:
            self._active.add(sock)
        try:
            self._serve(sock, address, plan, services)
        finally:
            with self._lock:
                self._active.discard(sock)
            _close(sock)
        return True

    def abort_all(self) -> None:
        """Abort every fast-path association (server shutdown)."""
        with self._lock:
            sockets = list(self._active)
        for sock in sockets:
            _send_abort(sock, _ABORT_USER)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- association establishment ---------------------------------------------------------

    def _peek_request(self, sock: socket.socket) -> bytes | None:
        """The complete A-ASSOCIATE-RQ PDU, without consuming it, or ``None``."""
        sock.settimeout(self._ae.acse_timeout)
        try:
            header = sock.recv(6, socket.MSG_PEEK | socket.MSG_WAITALL)
            if len(header) < 6 or header[0] != _A_ASSOCIATE_RQ:
                return None
            length = _PDU_HEADER.unpack(header)[1]
            if length > _MAX_PEEK:
                return None
            request = sock.recv(6 + length, socket.MSG_PEEK | socket.MSG_WAITALL)
        except OSError:
            return None
        finally:
            sock.settimeout(None)
        return request if len(request) == 6 + length else None

    def _plan(
        self, request: bytes, services: frozenset[DicomServiceValues] = ALL_DICOM_SERVICES
    ) -> _Plan | None:
        """The negotiation outcome for this exact A-ASSOCIATE-RQ, or ``None`` if it is not
        for the fast path. Cached by the request's bytes: a modality sends the same request
        every time, and decoding and negotiating ~128 proposed contexts costs ~25 ms, which a
        sender opening one association per image or series would pay every time."""
        key = (request, services)
        with self._lock:
            if key in self._plans:
                self._plans.move_to_end(key)
                return self._plans[key]
        plan = self._negotiate(request, services)
        with self._lock:
            self._plans[key] = plan
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def _negotiate(self, request: bytes, services: frozenset[DicomServiceValues]) -> _Plan | None:
        try:
            pdu = A_ASSOCIATE_RQ()
            pdu.decode(request)
            rq = pdu.to_primitive()
        except Exception:  # pynetdicom will reject the malformed request in its own way
            return None
        proposed = rq.presentation_context_definition_list
        if not proposed or any(str(cx.abstract_syntax) in self._other_syntaxes for cx in proposed):
            return None
        if not all(isinstance(item, _PLAIN_USER_ITEMS) for item in rq.user_information):
            return None
        ae = self._ae
        if ae.require_called_aet and rq.called_ae_title != ae.ae_title:
            return None  # pynetdicom sends the proper rejection
        if ae.require_calling_aet:
            return None
        roles = {
            str(item.sop_class_uid): (item.scu_role, item.scp_role)
            for item in rq.user_information
            if isinstance(item, SCP_SCU_RoleSelectionNegotiation)
        }
        results, role_replies = negotiate_as_acceptor(
            proposed,
            allowed_contexts(self._contexts, services),
            {UID(uid): role for uid, role in roles.items()} or None,  # type: ignore[arg-type]
        )
        extended = self._extended(rq)
        peer_max = next(
            (
                int(item.maximum_length_received or 0)
                for item in rq.user_information
                if isinstance(item, MaximumLengthNotification)
            ),
            0,
        )
        return _Plan(
            calling_ae_title=rq.calling_ae_title,
            called_ae_title=rq.called_ae_title,
            contexts={int(cx.context_id): cx for cx in results if cx.result == 0x00},  # type: ignore[arg-type]
            peer_max_pdu=peer_max,
            accept_pdu=_accept_pdu(ae, rq, results, [*role_replies, *_extended_items(extended)]),
            extended=extended,
        )

    def _extended(self, rq: A_ASSOCIATE) -> dict[str, bytes]:
        """Our replies to the SOP Class Extended Negotiation items, by SOP class."""
        replies: dict[str, bytes] = {}
        if self._extended_reply is None:
            return replies
        for item in rq.user_information:
            if isinstance(item, SOPClassExtendedNegotiation):
                sop_class = str(item.sop_class_uid)
                reply = self._extended_reply(sop_class, item.service_class_application_information)
                if reply is not None:
                    replies[sop_class] = reply
        return replies

    def _serve(
        self,
        sock: socket.socket,
        address: tuple[str, int],
        plan: _Plan,
        services: frozenset[DicomServiceValues],
    ) -> None:
        ae = self._ae
        if self.active_count + self._active_elsewhere() > ae.maximum_associations:
            sock.sendall(_REJECT_LOCAL_LIMIT)
            log.warning("association rejected: local limit reached peer=%s", address[0])
            return
        sock.sendall(plan.accept_pdu)
        link = Link(
            sock=sock,
            calling_ae_title=plan.calling_ae_title,
            called_ae_title=plan.called_ae_title,
            contexts=plan.contexts,
            peer_max_pdu=plan.peer_max_pdu,
            extended=plan.extended,
            local_ae_title=str(ae.ae_title).strip(),
            services=services,
        )
        log.info(
            "association accepted calling_ae=%s peer=%s contexts=%d path=fast",
            link.calling_ae_title,
            address[0],
            len(plan.contexts),
        )
        sock.settimeout(ae.network_timeout)
        outcome = "released"
        try:
            while True:
                self._dispatch(link, link.read_message())
        except _PeerGone as exc:
            outcome = str(exc)
        except ProtocolError as exc:
            outcome = f"aborted: {exc}"
            log.warning("association aborted calling_ae=%s reason=%s", link.calling_ae_title, exc)
            _send_abort(sock, exc.reason)
        except TimeoutError:
            outcome = "aborted: network timeout"
            _send_abort(sock, _ABORT_USER)
        except OSError as exc:
            outcome = f"connection lost: {exc}"
        log.info(
            "association ended calling_ae=%s stored=%d failed=%d outcome=%s",
            link.calling_ae_title,
            link.stored,
            link.failed,
            outcome,
        )

    # -- data transfer ---------------------------------------------------------------------

    def _dispatch(self, link: Link, message: Message) -> None:
        command = message.command_field
        if command == C_CANCEL_RQ:
            return  # nothing outstanding: every request is answered before the next is read
        abstract = str(link.contexts[message.context_id].abstract_syntax)
        service = self._services.get(abstract)
        if command == _C_ECHO_RQ and abstract == Verification:
            link.respond(message, _C_ECHO_RSP, SUCCESS)
        elif command == C_STORE_RQ and abstract != Verification and service is None:
            self._c_store(link, message)
        elif service is not None and command != C_STORE_RQ and command & 0x8000 == 0:
            service(link, message)
        else:
            raise ProtocolError(
                f"command 0x{command:04x} on presentation context {message.context_id}"
            )

    def _c_store(self, link: Link, message: Message) -> None:
        if message.data is None:
            status, comment = CANNOT_UNDERSTAND, "C-STORE request without a data set"
        elif store_refused(link.services):
            security_alert(
                "C-STORE refused",
                subject=link.calling_ae_title,
                restricted_function=True,
                reason="store not allowed",
            )
            status, comment = NOT_AUTHORIZED, "this AE may not store here"
        else:
            status, comment = self._store(
                memoryview(message.data),
                message.uid(0x0002),
                message.uid(0x1000),
                str(link.contexts[message.context_id].transfer_syntax[0]),
                link.calling_ae_title,
                link.called_ae_title,
            )
        if status == SUCCESS:
            link.stored += 1
        else:
            link.failed += 1
        link.respond(message, _C_STORE_RSP, status, comment)


# -- helpers -----------------------------------------------------------------------------------


def _read_into(sock: socket.socket, view: memoryview) -> None:
    while view:
        received = sock.recv_into(view)
        if not received:
            raise _PeerGone("connection closed by the peer")
        view = view[received:]


def _read_exact(sock: socket.socket, length: int) -> bytes:
    buffer = bytearray(length)
    _read_into(sock, memoryview(buffer))
    return bytes(buffer)


def _append_from(sock: socket.socket, buffer: bytearray, length: int) -> None:
    """Receive ``length`` bytes straight into the end of ``buffer`` (no intermediate copy)."""
    start = len(buffer)
    buffer.extend(bytes(length))
    _read_into(sock, memoryview(buffer)[start:])


def _us(value: bytes | None) -> int:
    if value is None or len(value) != 2:
        raise ProtocolError("command set lacks a required US element", _ABORT_INVALID_PARAMETER)
    return int.from_bytes(value, "little")


def _uid(value: bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("ascii", "replace").rstrip("\0 ")


def _extended_items(extended: dict[str, bytes]) -> list[SOPClassExtendedNegotiation]:
    items = []
    for sop_class, reply in extended.items():
        item = SOPClassExtendedNegotiation()
        item.sop_class_uid = UID(sop_class)
        item.service_class_application_information = reply
        items.append(item)
    return items


def _accept_pdu(
    ae: AE, rq: A_ASSOCIATE, results: list[PresentationContext], extra_items: list[Any]
) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.application_context_name = rq.application_context_name
    primitive.calling_ae_title = rq.calling_ae_title
    primitive.called_ae_title = rq.called_ae_title
    primitive.result = 0x00
    primitive.result_source = 0x01
    primitive.presentation_context_definition_results_list = results
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = ae.maximum_pdu_size
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = ae.implementation_class_uid
    user_information: list[object] = [maximum, implementation]
    if ae.implementation_version_name:
        version = ImplementationVersionNameNotification()
        version.implementation_version_name = ae.implementation_version_name
        user_information.append(version)
    user_information += extra_items
    primitive.user_information = user_information  # type: ignore[assignment]
    pdu = A_ASSOCIATE_AC()
    pdu.from_primitive(primitive)
    return pdu.encode()


def _reject_pdu(*, result: int, source: int, reason: int) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.result = result
    primitive.result_source = source
    primitive.diagnostic = reason
    pdu = A_ASSOCIATE_RJ()
    pdu.from_primitive(primitive)
    return pdu.encode()


#: Transient, service-provider (presentation), local limit exceeded (PS3.8 9.3.4).
_REJECT_LOCAL_LIMIT = _reject_pdu(result=0x02, source=0x03, reason=0x02)
#: Permanent, service-user, calling AE title not recognized (PS3.8 9.3.4).
_REJECT_CALLING_AE = _reject_pdu(
    result=REJECT_CALLING_AE[0], source=REJECT_CALLING_AE[1], reason=REJECT_CALLING_AE[2]
)


def _send_abort(sock: socket.socket, source_reason: tuple[int, int]) -> None:
    """Send an A-ABORT PDU (PS3.8 9.3.8) if the connection still takes it."""
    source, reason = source_reason
    with contextlib.suppress(OSError):
        sock.sendall(bytes((_A_ABORT, 0, 0, 0, 0, 4, 0, 0, source, reason)))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
