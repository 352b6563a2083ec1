"""MLLP client: send one HL7 v2 message, read its acknowledgement (HL7 v2.5 2.9, Appendix C).

The message is encoded in the character set its own MSH-18 names (``~ISO IR87`` →
ISO-2022-JP, ``UNICODE UTF-8`` → UTF-8; :mod:`.charset`, the same table the listener reads),
framed (:mod:`.mllp`) and written on an asyncio stream with ``TCP_NODELAY``; the answer is
read as one block, decoded by *its* MSH-18 before it is split (a peer's ERR text may hold
kanji whose JIS bytes are delimiters) and parsed with python-hl7. MSA-1 ``AA``/``CA`` is
success; ``AE``/``AR``/``CE``/``CR`` raise :class:`AckError` with the peer's ERR text.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass

import hl7  # type: ignore[import-untyped]

from raddx.hl7.charset import CharsetError, decode, encode, read_header
from raddx.hl7.mllp import MAX_BLOCK, FramingError, frame, read_block

__all__ = ["Ack", "AckError", "DeliveryError", "MllpClient", "send_message"]

#: MSA-1 values meaning the peer took the message (HL7 Table 0008; C* = enhanced mode commit).
_ACCEPTED = frozenset({"AA", "CA"})
_REFUSED = frozenset({"AE", "AR", "CE", "CR"})


class DeliveryError(Exception):
    """The message did not reach the peer or no acknowledgement came back (connection
    refused, timeout, framing): worth trying again later."""


class AckError(Exception):
    """The peer answered and refused the message (MSA-1 AE/AR/CE/CR): trying the same bytes
    again will not help. ``code`` is MSA-1, ``str(exc)`` the peer's reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}" if reason else code)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Ack:
    """An accepting acknowledgement: MSA-1, MSA-2 (our MSH-10 echoed) and the answer text."""

    code: str
    control_id: str
    text: str


def encode_message(message: str) -> tuple[bytes, str]:
    """``message`` (segments separated by CR) as bytes in its MSH-18 character set, and its
    MSH-10 control ID.

    Raises
    ------
    CharsetError
        No MSH, an unknown MSH-18, or a character MSH-18's set cannot hold.
    """
    head = message.split("\r", 1)[0]
    header = read_header(head.encode("utf-8"))
    return encode(message, header, strict=True), header.field(10)


def read_ack(block: bytes, control_id: str) -> Ack:
    """Interpret an answer block.

    Raises
    ------
    AckError
        MSA-1 is AE/AR/CE/CR (the reason is ERR-8, else ERR-3's text, else MSA-3).
    DeliveryError
        Not an acknowledgement we can read, or MSA-2 is not our control ID.
    """
    try:
        text = decode(block, read_header(block))
        message = hl7.parse(text)
        msa = message.segment("MSA")
    except (CharsetError, KeyError, IndexError, hl7.ParseException) as exc:
        raise DeliveryError(f"the answer is not an HL7 acknowledgement: {exc}") from None
    code = _field(msa, 1).upper()
    echoed = _field(msa, 2)
    if code in _REFUSED:
        raise AckError(code, _reason(message, msa))
    if code not in _ACCEPTED:
        raise DeliveryError(f"the answer's MSA-1 {code!r} is not an acknowledgement code")
    if control_id and echoed != control_id:
        raise DeliveryError(f"the answer acknowledges {echoed!r}, not our message {control_id!r}")
    return Ack(code, echoed, text)


def _field(segment: hl7.Segment, number: int) -> str:
    return str(segment[number]).strip() if len(segment) > number else ""


def _reason(message: hl7.Message, msa: hl7.Segment) -> str:
    reasons = []
    for err in (s for s in message if str(s[0]) == "ERR"):
        # ERR-8 user message, else ERR-3's text component (HL7 v2.5 2.15.5), else ERR-1
        # (the v2.3 error code and location).
        text = _field(err, 8) or _field(err, 3).partition("^")[2].partition("^")[0]
        text = text or _field(err, 1)
        location = _field(err, 2)
        if text:
            reasons.append(message.unescape(f"{location}: {text}" if location else text))
    if not reasons and _field(msa, 3):
        reasons.append(message.unescape(_field(msa, 3)))  # MSA-3, the text message of v2.3
    return "; ".join(reasons)


class MllpClient:
    """One MLLP connection to ``host:port`` (asyncio streams), for one or more messages.

    Parameters
    ----------
    timeout
        Seconds allowed to connect, and to receive each acknowledgement.
    ssl_context
        Wrap the connection in TLS (MLLP over TLS, as IHE ATNA's secure node asks).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._ssl = ssl_context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Open the connection.

        Raises
        ------
        DeliveryError
            Refused, unreachable, or not connected within ``timeout``.
        """
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    limit=MAX_BLOCK,
                    server_hostname=self.host if self._ssl is not None else None,
                ),
                self.timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise DeliveryError(
                f"cannot connect to {self.host}:{self.port}: {str(exc) or 'timed out'}"
            ) from None
        self._reader, self._writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def send(self, message: str | bytes) -> Ack:
        """Send ``message`` and return the peer's accepting acknowledgement.

        ``message`` as text is encoded per its MSH-18; as bytes it is sent as it is (already
        encoded, e.g. a stored outbox payload).

        Raises
        ------
        CharsetError
            Text the MSH-18 character set cannot hold (nothing is sent).
        AckError
            The peer refused the message.
        DeliveryError
            The connection failed or no readable acknowledgement came in ``timeout``.
        """
        if isinstance(message, str):
            data, control_id = encode_message(message)
        else:
            data, control_id = message, read_header(message).field(10)
        if self._reader is None or self._writer is None:
            await self.connect()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(frame(data))
            await self._writer.drain()
            block = await asyncio.wait_for(read_block(self._reader), self.timeout)
        except (OSError, TimeoutError, FramingError) as exc:
            await self.close()
            raise DeliveryError(
                f"no acknowledgement from {self.host}:{self.port}: {str(exc) or 'timed out'}"
            ) from None
        if block is None:
            await self.close()
            raise DeliveryError(f"{self.host}:{self.port} closed the connection without answering")
        return read_ack(block, control_id)

    async def close(self) -> None:
        """Close the connection (no error if it is already gone)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> MllpClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def send_message(
    host: str,
    port: int,
    message: str | bytes,
    *,
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> Ack:
    """Send one message on a new connection and return the acknowledgement (for synchronous
    callers: the outbound worker thread, the CLI). Raises as :meth:`MllpClient.send`."""

    async def _run() -> Ack:
        async with MllpClient(host, port, timeout=timeout, ssl_context=ssl_context) as client:
            return await client.send(message)

    return asyncio.run(_run())
