"""Deny by default on every HTTP route (issue 9 §2): every route of ``create_app(...)``
declares a permission or is explicitly public, and a role × route matrix holds: a role that
holds the route's permission gets past authorisation (never 401/403), every other role gets
403, and a request without credentials gets 401 with a WWW-Authenticate challenge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpers import api_token
from raddx.config import load_settings
from raddx.security import ROLES, load_policy, permissions
from raddx.services import Services
from raddx.web import create_app
from raddx.web.auth import PUBLIC, PUBLIC_FRAMEWORK_PATHS, is_api_route, iter_routes, route_action

#: The only routes anyone may call without credentials; a new one must be added here, on
#: purpose, with a reason. healthz: load balancers; setup: first-run bootstrap (guarded by a
#: one-time code); login: how a browser gets a session; / and /ui/…: the web application's
#: static files (no patient data; what they show comes from the API).
EXPECTED_PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/api/auth/setup"),
    ("POST", "/api/auth/login"),
    ("GET", "/"),
    ("GET", "/ui/{path:path}"),
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tmp = Path(tmp_path_factory.mktemp("matrix"))
    services = Services.from_settings(load_settings(data_dir=tmp / "data"))
    yield services
    services.close()


@pytest.fixture(scope="module")
def app(services: Services) -> FastAPI:
    return create_app(services)


def _operations(app: FastAPI) -> list[tuple[str, str, Any]]:
    return sorted(
        (
            (method, route.path, route)
            for route in iter_routes(app)
            if is_api_route(route)
            for method in route.methods
        ),
        key=lambda op: (op[1], op[0]),
    )


def test_every_route_declares_a_permission(app: FastAPI) -> None:
    operations = _operations(app)
    assert len(operations) >= 60  # /api, /api/reports, /api/auth, DICOMweb, WADO-URI, healthz
    catalogue = permissions()
    public = set()
    for method, path, route in operations:
        action = route_action(route)
        assert action is not None, f"{method} {path} declares no permission"
        assert action == PUBLIC or action in catalogue, f"{method} {path}: unknown {action!r}"
        if action == PUBLIC:
            public.add((method, path))
    assert public == EXPECTED_PUBLIC
    others = {getattr(r, "path", repr(r)) for r in iter_routes(app) if not is_api_route(r)}
    assert others <= PUBLIC_FRAMEWORK_PATHS, others - PUBLIC_FRAMEWORK_PATHS


def test_openapi_names_each_operations_action(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for method, path, route in _operations(app):
        if getattr(route, "include_in_schema", True):
            assert paths[path][method.lower()]["x-raddx-action"] == route_action(route)


def _url(path: str) -> str:
    # Any value fits every path parameter for the check: authorisation runs before the
    # parameters are validated, and an allowed request may then be a 400/404/422.
    return re.sub(r"\{[^}]+\}", "1", path)


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.request(method, _url(path), headers=headers, json={})


@pytest.fixture(scope="module")
def tokens(services: Services) -> dict[str, str]:
    return {role: api_token(services, role) for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_role_route_matrix(
    app: FastAPI, services: Services, tokens: dict[str, str], role: str
) -> None:
    policy = load_policy(None)
    client = TestClient(app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    allowed = refused = 0
    for method, path, route in _operations(app):
        action = route_action(route)
        if action == PUBLIC:
            continue
        status = _call(client, method, path, headers).status_code
        if action == "auth.self" or policy.allows(role, str(action)):
            assert status not in (401, 403), (role, method, path, status)
            allowed += 1
        else:
            assert status == 403, (role, method, path, status)
            refused += 1
    assert allowed > 0
    if role != "admin":
        assert refused > 0


def test_unauthenticated_is_401_with_a_challenge(app: FastAPI) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    for method, path, route in _operations(app):
        if route_action(route) == PUBLIC:
            continue
        response = _call(client, method, path, {})
        assert response.status_code == 401, (method, path)
        assert "Bearer" in response.headers["www-authenticate"], (method, path)
        assert "Basic" in response.headers["www-authenticate"], (method, path)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer rdx_not-a-token",
        "Basic !!!not-base64",
        "Basic " + "dXNlcg==",  # "user": no colon
        "Digest username=x",
        "Bearer " + "a" * 10_000,  # oversized header: refused unparsed
    ],
    ids=["unknown-token", "bad-base64", "no-colon", "other-scheme", "oversized"],
)
def test_bad_credentials_are_401(app: FastAPI, authorization: str) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/dicom-web/studies", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_service_role_reaches_no_patient_data(app: FastAPI, tokens: dict[str, str]) -> None:
    """MDS2 RMOT/SAHD-6: the remote-service role is refused every PHI route."""
    client = TestClient(app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {tokens['service']}"}
    phi = [
        op
        for op in _operations(app)
        if permissions().get(str(route_action(op[2])))
        and permissions()[str(route_action(op[2]))].phi
    ]
    assert len(phi) >= 40
    for method, path, _ in phi:
        assert _call(client, method, path, headers).status_code == 403, (method, path)
