"""Accounts and authentication over real HTTP (uvicorn on loopback): first-run setup, login
with 2FA enrolment and TOTP replay refusal, brute-force lockout, session logout, break-glass,
clients sending credentials from URL userinfo, the Basic cache, oversized headers, and the
benchmark-only switch that turns the checks off."""

from __future__ import annotations

import base64
import datetime as dt
import io
import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyotp
import pytest
import requests
import zxingcpp
from dicomweb_client.api import DICOMwebClient
from PIL import Image

from helpers import HttpServer, bare_url, start_http_server
from raddx.security import accounts, load_policy
from raddx.security.accounts import AccountRules
from raddx.services import Services

PASSWORD = "correct horse battery"
#: What the web application's scripts send (CSRF protection of cookie-authenticated POSTs).
SCRIPT = {"X-Requested-With": "XMLHttpRequest"}


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 9, 0, 5, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def server(services: Services) -> Iterator[HttpServer]:
    server = start_http_server(services)
    yield server
    server.stop()


def _add_user(services: Services, name: str, role: str) -> None:
    with services.session_factory.begin() as s:
        accounts.create_user(
            session=s,
            name=name,
            role=role,
            password=PASSWORD,
            policy=load_policy(None),
            rules=AccountRules(),
        )


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["detail"])


def _scan(qr: str) -> pyotp.TOTP:
    """Read the enrolment QR code (a PNG data: URI) with a real QR decoder (ZXing) and load
    the URI it holds the way authenticator apps do."""
    header, _, payload = qr.partition(",")
    assert header == "data:image/png;base64"
    found = zxingcpp.read_barcode(Image.open(io.BytesIO(base64.b64decode(payload))))
    assert found is not None and found.format == zxingcpp.BarcodeFormat.QRCode
    return pyotp.parse_uri(found.text)  # type: ignore[return-value]


def test_first_run_setup_then_admin_must_enrol_2fa(server: HttpServer) -> None:
    base = server.base_url
    code = server.app.state.setup_code
    assert code  # no user yet (the test token is not a user)
    setup = {"code": code, "name": "admin", "password": PASSWORD}
    assert "setup code" in _problem(
        httpx.post(f"{base}/api/auth/setup", json={**setup, "code": "guess"}), 403
    )
    assert "13" in _problem(
        httpx.post(f"{base}/api/auth/setup", json={**setup, "password": "short"}), 400
    )
    assert httpx.post(f"{base}/api/auth/setup", json=setup).status_code == 201
    assert "closed" in _problem(httpx.post(f"{base}/api/auth/setup", json=setup), 409)

    clock = Clock()
    server.app.state.authenticator.clock = clock
    with httpx.Client(base_url=base, headers=SCRIPT) as browser:
        login = browser.post("/api/auth/login", json={"name": "admin", "password": PASSWORD})
        assert login.status_code == 200 and login.json()["mfa_enrolment_required"]
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        # Until 2FA is enrolled the session may do nothing but enrol.
        assert browser.get("/api/studies").status_code == 403
        enrolment = browser.post("/api/auth/2fa/enrol").json()
        phone = _scan(enrolment["qr"])  # as the authenticator app does: camera, not typing
        assert phone.secret == enrolment["secret"] and phone.issuer == "raddx"
        assert pyotp.parse_uri(enrolment["otpauth_uri"]).secret == phone.secret
        first_code = phone.at(clock.now)
        confirm = browser.post("/api/auth/2fa/confirm", json={"code": first_code})
        assert len(confirm.json()["recovery_codes"]) == 10
        assert browser.get("/api/studies").status_code == 200
        assert browser.post("/api/auth/logout").status_code == 204
        assert browser.get("/api/studies").status_code == 401

        creds = {"name": "admin", "password": PASSWORD}
        assert "2FA" in _problem(browser.post("/api/auth/login", json=creds), 401)
        replay = browser.post("/api/auth/login", json={**creds, "otp": first_code})
        assert "already used" in _problem(replay, 401)
        clock.now += dt.timedelta(seconds=30)
        ok = browser.post("/api/auth/login", json={**creds, "otp": phone.at(clock.now)})
        assert ok.status_code == 200 and not ok.json()["mfa_enrolment_required"]
        assert browser.get("/api/auth/whoami").json()["role"] == "admin"
    # An admin with 2FA cannot use Basic with a password (no place for the code) …
    refused = httpx.get(f"{base}/api/studies", auth=("admin", PASSWORD))
    assert "2FA" in _problem(refused, 401)


def test_brute_force_login_locks_the_account(services: Services, server: HttpServer) -> None:
    _add_user(services, "yamada", "viewer")
    login = f"{server.base_url}/api/auth/login"
    wrong = {"name": "yamada", "password": "not the password"}
    details = [_problem(httpx.post(login, json=wrong), 401) for _ in range(5)]
    assert all("invalid" in d for d in details[:4]) and "locked" in details[4]
    right = httpx.post(login, json={"name": "yamada", "password": PASSWORD})
    assert "locked" in _problem(right, 401)
    # An unknown user gets the same answer as a wrong password: names are not revealed.
    unknown = httpx.post(login, json={"name": "nobody", "password": "not the password"})
    assert _problem(unknown, 401) == details[0]


def test_break_glass_elevates_a_session_for_a_while(services: Services, server: HttpServer) -> None:
    _add_user(services, "clinic", "viewer")
    with httpx.Client(base_url=server.base_url, headers=SCRIPT) as browser:
        browser.post("/api/auth/login", json={"name": "clinic", "password": PASSWORD})
        assert browser.post("/api/reports", json={}).status_code == 403
        short = browser.post("/api/auth/break-glass", json={"reason": "now", "minutes": 5})
        assert "reason" in _problem(short, 400)
        glass = browser.post(
            "/api/auth/break-glass",
            json={"reason": "trauma patient at night, no radiologist", "minutes": 30},
        )
        assert glass.status_code == 200
        me = browser.get("/api/auth/whoami").json()
        assert me["break_glass"] and me["role"] == "radiologist"
        assert browser.post("/api/reports", json={}).status_code == 422  # past authorisation


def test_clients_send_url_userinfo_as_basic(server: HttpServer) -> None:
    """The http_url convention of the test suite: all three clients authenticate."""
    url, bare = f"{server.url}/dicom-web", f"{bare_url(server.url)}/dicom-web"
    assert httpx.get(f"{url}/studies").status_code == 200
    assert httpx.get(f"{bare}/studies").status_code == 401
    assert requests.get(f"{url}/studies", timeout=10).status_code == 200
    assert requests.get(f"{bare}/studies", timeout=10).status_code == 401
    assert DICOMwebClient(url).search_for_studies() == []
    with pytest.raises(requests.HTTPError, match="401"):
        DICOMwebClient(bare).search_for_studies()


def _median_ms(call: Any, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        assert call().status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_basic_password_is_verified_once_then_cached(
    services: Services, server: HttpServer
) -> None:
    _add_user(services, "viewer1", "viewer")
    url = f"{server.base_url}/api/auth/whoami"
    with httpx.Client() as client:
        start = time.perf_counter()
        assert client.get(url, auth=("viewer1", PASSWORD)).status_code == 200
        first = (time.perf_counter() - start) * 1000
        cached = _median_ms(lambda: client.get(url, auth=("viewer1", PASSWORD)), 20)
        server.app.state.authenticator.rules = type(server.app.state.authenticator.rules)(
            accounts=server.app.state.authenticator.rules.accounts, cache_seconds=0
        )
        uncached = _median_ms(lambda: client.get(url, auth=("viewer1", PASSWORD)), 5)
    print(f"Basic first {first:.1f} ms, cached median {cached:.1f} ms, uncached {uncached:.1f}")
    assert cached < uncached / 3


def test_oversized_authorization_header(server: HttpServer) -> None:
    url = f"{server.base_url}/dicom-web/studies"
    assert "too long" in _problem(
        httpx.get(url, headers={"Authorization": "Bearer " + "a" * 5000}), 401
    )
    # Far past any sane size: uvicorn's own header limit answers first (an error status, or
    # it closes the connection); never a 5xx, never a look-up.
    try:
        huge = httpx.get(url, headers={"Authorization": "Bearer " + "a" * 200_000})
    except httpx.ReadError:
        return
    assert huge.status_code in (400, 401, 431)


def test_security_off_is_only_the_benchmark_switch(services: Services) -> None:
    services.settings = services.settings.model_copy(update={"security_enforced": False})
    server = start_http_server(services)
    try:
        me = httpx.get(f"{server.base_url}/api/auth/whoami").json()
        assert me["kind"] == "system" and me["name"] == "raddx-unenforced"
        assert httpx.get(f"{server.base_url}/api/studies").status_code == 200
    finally:
        server.stop()
