"""``raddx user`` and ``raddx token`` as operators use them, and the token working against a
live HTTP door on the same index; ``raddx serve`` printing the first-run setup code."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from helpers import start_http_server, wait_for
from raddx.cli import app
from raddx.config import load_settings
from raddx.services import Services

PASSWORD = "correct horse battery"


def _common(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data")]


def test_user_add_list_disable_unlock(tmp_path: Path) -> None:
    runner = CliRunner()
    common = _common(tmp_path)
    added = runner.invoke(
        app, ["user", "add", "yamada", "--role", "radiologist", *common], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    again = runner.invoke(
        app, ["user", "add", "yamada", "--role", "viewer", *common], input=PASSWORD + "\n"
    )
    assert again.exit_code == 1 and "exists" in again.output
    weak = runner.invoke(app, ["user", "add", "sato", "--role", "viewer", *common], input="short\n")
    assert weak.exit_code == 1 and "at least 13" in weak.output
    role = runner.invoke(
        app, ["user", "add", "sato", "--role", "root", *common], input=PASSWORD + "\n"
    )
    assert role.exit_code == 1 and "unknown role" in role.output
    listed = runner.invoke(app, ["user", "list", *common])
    assert listed.output.splitlines() == ["yamada\tradiologist\tactive\tno-2fa"]
    assert runner.invoke(app, ["user", "disable", "yamada", *common]).exit_code == 0
    assert "disabled" in runner.invoke(app, ["user", "list", *common]).output
    assert runner.invoke(app, ["user", "unlock", "yamada", *common]).exit_code == 0
    missing = runner.invoke(app, ["user", "unlock", "nobody", *common])
    assert missing.exit_code == 1 and "no user" in missing.output


def test_token_create_use_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    common = _common(tmp_path)
    created = runner.invoke(app, ["token", "create", "viewer-app", "--role", "viewer", *common])
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    assert token.startswith("rdx_") and len(token) > 40
    listed = runner.invoke(app, ["token", "list", *common]).output
    assert "viewer-app\tviewer" in listed and token not in listed

    settings = load_settings(data_dir=tmp_path / "data", auth_cache_seconds=0)
    services = Services.from_settings(settings)
    server = start_http_server(services)
    try:
        url = f"{server.base_url}/dicom-web/studies"
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        store = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, content=b"")
        assert store.status_code == 403  # a viewer token may not STOW
        assert runner.invoke(app, ["token", "revoke", "viewer-app", *common]).exit_code == 0
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        server.stop()
        services.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_prints_a_one_time_setup_code(tmp_path: Path) -> None:
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
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "raddx.cli", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        wait_for(lambda: "setup code:" in log.read_text() or process.poll() is not None, 60)
        match = re.search(r"setup code: (\S+)", log.read_text())
        assert match, log.read_text()
        base = f"http://127.0.0.1:{http_port}"
        wait_for(lambda: _up(base), 60)
        assert httpx.get(f"{base}/api/studies").status_code == 401
        body = {"code": match.group(1), "name": "admin", "password": PASSWORD}
        assert httpx.post(f"{base}/api/auth/setup", json=body).status_code == 201
        assert httpx.post(f"{base}/api/auth/setup", json=body).status_code == 409
    finally:
        process.terminate()
        process.wait(timeout=60)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
