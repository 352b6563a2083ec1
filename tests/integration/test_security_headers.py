"""Security headers on every HTTP response (issue 9): plain HTTP gets all but HSTS (RFC 6797
8.1: HSTS over plain HTTP is ignored; the HTTPS case is in test_tls.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from helpers import HttpServer, start_http_server
from raddx.services import Services

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@pytest.fixture
def http(services: Services) -> Iterator[HttpServer]:
    server = start_http_server(services)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("path", "authenticated", "status"),
    [
        ("/healthz", False, 200),
        ("/dicom-web/studies", True, 200),  # PHI: must not be cached
        ("/dicom-web/studies", False, 401),  # refusals carry them too
        ("/no-such-route", True, 404),
    ],
)
def test_headers_on_every_response(
    http: HttpServer, path: str, authenticated: bool, status: int
) -> None:
    auth = ("token", http.token) if authenticated else None
    response = httpx.get(http.base_url + path, auth=auth, timeout=10)
    assert response.status_code in {status, 204}  # an empty archive may answer 204
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name
    assert "Strict-Transport-Security" not in response.headers
