from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

import pytest

from raddx.storage import BlobExistsError, BlobNotFoundError, BlobStore, FileBlobStore
from raddx.storage.filesystem import filesystem_type


@pytest.fixture(params=[True, False], ids=["anonymous-temp", "named-temp"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> FileBlobStore:
    """Both ways of writing: ``O_TMPFILE`` (Linux default) and the portable named temp file."""
    if request.param and not FileBlobStore(tmp_path / "probe").anonymous_temp:
        pytest.skip("O_TMPFILE is not supported here")
    return FileBlobStore(tmp_path / "blobs", anonymous_temp=request.param)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_is_a_blob_store(store: FileBlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_get_roundtrip_exact_bytes(store: FileBlobStore) -> None:
    data = bytes(range(256)) * 1000
    assert store.put("ab/abcdef", data) == len(data)
    assert store.get("ab/abcdef") == data
    assert store.exists("ab/abcdef")
    with store.open("ab/abcdef") as fh:
        assert fh.read() == data


def test_put_accepts_chunks_and_streams_back_in_chunks(store: FileBlobStore) -> None:
    chunks = [b"a" * 1000, b"b" * 1000, b"c"]
    assert store.put("00/x", iter(chunks)) == 2001
    assert list(store.iter_chunks("00/x", chunk_size=1000)) == [b"a" * 1000, b"b" * 1000, b"c"]


def test_blobs_are_write_once(store: FileBlobStore) -> None:
    store.put("00/x", b"first")
    with pytest.raises(BlobExistsError):
        store.put("00/x", b"second")
    assert store.get("00/x") == b"first"
    assert _files(store.root) == ["00/x"]  # no temp file left behind


def test_missing_blob(store: FileBlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        store.get("00/none")
    assert not store.exists("00/none")
    assert store.delete("00/none") is False


def test_delete(store: FileBlobStore) -> None:
    store.put("00/x", b"data")
    assert store.delete("00/x") is True
    assert not store.exists("00/x")


@pytest.mark.parametrize("key", ["", "../escape", "a/../../b", ".hidden/x", "a//b", "/abs"])
def test_rejects_keys_outside_the_root(store: FileBlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put(key, b"x")


def test_disk_full_leaves_nothing(store: FileBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC in the middle of a write: the error reaches the caller, no temp file and no
    blob remain. (A real full disk cannot be made portably in CI; the failure is injected
    at the system call.)"""
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data)[:10])

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OSError) as info:
        store.put("00/big", b"x" * 100)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert _files(store.root) == []


def test_listing_excludes_temp_files_and_sweep_removes_stale_ones(store: FileBlobStore) -> None:
    store.put("00/kept", b"data")
    stale = store.root / "00" / ".kept.deadbeef.tmp"
    stale.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = store.root / "00" / ".other.cafe.tmp"
    fresh.write_bytes(b"in flight")
    assert [b.key for b in store.list_blobs()] == ["00/kept"]
    assert store.remove_stale_temp(older_than=time.time() - 3600) == 1
    assert not stale.exists()
    assert fresh.exists()


def test_anonymous_temp_is_detected_on_linux(tmp_path: Path) -> None:
    """CI runs on Linux ext4/tmpfs, where the faster, sweep-free way must be the one in use."""
    assert FileBlobStore(tmp_path / "blobs").anonymous_temp is (sys.platform == "linux")


def test_killed_writer_leaves_no_file_with_anonymous_temp(tmp_path: Path) -> None:
    """Mid-write, an O_TMPFILE blob has no name at all: nothing to sweep after a crash."""
    store = FileBlobStore(tmp_path / "blobs", anonymous_temp=True)
    if not store.anonymous_temp:
        pytest.skip("O_TMPFILE is not supported here")
    seen: list[list[str]] = []
    real_write = os.write

    def observing_write(fd: int, data: bytes | memoryview) -> int:
        seen.append(_files(store.root))
        return real_write(fd, data)

    os.write = observing_write  # type: ignore[assignment]
    try:
        store.put("00/blob", b"payload")
    finally:
        os.write = real_write  # type: ignore[assignment]
    assert seen == [[]]  # while writing, no file is visible under the root
    assert _files(store.root) == ["00/blob"]


def test_close_releases_directory_descriptors(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for bucket in ("00", "01", "02"):
        store.put(f"{bucket}/x", b"data")
    store.close()
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
    store.put("03/x", b"still usable")
    assert store.get("03/x") == b"still usable"
    store.close()


def test_filesystem_type_is_the_longest_mount_prefix(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        "tmpfs /srv tmpfs rw 0 0\n"
        "/dev/vdb /srv/pacs\\040data xfs rw 0 0\n"
        "nfs:/x /srv/pacs nfs4 rw 0 0\n"
    )
    assert filesystem_type("/srv/pacs data/blobs", str(mounts)) == "xfs"
    assert filesystem_type("/srv/pacs/blobs", str(mounts)) == "nfs4"
    assert filesystem_type("/srv/pacsX", str(mounts)) == "tmpfs"
    assert filesystem_type("/home", str(mounts)) == "ext4"
    assert filesystem_type("/home", str(tmp_path / "absent")) is None


@pytest.mark.parametrize("directories", [True, False])
def test_directory_fsync_follows_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directories: bool
) -> None:
    store = FileBlobStore(tmp_path / "blobs", fsync_directories=directories)
    synced: list[bool] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    store.put("00/blob", b"data")
    assert synced == ([False, True] if directories else [False])


def test_directory_fsync_default_depends_on_the_filesystem(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    assert store.fsync_directories is (filesystem_type(tmp_path) not in {"ext4", "ext3", "xfs"})
