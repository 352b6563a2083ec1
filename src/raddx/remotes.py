"""Remote AEs: the peers we send to and retrieve from.

Two sources, one list: the ``remote_aes`` setting (read-only here, changed in ``raddx.toml``)
and entries added at runtime through the REST API, kept in the index (``remote_ae`` table)
so they survive a restart. AE titles are unique across both; an AE title is compared as
DICOM compares it, without its leading and trailing spaces (PS3.5 6.2, AE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raddx.config import RemoteAE, Settings
from raddx.db.models import RemoteAEEntry
from raddx.errors import Conflict, NotFound

__all__ = ["RemoteAERegistry", "RemoteAESourceValues", "RemoteAEWithSource"]


class RemoteAESourceValues(StrEnum):
    """Where a remote AE is defined."""

    #: The ``remote_aes`` setting (raddx.toml / RADDX_REMOTE_AES); changed there only.
    CONFIG = "config"
    #: Added at runtime (REST API); stored in the index.
    RUNTIME = "runtime"


@dataclass(frozen=True, slots=True)
class RemoteAEWithSource:
    """A remote AE and where it is defined."""

    remote: RemoteAE
    source: RemoteAESourceValues


def _key(ae_title: str) -> str:
    return ae_title.strip()


class RemoteAERegistry:
    """The configured and runtime remote AEs.

    Parameters
    ----------
    settings
        Holds the configured ``remote_aes``.
    session_factory
        Sessions on the index (runtime entries).
    """

    def __init__(self, settings: Settings, session_factory: Callable[[], Session]) -> None:
        self._settings = settings
        self._session_factory = session_factory

    def list(self) -> list[RemoteAEWithSource]:
        """Configured AEs first (in their order), then runtime ones by title."""
        found = [
            RemoteAEWithSource(r, RemoteAESourceValues.CONFIG) for r in self._settings.remote_aes
        ]
        with self._session_factory() as session:
            rows = session.execute(select(RemoteAEEntry).order_by(RemoteAEEntry.ae_title))
            for row in rows.scalars():
                remote = RemoteAE.model_validate(
                    {
                        "ae_title": row.ae_title,
                        "host": row.host,
                        "port": row.port,
                        "description": row.description,
                    }
                )
                found.append(RemoteAEWithSource(remote, RemoteAESourceValues.RUNTIME))
        return found

    def get(self, ae_title: str) -> RemoteAEWithSource:
        """The remote AE called ``ae_title``.

        Raises
        ------
        NotFound
            No configured or runtime AE has that title.
        """
        for entry in self.list():
            if _key(entry.remote.ae_title) == _key(ae_title):
                return entry
        raise NotFound(f"unknown remote AE {ae_title!r}")

    def add(self, remote: RemoteAE) -> RemoteAEWithSource:
        """Add a runtime remote AE (``remote`` was validated when it was built).

        Raises
        ------
        Conflict
            An AE with that title exists (configured or runtime).
        """
        title = _key(remote.ae_title)
        if any(_key(r.ae_title) == title for r in self._settings.remote_aes):
            raise Conflict(f"remote AE {title!r} is already defined in the configuration")
        try:
            with self._session_factory() as session, session.begin():
                held = session.execute(
                    select(RemoteAEEntry.id).where(RemoteAEEntry.ae_title == title)
                ).first()
                if held is not None:
                    raise Conflict(f"remote AE {title!r} already exists")
                session.add(
                    RemoteAEEntry(
                        ae_title=title,
                        host=remote.host,
                        port=remote.port,
                        description=remote.description,
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
        except IntegrityError:  # added concurrently between our check and our insert
            raise Conflict(f"remote AE {title!r} already exists") from None
        stored = remote.model_copy(update={"ae_title": title})
        return RemoteAEWithSource(stored, RemoteAESourceValues.RUNTIME)

    def remove(self, ae_title: str) -> None:
        """Remove a runtime remote AE.

        Raises
        ------
        NotFound
            No runtime AE has that title.
        Conflict
            It is a configured AE (remove it from the configuration instead).
        """
        title = _key(ae_title)
        if any(_key(r.ae_title) == title for r in self._settings.remote_aes):
            raise Conflict(f"remote AE {title!r} is defined in the configuration; remove it there")
        with self._session_factory() as session, session.begin():
            result = session.execute(delete(RemoteAEEntry).where(RemoteAEEntry.ae_title == title))
            removed = cast(CursorResult[Any], result).rowcount
        if not removed:
            raise NotFound(f"unknown remote AE {ae_title!r}")
