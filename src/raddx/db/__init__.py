"""The index database: models, engine/session factory, migrations."""

from __future__ import annotations

from raddx.db.engine import READ_ONLY_OPTIONS, make_engine, make_session_factory, read_only
from raddx.db.migrate import upgrade
from raddx.db.models import Base, Instance, Patient, Series, Study

__all__ = [
    "READ_ONLY_OPTIONS",
    "Base",
    "Instance",
    "Patient",
    "Series",
    "Study",
    "make_engine",
    "make_session_factory",
    "read_only",
    "upgrade",
]
