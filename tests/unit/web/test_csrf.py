"""Cross-site request forgery (issue 9 §2): a POST/PUT/PATCH/DELETE that only the browser's
session cookie authenticates must carry ``X-Requested-With`` (ui/src/api.ts sends it) or the
browser's ``Sec-Fetch-Site: same-origin``; a form posted by another site carries the cookie
but cannot set either, so it is refused 403 with the rule in the answer. Bearer and Basic
credentials are never attached by a browser on its own: they need no header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audit_schema import assert_valid
from helpers import api_token
from raddx.config import load_settings
from raddx.security import accounts, audit, load_policy, rules_from_settings
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services
from raddx.web import create_app

PASSWORD = "correct horse battery"
SCRIPT = {"X-Requested-With": "XMLHttpRequest"}
SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
REMOTE = {"ae_title": "CT1", "host": "127.0.0.1", "port": 104}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    with services.session_factory() as s, s.begin():
        accounts.create_user(
            session=s,
            name="tech",
            role="technologist",
            password=PASSWORD,
            policy=load_policy(services.settings.security_policy_file),
            rules=rules_from_settings(services.settings).accounts,
        )
    yield services
    services.close()


@pytest.fixture
def browser(services: Services) -> TestClient:
    """A logged-in browser: it holds the session cookie and sends it with every request."""
    client = TestClient(create_app(services))
    assert client.post("/api/auth/login", json={"name": "tech", "password": PASSWORD}).is_success
    return client


def test_cookie_without_the_header_is_refused(browser: TestClient) -> None:
    refused = browser.post("/api/remote-aes", json=REMOTE)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "X-Requested-With" in refused.json()["detail"]
    assert browser.delete("/api/remote-aes/CT1").status_code == 403
    assert browser.post("/api/auth/logout").status_code == 403
    # Nothing was added, and the session still works for reading (GET needs no header).
    assert browser.get("/api/remote-aes").json() == []
    assert browser.get("/api/auth/whoami").json()["name"] == "tech"


def test_cookie_with_the_header_is_allowed(browser: TestClient) -> None:
    added = browser.post("/api/remote-aes", json=REMOTE, headers=SCRIPT)
    assert added.status_code == 403  # technologists may not add AEs: the role, not CSRF
    assert "remote_aes.write" in added.json()["detail"]
    assert browser.post("/api/remote-aes/CT1/echo", headers=SCRIPT).status_code == 404
    assert browser.post("/api/auth/logout", headers=SCRIPT).status_code == 204


def test_same_origin_fetch_metadata_is_allowed(browser: TestClient) -> None:
    """Chromium, Firefox and Safari send Sec-Fetch-Site, which a page cannot set."""
    same = browser.post("/api/auth/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 204


def test_cross_site_fetch_metadata_is_refused_and_audited(browser: TestClient) -> None:
    forged = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    with audit.capture() as events:
        cross = browser.post("/api/auth/logout", headers=forged)
    assert cross.status_code == 403
    assert browser.get("/api/auth/whoami").json()["name"] == "tech"  # not logged out
    alerts = [e for e in events if e.event_id.code.code == "110113"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.event_types[0].code.code == "110132"  # Use of Restricted Function
    assert alert.outcome_description.startswith("cross-site request refused")
    assert "https://evil.example" in alert.outcome_description
    assert "/api/auth/logout" in alert.outcome_description
    assert_valid(to_xml(alert, SOURCE))


def test_bearer_needs_no_header(services: Services) -> None:
    client = TestClient(create_app(services))
    bearer = {"Authorization": f"Bearer {api_token(services)}"}
    added = client.post("/api/remote-aes", json=REMOTE, headers=bearer)
    assert added.status_code == 201, added.text
    assert client.delete("/api/remote-aes/CT1", headers=bearer).status_code == 200


def test_basic_needs_no_header_even_beside_a_cookie(browser: TestClient) -> None:
    """Explicit credentials win over the cookie (a script chose to send them)."""
    answer = browser.post("/api/auth/logout", auth=("tech", PASSWORD))
    assert answer.status_code == 204
