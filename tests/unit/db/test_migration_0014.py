"""Migration 0014 (ris_performed_step.performed_series_count) on SQLite and PostgreSQL: the
column the model declares, 0 for a step stored before it, and a clean downgrade."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from raddx.db import Base, make_engine
from raddx.db.migrate import alembic_config, upgrade


def test_performed_series_count(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0013")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO ris_performed_step (sop_instance_uid, "
                    "performed_procedure_step_status, created_at, updated_at) "
                    "VALUES ('1.2.3', 'IN PROGRESS', :now, :now)"
                ),
                {"now": dt.datetime(2026, 11, 26, tzinfo=dt.UTC)},
            )
        upgrade(engine, "0014")
        with engine.connect() as conn:
            count = conn.execute(text("SELECT performed_series_count FROM ris_performed_step"))
            assert count.scalar_one() == 0
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "ris_performed_step" in repr(d)] == []
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0013")
        columns = {c["name"] for c in inspect(engine).get_columns("ris_performed_step")}
        assert "performed_series_count" not in columns
    finally:
        engine.dispose()
