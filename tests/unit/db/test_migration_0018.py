"""Migration 0018 (accession number issuers), on SQLite and PostgreSQL: the columns are added
to ``study`` and ``ris_order`` without touching existing rows (they keep no issuer, so they
link by the number alone as before), and the downgrade removes them."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from raddx.db import make_engine
from raddx.db.migrate import alembic_config, upgrade


def _columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_0018_adds_issuer_columns_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0017")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patient (patient_id, issuer_of_patient_id, created_at, "
                    "updated_at) VALUES ('P1', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        upgrade(engine, "0018")
        for table in ("study", "ris_order"):
            assert "issuer_of_accession_number" in _columns(engine, table)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT patient_id FROM patient")).scalars().all() == ["P1"]
        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0017")
        for table in ("study", "ris_order"):
            assert "issuer_of_accession_number" not in _columns(engine, table)
    finally:
        engine.dispose()
