"""``raddx.system``: what the operators' status page reports, and that a broken part is
reported (not raised): a database that cannot be opened, a storage directory that is gone or
read-only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from raddx.system import database_status, disk_status


def test_disk_status_of_a_directory(tmp_path: Path) -> None:
    found = disk_status(tmp_path)
    assert found.ok and found.writable and found.error is None
    assert found.total_bytes is not None and found.free_bytes is not None
    assert 0 < found.free_bytes <= found.total_bytes
    assert found.used_bytes is not None and found.used_bytes <= found.total_bytes


def test_disk_status_of_a_missing_directory(tmp_path: Path) -> None:
    found = disk_status(tmp_path / "gone")
    assert not found.ok and found.error == "not a directory" and found.free_bytes is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_disk_status_of_a_read_only_directory(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        found = disk_status(folder)
    finally:
        folder.chmod(0o700)
    assert not found.ok and not found.writable and found.error == "not writable"
    assert found.free_bytes is not None  # the disk is still measured


def test_database_status(tmp_path: Path) -> None:
    good = create_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    bad = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'index.sqlite'}")
    try:
        assert database_status(good).ok
        broken = database_status(bad)
        assert not broken.ok and broken.dialect == "sqlite"
        assert broken.error == "OperationalError"
    finally:
        good.dispose()
        bad.dispose()
