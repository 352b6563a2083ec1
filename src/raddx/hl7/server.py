"""The MLLP listener: one block in, one answer out, per connection in order.

MLLP is strictly request/answer on a connection (HL7 v2.5 Appendix C: the sender waits for
the acknowledgement before it sends the next message), so each connection is served by its
own thread reading its socket with blocking calls, and the message is handled on that same
thread (domain services are synchronous, ARCHITECTURE "Concurrency"). Until issue 6's
benchmark this was an asyncio server handing every message to a thread pool and the answer
back to the event loop: two thread switches and an event-loop wake-up per message, each
waiting for the GIL behind the audit writer and the other doors (``bench/README.md``,
``ris.py``). A slow database still blocks only the connection that waits for it.

The listener itself is :class:`socketserver.ThreadingTCPServer` from the standard library;
``TCP_NODELAY`` is set on every accepted socket (STYLE rule 13), TLS is negotiated on the
connection's thread with a 30 s handshake limit.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable

from raddx.hl7.mllp import BlockReader, FramingError, frame

__all__ = ["MllpServer"]

log = logging.getLogger(__name__)

#: Seconds a TLS client may take for its handshake (the asyncio server's limit before).
_HANDSHAKE_TIMEOUT = 30.0


class MllpServer:
    """Accepts MLLP connections on ``host:port`` (port 0: a free port, see :attr:`address`).

    Parameters
    ----------
    handler
        Message bytes → answer bytes (:class:`raddx.hl7.handlers.MessageHandler`).
    workers
        Most messages handled at the same time, over all connections (further connections
        are served, their messages wait for a turn).
    ssl_context
        MLLP over TLS with this server context (:func:`raddx.security.tls.server_context`).
    gate
        Called with each message and the peer's address before ``handler``; a non-``None``
        result is sent as the answer instead (:class:`raddx.hl7.acceptance.SenderGate`).
    """

    def __init__(
        self,
        handler: Callable[[bytes], bytes],
        host: str,
        port: int,
        *,
        workers: int = 4,
        ssl_context: ssl.SSLContext | None = None,
        gate: Callable[[bytes, str], bytes | None] | None = None,
    ) -> None:
        self._handler = handler
        self._gate = gate
        self._ssl_context = ssl_context
        self._host, self._port = host, port
        self._turns = threading.BoundedSemaphore(workers)
        self._server: _Listener | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.address: tuple[str, int] = (host, port)

    @property
    def running(self) -> bool:
        """True while its background thread serves (the status page reports it)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind and serve on a background thread; returns once listening.

        Raises
        ------
        OSError
            The port cannot be bound.
        """
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        server = _Listener((self._host, self._port), self._connection, family)
        self._server = server
        sockname = server.socket.getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="mllp", daemon=True
        )
        self._thread.start()

    def _connection(self, sock: socket.socket, peer: object) -> None:
        """Serve one connection until the peer closes it, it breaks, or the server stops."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = sock
        try:
            if self._ssl_context is not None:
                sock.settimeout(_HANDSHAKE_TIMEOUT)
                try:
                    conn = self._ssl_context.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    log.warning("MLLP TLS handshake failed peer=%s reason=%s", peer, exc)
                    return
                conn.settimeout(None)
            if not self._track(conn):
                return
            try:
                self._serve(conn, peer)
            finally:
                with self._connections_lock:
                    self._connections.discard(conn)
        finally:
            if conn is not sock:
                with contextlib.suppress(OSError):
                    conn.close()

    def _serve(self, conn: socket.socket, peer: object) -> None:
        reader = BlockReader(conn)
        while True:
            try:
                block = reader.read_block()
            except FramingError as exc:
                log.warning("MLLP framing error peer=%s reason=%s", peer, exc)
                return
            except OSError:  # reset by the peer, or shut down by stop()
                return
            if block is None:
                return
            with self._turns:
                answer = self._answer(block, peer)
            try:
                conn.sendall(frame(answer))
            except OSError:
                return

    def _track(self, conn: socket.socket) -> bool:
        """Register ``conn`` for :meth:`stop`; ``False`` when the server is stopping."""
        with self._connections_lock:
            if self._server is None:
                return False
            self._connections.add(conn)
            return True

    def _answer(self, block: bytes, peer: object) -> bytes:
        if self._gate is not None:
            host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
            refused = self._gate(block, host)
            if refused is not None:
                return refused
        return self._handler(block)

    def stop(self) -> None:
        """Stop listening, let each connection finish the message it is handling (its answer
        is still sent), close the connections and wait for their threads."""
        with self._connections_lock:
            server, self._server = self._server, None
            connections = list(self._connections)
        if server is None:
            return
        server.shutdown()  # no new connections
        for conn in connections:
            # Only the reading side: a blocked recv returns at once, while an answer being
            # computed is still written. On a TLS socket, SSLSocket.shutdown would drop the
            # TLS state under that answer, so the plain socket's method is called.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RD)
        server.server_close()  # joins the connection threads
        if self._thread is not None:
            self._thread.join(timeout=10)


class _Listener(socketserver.ThreadingTCPServer):
    """The accepting socket; every connection runs ``serve(sock, peer)`` on its own thread."""

    daemon_threads = False
    block_on_close = True  # server_close() waits for the connection threads
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        serve: Callable[[socket.socket, object], None],
        family: socket.AddressFamily,
    ) -> None:
        self.address_family = family
        self._serve = serve
        super().__init__(address, _Connection)

    def finish_request(self, request: object, client_address: object) -> None:
        assert isinstance(request, socket.socket)
        self._serve(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        log.exception("MLLP connection failed peer=%s", client_address)


class _Connection(socketserver.BaseRequestHandler):
    """Unused: :meth:`_Listener.finish_request` serves the connection directly."""
