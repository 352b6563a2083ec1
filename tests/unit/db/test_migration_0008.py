"""Migration 0008 (MPPS) on SQLite and PostgreSQL: the schema it builds is the one the
models declare (no drift), and it downgrades cleanly to 0007."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from raddx.db import Base, make_engine
from raddx.db.migrate import upgrade

_TABLES = {"ris_performed_step"}


def test_0008_matches_models_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0008")
        assert set(inspect(engine).get_table_names()) >= _TABLES
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        ris_diff = [d for d in diff if _TABLES & set(map(str, _names(d)))]
        assert ris_diff == []
        upgrade_down(engine)
        assert not _TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _names(diff: object) -> list[object]:
    """Table names mentioned by one autogenerate diff entry (tuples nest for column diffs)."""
    out: list[object] = []
    items = diff if isinstance(diff, (list, tuple)) else [diff]
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(_names(item))
        else:
            table = getattr(item, "table", None)
            out.append(getattr(item, "name", item) if table is None else table.name)
            out.append(item)
    return out


def upgrade_down(engine: object) -> None:
    from alembic import command

    from raddx.db.migrate import alembic_config

    cfg = alembic_config()
    with engine.begin() as connection:  # type: ignore[attr-defined]
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0007")
