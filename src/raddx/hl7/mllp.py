"""MLLP framing (HL7 v2.5 Appendix C, "Minimal Lower Layer Protocol"), apart from HL7 meaning.

A block is ``<VT> data <FS><CR>``. Written on asyncio streams directly rather than through
python-hl7's ``hl7.mllp`` server: that one decodes every message with one fixed encoding,
while we must read MSH-18 from each message's bytes before decoding it (:mod:`.charset`).
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["END_BLOCK", "START_BLOCK", "FramingError", "frame", "read_block"]

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
    start = data.rfind(START_BLOCK)
    if start < 0:
        raise FramingError("data does not begin with an MLLP start block (0x0B)")
    if data[:start].strip(b"\r\n \x0b"):
        log.warning("MLLP block without end block dropped bytes=%d", start)
    return data[start + 1 : -len(END_BLOCK)]
