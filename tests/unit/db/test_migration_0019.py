"""Migration 0019 (security_user.display_name) on SQLite and PostgreSQL: the column the
model declares, NULL (the login name is shown) for an account created before it, and a
clean downgrade."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from raddx.db import Base, make_engine
from raddx.db.migrate import alembic_config, upgrade


def test_display_name_column(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0018")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO security_user (name, role, password_hash, disabled, "
                    "failed_logins, totp_confirmed, created_at, password_changed_at) "
                    "VALUES ('dr-tanaka', 'radiologist', 'x', FALSE, 0, FALSE, :now, :now)"
                ),
                {"now": dt.datetime(2026, 11, 26, tzinfo=dt.UTC)},
            )
        upgrade(engine, "0019")
        with engine.connect() as conn:
            value = conn.execute(text("SELECT display_name FROM security_user")).scalar_one()
            assert value is None
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "security_user" in repr(d)] == []
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0018")
        columns = {c["name"] for c in inspect(engine).get_columns("security_user")}
        assert "display_name" not in columns
    finally:
        engine.dispose()
