"""HL7 v2 door: MLLP framing, charset-aware decoding, order and ADT handlers (issue 6)."""

from __future__ import annotations

from raddx.hl7.handlers import MessageHandler
from raddx.hl7.mllp import FramingError, frame, read_block
from raddx.hl7.server import MllpServer

__all__ = ["FramingError", "MessageHandler", "MllpServer", "frame", "read_block"]
