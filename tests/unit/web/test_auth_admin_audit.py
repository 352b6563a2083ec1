"""Account, role and token administration over REST is audited (issue 9 §3, "user and
config changes"): each change is a Security Alert (PS3.15 A.5.3.11, EventID 110113) with
EventTypeCode 110137 User Security Attributes Changed (110136 Security Roles Changed for a
role change), the administrator as requestor, the account or token as the alert's subject,
and each message validates against the PS3.15 A.5.1 schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audit_schema import assert_valid
from helpers import api_token
from raddx.config import load_settings
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services
from raddx.web import create_app

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
PASSWORD = "correct horse battery"


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[TestClient]:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    token = api_token(services)
    try:
        yield TestClient(create_app(services), headers={"Authorization": f"Bearer {token}"})
    finally:
        services.close()


def _who(admin: TestClient) -> str:
    return str(admin.get("/api/auth/whoami").json()["name"])


def test_each_account_and_token_change_is_audited(admin: TestClient) -> None:
    me = _who(admin)
    steps = [
        ("POST", "/api/auth/users", {"name": "yamada", "role": "viewer", "password": PASSWORD}),
        ("POST", "/api/auth/users/yamada/role", {"role": "radiologist"}),
        ("POST", "/api/auth/users/yamada/disable", None),
        ("POST", "/api/auth/users/yamada/enable", None),
        ("POST", "/api/auth/users/yamada/unlock", None),
        ("POST", "/api/auth/users/yamada/reset-2fa", None),
        ("POST", "/api/auth/tokens", {"name": "pacs-router", "role": "technologist"}),
        ("POST", "/api/auth/tokens/pacs-router/revoke", None),
    ]
    with audit.capture() as events:
        for method, path, body in steps:
            answer = admin.request(method, path, json=body)
            assert answer.status_code in (200, 201, 204), (path, answer.text)
    changes = [e for e in events if e.event_id.code.code == "110113"]
    assert [
        (e.event_types[0].code.code, [o.object_id for o in e.objects], e.outcome_description)
        for e in changes
    ] == [
        ("110137", ["yamada"], "user created with role viewer"),
        ("110136", ["yamada"], "role changed from viewer to radiologist"),
        ("110137", ["yamada"], "user disabled"),
        ("110137", ["yamada"], "user enabled"),
        ("110137", ["yamada"], "lockout ended"),
        ("110137", ["yamada"], "2FA reset"),
        ("110137", ["pacs-router"], "API token created with role technologist"),
        ("110137", ["pacs-router"], "API token revoked"),
    ]
    for event in changes:
        assert event.outcome == 0
        assert event.user == me  # the administrator is the requestor
        root = assert_valid(to_xml(event, SOURCE))
        assert root.find("EventIdentification/EventID").get("csd-code") == "110113"


def test_a_refused_change_records_no_change(admin: TestClient) -> None:
    """A change that does not happen (weak password, unknown role, unknown user) is answered
    with the reason and audited as nothing changed."""
    with audit.capture() as events:
        weak = admin.post(
            "/api/auth/users", json={"name": "sato", "role": "viewer", "password": "x"}
        )
        role = admin.post("/api/auth/users/sato/role", json={"role": "radiologist"})
        admin.post("/api/auth/users", json={"name": "sato", "role": "viewer", "password": PASSWORD})
        unknown_role = admin.post("/api/auth/users/sato/role", json={"role": "superuser"})
    assert weak.status_code == 400
    assert role.status_code == 404 and "sato" in role.json()["detail"]
    assert unknown_role.status_code == 400 and "superuser" in unknown_role.json()["detail"]
    assert admin.get("/api/auth/users").json()[0]["role"] == "viewer"  # unchanged
    changes = [e.outcome_description for e in events if e.event_id.code.code == "110113"]
    assert changes == ["user created with role viewer"]


def test_role_change_applies_to_the_next_request(admin: TestClient) -> None:
    admin.post("/api/auth/users", json={"name": "tanaka", "role": "viewer", "password": PASSWORD})
    as_tanaka = ("tanaka", PASSWORD)
    assert admin.get("/api/jobs", auth=as_tanaka, headers={"Authorization": ""}).status_code == 403
    assert admin.post("/api/auth/users/tanaka/role", json={"role": "technologist"}).json() == {
        **admin.get("/api/auth/users").json()[0],
        "role": "technologist",
    }
    assert admin.get("/api/jobs", auth=as_tanaka, headers={"Authorization": ""}).status_code == 200


def test_roles_are_listed_with_their_permissions(admin: TestClient) -> None:
    roles = {r["name"]: r for r in admin.get("/api/auth/roles").json()}
    assert list(roles) == ["viewer", "technologist", "radiologist", "admin", "auditor", "service"]
    assert roles["auditor"]["permissions"] == ["archive.statistics", "audit.read", "auth.self"]
    assert "audit trail" in roles["auditor"]["description"]
    assert "system.read" in roles["admin"]["permissions"]


def test_own_password_change_and_2fa_enrolment_are_audited(admin: TestClient) -> None:
    """A user's own password change and 2FA enrolment are changes of their security
    attributes too (110137), with the user as requestor."""
    import datetime as dt

    from raddx.security import totp

    admin.post("/api/auth/users", json={"name": "mori", "role": "viewer", "password": PASSWORD})
    mori = ("mori", PASSWORD)
    no_token = {"Authorization": ""}  # Basic as mori instead of the admin's token
    with audit.capture() as events:
        secret = admin.post("/api/auth/2fa/enrol", auth=mori, headers=no_token).json()["secret"]
        code = totp.totp(secret, dt.datetime.now(dt.UTC))
        confirmed = admin.post(
            "/api/auth/2fa/confirm", json={"code": code}, auth=mori, headers=no_token
        )
        assert confirmed.status_code == 200, confirmed.text
        changed = admin.post(
            "/api/auth/password",
            json={"current": PASSWORD, "new": "a different long passphrase"},
            auth=mori,
            headers=no_token,
        )
        assert changed.status_code == 204, changed.text
    alerts = [e for e in events if e.event_id.code.code == "110113"]
    assert [(e.event_types[0].code.code, e.user, e.outcome_description) for e in alerts] == [
        ("110137", "mori", "2FA enrolled"),
        ("110137", "mori", "password changed by the user"),
    ]
    for event in alerts:
        assert_valid(to_xml(event, SOURCE))


def test_remote_ae_changes_are_audited_as_network_configuration(admin: TestClient) -> None:
    me = _who(admin)
    remote = {"ae_title": "PACS2", "host": "10.0.0.5", "port": 104}
    with audit.capture() as events:
        assert admin.post("/api/remote-aes", json=remote).status_code == 201
        assert admin.post("/api/remote-aes", json=remote).status_code == 409  # not a change
        assert admin.delete("/api/remote-aes/PACS2").status_code == 200
    alerts = [e for e in events if e.event_id.code.code == "110113"]
    assert [(e.event_types[0].code.code, e.user, e.outcome_description) for e in alerts] == [
        ("110128", me, "remote AE added: PACS2 at 10.0.0.5:104"),
        ("110128", me, "remote AE removed: PACS2 at 10.0.0.5:104"),
    ]
    for event in alerts:
        assert [o.object_id for o in event.objects] == ["PACS2"]
        assert_valid(to_xml(event, SOURCE))
