from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from raddx.services import Services
from raddx.web import create_app


def test_healthz_ok(services: Services) -> None:
    response = TestClient(create_app(services)).get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["storage"] == "ok"


def test_healthz_reports_missing_storage(services: Services) -> None:
    shutil.rmtree(services.blobs.root)
    response = TestClient(create_app(services)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["storage"].startswith("error")
