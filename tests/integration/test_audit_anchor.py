"""``raddx audit anchor`` / ``verify --anchor`` (issue 9, tamper evidence beyond the chain):
someone with write access to the database can rewrite the log from one record on, hashes and
head included, and the chain verifies again; an anchor kept outside the database catches it,
and a log cut back below an anchor too."""

from __future__ import annotations

import json
from pathlib import Path

import trustme
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from helpers import wait_for
from raddx.cli import app
from raddx.config import load_settings
from raddx.db.models import AuditChainHead, AuditRecord
from raddx.security import audit
from raddx.security import audit_events as ev
from raddx.security.audit import ActiveParticipant, PatientRef
from raddx.security.audit_log import row_hash
from raddx.services import Services
from syslog_collector import Collector

NURSE = ActiveParticipant(user_id="yamada", user_is_requestor=True, host="127.0.0.1")


def _record(data_dir: Path, *patients: str) -> None:
    services = Services.from_settings(load_settings(data_dir=data_dir))
    try:
        for patient in patients:
            audit.record(
                ev.patient_record(
                    action=ev.Action.READ, user=NURSE, patient=PatientRef(patient, "山田^太郎")
                )
            )
    finally:
        services.close()


def _rewrite_from(data_dir: Path, seq: int, user: str) -> None:
    """What an attacker with database access does: change record ``seq`` and recompute the
    chain after it, head included, so that the chain is consistent again."""
    services = Services.from_settings(load_settings(data_dir=data_dir))
    try:
        with Session(services.engine) as session, session.begin():
            rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
            prev = rows[seq - 2].hash if seq > 1 else "0" * 64
            for row in rows[seq - 1 :]:
                if row.seq == seq:
                    row.user_id = user
                row.prev_hash = prev
                row.hash = row_hash(prev, row)
                prev = row.hash
            head = session.get(AuditChainHead, 1)
            assert head is not None
            head.hash = prev
    finally:
        services.close()


def _cut_back_to(data_dir: Path, seq: int) -> None:
    services = Services.from_settings(load_settings(data_dir=data_dir))
    try:
        with Session(services.engine) as session, session.begin():
            session.execute(delete(AuditRecord).where(AuditRecord.seq > seq))
            last = session.scalar(select(AuditRecord).where(AuditRecord.seq == seq))
            head = session.get(AuditChainHead, 1)
            assert head is not None and last is not None
            head.seq, head.hash = seq, last.hash
    finally:
        services.close()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args])
    return result.exit_code, result.output


def test_anchor_prints_the_chain_head(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _record(data, "P1", "P2")
    code, output = _cli("anchor", "--data-dir", str(data))
    assert code == 0, output
    anchor = json.loads(output)
    assert anchor["format"] == "raddx-audit-anchor/1"
    assert anchor["seq"] >= 2 and len(anchor["hash"]) == 64


def test_rewritten_log_passes_the_chain_but_not_the_anchor(tmp_path: Path) -> None:
    data, anchors = tmp_path / "data", tmp_path / "worm" / "anchors.jsonl"
    anchors.parent.mkdir()
    _record(data, "P1", "P2", "P3")
    code, output = _cli("anchor", "--out", str(anchors), "--data-dir", str(data))
    assert code == 0 and "appended" in output, output
    anchored = json.loads(anchors.read_text().splitlines()[0])["seq"]

    _rewrite_from(data, 2, user="someone-else")

    code, output = _cli("verify", "--data-dir", str(data))
    assert code == 0, output  # the chain alone cannot tell
    code, output = _cli("verify", "--anchor", str(anchors), "--data-dir", str(data))
    assert code == 1
    assert f"anchor of record {anchored}" in output and "rewritten" in output


def test_log_cut_back_below_an_anchor_is_detected(tmp_path: Path) -> None:
    data, anchors = tmp_path / "data", tmp_path / "anchors.jsonl"
    _record(data, "P1", "P2", "P3")
    assert _cli("anchor", "--out", str(anchors), "--data-dir", str(data))[0] == 0
    _cut_back_to(data, 2)
    code, output = _cli("verify", "--anchor", str(anchors), "--data-dir", str(data))
    assert code == 1 and "record 3 is gone" in output, output
    # The chain alone: consistent, just shorter.
    assert _cli("verify", "--data-dir", str(data))[0] == 0


def test_anchors_accumulate_and_all_match_on_an_intact_log(tmp_path: Path) -> None:
    data, anchors = tmp_path / "data", tmp_path / "anchors.jsonl"
    _record(data, "P1")
    assert _cli("anchor", "--out", str(anchors), "--data-dir", str(data))[0] == 0
    _record(data, "P2", "P3")
    assert _cli("anchor", "--out", str(anchors), "--data-dir", str(data))[0] == 0
    assert len(anchors.read_text().splitlines()) == 2
    code, output = _cli("verify", "--anchor", str(anchors), "--data-dir", str(data))
    assert code == 0, output
    assert "2 anchor(s) match" in output


def test_a_damaged_anchor_file_is_refused_with_its_line(tmp_path: Path) -> None:
    data, anchors = tmp_path / "data", tmp_path / "anchors.jsonl"
    _record(data, "P1")
    assert _cli("anchor", "--out", str(anchors), "--data-dir", str(data))[0] == 0
    with anchors.open("a") as file:
        file.write('{"format": "raddx-audit-anchor/1", "seq": 1, "hash": "abc"}\n')
    code, output = _cli("verify", "--anchor", str(anchors), "--data-dir", str(data))
    assert code == 1
    assert "line 2: not an audit anchor" in output and "hash" in output
    missing = tmp_path / "none.jsonl"
    code, output = _cli("verify", "--anchor", str(missing), "--data-dir", str(data))
    assert code == 1 and "cannot read the anchor file" in output


def test_anchor_to_an_unwritable_place_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _record(data, "P1")
    code, output = _cli("anchor", "--out", str(tmp_path / "no" / "such" / "dir" / "a.jsonl"))
    assert code == 1
    assert "cannot write" in output


def test_the_syslog_collectors_archive_is_an_anchor_file(tmp_path: Path) -> None:
    """Every audit message sent to the collector carries its record's (seq, hash): the
    collector's archive catches a rewrite without anyone having run ``raddx audit anchor``."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    collector = Collector(ca)
    data = tmp_path / "data"
    settings = load_settings(
        data_dir=data,
        audit_syslog_host="127.0.0.1",
        audit_syslog_port=collector.port,
        audit_syslog_ca_file=ca_file,
    )
    services = Services.from_settings(settings)
    try:
        for patient in ("P1", "P2", "P3"):
            audit.record(
                ev.patient_record(
                    action=ev.Action.READ, user=NURSE, patient=PatientRef(patient, "山田^太郎")
                )
            )
        assert services.audit.flush()
        wait_for(lambda: len(collector.frames) >= 3)
    finally:
        services.close()
        collector.close()
    # What a collector writes: one message per line, its own prefix before each.
    archive = tmp_path / "collector" / "audit.log"
    archive.parent.mkdir()
    archive.write_bytes(
        b"".join(b"Nov 26 13:00:00 arr raddx: " + frame + b"\n" for frame in collector.frames)
    )
    code, output = _cli("verify", "--anchor", str(archive), "--data-dir", str(data))
    assert code == 0, output
    assert f"{len(collector.frames)} anchor(s) match" in output

    _rewrite_from(data, 2, user="someone-else")
    code, output = _cli("verify", "--anchor", str(archive), "--data-dir", str(data))
    assert code == 1
    assert "anchor of record 2" in output and "rewritten" in output

    unrelated = tmp_path / "messages.log"
    unrelated.write_text("Nov 26 13:00:00 host sshd[1]: session opened\n")
    code, output = _cli("verify", "--anchor", str(unrelated), "--data-dir", str(data))
    assert code == 1 and "neither an anchor file" in output
