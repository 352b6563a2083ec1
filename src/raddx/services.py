"""Wiring: build the engine, the blob store and the domain services from the settings, once.

Every process entry point (``raddx serve`` and its workers, ``raddx import``, tests) goes
through :meth:`Services.from_settings`, so there is one place that decides how the parts fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from raddx.archive import IngestService
from raddx.config import FsyncDirectoriesValues, Settings, ValidationModeValues
from raddx.db import make_engine, make_session_factory, upgrade
from raddx.ris.reconcile import ArrivalLink
from raddx.security import audit as _audit
from raddx.security.audit_log import AuditTrail, trail_from_settings
from raddx.storage import FileBlobStore
from raddx.storage.encrypted import EncryptedFileBlobStore, keyring_from_settings

__all__ = ["Services"]


@dataclass
class Services:
    """The long-lived objects of one process."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Any]
    blobs: FileBlobStore
    ingest: IngestService
    #: The process's audit writer, installed for ``raddx.security.audit.record``.
    audit: AuditTrail

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool = True) -> Services:
        """Create everything; with ``migrate`` bring the index schema up to date first."""
        engine = make_engine(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        if migrate:
            upgrade(engine)
        session_factory = make_session_factory(engine)
        # Encryption at rest (issue 9) only when a key is configured: plain reads stay as fast.
        keyring = keyring_from_settings(settings)
        blob_store: Any = (
            FileBlobStore
            if keyring is None
            else functools.partial(EncryptedFileBlobStore, keyring=keyring)
        )
        blobs = blob_store(
            settings.resolved_storage_path,
            fsync=settings.fsync,
            fsync_directories=(
                True if settings.fsync_directories is FsyncDirectoriesValues.ALWAYS else None
            ),
        )
        ingest = IngestService(
            engine=engine,
            blobs=blobs,
            duplicate_policy=settings.duplicate_policy,
            strict=settings.validation_mode is ValidationModeValues.STRICT,
            default_timezone_offset=settings.default_timezone_offset,
            study_arrival=ArrivalLink(session_factory),
        )
        audit = trail_from_settings(settings, engine)
        if settings.audit_enabled:
            _audit.install(audit)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            blobs=blobs,
            ingest=ingest,
            audit=audit,
        )

    def close(self) -> None:
        """Write the queued audit events, then release database connections and the blob
        store's directory descriptors."""
        _audit.uninstall(self.audit)
        self.audit.close()
        self.engine.dispose()
        self.blobs.close()
