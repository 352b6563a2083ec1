"""The PostgreSQL fixtures hand out working, empty and isolated databases.

Every PostgreSQL test trusts these properties; if they break, failures elsewhere would look like
archive bugs (rows from another test, another worker's tables).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

pytestmark = pytest.mark.postgres

# ISO_IR 192 name with all three component groups: the database must be UTF-8.
_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def _table_names(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_empty_database_is_empty_and_usable(postgres_empty_url: str) -> None:
    assert make_url(postgres_empty_url).drivername == "postgresql+psycopg"
    engine = create_engine(postgres_empty_url)
    try:
        with engine.begin() as conn:
            assert inspect(conn).get_table_names() == []
            conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(text("INSERT INTO probe (id, name) VALUES (1, :name)"), {"name": _NAME})
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM probe WHERE id = 1")).scalar_one() == _NAME
    finally:
        engine.dispose()


def test_databases_do_not_see_each_other(
    postgres_empty_url: str, postgres_database_factory: Callable[[], str]
) -> None:
    other = postgres_database_factory()
    assert make_url(other).database != make_url(postgres_empty_url).database
    engine = create_engine(postgres_empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY)"))
    finally:
        engine.dispose()
    assert _table_names(postgres_empty_url) == ["probe"]
    assert _table_names(other) == []


def test_session_database_is_private_to_the_worker(
    postgres_url: str, postgres_empty_url: str
) -> None:
    assert make_url(postgres_url).database != make_url(postgres_empty_url).database
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == (
                make_url(postgres_url).database
            )
    finally:
        engine.dispose()
