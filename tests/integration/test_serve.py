"""``raddx serve`` as a user runs it: a real process, real ports, Ctrl-C to stop."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from dicom_factory import make_dataset, to_part10, write_files
from helpers import ServeChild, free_port, run_tool, start_serve, stop_serve, wait_for

pytestmark = pytest.mark.dcmtk


def _health(port: int) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _serve(tmp_path: Path) -> ServeChild:
    """``raddx serve`` on loopback with two DIMSE workers and HL7 on (a free port, not 2575:
    tests run side by side)."""
    return start_serve(
        tmp_path / "data",
        tmp_path / "serve.log",
        RADDX_HL7_PORT=str(free_port()),
        RADDX_DICOM_WORKERS="2",
    )


def test_serve_stores_answers_health_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, dcmtk: Callable[[str], str]
) -> None:
    # A complete object left unindexed by an earlier crash: the startup sweep recovers it.
    from raddx.archive import blob_key_for
    from raddx.storage import FileBlobStore

    survivor = make_dataset()
    key = blob_key_for(survivor.SOPInstanceUID)
    FileBlobStore(tmp_path / "data" / "blobs").put(key, to_part10(survivor))
    old = time.time() - 3600
    os.utime(tmp_path / "data" / "blobs" / key, (old, old))
    serve = _serve(tmp_path)
    process, dicom_port, http_port = serve.process, serve.dicom_port, serve.http_port
    try:
        assert _health(http_port) == {
            "status": "ok",
            "version": "0.1.0",
            "database": "ok",
            "storage": "ok",
        }
        workers = _children(process.pid)
        assert len(workers) == 1  # dicom_workers=2: the parent plus one forked worker
        echo = run_tool([dcmtk("echoscu"), "-aec", "RADDX", "127.0.0.1", str(dicom_port)])
        assert echo.returncode == 0, echo.stderr
        files = write_files(tmp_path / "in", 5)
        store = run_tool(
            [dcmtk("storescu"), "-aec", "RADDX", "127.0.0.1", str(dicom_port), *map(str, files)]
        )
        assert store.returncode == 0 and "Store Failed" not in store.stderr, store.stderr
        blobs = [p for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 6
        with contextlib.closing(sqlite3.connect(tmp_path / "data" / "index.sqlite")) as db:
            sources = dict(db.execute("SELECT sop_instance_uid, source FROM instance"))
        assert sources[survivor.SOPInstanceUID] == "recovered"
        assert sorted(sources.values()) == ["dimse"] * 5 + ["recovered"]
    finally:
        output = stop_serve(serve)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output
    assert "raddx stopped" in output
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        ), f"worker {pid} still running"


def test_serve_refuses_bad_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "raddx.cli", "serve", "--ae-title", "WAY_TOO_LONG_AE_TITLE"],
        env={**os.environ, "RADDX_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ae_title" in result.stderr


def _accepting_pids(log_path: Path) -> list[str]:
    """The process id of each fast-path association acceptance logged so far, in order."""
    lines = log_path.read_text().splitlines()
    return [line.split()[2] for line in lines if "path=fast" in line]


def test_concurrent_associations_are_spread_over_the_workers(tmp_path: Path) -> None:
    """Two senders at once must land in two worker processes (two GILs), not queue in one
    (``raddx.dimse.balance``). Placement is a heuristic with a few-ms window, so the test
    asks for a split in most of several trials, not in every one."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    serve = _serve(tmp_path)
    dicom_port, log_path = serve.dicom_port, serve.log
    try:
        ae = AE(ae_title="SENDER")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        splits = 0
        for trial in range(5):
            first = ae.associate("127.0.0.1", dicom_port, ae_title="RADDX")
            second = ae.associate("127.0.0.1", dicom_port, ae_title="RADDX")
            assert first.is_established and second.is_established
            # The worker logs the acceptance just after sending it: wait for both lines.
            wait_for(lambda n=2 * (trial + 1): len(_accepting_pids(log_path)) >= n)
            accepted = _accepting_pids(log_path)
            first.release()
            second.release()
            assert len(accepted) == 2 * (trial + 1)
            splits += accepted[-1] != accepted[-2]
        assert splits >= 4, log_path.read_text()
    finally:
        stop_serve(serve)
