"""``raddx serve`` records Application Activity: Application Start when it is up and
Application Stop on Ctrl-C (PS3.15 A.5.3.1), in the hash-chained log."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from audit_schema import assert_valid
from helpers import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(json.loads(response.read()))
    except OSError:
        return False


def test_serve_records_application_start_and_stop(tmp_path: Path) -> None:
    http_port = _free_port()
    env = {
        **os.environ,
        "RADDX_DATA_DIR": str(tmp_path / "data"),
        "RADDX_DICOM_HOST": "127.0.0.1",
        "RADDX_DICOM_PORT": str(_free_port()),
        "RADDX_HTTP_PORT": str(http_port),
        "RADDX_HL7_PORT": "0",
        "RADDX_DICOM_WORKERS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "raddx.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _up(http_port) or process.poll() is not None, 60)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    with sqlite3.connect(tmp_path / "data" / "index.sqlite") as db:
        rows = db.execute(
            "SELECT event_action_code, xml FROM audit_record WHERE event_id = '110100' ORDER BY seq"
        ).fetchall()
    types = []
    for action, xml in rows:
        assert action == "E"
        root = assert_valid(xml.encode())
        types.append(root.find("EventIdentification/EventTypeCode").get("csd-code"))
        assert root.xpath("ActiveParticipant/RoleIDCode/@csd-code") == ["110150"]
    assert types == ["110120", "110121"]
