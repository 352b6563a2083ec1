"""multipart/related framing (RFC 2387, RFC 2046 5.1), kept apart from what the parts mean
(STYLE rule 13): WADO-RS writes it, STOW-RS reads it.

Reading works on any buffer (``bytes``, ``mmap``) and never copies more than one part, so
a STOW upload spooled to disk is framed without being loaded into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from raddx.errors import InvalidInput

__all__ = ["MultipartBody", "Part", "encode_parts", "iter_parts", "new_boundary"]

_CRLF = b"\r\n"


def new_boundary() -> str:
    """A boundary no stored object will contain by chance (122 random bits)."""
    return f"raddx-{uuid.uuid4().hex}"


def encode_parts(parts: Iterable[tuple[str, bytes]], boundary: str) -> MultipartBody:
    """The body of a multipart/related message (see :class:`MultipartBody`)."""
    return MultipartBody(parts, boundary)


class MultipartBody:
    """A multipart/related body, one chunk per part (header and bytes separately, so the
    part's bytes are never copied), then the close delimiter.

    Iterable both ways. Sync iteration serves ``b"".join(...)``. A streaming response
    iterates asynchronously, and then the parts (read from the blob store, transcoded…) are
    produced on a worker thread in batches of at least :data:`BATCH_BYTES`, one batch ahead
    of the one being sent: Starlette otherwise hops to a thread and back for every chunk, two
    per instance (~40 % of a WADO-RS study retrieve's busy time in py-spy), and reading
    waits while sending and the reverse.
    """

    #: Bytes produced per worker-thread hop when streamed.
    BATCH_BYTES = 1 << 20

    def __init__(self, parts: Iterable[tuple[str, bytes]], boundary: str) -> None:
        self._parts = parts
        self._boundary = boundary

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks()

    def _chunks(self) -> Generator[bytes]:
        opening = f"--{self._boundary}\r\n".encode("ascii")
        between = f"\r\n--{self._boundary}\r\n".encode("ascii")
        first = True
        for content_type, data in self._parts:
            header = f"Content-Type: {content_type}\r\n\r\n".encode("ascii")
            yield (opening if first else between) + header
            yield data
            first = False
        yield (b"" if first else _CRLF) + f"--{self._boundary}--\r\n".encode("ascii")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[bytes]:
        chunks = self._chunks()
        # One batch ahead: the next parts are read while the current ones are sent.
        ahead: asyncio.Future[tuple[list[bytes], bool]] | None = asyncio.ensure_future(
            run_in_threadpool(_take, chunks, self.BATCH_BYTES)
        )
        try:
            while ahead is not None:
                batch, more = await ahead
                ahead = (
                    asyncio.ensure_future(run_in_threadpool(_take, chunks, self.BATCH_BYTES))
                    if more
                    else None
                )
                for chunk in batch:
                    yield chunk
        finally:
            if ahead is not None:  # a client that went away: let the read finish first
                with contextlib.suppress(Exception):
                    await ahead
            chunks.close()  # and end the parts' generator now


def _take(chunks: Generator[bytes], limit: int) -> tuple[list[bytes], bool]:
    """Chunks up to at least ``limit`` bytes, and whether there may be more."""
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= limit:
            return batch, True
    return batch, False


class _Buffer(Protocol):
    def find(self, sub: bytes, start: int = ..., /) -> int: ...

    def __getitem__(self, key: slice, /) -> bytes: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Part:
    """One body part: its header fields (names lower-cased) and its content; ``complete``
    is false for a last part the message ended inside (no close delimiter)."""

    index: int
    headers: dict[str, str]
    body: bytes
    complete: bool = True
    #: Where ``body`` lies in the framed buffer, to read it again later without keeping a
    #: copy (STOW-RS bulk data parts).
    start: int = 0
    end: int = 0

    @property
    def content_type(self) -> str:
        """The part's media type without parameters, lower-cased ('' when not given)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def _headers(block: bytes, index: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(_CRLF):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise InvalidInput(f"part {index + 1}: malformed header line {line[:60]!r}")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


def iter_parts(buffer: _Buffer, boundary: str) -> Iterator[Part]:
    """The parts of a multipart body in ``buffer`` (RFC 2046 5.1.1).

    A message that ends without the close delimiter yields its last part with
    ``complete=False`` (the caller rejects it: a truncated upload); a part without the blank
    line ending its headers is yielded empty and incomplete.

    Raises
    ------
    InvalidInput
        The body does not start with the boundary (a wrong boundary parameter, or not a
        multipart body at all), or a header line is malformed.
    """
    if not boundary or len(boundary) > 70:
        raise InvalidInput("the multipart boundary must have 1 to 70 characters (RFC 2046)")
    dash = b"--" + boundary.encode("latin-1")
    start = buffer.find(dash)
    if start < 0 or (start > 0 and buffer.find(_CRLF + dash) != start - 2):
        raise InvalidInput(
            f"the body does not contain the boundary {boundary!r} of its Content-Type"
        )
    delimiter = _CRLF + dash
    position = start + len(dash)
    index = 0
    while True:
        if buffer[position : position + 2] == b"--":
            return  # the close delimiter
        line_end = buffer.find(_CRLF, position)
        if line_end < 0:
            return  # nothing after the last delimiter: an empty, harmless epilogue
        header_start = line_end + 2
        header_end = buffer.find(_CRLF + _CRLF, header_start)
        if buffer[header_start : header_start + 2] == _CRLF:
            header_end = header_start - 2  # no header fields at all
        next_delimiter = buffer.find(delimiter, header_start)
        if header_end < 0 or (0 <= next_delimiter < header_end):
            yield Part(index, {}, b"", complete=False)
            if next_delimiter < 0:
                return
            position, index = next_delimiter + len(delimiter), index + 1
            continue
        headers = _headers(buffer[header_start:header_end], index)
        body_start = header_end + 4
        if next_delimiter < 0:
            end = len(buffer)
            yield Part(index, headers, buffer[body_start:end], False, body_start, end)
            return
        yield Part(
            index, headers, buffer[body_start:next_delimiter], True, body_start, next_delimiter
        )
        position, index = next_delimiter + len(delimiter), index + 1
