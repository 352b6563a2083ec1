"""Storage fast path: associations that only store (and echo) run without pynetdicom's reactors.

Why this exists. pynetdicom runs every association on two polling reactor threads (the DUL
and the association loop); each C-STORE waits through their polls and costs ~0.75 ms of CPU
in pynetdicom alone, which capped the archive at ~60 % of Orthanc's rate for small objects
(``bench/README.md``). A modality that sends images is the dominant and the simplest case:
C-STORE and C-ECHO requests, one at a time, on an association nobody else touches. For that
case this module runs the data phase itself, on the association's own thread with blocking
reads (no polling), decoding the few command elements a C-STORE-RQ carries and writing the
fixed C-STORE-RSP. Everything else stays with pynetdicom:

* the association is accepted here only when every proposed abstract syntax is a storage or
  the verification class, and the request carries no user information beyond maximum length
  and implementation identity (no role selection, no extended negotiation, no user identity,
  no asynchronous window);
* the A-ASSOCIATE-RQ is only *peeked* (``MSG_PEEK``) for that decision, so an association that
  does not qualify is handed to pynetdicom untouched, as if this module did not exist;
* PDU decoding/encoding of the association request and answer, and presentation context
  negotiation, are pynetdicom's own (``pdu``, ``presentation.negotiate_as_acceptor``).

What is hand-written is the P-DATA framing (PS3.8 9.3.5) and the two command sets (PS3.7
9.3.1, 9.3.5), which are small and fixed. The received data set goes to the same
:func:`raddx.dimse.handlers.store_received` that pynetdicom's C-STORE event uses, so both paths
answer with the same statuses. Protocol violations end the association with an A-ABORT;
a data set that was not received completely is never stored.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pynetdicom import AE
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_acceptor
from pynetdicom.sop_class import Verification

from raddx.dimse._command_codec import decode_command, encode_command, p_data_pdus
from raddx.dimse.status import CANNOT_UNDERSTAND, SUCCESS, error_comment

__all__ = ["FastStorePath", "StoreFunction"]

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

_C_STORE_RQ = 0x0001
_C_STORE_RSP = 0x8001
_C_ECHO_RQ = 0x0030
_C_ECHO_RSP = 0x8030
_C_CANCEL_RQ = 0x0FFF
_NO_DATA_SET = 0x0101

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
)


class _ProtocolError(Exception):
    """The peer broke PS3.8; the association is aborted with ``reason``."""

    def __init__(self, message: str, reason: tuple[int, int] = _ABORT_UNEXPECTED_PDU) -> None:
        super().__init__(message)
        self.reason = reason


class _PeerGone(Exception):
    """The peer closed the connection or released/aborted the association."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What negotiating one A-ASSOCIATE-RQ gave; shared by every association that sends the
    same request (read-only)."""

    calling_ae_title: str
    called_ae_title: str
    contexts: dict[int, PresentationContext]
    peer_max_pdu: int
    accept_pdu: bytes


@dataclass(slots=True)
class _Association:
    sock: socket.socket
    calling_ae_title: str
    called_ae_title: str
    contexts: dict[int, PresentationContext]
    peer_max_pdu: int
    stored: int = 0
    failed: int = 0
    # Receive state of the message in progress.
    command: bytearray = field(default_factory=bytearray)
    command_context: int = 0
    request: dict[int, bytes] | None = None
    data: bytearray = field(default_factory=bytearray)


class FastStorePath:
    """Decides, per connection, whether it is served here; serves it if so.

    Parameters
    ----------
    ae
        The pynetdicom AE of the worker: AE title, called-AE check, PDU size, implementation
        identity and timeouts are read from it, so both paths behave alike.
    contexts
        The storage and verification contexts this archive accepts.
    other_abstract_syntaxes
        Abstract syntaxes served by pynetdicom (query/retrieve, commitment): a request that
        proposes any of them goes there.
    store
        Called with each complete data set (see :data:`StoreFunction`).
    active_elsewhere
        Number of associations pynetdicom currently serves (for the association limit).
    """

    def __init__(
        self,
        *,
        ae: AE,
        contexts: list[PresentationContext],
        other_abstract_syntaxes: Iterable[str],
        store: StoreFunction,
        active_elsewhere: Callable[[], int],
    ) -> None:
        self._ae = ae
        self._contexts = contexts
        self._other_syntaxes = frozenset(other_abstract_syntaxes)
        self._store = store
        self._active_elsewhere = active_elsewhere
        self._lock = threading.Lock()
        self._active: set[socket.socket] = set()
        self._plans: OrderedDict[bytes, _Plan | None] = OrderedDict()

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
        plan = self._plan(request)
        if plan is None:
            return False
        sock.recv(len(request), socket.MSG_WAITALL)  # consume what was peeked
        with self._lock:
            self._active.add(sock)
        try:
            self._serve(sock, address, plan)
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

    def _plan(self, request: bytes) -> _Plan | None:
        """The negotiation outcome for this exact A-ASSOCIATE-RQ, or ``None`` if it is not
        for the fast path. Cached by the request's bytes: a modality sends the same request
        every time, and decoding and negotiating ~128 proposed contexts costs ~25 ms, which a
        sender opening one association per image or series would pay every time."""
        with self._lock:
            if request in self._plans:
                self._plans.move_to_end(request)
                return self._plans[request]
        plan = self._negotiate(request)
        with self._lock:
            self._plans[request] = plan
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def _negotiate(self, request: bytes) -> _Plan | None:
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
        results, _ = negotiate_as_acceptor(proposed, self._contexts)
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
            accept_pdu=_accept_pdu(ae, rq, results),
        )

    def _serve(self, sock: socket.socket, address: tuple[str, int], plan: _Plan) -> None:
        ae = self._ae
        if self.active_count + self._active_elsewhere() > ae.maximum_associations:
            sock.sendall(_REJECT_LOCAL_LIMIT)
            log.warning("association rejected: local limit reached peer=%s", address[0])
            return
        sock.sendall(plan.accept_pdu)
        assoc = _Association(
            sock=sock,
            calling_ae_title=plan.calling_ae_title,
            called_ae_title=plan.called_ae_title,
            contexts=plan.contexts,
            peer_max_pdu=plan.peer_max_pdu,
        )
        log.info(
            "association accepted calling_ae=%s peer=%s contexts=%d path=fast",
            assoc.calling_ae_title,
            address[0],
            len(plan.contexts),
        )
        sock.settimeout(ae.network_timeout)
        outcome = "released"
        try:
            self._data_phase(assoc)
        except _PeerGone as exc:
            outcome = str(exc)
        except _ProtocolError as exc:
            outcome = f"aborted: {exc}"
            log.warning("association aborted calling_ae=%s reason=%s", assoc.calling_ae_title, exc)
            _send_abort(sock, exc.reason)
        except TimeoutError:
            outcome = "aborted: network timeout"
            _send_abort(sock, _ABORT_USER)
        except OSError as exc:
            outcome = f"connection lost: {exc}"
        log.info(
            "association ended calling_ae=%s stored=%d failed=%d outcome=%s",
            assoc.calling_ae_title,
            assoc.stored,
            assoc.failed,
            outcome,
        )

    # -- data transfer ---------------------------------------------------------------------

    def _data_phase(self, assoc: _Association) -> None:
        sock = assoc.sock
        header = bytearray(6)
        while True:
            _read_into(sock, memoryview(header))
            pdu_type, length = _PDU_HEADER.unpack(header)
            if pdu_type == _P_DATA_TF:
                self._p_data(assoc, length)
            elif pdu_type == _A_RELEASE_RQ:
                _read_exact(sock, length)
                sock.sendall(_A_RELEASE_RP)
                raise _PeerGone("released")
            elif pdu_type == _A_ABORT:
                raise _PeerGone("aborted by the peer")
            else:
                raise _ProtocolError(f"unexpected PDU type 0x{pdu_type:02x} during data transfer")

    def _p_data(self, assoc: _Association, length: int) -> None:
        """Read one P-DATA-TF PDU, PDV by PDV; act on each completed message."""
        sock = assoc.sock
        pdv_header = bytearray(6)
        remaining = length
        while remaining:
            if remaining < 6:
                raise _ProtocolError("PDV item overruns its PDU", _ABORT_INVALID_PARAMETER)
            _read_into(sock, memoryview(pdv_header))
            item_length, context_id, control = _PDV_HEADER.unpack(pdv_header)
            if item_length < 2 or item_length + 4 > remaining:
                raise _ProtocolError("PDV item length is invalid", _ABORT_INVALID_PARAMETER)
            remaining -= item_length + 4
            value_length = item_length - 2
            if context_id not in assoc.contexts:
                raise _ProtocolError(f"PDV on presentation context {context_id}, not accepted")
            is_command, is_last = bool(control & 0x01), bool(control & 0x02)
            if is_command:
                if assoc.request is not None:
                    raise _ProtocolError("command fragment while a data set was expected")
                if assoc.command and context_id != assoc.command_context:
                    raise _ProtocolError("command fragments on two presentation contexts")
                assoc.command_context = context_id
                _append_from(sock, assoc.command, value_length)
                if is_last:
                    self._command_complete(assoc)
            else:
                if assoc.request is None or context_id != assoc.command_context:
                    raise _ProtocolError("data set fragment without its command")
                _append_from(sock, assoc.data, value_length)
                if is_last:
                    self._message_complete(assoc)

    def _command_complete(self, assoc: _Association) -> None:
        request = decode_command(assoc.command)
        if request is None:
            raise _ProtocolError("malformed command set", _ABORT_INVALID_PARAMETER)
        assoc.command = bytearray()
        if _us(request.get(0x00000800)) == _NO_DATA_SET:
            assoc.request = request
            self._message_complete(assoc)
        else:
            assoc.request = request

    def _message_complete(self, assoc: _Association) -> None:
        request = assoc.request
        assert request is not None
        data, assoc.data = assoc.data, bytearray()
        assoc.request = None
        context = assoc.contexts[assoc.command_context]
        command = _us(request.get(0x00000100))
        if command == _C_CANCEL_RQ:
            return  # nothing to cancel: C-STORE and C-ECHO answer at once (it has no MessageID)
        message_id = _us(request.get(0x00000110))
        has_data_set = _us(request.get(0x00000800)) != _NO_DATA_SET
        if command == _C_ECHO_RQ and str(context.abstract_syntax) == Verification:
            self._respond(assoc, _C_ECHO_RSP, message_id, request, SUCCESS, None)
        elif command == _C_STORE_RQ and str(context.abstract_syntax) != Verification:
            if not has_data_set:
                status, comment = CANNOT_UNDERSTAND, "C-STORE request without a data set"
            else:
                status, comment = self._store(
                    memoryview(data),
                    _uid(request.get(0x00000002)),
                    _uid(request.get(0x00001000)),
                    str(context.transfer_syntax[0]),
                    assoc.calling_ae_title,
                    assoc.called_ae_title,
                )
            if status == SUCCESS:
                assoc.stored += 1
            else:
                assoc.failed += 1
            self._respond(assoc, _C_STORE_RSP, message_id, request, status, comment)
        else:
            raise _ProtocolError(
                f"command 0x{command:04x} on presentation context {assoc.command_context}"
            )

    def _respond(
        self,
        assoc: _Association,
        command_field: int,
        message_id: int,
        request: dict[int, bytes],
        status: int,
        comment: str | None,
    ) -> None:
        elements: list[tuple[int, str, object]] = [
            (0x00000002, "UI", _uid(request.get(0x00000002))),
            (0x00000100, "US", command_field),
            (0x00000120, "US", message_id),
            (0x00000800, "US", _NO_DATA_SET),
            (0x00000900, "US", status),
        ]
        if comment:
            elements.append((0x00000902, "LO", error_comment(comment)))
        if command_field == _C_STORE_RSP:
            elements.append((0x00001000, "UI", _uid(request.get(0x00001000))))
        command = encode_command(elements)
        assoc.sock.sendall(
            p_data_pdus(assoc.command_context, [(command, True)], assoc.peer_max_pdu)
        )


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
        raise _ProtocolError("command set lacks a required US element", _ABORT_INVALID_PARAMETER)
    return int.from_bytes(value, "little")


def _uid(value: bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("ascii", "replace").rstrip("\0 ")


def _accept_pdu(ae: AE, rq: A_ASSOCIATE, results: list[PresentationContext]) -> bytes:
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


def _send_abort(sock: socket.socket, source_reason: tuple[int, int]) -> None:
    """Send an A-ABORT PDU (PS3.8 9.3.8) if the connection still takes it."""
    source, reason = source_reason
    with contextlib.suppress(OSError):
        sock.sendall(bytes((_A_ABORT, 0, 0, 0, 0, 4, 0, 0, source, reason)))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
