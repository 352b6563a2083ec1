"""C-STORE sub-operations on the caller's thread: no reactor hand-offs (pynetdicom 3.0.4; pinned).

pynetdicom sends every PDU through a queue to its DUL reactor thread and receives every PDU on
that thread, which polls the socket; the association thread waits on further queues. For a
C-GET or C-MOVE that is four thread hand-offs and two polling sleeps per sub-operation, on top
of the peer's own work: timed per C-STORE round trip here, 0.6 ms from ``send_msg`` until the
last PDU was on the wire and 0.5 ms from the response's arrival until ``get_msg`` returned it
(``bench/README.md``). DCMTK-based archives do the same exchange in about 0.35 ms in all.

:class:`DirectLink` lets the thread running the sub-operations do the association's network I/O
itself for as long as it is open: it frames each C-STORE-RQ (command set by
:func:`raddx.dimse._command_codec.encode_command`, data set as stored) into P-DATA PDUs, writes
them in one call, and reads the C-STORE-RSP from the socket, blocking in ``select`` (no
polling); only its Status and Error Comment are decoded. Context choice, status checks and
counting stay pynetdicom's. Any other message (the peer may send a C-CANCEL meanwhile) is
handed to pynetdicom's DIMSE layer as its reader would, and any other PDU (A-RELEASE, A-ABORT,
garbage) to the DUL state machine, after which the link closes. While open:

* the DUL thread sees the socket as never readable, so it cannot take a response away (and the
  link waits one reactor turn after muting it, for a check begun just before);
* every write, pynetdicom's Pending responses included, is serialised under one lock, so PDUs
  never interleave;
* on a requestor association (the C-MOVE destination) the association reactor is paused, as
  ``send_c_store`` pauses it, so it cannot take a response off the DIMSE queue.

Not raised while open: pynetdicom's EVT_PDU_SENT/RECV and EVT_DIMSE_SENT/RECV notifications for
the sub-operations (raddx binds none).

A peer that closes the connection or aborts is noticed as soon as the socket says so, not at
the DIMSE timeout: the sub-operation and every later one fail at once (PS3.4 C.4.2.1.4.2).
``tests/unit/dimse/test_direct_link.py`` fails if a pynetdicom upgrade moves these internals.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, cast

from pydicom.dataset import Dataset
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.pdu_primitives import P_DATA

from raddx.dimse._command_codec import decode_command, encode_command, p_data_pdus

__all__ = [
    "DirectLink",
    "LinkBroken",
    "direct_sub_operations",
    "direct_writes",
    "supports_direct",
]

log = logging.getLogger(__name__)

_PDU_HEADER = struct.Struct(">BBI")
_PDV_HEADER = struct.Struct(">IB")
_P_DATA_TF = 0x04
#: PS3.7 E.1: Command Field values.
_C_STORE_RQ = 0x0001
_C_STORE_RSP = (0x8001).to_bytes(2, "little")
_C_FIND_RSP = 0x8020
#: Command Data Set Type for "a data set / identifier follows": any value but 0x0101 (PS3.7
#: E.1); 0x0001 as pynetdicom and DCMTK write it.
_DATA_SET_PRESENT = 0x0001
_FIND_PENDING = frozenset({0xFF00, 0xFF01})
_REACTOR_TURN_TIMEOUT = 1.0
#: The DUL reactor's idle sleep while the link has muted its socket (seconds).
_MUTED_POLL = 0.002
#: ``select`` wakes this often while waiting for a response, to look whether pynetdicom's
#: DIMSE queue got it after all (a safety net; see ``__enter__``).
_QUEUE_CHECK = 0.5
#: PS3.8 9.3.1: the PDU types a peer may send; anything else is Evt19 for the state machine.
_PDU_TYPES = frozenset({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07})


class _AnsweredElsewhere(Exception):
    """The response was read by pynetdicom's reactor after all; it is in the DIMSE queue."""


class LinkBroken(Exception):
    """The peer went away or sent something other than P-DATA; the association is ending."""


class _MutedSocket:
    """The DUL's view of the socket while the link is open: writes locked, and (``muted``)
    never readable."""

    def __init__(self, inner: Any, lock: threading.Lock, *, muted: bool = True) -> None:
        self._inner = inner
        self._lock = lock
        self._muted = muted

    @property
    def ready(self) -> bool:
        return False if self._muted else bool(self._inner.ready)

    def send(self, bytestream: bytes) -> None:
        with self._lock:
            self._inner.send(bytestream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _LoopWatch:
    """Stands in for the DUL's ARTIM timer for a moment: the DUL reactor reads ``expired`` at
    the start of every loop, so the first read after the socket was muted shows that any
    readiness check the reactor began on the unmuted socket is over."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.turned = threading.Event()

    @property
    def expired(self) -> bool:
        self.turned.set()
        return bool(self._inner.expired)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DirectLink:
    """While open (``with link:``), :meth:`send_c_store` does the I/O on the calling thread.

    Parameters
    ----------
    assoc
        An established association. For an acceptor, the caller must be the association's
        own thread inside a service handler (its reactor is then busy with the caller).
    take_reads
        ``False``: only writes go direct (responses of a C-FIND), reading stays with the DUL.
    """

    def __init__(self, assoc: Association, *, take_reads: bool = True) -> None:
        self._assoc = assoc
        self._take_reads = take_reads
        self._lock = threading.Lock()
        self._open = False
        self._broken = False
        self._paused = False
        self._buffer = bytearray()
        self._inner: Any = None  # pynetdicom's AssociationSocket, while open
        self._reactor_delay = 0.0
        self._why = ""
        self._foreign = False
        self._expected: int | None = None
        self._queued: Dataset | None = None

    @property
    def broken(self) -> bool:
        """The peer went away while the link was open."""
        return self._broken

    def __enter__(self) -> DirectLink:
        assoc = self._assoc
        dul = assoc.dul
        if self._take_reads and assoc.is_requestor:
            # As Association.send_c_store does: stop the reactor taking our responses.
            assoc._reactor_checkpoint.clear()
            deadline = time.monotonic() + 5
            while not assoc._is_paused and time.monotonic() < deadline:
                time.sleep(0.0001)
            self._paused = True
        self._inner = dul.socket
        self._selector = selectors.DefaultSelector()
        if self._take_reads:
            self._selector.register(self._inner.socket, selectors.EVENT_READ)
        muted = _MutedSocket(self._inner, self._lock, muted=self._take_reads)
        dul.socket = muted  # type: ignore[assignment]
        dul.send_pdu = self._send_pdu  # type: ignore[method-assign]
        if not self._take_reads:
            self._send_msg = assoc.dimse.send_msg
            assoc.dimse.send_msg = self._send_find_response  # type: ignore[method-assign]
        self._open = True
        if self._take_reads:
            # Nothing for the DUL reactor to read or write while muted: let it poll slowly.
            # At its busy poll (0.2 ms) it woke 5,000 times a second, each time taking the GIL
            # from this thread: 20-30 % of a C-GET's CPU time here. The cost is at most one
            # slow poll before it sends the final response, queued after the link closes.
            self._reactor_delay = dul._run_loop_delay
            dul._run_loop_delay = _MUTED_POLL
            # The reactor may have fetched the unmuted socket just before the swap and be
            # about to read from it (seen: it took a response meant for us once in ~3,000).
            # Wait until it starts its next loop; that costs one poll interval per retrieve.
            watch = _LoopWatch(dul.artim_timer)
            dul.artim_timer = watch  # type: ignore[assignment]
            if dul.is_alive() and not watch.turned.wait(_REACTOR_TURN_TIMEOUT):
                log.warning("DUL reactor did not turn within %s s", _REACTOR_TURN_TIMEOUT)
            dul.artim_timer = watch._inner
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._take_reads:
            with contextlib.suppress(LinkBroken, TimeoutError):
                self._drain()
        self._close()

    def _drain(self) -> None:
        """Hand PDUs already read past the last response (a C-CANCEL, a release request)
        to pynetdicom, so nothing the peer sent is lost when the DUL takes over again."""
        deadline = time.monotonic() + (self._assoc.dimse_timeout or 30)
        while self._open and self._buffer:
            self._to_pynetdicom(self._read_p_data(deadline))

    def _close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._selector.close()
        if self._take_reads:
            self._assoc.dul._run_loop_delay = self._reactor_delay
        dul = self._assoc.dul
        dul.__dict__.pop("send_pdu", None)
        if not self._take_reads:
            self._assoc.dimse.__dict__.pop("send_msg", None)
        dul.socket = self._inner
        if self._paused:
            self._paused = False
            self._assoc._reactor_checkpoint.set()

    # -- writing -----------------------------------------------------------------------------

    def _send_pdu(self, primitive: Any) -> None:
        """DUL.send_pdu while open: P-DATA goes straight to the socket, the rest to the DUL."""
        if not isinstance(primitive, P_DATA) or not self._open:
            type(self._assoc.dul).send_pdu(self._assoc.dul, primitive)
            return
        items = primitive.presentation_data_value_list
        body = b"".join(
            _PDV_HEADER.pack(len(value) + 1, context_id) + value for context_id, value in items
        )
        pdu = _PDU_HEADER.pack(_P_DATA_TF, 0, len(body)) + body
        with self._lock:
            try:
                self._inner.socket.sendall(pdu)
            except OSError as exc:
                # Not raised: pynetdicom sends its pending responses through here too.
                self._lost(f"send failed: {exc}")

    def _send_find_response(self, primitive: Any, context_id: int) -> None:
        """DIMSE send_msg while open for writes: a Pending C-FIND response with its identifier
        is framed here (command set by ``encode_command``, PS3.7 9.3.2.2) and written at once;
        pynetdicom built a pydicom command set and two encodings of it per response (a quarter
        of a C-FIND's time). Everything else goes through pynetdicom."""
        identifier = getattr(primitive, "Identifier", None)
        if (
            not self._open
            or not isinstance(primitive, C_FIND)
            or primitive.MessageIDBeingRespondedTo is None
            or primitive.Status not in _FIND_PENDING
            or identifier is None
        ):
            self._send_msg(primitive, context_id)
            return
        command = encode_command(
            [
                (0x0002, "UI", str(primitive.AffectedSOPClassUID)),
                (0x0100, "US", _C_FIND_RSP),
                (0x0120, "US", primitive.MessageIDBeingRespondedTo),
                (0x0800, "US", _DATA_SET_PRESENT),
                (0x0900, "US", primitive.Status),
            ]
        )
        pdus = self._p_data_pdus(context_id, command, identifier.getvalue())
        with self._lock:
            try:
                self._inner.socket.sendall(pdus)
            except OSError as exc:
                self._lost(f"send failed: {exc}")

    # -- reading -----------------------------------------------------------------------------

    def _recv_exact(self, count: int, deadline: float | None) -> bytes:
        sock = self._inner.socket
        while len(self._buffer) < count:
            timeout = _QUEUE_CHECK
            if deadline is not None:
                timeout = min(timeout, max(0.0, deadline - time.monotonic()))
            if not self._selector.select(timeout):
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError
                if self._expected is not None and self._queued_response(self._expected):
                    raise _AnsweredElsewhere
                continue
            try:
                chunk = sock.recv(max(65536, count - len(self._buffer)))
            except OSError as exc:
                raise self._lost(f"receive failed: {exc}") from None
            if not chunk:
                raise self._lost("connection closed by the peer")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _lost(self, why: str) -> LinkBroken:
        """Transport gone: tell the DUL state machine (Evt17), as its reader would."""
        if not self._broken:
            self._broken = True
            self._why = why
            self._close()
            # Closed here: pynetdicom's own close() shuts the socket down first, which raises
            # on a reset connection and then skips the close (the socket leaks until GC).
            with contextlib.suppress(OSError):
                self._inner.socket.close()
            self._assoc.dul.event_queue.put("Evt17")
        return LinkBroken(why)

    def _read_p_data(self, deadline: float | None) -> list[list[Any]]:
        """Read one PDU and return its ``[context ID, PDV]`` items (control header first);
        anything but P-DATA goes to the DUL state machine and breaks the link."""
        header = self._recv_exact(6, deadline)
        pdu_type, _, length = _PDU_HEADER.unpack(header)
        body = self._recv_exact(length, deadline) if pdu_type in _PDU_TYPES else b""
        dul = self._assoc.dul
        dul._idle_timer.restart()
        if pdu_type != _P_DATA_TF:
            self._broken = True
            self._close()
            if pdu_type in _PDU_TYPES:
                pdu, event = dul._decode_pdu(bytearray(header + body))
                dul.event_queue.put(event)
                dul._recv_pdu.put(pdu)
            else:
                dul.event_queue.put("Evt19")
            raise LinkBroken(f"peer sent PDU type 0x{pdu_type:02X} during the sub-operations")
        items: list[list[Any]] = []  # lists, as pynetdicom's P_DATA requires
        pos = 0
        while pos + 6 <= length:
            item_length, context_id = _PDV_HEADER.unpack_from(body, pos)
            items.append([context_id, body[pos + 5 : pos + 4 + item_length]])
            pos += 4 + item_length
        return items

    def _to_pynetdicom(self, items: list[list[Any]]) -> None:
        """Let pynetdicom's DIMSE layer have PDVs that are not our response (a C-CANCEL)."""
        primitive = P_DATA()
        primitive.presentation_data_value_list = items  # type: ignore[assignment]
        self._assoc.dimse.receive_primitive(primitive)

    def _await_response(self, msg_id: int, deadline: float | None) -> Dataset:
        """Read until the C-STORE-RSP to ``msg_id`` is complete; return its status dataset.

        Other messages (the peer may send a C-CANCEL meanwhile) are reassembled and queued by
        pynetdicom as its reader would.
        """
        command = bytearray()
        while True:
            for context_id, value in self._read_p_data(deadline):
                if self._foreign:  # pynetdicom is reassembling another message
                    self._to_pynetdicom([[context_id, value]])
                    self._foreign = self._assoc.dimse.message is not None
                    continue
                control = value[0]
                if not control & 0x01:  # a data set where a command belongs: not ours
                    self._to_pynetdicom([[context_id, value]])
                    self._foreign = self._assoc.dimse.message is not None
                    continue
                command += value[1:]
                if not control & 0x02:
                    continue
                fields = decode_command(command) or {}  # unparsable: left to pynetdicom
                if (
                    fields.get(0x0100) == _C_STORE_RSP
                    and fields.get(0x0120) == msg_id.to_bytes(2, "little")
                    and 0x0900 in fields
                ):
                    status = Dataset()
                    status.Status = int.from_bytes(fields[0x0900], "little")
                    if 0x0902 in fields:
                        status.ErrorComment = fields[0x0902].decode("ascii", "replace").strip()
                    return status
                self._to_pynetdicom([[context_id, bytes([control]) + bytes(command)]])
                self._foreign = self._assoc.dimse.message is not None
                command = bytearray()

    def _queued_response(self, msg_id: int) -> bool:
        """Whether pynetdicom's DIMSE queue holds the C-STORE-RSP to ``msg_id`` (kept)."""
        dimse = self._assoc.dimse
        for item in list(dimse.msg_queue.queue):
            response = item[1]
            if getattr(response, "MessageIDBeingRespondedTo", None) == msg_id:
                with contextlib.suppress(ValueError):
                    dimse.msg_queue.queue.remove(item)
                self._queued = self._assoc._check_received_status(response)
                return True
        return False

    def _p_data_pdus(self, context_id: int, command: bytes, dataset: bytes) -> bytes:
        """The message (command set and data set) as P-DATA-TF PDUs within the peer's
        maximum PDU length."""
        parts = [(command, True), (dataset, False)]
        return p_data_pdus(context_id, parts, self._assoc.dimse.maximum_pdu_size)

    # -- the sub-operation -------------------------------------------------------------------

    def send_c_store(
        self,
        dataset: Dataset,
        msg_id: int = 1,
        priority: int = 2,
        originator_aet: str | None = None,
        originator_id: int | None = None,
    ) -> Dataset:
        """Same contract as ``Association.send_c_store`` for a dataset with file meta.

        The C-STORE-RQ command set (PS3.7 9.3.1.1) is encoded here and sent with the data set
        in one write; the response's command set is decoded here. Returns the response's
        status dataset, or an empty dataset (a failed sub-operation) when the link is broken
        or no response came within the DIMSE timeout.

        Raises
        ------
        AttributeError, ValueError
            As ``Association.send_c_store``: no UIDs, no accepted context, not encodable.
        """
        assoc = self._assoc
        if self._broken or not self._open:
            return Dataset()
        from pynetdicom.association import (  # type: ignore[attr-defined]
            encode,  # the hooked encoder (see _stored_send)
        )

        syntax = dataset.file_meta.TransferSyntaxUID
        context = assoc._get_valid_context(dataset.SOPClassUID, syntax, "scu")
        accepted = context.transfer_syntax[0]
        encoded = encode(
            dataset, accepted.is_implicit_VR, accepted.is_little_endian, accepted.is_deflated
        )
        if encoded is None:
            raise ValueError("Failed to encode the supplied dataset")
        elements: list[tuple[int, str, Any]] = [
            (0x0002, "UI", str(dataset.SOPClassUID)),
            (0x0100, "US", _C_STORE_RQ),
            (0x0110, "US", msg_id),
            (0x0700, "US", priority),
            (0x0800, "US", _DATA_SET_PRESENT),
            (0x1000, "UI", str(dataset.SOPInstanceUID)),
        ]
        if originator_aet is not None:
            elements.append((0x1030, "AE", originator_aet))
        if originator_id is not None:
            elements.append((0x1031, "US", originator_id))
        pdus = self._p_data_pdus(cast(int, context.context_id), encode_command(elements), encoded)
        timeout = assoc.dimse_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self._lock:
                try:
                    self._inner.socket.sendall(pdus)
                except OSError as exc:
                    raise self._lost(f"send failed: {exc}") from None
            self._expected = msg_id
            return self._await_response(msg_id, deadline)
        except _AnsweredElsewhere:
            log.warning("C-STORE response was read by the DUL reactor msg_id=%s", msg_id)
            return self._queued if self._queued is not None else Dataset()
        except LinkBroken as exc:
            log.warning(
                "C-STORE sub-operation failed peer_ae=%s sop_instance_uid=%s reason=%s",
                assoc.acceptor.ae_title if assoc.is_requestor else assoc.requestor.ae_title,
                dataset.SOPInstanceUID,
                exc,
            )
            return Dataset()
        except TimeoutError:
            log.error("DIMSE timeout waiting for a C-STORE response; aborting the association")
            self._broken = True
            self._close()
            assoc.abort()
            return Dataset()
        finally:
            self._expected = None


def supports_direct(candidate: object) -> bool:
    """Whether ``candidate`` is a live pynetdicom association over a plain TCP socket.

    Not over TLS: ``select`` does not see bytes already decrypted inside the SSL layer, so
    a blocking read could wait for data that has arrived. Handlers' unit tests pass
    stand-ins, which keep pynetdicom's own path.
    """
    if not isinstance(candidate, Association) or not candidate.is_established:
        return False
    raw = getattr(candidate.dul.socket, "socket", None)
    return isinstance(raw, socket.socket) and not isinstance(raw, ssl.SSLSocket)


@contextlib.contextmanager
def direct_sub_operations(assoc: Association) -> Iterator[DirectLink]:
    """While active, ``assoc.send_c_store`` (which pynetdicom's C-GET/C-MOVE SCPs call for each
    sub-operation) runs over a :class:`DirectLink`. If the peer went away meanwhile, the
    association is aborted on the way out, so that pynetdicom stops at once instead of
    releasing a dead association (which waits for the ACSE timeout)."""
    link = DirectLink(assoc)
    with link:
        assoc.send_c_store = link.send_c_store  # type: ignore[method-assign,assignment]
        try:
            yield link
        finally:
            assoc.__dict__.pop("send_c_store", None)
    if link.broken and assoc.is_established:
        assoc.abort()


@contextlib.contextmanager
def direct_writes(assoc: Association) -> Iterator[None]:
    """While active, the association's P-DATA PDUs (e.g. C-FIND responses) are written on
    the calling thread instead of waiting for the DUL reactor's next poll; reading is left
    to pynetdicom (a C-CANCEL is seen as before)."""
    with DirectLink(assoc, take_reads=False):
        yield
