"""Bad input on the HTTP door (issue 9): oversized heads and bodies, deep JSON, and tokens
that are expired, forged, revoked or not tokens at all. Each answer must be a 4xx that says
so (never a 5xx), and an oversized upload must leave nothing stored."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dicom_factory import make_dataset, to_part10
from helpers import api_token, bare_url
from raddx.config import load_settings
from raddx.db.models import Instance
from raddx.security import load_policy
from raddx.security.tokens import create_token, revoke_token
from raddx.services import Services
from raddx.web import create_app

BOUNDARY = "bad-input-boundary"
STOW_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Services]:
    """Services with small limits, so a test need not send gigabytes (SQLite: the limits
    are the HTTP door's, not the index's)."""
    services = Services.from_settings(
        load_settings(
            data_dir=tmp_path / "data",
            max_json_body_bytes=64 * 1024,
            max_upload_bytes=256 * 1024,
        )
    )
    yield services
    services.close()


@pytest.fixture
def client(small: Services) -> TestClient:
    return TestClient(
        create_app(small),
        headers={"Authorization": f"Bearer {api_token(small)}"},
        raise_server_exceptions=False,
    )


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["detail"])


def _instances(services: Services) -> int:
    with services.session_factory() as s:
        return int(s.scalar(select(func.count(Instance.id))) or 0)


def _stow_body(size: int) -> bytes:
    part = to_part10(make_dataset(patient_id="BIG", patient_name="Big^Upload"))
    part += b"\0" * max(0, size - len(part))
    return (
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + part
        + (f"\r\n--{BOUNDARY}--\r\n".encode())
    )


# -- oversized heads ---------------------------------------------------------------------
@pytest.mark.parametrize("header", ["Authorization", "Cookie", "X-Padding"])
def test_huge_header_is_431_in_process(client: TestClient, header: str) -> None:
    value = "Bearer " + "A" * 65536 if header == "Authorization" else "a=" + "b" * 65536
    detail = _problem(client.get("/api/studies", headers={header: value}), 431)
    assert "limit is 16384" in detail


@pytest.mark.parametrize("header", ["Authorization", "Cookie"])
def test_huge_header_over_real_http_is_refused_not_500(http_url: str, header: str) -> None:
    # uvicorn's parser (h11) refuses a head over 16 KiB itself, with 400; either way no 5xx.
    value = "Bearer " + "A" * 65536 if header == "Authorization" else "a=" + "b" * 65536
    response = httpx.get(f"{bare_url(http_url)}/api/studies", headers={header: value})
    assert response.status_code in (400, 431)


def test_long_query_string_is_414(client: TestClient) -> None:
    detail = _problem(client.get("/api/studies", params={"PatientName": "A" * 20000}), 414)
    assert "limit is 8192" in detail
    # Under the limit the same search is answered (empty).
    assert client.get("/api/studies", params={"PatientName": "A" * 4000}).status_code == 200


def test_long_query_string_over_real_http_is_refused_not_500(http_url: str) -> None:
    response = httpx.get(
        f"{bare_url(http_url)}/dicom-web/studies",
        params={"PatientName": "A" * 12000},
        auth=httpx.BasicAuth(*_userinfo(http_url)),
    )
    assert response.status_code in (400, 414)


def _userinfo(url: str) -> tuple[str, str]:
    from helpers import basic_auth

    return basic_auth(url)


# -- oversized bodies --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/orders", "application/json"),
        ("/api/reports", "application/json"),
        ("/fhir/ServiceRequest", "application/fhir+json"),
    ],
)
def test_oversized_json_body_is_413(client: TestClient, path: str, content_type: str) -> None:
    body = json.dumps({"resourceType": "ServiceRequest", "note": "x" * 100_000})
    response = client.post(path, content=body, headers={"Content-Type": content_type})
    assert "max_json_body_bytes" in _problem(response, 413)


def test_oversized_chunked_json_body_is_413(client: TestClient) -> None:
    # No Content-Length: counted as it arrives.
    def chunks() -> Iterator[bytes]:
        yield b'{"note": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/fhir/ServiceRequest", content=chunks(), headers={"Content-Type": "application/fhir+json"}
    )
    _problem(response, 413)
    assert response.json()["title"] == "Content Too Large"


def test_oversized_stow_is_413_and_stores_nothing(client: TestClient, small: Services) -> None:
    response = client.post(
        "/dicom-web/studies", content=_stow_body(300 * 1024), headers={"Content-Type": STOW_TYPE}
    )
    assert "max_upload_bytes" in _problem(response, 413)
    assert _instances(small) == 0


def test_oversized_chunked_stow_is_413_and_stores_nothing(
    client: TestClient, small: Services
) -> None:
    body = _stow_body(300 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    response = client.post(
        "/dicom-web/studies", content=chunks(), headers={"Content-Type": STOW_TYPE}
    )
    _problem(response, 413)
    assert _instances(small) == 0
    # The same upload under the limit is stored: the limit, not the request, refused it.
    response = client.post(
        "/dicom-web/studies", content=_stow_body(0), headers={"Content-Type": STOW_TYPE}
    )
    assert response.status_code == 200, response.text
    assert _instances(small) == 1


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/orders", "application/json"),
        ("/api/reports", "application/json"),
        ("/api/remote-aes", "application/json"),
        ("/fhir/ServiceRequest", "application/fhir+json"),
    ],
)
def test_deeply_nested_json_is_4xx(client: TestClient, path: str, content_type: str) -> None:
    for depth in (5_000, 30_000):
        body = "[" * depth + "]" * depth
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert 400 <= response.status_code < 500, (depth, response.status_code, response.text)
        body = '{"a":' * depth + "1" + "}" * depth
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert 400 <= response.status_code < 500, (depth, response.status_code, response.text)


# -- tokens ------------------------------------------------------------------------------
def _jwt(header: dict[str, str], payload: dict[str, object], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        (part(json.dumps(header).encode()), part(json.dumps(payload).encode()), part(signature))
    )


_NOW = int(dt.datetime.now(dt.UTC).timestamp())
_CLAIMS = {"sub": "admin", "role": "admin", "iat": _NOW, "exp": _NOW + 3600}
BAD_AUTHORIZATION = {
    "jwt-alg-none": "Bearer " + _jwt({"alg": "none", "typ": "JWT"}, _CLAIMS),
    "jwt-forged-hs256": "Bearer " + _jwt({"alg": "HS256", "typ": "JWT"}, _CLAIMS, b"\x01" * 32),
    "jwt-expired": "Bearer "
    + _jwt({"alg": "RS256", "kid": "k1"}, {**_CLAIMS, "exp": _NOW - 60}, b"\x02" * 256),
    "random-bearer": "Bearer 9f8a7c6e5d4b3a291807f6e5d4c3b2a1",
    "forged-raddx-prefix": "Bearer rdx_" + "A" * 43,
    "bearer-empty": "Bearer ",
    "bearer-only-spaces": "Bearer      ",
    "bearer-nul": "Bearer abc\x00def",
    "bearer-non-ascii": "Bearer ＡＢＣ漢字",
    "bearer-sql": "Bearer ' OR '1'='1",
    "basic-garbage": "Basic !!!not-base64!!!",
    "basic-no-colon": "Basic " + base64.b64encode(b"admin").decode(),
    "basic-latin1": "Basic " + base64.b64encode("admin:pässwörd".encode("latin-1")).decode(),
    "basic-sql": "Basic " + base64.b64encode(b"' OR '1'='1:' OR '1'='1").decode(),
    "unknown-scheme": "Digest username=admin",
    "only-scheme": "Bearer",
    "long-bearer": "Bearer " + "x" * 8000,
}


def test_bad_credentials_are_401_with_challenge(small: Services) -> None:
    client = TestClient(create_app(small), raise_server_exceptions=False)
    for path in ("/api/studies", "/dicom-web/studies", "/fhir/Patient"):
        for name, value in BAD_AUTHORIZATION.items():
            # httpx refuses to send a NUL or non-Latin-1 header; send those as raw bytes.
            response = client.get(path, headers={"Authorization": value.encode("utf-8")})
            assert response.status_code == 401, (path, name, response.text)
            assert "Bearer" in response.headers["www-authenticate"], (path, name)


def test_expired_and_revoked_tokens_are_401(small: Services) -> None:
    policy = load_policy(small.settings.security_policy_file)
    with small.session_factory() as s, s.begin():
        expired = create_token(
            session=s,
            name="expired",
            role="admin",
            policy=policy,
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        )
        revoked = create_token(session=s, name="revoked", role="admin", policy=policy)
        revoke_token(session=s, name="revoked")
    client = TestClient(create_app(small), raise_server_exceptions=False)
    for token in (expired, revoked):
        for header in (
            f"Bearer {token}",
            "Basic " + base64.b64encode(f"x:{token}".encode()).decode(),
        ):
            response = client.get("/api/studies", headers={"Authorization": header})
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "invalid, expired or revoked token" in response.json()["detail"] or (
                "Basic" in header
            )


@pytest.mark.parametrize("depth", [5_000, 30_000])
def test_deeply_nested_stow_metadata_is_refused_not_500(
    client: TestClient, small: Services, depth: int
) -> None:
    metadata = '{"00081115": {"vr": "SQ", "Value": [' * depth + "{}" + "]}}" * depth
    body = (
        f"--{BOUNDARY}\r\nContent-Type: application/dicom+json\r\n\r\n{metadata}\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()
    content_type = f'multipart/related; type="application/dicom+json"; boundary={BOUNDARY}'
    response = client.post(
        "/dicom-web/studies", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code < 500, response.text
    assert _instances(small) == 0


def test_token_revoked_while_in_use_is_401_at_once(small: Services) -> None:
    """A token that just worked (and sits in the credential cache) is refused on the next
    request once an admin revokes it over the API."""
    policy = load_policy(small.settings.security_policy_file)
    with small.session_factory() as s, s.begin():
        victim = create_token(session=s, name="in-use", role="viewer", policy=policy)
    app = create_app(small)
    admin = TestClient(app, headers={"Authorization": f"Bearer {api_token(small)}"})
    user = TestClient(app, headers={"Authorization": f"Bearer {victim}"})
    assert user.get("/api/studies").status_code == 200
    assert admin.post("/api/auth/tokens/in-use/revoke").status_code == 204
    response = user.get("/api/studies")
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
