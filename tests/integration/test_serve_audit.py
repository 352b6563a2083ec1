"""``raddx serve`` records Application Activity: Application Start when it is up and
Application Stop on Ctrl-C (PS3.15 A.5.3.1), in the hash-chained log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from audit_schema import assert_valid
from helpers import start_serve, stop_serve


def test_serve_records_application_start_and_stop(tmp_path: Path) -> None:
    serve = start_serve(tmp_path / "data", tmp_path / "serve.log")
    output = stop_serve(serve)
    process = serve.process
    assert process.returncode == 0, output
    with sqlite3.connect(tmp_path / "data" / "index.sqlite") as db:
        rows = db.execute(
            "SELECT event_action_code, xml FROM audit_record WHERE event_id = '110100' ORDER BY seq"
        ).fetchall()
    types = []
    for action, xml in rows:
        assert action == "E"
        root = assert_valid(xml.encode())
        types.append(root.find("EventIdentification/EventTypeCode").get("csd-code"))
        assert root.xpath("ActiveParticipant/RoleIDCode/@csd-code") == ["110150"]
    assert types == ["110120", "110121"]
