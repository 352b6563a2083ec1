"""Migration 0016 (study browser sort indexes), on SQLite and PostgreSQL: the indexes exist
after the upgrade, SQLite walks the date index for the study list's default order (newest
first) instead of sorting every study, and the downgrade removes them."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.dialects import sqlite

from raddx.archive.query import Query
from raddx.archive.query.service import _return_attributes, _statement
from raddx.db import make_engine
from raddx.db.migrate import alembic_config, upgrade

_SORT_INDEXES = {
    "study": {
        "ix_study_sort_date_time",
        "ix_study_sort_accession_number",
        "ix_study_sort_study_description",
        "ix_study_sort_modalities_in_study",
        "ix_study_referring_physician_name_phonetic_norm",
    },
    "patient": {"ix_patient_sort_patient_name", "ix_patient_sort_patient_id"},
}


def _indexes(engine: object) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {t: {i["name"] for i in inspector.get_indexes(t)} for t in _SORT_INDEXES}


def test_0016_adds_sort_indexes_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0016")
        found = _indexes(engine)
        for table, names in _SORT_INDEXES.items():
            assert names <= found[table], table
        if engine.dialect.name == "sqlite":
            query = Query(
                level="STUDY",
                information_model="STUDY_ROOT",
                keys={"StudyDate": "", "PatientName": ""},
                order_by=("-StudyDate", "-StudyTime"),
                limit=26,
            )
            stmt = _statement(query, _return_attributes(query))
            sql = str(
                stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            )
            with engine.connect() as conn:
                plan = " | ".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            # The page's ids come from walking the index (no sort of every study); only
            # the page's own rows (at most 26) are sorted again when they are read whole.
            assert "SCAN study USING INDEX ix_study_sort_date_time" in plan, plan
            assert plan.count("TEMP B-TREE") == 1, plan
        cfg = alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0015")
        found = _indexes(engine)
        for table, names in _SORT_INDEXES.items():
            assert not names & found[table], table
    finally:
        engine.dispose()
