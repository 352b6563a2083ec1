"""The MLLP listener (asyncio): one block in, one answer out, per connection in order.

Runs its own event loop on a background thread so that ``raddx serve`` can start it next to
the DIMSE and HTTP doors; each message is handled on a worker thread (domain services are
synchronous, ARCHITECTURE "Concurrency"), so a slow database never blocks other peers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from raddx.hl7.mllp import MAX_BLOCK, FramingError, frame, read_block

__all__ = ["MllpServer"]

log = logging.getLogger(__name__)


class MllpServer:
    """Accepts MLLP connections on ``host:port`` (port 0: a free port, see :attr:`address`).

    Parameters
    ----------
    handler
        Message bytes → answer bytes (:class:`raddx.hl7.handlers.MessageHandler`).
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
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hl7")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
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
        self._thread = threading.Thread(target=self._run, name="mllp", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._connection,
                    self._host,
                    self._port,
                    limit=MAX_BLOCK,
                    ssl=self._ssl_context,
                    ssl_handshake_timeout=30 if self._ssl_context is not None else None,
                )
            )
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    block = await read_block(reader)
                except FramingError as exc:
                    log.warning("MLLP framing error peer=%s reason=%s", peer, exc)
                    return
                if block is None:
                    return
                answer = await loop.run_in_executor(self._executor, self._answer, block, peer)
                writer.write(frame(answer))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    def _answer(self, block: bytes, peer: object) -> bytes:
        if self._gate is not None:
            host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
            refused = self._gate(block, host)
            if refused is not None:
                return refused
        return self._handler(block)

    def stop(self) -> None:
        """Stop listening, close connections, wait for the thread."""
        loop, server = self._loop, self._server
        if loop is not None and server is not None and loop.is_running():

            async def _close() -> None:
                server.close()
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                # Let each connection run its ``finally`` (writer.close()) and the transports
                # their close callbacks before the loop stops; stopping at once left accepted
                # sockets open until garbage collection (a ResourceWarning at shutdown).
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.sleep(0)
                loop.stop()

            asyncio.run_coroutine_threadsafe(_close(), loop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._executor.shutdown(wait=True)
