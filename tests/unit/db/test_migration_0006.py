"""Migration 0006 (soft delete, remote AEs, jobs) on SQLite and PostgreSQL: the schema it
builds is the one the models declare (no drift), existing rows stay visible, and it
downgrades cleanly to 0005."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from raddx.db import Base, make_engine
from raddx.db.migrate import alembic_config, upgrade

_TABLES = {"remote_ae", "job", "purge_pending"}
_LEVELS = ("patient", "study", "series", "instance")


def _mine(diff: object) -> bool:
    text = repr(diff)
    return any(t in text for t in _TABLES) or "deleted_at" in text


def test_0006_matches_models_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0006")
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) >= _TABLES
        for table in _LEVELS:
            assert "deleted_at" in {c["name"] for c in inspector.get_columns(table)}
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if _mine(d)] == []

        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0005")
        inspector = inspect(engine)
        assert not _TABLES & set(inspector.get_table_names())
        for table in _LEVELS:
            assert "deleted_at" not in {c["name"] for c in inspector.get_columns(table)}
    finally:
        engine.dispose()
