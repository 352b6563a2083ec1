"""Migration 0017 (one latest version per report) on SQLite and PostgreSQL: rows stored
before it with two latest versions of one report are repaired (the highest version is the
latest), the index the model declares is there and refuses a second latest row, and it
downgrades cleanly."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from raddx.db import Base, make_engine
from raddx.db.migrate import alembic_config, upgrade

_INSERT = text(
    "INSERT INTO report_version (report_id, version, status, is_latest, patient_id, "
    "issuer_of_patient_id, modalities, created_at, record, stored_at) VALUES "
    "(:rid, :v, 'final', :latest, 'P1', '', 'CT', :now, '{}', :now)"
)
_NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def test_one_latest_version_per_report(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0016")
        with engine.begin() as conn:  # what a race left behind: v2 and v3 both latest
            for rid, v, latest in (("R-山田", 1, False), ("R-山田", 2, True), ("R-山田", 3, True)):
                conn.execute(_INSERT, {"rid": rid, "v": v, "latest": latest, "now": _NOW})
            conn.execute(_INSERT, {"rid": "R-佐藤", "v": 1, "latest": False, "now": _NOW})
        upgrade(engine, "0017")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT report_id, version FROM report_version WHERE is_latest")
            ).all()
            assert sorted(map(tuple, rows)) == [("R-佐藤", 1), ("R-山田", 3)]
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "report_version" in repr(d)] == []
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(_INSERT, {"rid": "R-山田", "v": 4, "latest": True, "now": _NOW})
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0016")
        names = {i["name"] for i in inspect(engine).get_indexes("report_version")}
        assert "uq_report_version_latest" not in names
    finally:
        engine.dispose()
