"""Blob store on a local (or mounted) filesystem: the embedded default."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from raddx.storage.atomic import fsync_dir_fd
from raddx.storage.base import BlobExistsError, BlobInfo, BlobNotFoundError
from raddx.types import BlobKey

__all__ = ["FileBlobStore", "filesystem_type", "name_durable_with_file"]

_TMP_SUFFIX = ".tmp"
_O_TMPFILE: int = getattr(os, "O_TMPFILE", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)


def _supports_anonymous_temp(root: Path) -> bool:
    """Whether ``O_TMPFILE`` files can be created under ``root`` and given a name through
    ``/proc/self/fd`` (Linux with /proc, on a filesystem that supports it)."""
    if not _O_TMPFILE or not os.path.isdir("/proc/self/fd"):
        return False
    try:
        fd = os.open(root, _O_TMPFILE | os.O_WRONLY | _O_CLOEXEC, 0o644)
    except OSError:
        return False
    os.close(fd)
    return True


#: Filesystems whose journal commits a new link together with the linked inode, so that the
#: file's fsync (after the link) also makes its name durable: ext4/ext3 (jbd2 commits the
#: transaction holding the inode's last change, which is the link) and XFS (the log is forced
#: up to the inode's last change, the link transaction).
_NAME_DURABLE_WITH_FILE = frozenset({"ext4", "ext3", "xfs"})


_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def filesystem_type(path: Path | str, mounts: str = "/proc/self/mounts") -> str | None:
    """The type of the filesystem holding ``path`` (Linux), or ``None`` if unknown."""
    target = os.path.realpath(path)
    best, best_type = "", None
    try:
        with open(mounts, encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                # The kernel escapes space, tab, newline and backslash as octal (\040).
                point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[1])
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, best_type = point, fields[2]
    except OSError:
        return None
    return best_type


def name_durable_with_file(path: Path | str) -> bool:
    """Whether fsyncing a file just linked under ``path`` also makes its name durable."""
    return filesystem_type(path) in _NAME_DURABLE_WITH_FILE


def _close_fds(fds: dict[str, int]) -> None:
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.popitem()[1])


class FileBlobStore:
    """Blobs as files under ``root``; a key ``ab/abcdef…`` is the path ``root/ab/abcdef…``.

    A write goes to an anonymous file in the target directory (Linux ``O_TMPFILE``; elsewhere a
    hidden temp name); once every byte is written it is hard-linked to the final name (and a
    named temp file removed), and then the file and its directory are fsynced. ``link``
    (unlike ``rename``) fails when the name exists, which gives write-once semantics
    atomically: two associations storing the same instance at the same moment can never
    overwrite each other's bytes.

    Why ``O_TMPFILE``: the file has no name until it is complete, so a process killed mid-write
    leaves nothing behind to sweep, and it saves creating and removing a temp name
    (~15 µs per object here). Directory descriptors of the buckets are kept open for the
    directory fsync.

    Why link before fsync: on journaling filesystems (ext4, XFS) the file's fsync then also
    commits the link, so a blob costs one journal commit instead of two (the directory fsync
    finds nothing left to do); this saved ~0.4 ms per object here. Crash semantics: a process
    that dies at any point leaves either nothing under the final name or the complete bytes
    (the page cache survives a killed process). A power cut before ``put`` returned can leave
    an incomplete file under the final name; ``put`` never returned for it, so no index row
    refers to it, and the orphan sweep removes it.

    Parameters
    ----------
    root
        Directory holding the blobs; created if missing.
    fsync
        Flush every blob (and its directory entry) to stable storage before ``put`` returns.
    anonymous_temp
        Use ``O_TMPFILE``; ``None`` (default) = when the platform and filesystem support it.
    fsync_directories
        Also fsync the directory after linking a blob into it. ``None`` (default): unless
        the filesystem makes the name durable with the file (:func:`name_durable_with_file`).
    """

    def __init__(
        self,
        root: Path | str,
        *,
        fsync: bool = True,
        anonymous_temp: bool | None = None,
        fsync_directories: bool | None = None,
    ) -> None:
        self.root = Path(root)
        self._root_str = str(self.root)
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)
        self._dir_fds: dict[str, int] = {}
        weakref.finalize(self, _close_fds, self._dir_fds)
        # The 256 first-level buckets (``00``…``ff``) are made up front: creating a directory
        # inside the ingest path cost ~0.3 ms each for the first object of every bucket.
        for bucket in range(256):
            (self.root / f"{bucket:02x}").mkdir(exist_ok=True)
        self.anonymous_temp = (
            _supports_anonymous_temp(self.root) if anonymous_temp is None else anonymous_temp
        )
        self.fsync_directories = (
            not name_durable_with_file(self.root)
            if fsync_directories is None
            else fsync_directories
        )

    def _path(self, key: BlobKey) -> Path:
        return Path(self._path_str(key))

    def _path_str(self, key: BlobKey) -> str:
        # A str join: pathlib cost ~40 us per C-GET sub-operation, for the same check.
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise ValueError(f"invalid blob key {key!r}")
        return os.path.join(self._root_str, *parts)

    def _dir_fd(self, directory: Path) -> int:
        """An open descriptor of ``directory`` (created if missing), kept for the process."""
        name = str(directory)
        fd = self._dir_fds.get(name)
        if fd is None:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
            # Another thread may have opened it meanwhile: keep one, close the other.
            kept = self._dir_fds.setdefault(name, fd)
            if kept != fd:
                os.close(fd)
            fd = kept
        return fd

    def close(self) -> None:
        """Close the kept directory descriptors (the store stays usable; they reopen)."""
        _close_fds(self._dir_fds)

    def put(self, key: BlobKey, data: bytes | memoryview | Iterable[bytes | memoryview]) -> int:
        final = self._path(key)
        dir_fd = self._dir_fd(final.parent)
        if self.anonymous_temp:
            fd = os.open(".", _O_TMPFILE | os.O_WRONLY | _O_CLOEXEC, 0o644, dir_fd=dir_fd)
            tmp_name = None
        else:
            tmp_name = f".{final.name}.{secrets.token_hex(6)}{_TMP_SUFFIX}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
            fd = os.open(tmp_name, flags, 0o644, dir_fd=dir_fd)
        size = 0
        try:
            try:
                chunks = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                        size += written
                source = f"/proc/self/fd/{fd}" if tmp_name is None else tmp_name
                try:
                    # With a /proc path, linkat(AT_SYMLINK_FOLLOW) gives the anonymous file
                    # its name; the dir_fd arguments make os.link use linkat at all.
                    os.link(source, final.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except FileExistsError:
                    raise BlobExistsError(key) from None
            finally:
                # A named temp file is removed in every case: after the link the blob lives
                # on under its final name; after a failure nothing of it may stay behind.
                if tmp_name is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp_name, dir_fd=dir_fd)
            if self.fsync:
                try:
                    os.fsync(fd)
                    if self.fsync_directories:
                        fsync_dir_fd(dir_fd)
                except OSError:
                    # Not durable: the caller must not index it, so it must not stay either.
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(final.name, dir_fd=dir_fd)
                    raise
        finally:
            os.close(fd)
        return size

    def get(self, key: BlobKey) -> bytes:
        try:
            with open(self._path_str(key), "rb", buffering=0) as fh:
                return fh.readall()
        except FileNotFoundError:
            raise BlobNotFoundError(key) from None

    def open(self, key: BlobKey) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFoundError(key) from None

    def iter_chunks(self, key: BlobKey, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self.open(key) as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def exists(self, key: BlobKey) -> bool:
        return self._path(key).is_file()

    def delete(self, key: BlobKey) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def _walk(self) -> Iterator[os.DirEntry[str]]:
        stack = [str(self.root)]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        yield entry

    def list_blobs(self) -> Iterator[BlobInfo]:
        for entry in self._walk():
            if entry.name.startswith("."):
                continue
            st = entry.stat(follow_symlinks=False)
            key = Path(entry.path).relative_to(self.root).as_posix()
            yield BlobInfo(key=key, size=st.st_size, mtime=st.st_mtime)

    def remove_stale_temp(self, older_than: float) -> int:
        removed = 0
        for entry in self._walk():
            is_temp = entry.name.startswith(".") and entry.name.endswith(_TMP_SUFFIX)
            if is_temp and entry.stat(follow_symlinks=False).st_mtime < older_than:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        return removed
