"""``raddx audit verify|search`` on a fresh data directory (SQLite): intact, edited and
deleted logs, filters, formats; every use is itself audited (110101)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import delete, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from audit_schema import assert_valid
from raddx.cli import app
from raddx.config import load_settings
from raddx.db.models import AuditRecord
from raddx.security import audit
from raddx.security import audit_events as ev
from raddx.security.audit import ActiveParticipant, PatientRef
from raddx.services import Services

NURSE = ActiveParticipant(user_id="yamada", user_is_requestor=True, host="127.0.0.1")


def _seed(data_dir: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=data_dir))
    try:
        for patient in ("P1", "P2", "P1"):
            audit.record(
                ev.patient_record(
                    action=ev.Action.READ, user=NURSE, patient=PatientRef(patient, "Doe^J")
                )
            )
    finally:
        services.close()


def _tamper(data_dir: Path, how: str) -> None:
    services = Services.from_settings(load_settings(data_dir=data_dir))
    try:
        with Session(services.engine) as session, session.begin():
            if how == "edit":
                session.execute(
                    update(AuditRecord).where(AuditRecord.seq == 2).values(user_id="someone")
                )
            else:
                session.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    finally:
        services.close()


def test_verify_intact_then_edited_then_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _seed(data)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert ok.exit_code == 0, ok.output
    assert "intact: 3 records" in ok.output
    _tamper(data, "edit")
    edited = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert edited.exit_code == 1
    assert "BROKEN at record 2" in edited.output and "edited" in edited.output


def test_verify_reports_a_deleted_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _seed(data)
    _tamper(data, "delete")
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "BROKEN at record 2: record 2 is missing" in result.output


def test_search_filters_formats_and_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _seed(data)
    runner = CliRunner()
    found = runner.invoke(app, ["audit", "search", "--patient", "P1", "--data-dir", str(data)])
    assert found.exit_code == 0, found.output
    lines = [json.loads(line) for line in found.output.splitlines()]
    assert [(r["seq"], r["patient_id"], r["event_id"]) for r in lines] == [
        (1, "P1", "110110"),
        (3, "P1", "110110"),
    ]
    xml = runner.invoke(
        app, ["audit", "search", "--user", "yamada", "--format", "xml", "--data-dir", str(data)]
    )
    assert xml.exit_code == 0
    messages = [m for m in xml.output.split("<?xml") if m.strip()]
    assert len(messages) == 3
    for message in messages:
        assert_valid(("<?xml" + message).strip().encode())
    used = runner.invoke(app, ["audit", "search", "--event", "110101", "--data-dir", str(data)])
    # the two searches before this one were recorded (this one is written after it prints)
    assert [json.loads(line)["event_action_code"] for line in used.output.splitlines()] == [
        "R",
        "R",
    ]


def test_search_bad_time_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["audit", "search", "--since", "yesterday", "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 2
    assert "--since: not an ISO 8601" in result.output
