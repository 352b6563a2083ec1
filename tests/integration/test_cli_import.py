"""``raddx import`` as a user runs it: the real CLI in a subprocess on a temp archive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pydicom

from dicom_factory import write_files

CT_SMALL = Path(pydicom.data.get_testdata_file("CT_small.dcm"))


def _raddx(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # RADDX_CONFIG (set by the autouse fixture in conftest.py) reaches the child through
    # os.environ, so no developer raddx.toml leaks in.
    return subprocess.run(
        [sys.executable, "-m", "raddx.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _count(output: str, label: str) -> int:
    match = re.search(rf"^{label}\s+(\d+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return int(match.group(1))


def test_import_a_folder_then_a_bad_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_files(inbox / "series", 3)
    (inbox / "CT_small.dcm").write_bytes(CT_SMALL.read_bytes())
    (inbox / "readme.txt").write_text("not DICOM")
    data_dir = tmp_path / "archive"

    first = _raddx("import", inbox, "--data-dir", data_dir)

    assert first.returncode == 0, first.stdout + first.stderr
    assert _count(first.stdout, "stored") == 4
    assert _count(first.stdout, "skipped") == 1
    assert "readme.txt: not DICOM: no DICM prefix" in first.stdout

    bad = inbox / "cut.dcm"
    bad.write_bytes(CT_SMALL.read_bytes()[:20_000])
    second = _raddx("import", inbox, "--data-dir", data_dir)

    assert second.returncode == 1, second.stdout + second.stderr
    assert _count(second.stdout, "stored") == 0
    assert _count(second.stdout, "duplicates") == 4
    assert _count(second.stdout, "rejected") == 1
    [line] = [line for line in second.stdout.splitlines() if str(bad) in line]
    assert "truncated" in line


def test_import_a_missing_path_exits_2(tmp_path: Path) -> None:
    result = _raddx("import", tmp_path / "nowhere", "--data-dir", tmp_path / "archive")
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr


def test_import_help_mentions_zip_and_dicomdir() -> None:
    result = _raddx("import", "--help")
    assert result.returncode == 0, result.stderr
    assert "zip" in result.stdout
    assert "DICOMDIR" in result.stdout
