"""``/api/auth/users`` and ``/api/auth/tokens``: an admin manages accounts and tokens over
REST; a change takes effect at once (the credential cache is dropped)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from helpers import api_token
from raddx.config import load_settings
from raddx.services import Services
from raddx.web import create_app

PASSWORD = "correct horse battery"


def test_admin_manages_users_and_tokens(tmp_path: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        admin = TestClient(
            create_app(services), headers={"Authorization": f"Bearer {api_token(services)}"}
        )
        user = {"name": "yamada", "role": "viewer", "password": PASSWORD}
        assert admin.post("/api/auth/users", json=user).status_code == 201
        assert admin.post("/api/auth/users", json=user).status_code == 409
        weak = admin.post("/api/auth/users", json={**user, "name": "sato", "password": "x"})
        assert weak.status_code == 400 and "13" in weak.json()["detail"]
        listed = admin.get("/api/auth/users").json()
        assert [u["name"] for u in listed] == ["yamada"] and "password" not in str(listed)

        as_user = ("yamada", PASSWORD)
        assert admin.get("/api/auth/whoami", auth=as_user).json()["role"] == "viewer"
        assert admin.post("/api/auth/users/yamada/disable").json()["disabled"]
        assert admin.get("/api/auth/whoami", auth=as_user).status_code == 401  # at once
        assert admin.post("/api/auth/users/nobody/enable").status_code == 404

        made = admin.post("/api/auth/tokens", json={"name": "app", "role": "viewer"}).json()
        bearer = {"Authorization": f"Bearer {made['token']}"}
        assert admin.get("/dicom-web/studies", headers=bearer).status_code == 200
        assert made["token"] not in str(admin.get("/api/auth/tokens").json())
        assert admin.post("/api/auth/tokens/app/revoke").status_code == 204
        assert admin.get("/dicom-web/studies", headers=bearer).status_code == 401
        # A viewer may not administer.
        viewer = {"Authorization": f"Bearer {api_token(services, 'viewer')}"}
        assert admin.get("/api/auth/users", headers=viewer).status_code == 403
    finally:
        services.close()
