"""The web application's static files at /ui/ (src/raddx/web/ui.py): public, served from the
build folder, hashed assets cacheable, client-side routes answered with index.html, nothing
outside the build folder, and a clear 503 when the UI was never built."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import raddx.web.ui
from raddx.config import load_settings
from raddx.services import Services
from raddx.web import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    yield TestClient(create_app(services), follow_redirects=False)
    services.close()


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ui_dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><main id=main></main>", encoding="utf-8")
    (root / "assets" / "index-abc123.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not for the web", encoding="utf-8")
    monkeypatch.setattr(raddx.web.ui, "UI_DIST", root)
    return root


def test_root_redirects_to_the_application(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/ui/"


def test_index_and_assets_are_public(client: TestClient, dist: Path) -> None:
    index = client.get("/ui/")
    assert index.status_code == 200
    assert "<main id=main>" in index.text
    assert index.headers["cache-control"] == "no-cache"
    asset = client.get("/ui/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.text == "console.log(1)"
    assert "immutable" in asset.headers["cache-control"]
    assert "javascript" in asset.headers["content-type"]


def test_client_side_routes_answer_the_index(client: TestClient, dist: Path) -> None:
    response = client.get("/ui/studies/1.2.3")
    assert response.status_code == 200
    assert "<main id=main>" in response.text


def test_missing_asset_is_404_not_the_index(client: TestClient, dist: Path) -> None:
    assert client.get("/ui/assets/gone-000.js").status_code == 404


@pytest.mark.parametrize(
    "path", ["/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/..%2fsecret.txt"]
)
def test_nothing_outside_the_build_folder(client: TestClient, dist: Path, path: str) -> None:
    response = client.get(path)
    assert "not for the web" not in response.text


def test_unbuilt_application_says_how_to_build_it(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(raddx.web.ui, "UI_DIST", tmp_path / "never-built")
    response = client.get("/ui/")
    assert response.status_code == 503
    assert "make ui" in response.text


def test_the_api_behind_the_application_still_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/studies").status_code == 401


def test_scripts_get_no_basic_challenge(client: TestClient) -> None:
    # A Basic challenge would make the browser pop up its own password dialog over the
    # application's login page; machine clients still learn both schemes.
    script = client.get("/api/studies", headers={"X-Requested-With": "XMLHttpRequest"})
    assert script.status_code == 401
    assert script.headers["www-authenticate"] == 'Bearer realm="raddx"'
    machine = client.get("/api/studies")
    assert "Basic" in machine.headers["www-authenticate"]
