"""The ingest write transaction on SQLite: committed or rolled back as a unit, errors in
SQLAlchemy's classes, and writers of several processes queued on the lock file."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from raddx.archive._executor import write_transaction
from raddx.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    yield engine
    engine.dispose()


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT x FROM t ORDER BY x"))]


def test_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    with write_transaction(engine) as db:
        db.run(text("INSERT INTO t VALUES (:x)"), {"x": 1})
    with pytest.raises(RuntimeError), write_transaction(engine) as db:
        db.run(text("INSERT INTO t VALUES (:x)"), {"x": 2})
        raise RuntimeError("boom")
    assert _rows(engine) == [1]


def test_sqlite_errors_are_raised_as_sqlalchemy_errors(engine: Engine) -> None:
    with pytest.raises(IntegrityError) as info, write_transaction(engine) as db:
        db.run(text("INSERT INTO t VALUES (:x)"), {"x": 1})
        db.run(text("INSERT INTO t VALUES (:x)"), {"x": 1})
    assert "UNIQUE" in str(info.value.orig)
    assert _rows(engine) == []


def test_writers_in_other_processes_wait_for_the_lock_file(engine: Engine, tmp_path: Path) -> None:
    """A forked process holding a write transaction keeps ours from starting (we queue on
    the lock file instead of sleeping in SQLite's busy handler); we go on once it ends."""
    ready = tmp_path / "child-ready"
    pid = os.fork()
    if pid == 0:  # the child opens its own lock file (per-process cache) and holds it
        try:
            engine.dispose(close=False)  # never use the parent's SQLite connections
            with write_transaction(engine) as db:
                db.run(text("INSERT INTO t VALUES (:x)"), {"x": 1})
                ready.touch()
                time.sleep(0.5)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline, "child never took the lock"
            time.sleep(0.01)
        started = time.monotonic()
        with write_transaction(engine) as db:
            waited = time.monotonic() - started
            assert _rows_in(db) == [1]  # the child's commit is visible: we ran after it
            db.run(text("INSERT INTO t VALUES (:x)"), {"x": 2})
        assert waited > 0.2
        assert (tmp_path / "index.sqlite-writer.lock").exists()
        assert _rows(engine) == [1, 2]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _rows_in(db: object) -> list[int]:
    row = db.first(text("SELECT group_concat(x) AS xs FROM t"), {})  # type: ignore[attr-defined]
    return [int(x) for x in str(row.xs).split(",")] if row and row.xs else []


def test_lock_file_is_closed_with_its_engine(tmp_path: Path) -> None:
    """One open lock file per engine and process, released when the engine is gone (a long
    test run or tool that opens many databases must not collect descriptors)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    before = len(os.listdir("/proc/self/fd"))
    for n in range(5):
        engine = make_engine(f"sqlite:///{tmp_path / f'db{n}.sqlite'}")
        with write_transaction(engine) as db:
            db.run(text("CREATE TABLE t (x INTEGER)"), {})
        engine.dispose()
        del engine, db
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before
