"""``raddx serve`` reports its listeners and workers on ``GET /api/system/status``: the DICOM
and HL7 listeners and the outbound worker it started are "running" (the administration
page's system status)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from helpers import api_token, stop_serve, wait_for
from raddx.config import load_settings
from raddx.services import Services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_reports_its_workers(tmp_path: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        token = api_token(services, "service")  # remote maintenance: no patient data
    finally:
        services.close()
    http_port = _free_port()
    env = {
        **os.environ,
        "RADDX_DATA_DIR": str(tmp_path / "data"),
        "RADDX_DICOM_HOST": "127.0.0.1",
        "RADDX_DICOM_PORT": str(_free_port()),
        "RADDX_HTTP_PORT": str(http_port),
        "RADDX_HL7_HOST": "127.0.0.1",
        "RADDX_HL7_PORT": str(_free_port()),
        "RADDX_DICOM_WORKERS": "1",
    }
    url = f"http://127.0.0.1:{http_port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "raddx.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _up(url) or process.poll() is not None, 60)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        status = httpx.get(
            f"{url}/api/system/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["workers"] == {"dicom": "running", "hl7": "running", "outbox": "running"}
        assert body["ok"] is True and body["storage"]["free_bytes"] > 0
    finally:
        output = stop_serve(process)
    assert process.returncode == 0, output
