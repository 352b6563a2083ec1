"""Optional OIDC: bearer JWTs signed by a locally generated RSA key, whose JWKS is served over
loopback HTTP. A valid token is accepted; expired, wrong issuer/audience, alg=none, an
HMAC token keyed with the public key, an unknown kid, a forged signature and a token without
a raddx role are refused (401)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import start_http_server
from raddx.services import Services

ISSUER = "https://idp.example.org/realms/hospital"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return _key()


@pytest.fixture(scope="module")
def jwks_url(signer: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signer.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()
    server.server_close()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "raddx",
        "sub": "u-123",
        "preferred_username": "dr-suzuki",
        "roles": ["offline_access", "radiologist"],
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str = "k1") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def url(services: Services, jwks_url: str) -> Iterator[str]:
    services.settings = services.settings.model_copy(
        update={"oidc_issuer": ISSUER, "oidc_jwks_url": jwks_url}
    )
    server = start_http_server(services)
    yield f"{server.base_url}/api/auth/whoami"
    server.stop()


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"})


def test_valid_token_is_accepted(url: str, signer: rsa.RSAPrivateKey) -> None:
    me = _get(url, _sign(signer, _claims()))
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["role"]) == ("dr-suzuki", "radiologist")
    # The role is enforced like any other: a radiologist may not purge.
    purge = httpx.post(
        url.replace("/api/auth/whoami", "/api/purge"),
        headers={"Authorization": f"Bearer {_sign(signer, _claims())}"},
    )
    assert purge.status_code == 403


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _bad_tokens(signer: rsa.RSAPrivateKey) -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": _sign(signer, _claims(iat=now - 3600, exp=now - 600)),
        "wrong-audience": _sign(signer, _claims(aud="another-app")),
        "wrong-issuer": _sign(signer, _claims(iss="https://evil.example.org")),
        "no-exp": _sign(signer, _claims(exp=None)),
        "alg-none": jwt.encode(_claims(), None, algorithm="none", headers={"kid": "k1"}),
        "unknown-kid": _sign(signer, _claims(), kid="k2"),
        "forged": _sign(_key(), _claims()),  # right kid, someone else's key
        "no-role": _sign(signer, _claims(roles=["offline_access"])),
        "garbage": "aaa.bbb.ccc",
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "no-exp",
        "alg-none",
        "unknown-kid",
        "forged",
        "no-role",
        "garbage",
    ],
)
def test_bad_tokens_are_refused(url: str, signer: rsa.RSAPrivateKey, case: str) -> None:
    response = _get(url, _bad_tokens(signer)[case])
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_hmac_with_the_public_key_is_refused(url: str, signer: rsa.RSAPrivateKey) -> None:
    """Algorithm confusion: an HS256 token keyed with the (public) RSA key."""
    header = jwt.utils.base64url_encode(
        json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode()
    )
    payload = jwt.utils.base64url_encode(json.dumps(_claims()).encode())
    signing_input = header + b"." + payload
    mac = hmac.new(_public_pem(signer), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(mac)).decode()
    assert _get(url, token).status_code == 401
