"""Migrations that add tables (0005 reports, 0007 RIS, 0008 MPPS, 0009 study links), on
SQLite and PostgreSQL: the schema each builds is the one the models declare (no drift), and
each downgrades cleanly to the revision before it. (0003 and 0006 also change existing tables:
own tests.)"""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from raddx.db import Base, make_engine
from raddx.db.migrate import alembic_config, upgrade

CASES = [
    ("0005", "0004", {"report_version", "report_study", "report_quarantine"}),
    ("0007", "0006", {"ris_patient", "ris_order", "ris_requested_procedure", "ris_scheduled_step"}),
    ("0008", "0007", {"ris_performed_step"}),
    ("0009", "0008", {"ris_study_link"}),
    ("0010", "0009", {"outbox_message"}),
    ("0011", "0010", {"jj1017_master"}),
    (
        "0013",
        "0012",
        {
            "security_user",
            "security_password_history",
            "security_recovery_code",
            "security_api_token",
            "security_session",
        },
    ),
]


#: Columns a later migration adds to these tables (each has its own test): absent at the
#: revision that created the table, so not drift there.
LATER_COLUMNS = {
    ("ris_performed_step", "performed_series_count"),  # 0014
    ("ris_order", "issuer_of_accession_number"),  # 0018
    ("security_user", "display_name"),  # 0019
}


#: Indexes a later migration adds (each has its own test).
LATER_INDEXES = {"uq_report_version_latest"}  # 0017


def _added_later(diff: object) -> bool:
    if isinstance(diff, tuple) and diff and diff[0] == "add_column":
        return (diff[2], diff[3].name) in LATER_COLUMNS
    if isinstance(diff, tuple) and diff and diff[0] == "add_index":
        return diff[1].name in LATER_INDEXES
    return False


@pytest.mark.parametrize(("revision", "previous", "tables"), CASES, ids=[c[0] for c in CASES])
def test_migration_matches_models_and_downgrades(
    database_url: str, revision: str, previous: str, tables: set[str]
) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, revision)
        assert set(inspect(engine).get_table_names()) >= tables
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        drift = [d for d in diff if tables & set(map(str, _names(d))) and not _added_later(d)]
        assert drift == []
        _downgrade(engine, previous)
        assert not tables & set(inspect(engine).get_table_names())
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


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
