"""Login, logout and break-glass through the HTTP door are audited: User Authentication
(110114: 110122 Login, outcome 4 with the reason when refused; 110123 Logout) and Security
Alert 110127 Emergency Override Started."""

from __future__ import annotations

import httpx

from audit_schema import assert_valid
from raddx.security import accounts, audit, load_policy
from raddx.security.accounts import AccountRules
from raddx.security.atna import AuditSource, to_xml
from raddx.security.authenticator import rules_from_settings
from raddx.services import Services

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
PASSWORD = "correct horse battery staple"


def _add(services: Services, name: str) -> None:
    rules: AccountRules = rules_from_settings(services.settings).accounts
    with services.session_factory.begin() as s:
        accounts.create_user(
            session=s,
            name=name,
            role="radiologist",
            password=PASSWORD,
            policy=load_policy(services.settings.security_policy_file),
            rules=rules,
        )


def test_login_refused_login_logout_break_glass(services: Services, http_url: str) -> None:
    _add(services, "sato")
    base = http_url.split("@")[-1]  # no API token: a browser logging in
    with (
        audit.capture() as events,
        httpx.Client(
            base_url=f"http://{base}", headers={"X-Requested-With": "XMLHttpRequest"}
        ) as client,
    ):
        assert (
            client.post("/api/auth/login", json={"name": "sato", "password": "wrong"}).status_code
            == 401
        )
        assert (
            client.post("/api/auth/login", json={"name": "sato", "password": PASSWORD}).status_code
            == 200
        )
        glass = client.post(
            "/api/auth/break-glass", json={"reason": "ER trauma, patient unconscious", "minutes": 5}
        )
        assert glass.status_code == 200, glass.text
        assert client.post("/api/auth/logout").status_code == 204
    logins = [e for e in events if e.event_id.code.code == "110114"]
    assert [(e.event_types[0].code.code, e.outcome, e.user) for e in logins] == [
        ("110122", 4, "sato"),
        ("110122", 0, "sato"),
        ("110123", 0, "sato"),
    ]
    assert logins[0].outcome_description == "bad_credentials"
    [alert] = [e for e in events if e.event_id.code.code == "110113"]
    assert alert.event_types[0].code.code == "110127"
    assert "ER trauma, patient unconscious" in (alert.outcome_description or "")
    for event in [*logins, alert]:
        assert_valid(to_xml(event, SOURCE))


def test_refused_request_is_a_security_alert(services: Services, http_url: str) -> None:
    """A role opening a URL it does not hold is refused (403) and audited: Security Alert
    110113 with 110132 Use of Restricted Function, naming the user, route and action."""
    _add(services, "suzuki")
    base = http_url.split("@")[-1]
    with audit.capture() as events:
        refused = httpx.get(f"http://{base}/api/audit", auth=("suzuki", PASSWORD))
        allowed = httpx.get(f"http://{base}/api/studies", auth=("suzuki", PASSWORD))
    assert refused.status_code == 403, refused.text
    assert allowed.status_code == 200, allowed.text
    [alert] = [e for e in events if e.event_id.code.code == "110113"]
    assert alert.event_types[0].code.code == "110132"
    assert alert.outcome == 4
    assert [o.object_id for o in alert.objects] == ["suzuki"]
    description = alert.outcome_description or ""
    assert "role=radiologist" in description and "action=audit.read" in description
    assert "path=/api/audit" in description
    assert_valid(to_xml(alert, SOURCE))
