"""Whole-or-nothing file writes: a temporary name in the target's folder, flushed to disk, then
renamed over the target (and the folder's entry flushed too).

Why one place: a manifest, a mapping table, an export or a re-sealed blob that is half written
when the power fails (or the process is killed) must never be read as complete. Readers see the
old file or the new one. The blob store's hot path (``filesystem.FileBlobStore.put``) has its
own link-based variant tuned for ingest; everything else writes through here.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["atomic_file", "fsync_dir_fd", "fsync_directory", "replace_synced"]


def fsync_directory(folder: Path) -> None:
    """Make a rename or a new name in ``folder`` durable (no-op where the filesystem refuses
    to fsync a directory)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync_dir_fd(fd)
    finally:
        os.close(fd)


def fsync_dir_fd(dir_fd: int) -> None:
    """fsync an open directory; a filesystem that refuses fsync on directories is not an
    error (the blob store's hot path holds its directories open and calls this)."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise


def replace_synced(tmp: Path, target: Path) -> None:
    """Flush the finished temporary file ``tmp``, rename it to ``target`` and flush the
    folder: for writers that build the file elsewhere (e.g. a ZIP written by ``zipfile``)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    fsync_directory(target.parent)


@contextmanager
def atomic_file(
    target: Path,
    mode: Literal["wb", "w"] = "wb",
    *,
    fsync: bool = True,
    mkdir: bool = False,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """``with atomic_file(path) as f: f.write(...)`` — ``path`` appears only when the block
    ends without an exception, complete and (with ``fsync``, the default) on disk; on an
    exception the temporary file is removed and ``path`` is untouched. The file is created
    0600 (``mkstemp``), whatever the umask: these files carry patient data or keys."""
    if mkdir:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(name)
    try:
        if mode == "wb":
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, target)
        if fsync:
            fsync_directory(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
