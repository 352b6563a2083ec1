"""Prepared Core statements run inside a session's transaction, as cheaply as the database
allows: the order path's writes (``raddx.ris.service.place_order``, the outbox event, the
JJ1017 master lookup).

On SQLite a statement is compiled once and executed on the DBAPI cursor of the connection the
session's transaction holds. In ``bench/ris.py``'s profile SQLAlchemy's per-call machinery
(``Session.execute``: autoflush, parameter processing, result wrapping) cost about three
times the SQL it ran, some 0.1 ms per statement on a loaded host, and an order runs eight.
The SQL text still comes from SQLAlchemy (no hand-written SQL outside migrations), the
transaction is still the caller's (STYLE rule 8), and on PostgreSQL everything goes through
``Session.execute`` as usual: there the network round trip dwarfs the library's cost.
(``raddx.archive._executor`` does the same for ingest, on a connection without a session.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Statements", "statements"]

_KEY = "raddx.statements"
#: Compiled SQL per statement object and parameter names (and whether every parameter comes
#: from the caller); keyed by id(), the value keeps the statement alive so that an id is
#: never reused. Statements are module constants, so this stays small.
_COMPILED: dict[tuple[int, tuple[str, ...]], tuple[Executable, str, tuple[str, ...], bool]] = {}


class Statements:
    """Runs prepared statements in ``session``'s current transaction (use :func:`statements`)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        conn = session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
        self.transaction = session.get_transaction()
        self._dialect = conn.dialect
        self._cursor: Any = None
        if conn.dialect.name == "sqlite":
            driver = conn.connection.driver_connection
            assert driver is not None
            self._cursor = driver.cursor()

    def scalar(self, stmt: Executable, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or ``None`` (``Session.scalar``)."""
        sql = self._sql(stmt, params)
        if sql is None:
            return self._session.scalar(stmt, dict(params))
        row = self._run(sql, params).fetchone()
        if row is None:
            return None
        self._cursor.fetchall()  # finish the statement (RETURNING must be fully consumed)
        return row[0]

    def first(self, stmt: Executable, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row as a tuple, or ``None``."""
        sql = self._sql(stmt, params)
        if sql is None:
            found = self._session.execute(stmt, dict(params)).first()
            return None if found is None else tuple(found)
        row = self._run(sql, params).fetchone()
        if row is None:
            return None
        self._cursor.fetchall()
        return tuple(row)

    def execute(self, stmt: Executable, params: Mapping[str, Any]) -> None:
        """Execute for its effect."""
        sql = self._sql(stmt, params)
        if sql is None:
            self._session.execute(stmt, dict(params))
        else:
            self._run(sql, params)

    def _sql(
        self, stmt: Executable, params: Mapping[str, Any]
    ) -> tuple[str, tuple[str, ...]] | None:
        """The SQL and its parameter order, or ``None`` when the session must run it (not
        SQLite, or a column default SQLAlchemy would have to compute)."""
        if self._cursor is None:
            return None
        keys = tuple(sorted(params))
        found = _COMPILED.get((id(stmt), keys))
        if found is None:
            # INSERTs are compiled for exactly the columns given, as Session.execute does.
            compiled = cast(
                SQLCompiler,
                stmt.compile(dialect=self._dialect, column_keys=list(keys)),  # type: ignore[attr-defined]
            )
            order = tuple(compiled.positiontup or ())
            found = (stmt, str(compiled), order, all(name in params for name in order))
            _COMPILED[(id(stmt), keys)] = found
        _, sql, order, direct = found
        return (sql, order) if direct else None

    def _run(self, sql: tuple[str, tuple[str, ...]], params: Mapping[str, Any]) -> Any:
        session = self._session
        # What Session.execute's autoflush would have written first. Dirty and deleted
        # objects are in the identity map, so an empty map and no new object (the order
        # path's case) is nothing to flush, found without building the three sets.
        if session.new or (session.identity_map and (session.dirty or session.deleted)):
            session.flush()
        text, order = sql
        return self._cursor.execute(text, [_sqlite_value(params[name]) for name in order])


def statements(session: Session) -> Statements:
    """The :class:`Statements` of ``session``'s current transaction (made once per session;
    ``session.info`` holds it, so the functions of one unit of work share its cursor)."""
    found = session.info.get(_KEY)
    # A session may run several transactions, each on whichever pooled connection it gets.
    if (
        found is None
        or found.transaction is None
        or found.transaction is not (session.get_transaction())
    ):
        found = session.info[_KEY] = Statements(session)
    return cast(Statements, found)


def _sqlite_value(value: Any) -> Any:
    """The value as SQLAlchemy's SQLite dialect binds it for our column types: a timestamp
    (``raddx.db.models.UtcDateTime``) as naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    return value
