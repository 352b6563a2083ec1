"""multipart/related framing (raddx.web.dicomweb._multipart): write, read back, and the
broken bodies a STOW upload can bring."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from raddx.errors import InvalidInput
from raddx.web.dicomweb._multipart import encode_parts, iter_parts, new_boundary


@pytest.mark.parametrize(
    "bodies",
    [
        [b"one"],
        [b"", b"\r\n--not-the-boundary\r\n"],  # a part that looks like framing
        [b"a" * 100_000, b"b"],
        [],
    ],
)
def test_round_trip(bodies: list[bytes]) -> None:
    boundary = new_boundary()
    data = b"".join(encode_parts([("application/dicom", b) for b in bodies], boundary))
    parts = list(iter_parts(data, boundary))
    assert [p.body for p in parts] == bodies
    assert all(p.complete and p.content_type == "application/dicom" for p in parts)


def test_preamble_and_no_headers() -> None:
    data = b"preamble\r\n--b\r\n\r\nbody\r\n--b--\r\n"
    [part] = iter_parts(data, "b")
    assert part.body == b"body" and part.headers == {} and part.complete


def test_missing_close_delimiter_marks_the_last_part_incomplete() -> None:
    data = b"--b\r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--b\r\n\r\nsecond-cut"
    first, second = iter_parts(data, "b")
    assert first.complete and first.body == b"first"
    assert not second.complete and second.body == b"second-cut"


@pytest.mark.parametrize(
    ("data", "boundary", "message"),
    [
        (b"--b\r\n\r\nx\r\n--b--", "other", "does not contain the boundary"),
        (b"no framing at all", "b", "does not contain the boundary"),
        (b"--b\r\nbroken header\r\n\r\nx\r\n--b--", "b", "malformed header"),
        (b"--b\r\n\r\nx", "", "1 to 70"),
    ],
)
def test_malformed(data: bytes, boundary: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        list(iter_parts(data, boundary))


def test_streamed_body_is_the_same_bytes_in_batches() -> None:
    """Async iteration (a streaming response) gives exactly the sync bytes, producing the
    parts a batch of about BATCH_BYTES at a time on a worker thread."""
    bodies = [bytes([n]) * 400_000 for n in range(7)]
    produced: list[int] = []

    def parts() -> Iterator[tuple[str, bytes]]:
        for number, body in enumerate(bodies):
            produced.append(number)
            yield "application/dicom", body

    boundary = new_boundary()
    expected = b"".join(encode_parts([("application/dicom", b) for b in bodies], boundary))

    async def collect() -> tuple[bytes, list[int]]:
        seen_after_first_chunk: list[int] = []
        out = b""
        async for chunk in encode_parts(parts(), boundary):
            if not out:
                seen_after_first_chunk = list(produced)
            out += chunk
        return out, seen_after_first_chunk

    out, first_batch = asyncio.run(collect())
    assert out == expected
    # 3 x 400 kB make the first 1 MiB batch; the next may be read ahead meanwhile, but
    # the parts are not all produced before the first chunk goes out.
    assert 3 <= len(first_batch) <= 6


def test_streamed_body_closes_the_parts_when_the_client_goes() -> None:
    closed: list[bool] = []

    def parts() -> Iterator[tuple[str, bytes]]:
        try:
            for _ in range(100):
                yield "application/dicom", b"x" * 600_000
        finally:
            closed.append(True)

    async def first_chunk_only() -> None:
        stream = encode_parts(parts(), "b").__aiter__()
        await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(first_chunk_only())
    assert closed == [True]
