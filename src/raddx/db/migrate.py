"""Bring the index schema to the newest alembic revision.

``raddx serve`` and ``raddx import`` call :func:`upgrade` at start, so the embedded default needs
no separate setup step; operators of a shared PostgreSQL can run ``raddx db upgrade`` instead.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["alembic_config", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An alembic configuration pointing at the migrations shipped in the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply all migrations up to ``revision`` in one transaction on ``engine``."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
