"""Every /api route is declared through raddx.web.api's one helper: it has a tag, a response
model, documented problem answers, a description and an access-control action (the hook
issue 9 fills). Checked on the OpenAPI document, the surface clients see, and on the
resource routers themselves for the dependency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from raddx.config import load_settings
from raddx.services import Services
from raddx.web import create_app
from raddx.web.api import MODULES
from raddx.web.api._route import authorize

#: Paths under /api that other packages own and that do not go through the helper yet.
_OTHER_OWNERS = ("/api/reports", "/api/auth")
_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def openapi(tmp_path: Path) -> dict[str, Any]:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        return create_app(services).openapi()
    finally:
        services.close()


def test_every_api_operation_has_tag_model_action_and_problems(openapi: dict[str, Any]) -> None:
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, item in openapi["paths"].items()
        if path.startswith("/api/") and not path.startswith(_OTHER_OWNERS)
        for method, operation in item.items()
        if method in _METHODS
    ]
    assert len(operations) >= 20
    for where, operation in operations:
        assert operation.get("tags"), where
        assert "." in operation.get("x-raddx-action", ""), where
        assert operation.get("description"), where
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, where
        content = responses[success[0]]["content"]
        if "application/zip" in content:  # a download (deid package): declared binary
            assert content["application/zip"]["schema"]["format"] == "binary", where
        else:
            schema = content["application/json"]["schema"]
            assert "$ref" in schema or schema.get("type") == "array", where
        for code in ("400", "404", "422"):
            problem = responses[code]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}, where


def test_every_route_runs_the_authorize_hook() -> None:
    """Every route of every module the API registers (raddx.web.api.MODULES, so a new
    router is covered the day it is registered)."""
    hook = authorize("x").__qualname__
    routes = [r for module in MODULES for r in module.router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 20
    for route in routes:
        calls = [d.call.__qualname__ for d in route.dependant.dependencies if d.call]
        assert hook in calls, route.path
