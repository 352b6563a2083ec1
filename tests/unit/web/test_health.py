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


def test_cors_only_when_configured(services: Services) -> None:
    headers = {"Origin": "https://viewer.example.org"}
    plain = TestClient(create_app(services)).get("/healthz", headers=headers)
    assert "access-control-allow-origin" not in plain.headers
    services.settings = services.settings.model_copy(
        update={"cors_allow_origins": ["https://viewer.example.org"]}
    )
    client = TestClient(create_app(services))
    allowed = client.get("/dicom-web/studies", headers=headers)
    assert allowed.headers["access-control-allow-origin"] == "https://viewer.example.org"
    assert "Warning" in allowed.headers["access-control-expose-headers"]
    preflight = client.options(
        "/dicom-web/studies",
        headers={**headers, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    # A viewer on another origin edits a report draft with PATCH (/api/reports).
    patch = client.options(
        "/api/reports/R1",
        headers={**headers, "Access-Control-Request-Method": "PATCH"},
    )
    assert patch.status_code == 200
    assert "PATCH" in patch.headers["access-control-allow-methods"]
