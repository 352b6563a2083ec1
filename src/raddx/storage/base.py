"""The blob store contract: where the Part 10 bytes of every instance live.

The index (``raddx.db``) says *what* we have; the blob store holds the bytes exactly as they were
received. Keeping the contract this small lets a filesystem, an S3-compatible bucket or a test
double stand behind it without the archive noticing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from raddx.types import BlobKey

__all__ = ["BlobExistsError", "BlobInfo", "BlobNotFoundError", "BlobStore"]


class BlobExistsError(Exception):
    """``put`` found the key taken. Blobs are never overwritten in place: a replaced instance
    gets a new key, so the index and the bytes can never disagree half-way through a write."""


class BlobNotFoundError(KeyError):
    """No blob under this key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """One stored blob as seen by a listing (used by the orphan sweep)."""

    key: BlobKey
    size: int
    mtime: float


@runtime_checkable
class BlobStore(Protocol):
    """Write-once storage of byte strings under string keys.

    Implementations must make ``put`` atomic and durable: after it returns the complete bytes
    are under ``key`` (and, when the store is configured to, on stable storage); after a crash
    or an exception there is either the complete blob or nothing under ``key``.
    """

    def put(self, key: BlobKey, data: bytes | memoryview | Iterable[bytes | memoryview]) -> int:
        """Store ``data`` under ``key`` and return its size.

        Raises
        ------
        BlobExistsError
            ``key`` is already taken; nothing was written.
        OSError
            The write failed (e.g. ``ENOSPC``); nothing was kept.
        """
        ...

    def get(self, key: BlobKey) -> bytes:
        """Return the whole blob; raise :class:`BlobNotFoundError` if absent."""
        ...

    def open(self, key: BlobKey) -> BinaryIO:
        """Open the blob for streaming reads; the caller closes it."""
        ...

    def iter_chunks(self, key: BlobKey, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the blob in chunks, so large objects never sit in memory whole."""
        ...

    def exists(self, key: BlobKey) -> bool:
        """Whether a complete blob is stored under ``key``."""
        ...

    def delete(self, key: BlobKey) -> bool:
        """Remove the blob; return False if there was none."""
        ...

    def list_blobs(self) -> Iterator[BlobInfo]:
        """Every complete blob, in no particular order."""
        ...

    def remove_stale_temp(self, older_than: float) -> int:
        """Remove unfinished writes (left by a crash) last touched before ``older_than``
        (a POSIX timestamp); return how many were removed."""
        ...
