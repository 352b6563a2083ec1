"""Run the ingest path's prebuilt statements with as little overhead as each database allows.

On PostgreSQL statements go through SQLAlchemy's ``Connection.execute`` as usual (the network
round trip dwarfs the library's cost). On SQLite the same SQLAlchemy statements are compiled
once and executed on the DBAPI cursor of the connection SQLAlchemy manages, inside the
transaction SQLAlchemy began: in ``bench/ingest.py``'s profile, SQLAlchemy's per-call
execution machinery (parameter processing, result wrapping) cost ~18 µs per statement and
~0.6 ms of CPU per stored object, against ~1.5 µs per statement on the cursor. The SQL text
still comes from SQLAlchemy, so no hand-written SQL exists outside migrations.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, cast

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Executor", "Row", "write_transaction"]


class Row(dict[str, Any]):
    """A result row readable by column name as key or attribute."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Executor:
    """Executes statements on one connection inside its current transaction (generic path)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def first(self, stmt: Executable, params: Mapping[str, Any]) -> Row | None:
        """The first row, or ``None``."""
        row = self.conn.execute(stmt, dict(params)).mappings().first()
        return None if row is None else Row(row)

    def run(self, stmt: Executable, params: Mapping[str, Any]) -> None:
        """Execute for its effect."""
        self.conn.execute(stmt, dict(params))

    def run_built(self, stmt: Executable) -> None:
        """Execute a statement built per call, values included (rare paths)."""
        self.conn.execute(stmt)


class _SQLiteExecutor(Executor):
    """Compiled-once statements on the sqlite3 cursor (see the module docstring)."""

    # Keyed by id(); the value keeps the statement alive so an id is never reused.
    _cache: dict[tuple[int, tuple[str, ...]], tuple[Executable, str, tuple[str, ...]]] = {}  # noqa: RUF012

    def __init__(self, dialect: Dialect, cursor: Any) -> None:
        self._dialect = dialect
        self._cursor = cursor

    def _compiled(self, stmt: Executable, keys: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        # INSERTs are compiled for the exact columns given; other statements ignore ``keys``
        # beyond the cache key.
        cache_key = (id(stmt), keys)
        found = self._cache.get(cache_key)
        if found is None:
            compiled = cast(
                SQLCompiler,
                stmt.compile(dialect=self._dialect, column_keys=list(keys)),  # type: ignore[attr-defined]
            )
            found = (stmt, str(compiled), tuple(compiled.positiontup or ()))
            self._cache[cache_key] = found
        return found[1], found[2]

    def _execute(self, stmt: Executable, params: Mapping[str, Any]) -> Any:
        sql, order = self._compiled(stmt, tuple(sorted(params)))
        return self._cursor.execute(sql, [_sqlite_value(params[name]) for name in order])

    def first(self, stmt: Executable, params: Mapping[str, Any]) -> Row | None:
        cursor = self._execute(stmt, params)
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.description]
        cursor.fetchall()  # finish the statement (RETURNING must be fully consumed)
        return Row(zip(names, row, strict=True))

    def run(self, stmt: Executable, params: Mapping[str, Any]) -> None:
        self._execute(stmt, params)

    def run_built(self, stmt: Executable) -> None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=self._dialect))  # type: ignore[attr-defined]
        params = compiled.construct_params()
        order = compiled.positiontup or ()
        self._cursor.execute(str(compiled), [_sqlite_value(params[name]) for name in order])


def _sqlite_value(value: Any) -> Any:
    """The value as SQLAlchemy's SQLite dialect would bind it (DateTime is stored as naive
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text, UTC here)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")  # = strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Executor]:
    """One write transaction, committed on success and rolled back on any exception.

    On SQLite the transaction runs on a pooled sqlite3 connection without SQLAlchemy's
    ``Connection``/``Transaction`` objects and their events (~35 µs per ingest in the
    profile): ``BEGIN IMMEDIATE`` takes the write lock up front as everywhere else
    (``raddx.db.engine``). sqlite3 errors are raised as SQLAlchemy's exception classes
    (``IntegrityError``, ``OperationalError``) with the original as ``orig``, as on the
    generic path, so callers handle one family of errors.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield Executor(conn)
        return
    with _writer_lock(engine), _sqlite_transaction(engine) as executor:
        yield executor


@contextlib.contextmanager
def _sqlite_transaction(engine: Engine) -> Iterator[Executor]:
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        try:
            driver.execute("BEGIN IMMEDIATE")
            yield _SQLiteExecutor(engine.dialect, driver.cursor())
            driver.commit()
        except BaseException as exc:
            if driver.in_transaction:
                driver.rollback()
            if isinstance(exc, sqlite3.Error):
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
            raise
    finally:
        raw.close()


class _WriterLock:
    """Queues this process's SQLite write transactions, and those of the other processes on
    the same database, before ``BEGIN IMMEDIATE``.

    Why: SQLite makes a writer that finds the database locked sleep in steps of 1, 2, 5, 10…
    ms (its default busy handler), while an ingest transaction holds the lock for ~0.2 ms.
    With two DIMSE workers storing at once, most collisions cost a millisecond or more of
    sleep (``bench/ingest.py``, small objects, two clients). A blocking ``flock`` on a lock
    file beside the database wakes the next writer the moment the lock is released. Writers
    that do not take it (ORM sessions, other tools) still get SQLite's own locking, so this
    only changes who waits how, never what is safe.
    """

    def __init__(self, path: str) -> None:
        self._threads = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, 0o644)
        weakref.finalize(self, os.close, self._fd)

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
#: Per engine (the lock file is closed when its engine goes away) and per process: a forked
#: worker must not share its parent's open lock file, whose flock would then be shared too.
_writer_locks: weakref.WeakKeyDictionary[Engine, dict[int, _WriterLock]] = (
    weakref.WeakKeyDictionary()
)
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> contextlib.AbstractContextManager[None]:
    database = engine.url.database
    if not database or database == ":memory:" or fcntl is None:
        return contextlib.nullcontext()
    pid = os.getpid()
    with _writer_locks_guard:
        per_process = _writer_locks.setdefault(engine, {})
        lock = per_process.get(pid)
        if lock is None:
            lock = per_process[pid] = _WriterLock(os.path.abspath(database) + "-writer.lock")
    return lock
