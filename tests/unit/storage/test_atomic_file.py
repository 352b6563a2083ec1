"""``atomic_file``: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from raddx.storage.atomic import atomic_file


def test_the_new_file_appears_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    with atomic_file(target, "w") as f:
        f.write('{"患者": "山田"}')
        assert not target.exists()  # nothing under the real name while writing
    assert target.read_text(encoding="utf-8") == '{"患者": "山田"}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "mapping.csv"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["mapping.csv"]


def test_mkdir_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "export.zip"
    with atomic_file(target, mkdir=True, fsync=False) as f:
        f.write(b"PK")
    assert target.read_bytes() == b"PK"
