"""SQLite transactions: writers take the lock up front, read-only work never waits for it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from raddx.db import READ_ONLY_OPTIONS, make_engine, make_session_factory, read_only


def test_read_only_work_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'i.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    writer = engine.connect()
    tx = writer.begin()  # BEGIN IMMEDIATE: holds the write lock
    writer.execute(text("INSERT INTO t VALUES (2)"))
    try:
        # With BEGIN IMMEDIATE these would wait for the writer (busy timeout: 60 s).
        with read_only(engine) as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
        with make_session_factory(engine)() as session, session.begin():
            session.connection(execution_options=READ_ONLY_OPTIONS)
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
    finally:
        tx.commit()
        writer.close()
    with read_only(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()
