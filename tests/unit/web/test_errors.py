"""The HTTP door's error mapping (raddx.web._errors): one status per domain error class,
problem+json bodies, and a generic 500 that says nothing about internals."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from raddx.errors import Conflict, InvalidInput, NotFound, OutOfResources
from raddx.web._errors import NotAcceptable, UnsupportedMediaType, install_error_handlers


class _Narrower(InvalidInput):
    """A subclass gets its parent's status (MRO lookup)."""


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("bad key"), 400),
        (_Narrower("bad key"), 400),
        (NotFound("no such study"), 404),
        (NotAcceptable("no xml"), 406),
        (Conflict("other bytes"), 409),
        (UnsupportedMediaType("not multipart"), 415),
        (OutOfResources("disk full"), 503),
        (RuntimeError("secret internals"), 500),
    ],
)
def test_mapping(error: Exception, status: int) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/fail")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    if status == 500:
        assert "secret" not in body["detail"]
    else:
        assert body["detail"] == str(error)
