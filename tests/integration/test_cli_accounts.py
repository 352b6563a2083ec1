"""``raddx user`` and ``raddx token`` as operators use them, and the token working against a
live HTTP door on the same index; ``raddx serve`` printing the first-run setup code."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from typer.testing import CliRunner

from helpers import start_http_server, start_serve, stop_serve
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


def test_serve_prints_a_one_time_setup_code(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "data", tmp_path / "serve.log")
    try:
        match = re.search(r"setup code: (\S+)", serve.output())
        assert match, serve.output()
        base = serve.base_url
        assert httpx.get(f"{base}/api/studies").status_code == 401
        body = {"code": match.group(1), "name": "admin", "password": PASSWORD}
        assert httpx.post(f"{base}/api/auth/setup", json=body).status_code == 201
        assert httpx.post(f"{base}/api/auth/setup", json=body).status_code == 409
    finally:
        stop_serve(serve)
