"""Alembic environment: runs migrations on the connection raddx hands over (or on the URL
from alembic.ini / RADDX settings when alembic is run from the command line)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from raddx.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from raddx.config import load_settings

        url = load_settings().resolved_database_url
    engine = engine_from_config(
        {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
