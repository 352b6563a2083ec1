"""MLLP framing (HL7 v2.5 Appendix C, "Minimal Lower Layer Protocol"), apart from HL7 meaning.

A block is ``<VT> data <FS><CR>``. Written on asyncio streams (:func:`read_block`, the
client) and on blocking sockets (:class:`BlockReader`, the server's connection threads)
directly rather than through python-hl7's ``hl7.mllp`` server: that one decodes every message
with one fixed encoding, while we must read MSH-18 from each message's bytes before decoding
it (:mod:`.charset`). Both readers share one rule for what a block is (:func:`_payload`).
"""

from __future__ import annotations

import asyncio
import logging
import socket

__all__ = ["END_BLOCK", "START_BLOCK", "BlockReader", "FramingError", "frame", "read_block"]

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"
#: Largest message we accept (an order is a few KB; reports with embedded PDFs are not ours).
MAX_BLOCK = 4 * 1024 * 1024


class FramingError(Exception):
    """The peer sent bytes that are not an MLLP block (no start block, or no end block
    before the connection closed)."""


def frame(data: bytes) -> bytes:
    """``data`` as one MLLP block."""
    return START_BLOCK + data + END_BLOCK


async def read_block(reader: asyncio.StreamReader) -> bytes | None:
    """The next block's payload, or ``None`` when the peer closed between blocks.

    A block that is cut short by a new start block (the sender gave up on a message and
    started the next) is dropped with a warning, and the following block is returned.

    Raises
    ------
    FramingError
        The connection closed in the middle of a block (no end block), the data does not
        begin with a start block, or the block exceeds ``MAX_BLOCK``.
    """
    try:
        data = await reader.readuntil(END_BLOCK)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise FramingError(
            f"connection closed after {len(exc.partial)} bytes without an MLLP end block"
        ) from None
    except asyncio.LimitOverrunError:
        raise FramingError(f"MLLP block larger than {MAX_BLOCK} bytes") from None
    return _payload(data)


def _payload(data: bytes) -> bytes:
    """The payload of ``data``, which runs up to and including an end block.

    Raises
    ------
    FramingError
        No start block in ``data``.
    """
    start = data.rfind(START_BLOCK)
    if start < 0:
        raise FramingError("data does not begin with an MLLP start block (0x0B)")
    if data[:start].strip(b"\r\n \x0b"):
        log.warning("MLLP block without end block dropped bytes=%d", start)
    return data[start + 1 : -len(END_BLOCK)]


class BlockReader:
    """Blocks from a blocking socket, with the rules of :func:`read_block`.

    MLLP is strictly request/answer on a connection (HL7 v2.5 Appendix C), so the server
    reads each connection on its own thread with plain blocking ``recv`` calls: no event
    loop, no hand-over between threads per message (``bench/ris.py``).
    """

    def __init__(self, sock: socket.socket, *, chunk: int = 65536) -> None:
        self._sock = sock
        self._chunk = chunk
        self._buffer = bytearray()

    def read_block(self) -> bytes | None:
        """The next block's payload, or ``None`` when the peer closed between blocks.

        Raises
        ------
        FramingError
            As :func:`read_block`.
        OSError
            The connection failed (reset, or shut down by the server).
        """
        buffer = self._buffer
        searched = 0
        while True:
            end = buffer.find(END_BLOCK, searched)
            if end > MAX_BLOCK:
                raise FramingError(f"MLLP block larger than {MAX_BLOCK} bytes")
            if end >= 0:
                end += len(END_BLOCK)
                data = bytes(buffer[:end])
                del buffer[:end]
                return _payload(data)
            if len(buffer) > MAX_BLOCK:
                raise FramingError(f"MLLP block larger than {MAX_BLOCK} bytes")
            # The end block may straddle two reads: search again from its possible start.
            searched = max(0, len(buffer) - len(END_BLOCK) + 1)
            chunk = self._sock.recv(self._chunk)
            if not chunk:
                if not bytes(buffer).strip():
                    return None
                raise FramingError(
                    f"connection closed after {len(buffer)} bytes without an MLLP end block"
                )
            buffer += chunk
