"""``raddx serve`` reports its listeners and workers on ``GET /api/system/status``: the DICOM
and HL7 listeners and the outbound worker it started are "running" (the administration
page's system status)."""

from __future__ import annotations

from pathlib import Path

import httpx

from helpers import api_token, free_port, start_serve, stop_serve
from raddx.config import load_settings
from raddx.services import Services


def test_serve_reports_its_workers(tmp_path: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        token = api_token(services, "service")  # remote maintenance: no patient data
    finally:
        services.close()
    serve = start_serve(tmp_path / "data", tmp_path / "serve.log", RADDX_HL7_PORT=str(free_port()))
    url = serve.base_url
    process = serve.process
    try:
        status = httpx.get(
            f"{url}/api/system/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["workers"] == {"dicom": "running", "hl7": "running", "outbox": "running"}
        assert body["ok"] is True and body["storage"]["free_bytes"] > 0
    finally:
        output = stop_serve(serve)
    assert process.returncode == 0, output
