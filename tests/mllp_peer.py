"""A test HL7 receiver on loopback: raddx's own MLLP listener with a recording handler that
answers each message with the MSA-1 code the test chooses (AA, AE, AR) or not at all."""

from __future__ import annotations

import threading

from raddx.hl7 import MllpServer
from raddx.hl7.charset import decode, read_header

__all__ = ["MllpPeer"]


class MllpPeer:
    """Records every received block; ``ack`` is the MSA-1 to answer with (change it any
    time), ``error`` the ERR-8 text of a refusal. ``port`` 0 = a free port."""

    def __init__(self, port: int = 0, *, ack: str = "AA", error: str = "") -> None:
        self.ack, self.error = ack, error
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._server = MllpServer(self._answer, "127.0.0.1", port, workers=1)

    def start(self) -> MllpPeer:
        self._server.start()
        return self

    @property
    def port(self) -> int:
        return self._server.address[1]

    def stop(self) -> None:
        self._server.stop()

    def messages(self) -> list[str]:
        """The received messages decoded by their own MSH-18."""
        with self._lock:
            blocks = list(self.received)
        return [decode(b, read_header(b)) for b in blocks]

    def _answer(self, block: bytes) -> bytes:
        with self._lock:
            self.received.append(block)
        header = read_header(block)
        text = (
            f"MSH|^~\\&|PEER|PEER|{header.field(3)}|{header.field(4)}|20261126090000||ACK|"
            f"P{len(self.received)}|P|2.5||||||{header.charset}\r"
            f"MSA|{self.ack}|{header.field(10)}\r"
        )
        if self.ack != "AA":
            text += f"ERR||PID^1^3|101^Required field missing^HL70357|E||||{self.error}\r"
        return text.encode(header.codec or "ascii")
