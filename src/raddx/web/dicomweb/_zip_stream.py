"""A zip archive written as it is sent (PKWARE APPNOTE 4.3.9 data descriptors): the study
download for people (``Accept: application/zip``), one member per stored object, without
building the archive in memory or on disk first."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator

__all__ = ["zip_stream"]


class _Sink:
    """A write-only, unseekable file that hands back what was written since last asked;
    :class:`zipfile.ZipFile` then writes data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_stream(members: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """The bytes of a zip archive of ``members`` (name, content), one chunk per member.

    Members are stored, not deflated: most pixel data is compressed already or compresses
    slowly, and the point is a quick download of the objects as they are.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[call-overload]
        for name, content in members:
            archive.writestr(name, content)
            yield sink.take()
    yield sink.take()  # the central directory, written on close
