"""Engine and session factory: created once at startup, passed to the doors (STYLE rule 8)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

__all__ = ["READ_ONLY_OPTIONS", "make_engine", "make_session_factory", "read_only"]

_READ_ONLY = "raddx_read_only"
#: Execution options for a read-only unit of work: on SQLite its transaction is a deferred
#: ``BEGIN`` (a WAL snapshot) that neither waits for nor blocks the writer, e.g.
#: ``session.connection(execution_options=READ_ONLY_OPTIONS)`` right after ``begin()``.
READ_ONLY_OPTIONS = {_READ_ONLY: True}


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", echo: bool = False) -> Engine:
    """Create the index engine for ``url``.

    SQLite gets WAL (readers never block the writer), a busy timeout, foreign keys, and
    ``BEGIN IMMEDIATE`` for every transaction. The last one matters: in WAL mode a deferred
    transaction that reads and then writes fails at once with SQLITE_BUSY when another
    connection committed in between; taking the write lock up front makes concurrent
    associations queue instead of fail. (This is SQLAlchemy's documented pysqlite recipe.)
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 60},
        )
        _configure_sqlite(engine, sqlite_synchronous)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Disable pysqlite's own transaction handling so that ours (below) is the only one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight on the sqlite3 connection: through ``exec_driver_sql`` SQLAlchemy's
        # execution machinery cost ~50 µs on every ingest transaction (bench/ingest.py).
        driver = connection.connection.driver_connection
        if connection.get_execution_options().get(_READ_ONLY):
            driver.execute("BEGIN")  # a snapshot read; never blocks the writer
        else:
            driver.execute("BEGIN IMMEDIATE")


@contextlib.contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that must not queue behind (or block) writers.

    On SQLite it starts a deferred transaction (a WAL snapshot) instead of ``BEGIN
    IMMEDIATE``; elsewhere it is an ordinary transaction that is rolled back at the end.
    """
    with engine.connect().execution_options(**{_READ_ONLY: True}) as conn, conn.begin() as tx:
        yield conn
        tx.rollback()


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit (doors read them to answer)."""
    return sessionmaker(engine, expire_on_commit=False)
