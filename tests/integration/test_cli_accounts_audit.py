"""``raddx user`` / ``raddx token`` changes are audited like their REST twins (issue 9 §3):
Security Alert 110113 / 110137 User Security Attributes Changed, the operator's OS account as
requestor, the account or token as subject; a refused change records nothing. The events
reach the stored, hash-chained log (the CLI closes its services, which writes them)."""

from __future__ import annotations

import getpass
from pathlib import Path

from typer.testing import CliRunner

from audit_schema import assert_valid
from raddx.cli import app
from raddx.config import load_settings
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.security.audit_log import AuditFilter, search
from raddx.services import Services

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)
PASSWORD = "correct horse battery"


def test_cli_account_and_token_changes_are_audited(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data")]
    with audit.capture() as events:
        for args, stdin in [
            (["user", "add", "yamada", "--role", "viewer"], PASSWORD + "\n"),
            (["user", "add", "sato", "--role", "viewer"], "short\n"),  # refused: no change
            (["user", "disable", "yamada"], None),
            (["user", "enable", "yamada"], None),
            (["user", "unlock", "yamada"], None),
            (["user", "password", "yamada"], "another long passphrase\n"),
            (["user", "reset-2fa", "yamada"], None),
            (["token", "create", "router", "--role", "technologist"], None),
            (["token", "revoke", "router"], None),
            (["user", "list"], None),  # reading: no change
        ]:
            runner.invoke(app, [*args, *common], input=stdin)
    alerts = [e for e in events if e.event_id.code.code == "110113"]
    assert [(e.event_types[0].code.code, e.outcome_description) for e in alerts] == [
        ("110137", "user created with role viewer"),
        ("110137", "user disabled"),
        ("110137", "user enabled"),
        ("110137", "lockout ended"),
        ("110137", "password set by an operator"),
        ("110137", "2FA reset"),
        ("110137", "API token created with role technologist"),
        ("110137", "API token revoked"),
    ]
    for event in alerts:
        assert event.user == getpass.getuser()
        assert_valid(to_xml(event, SOURCE))
    assert [o.object_id for o in alerts[-1].objects] == ["router"]

    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        with services.session_factory() as s:
            stored = list(search(s, AuditFilter(event_id="110113", limit=100)))
    finally:
        services.close()
    assert len(stored) == 8
    assert "user created with role viewer" in stored[0].xml
