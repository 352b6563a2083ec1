"""The index database: models, engine/session factory, migrations."""

from __future__ import annotations

from raddx.db.engine import make_engine, make_session_factory
from raddx.db.migrate import upgrade
from raddx.db.models import Base, Instance, Patient, Series, Study

__all__ = [
    "Base",
    "Instance",
    "Patient",
    "Series",
    "Study",
    "make_engine",
    "make_session_factory",
    "upgrade",
]
