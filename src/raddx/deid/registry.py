"""Who is who: each patient's pseudonym and date offset (research notes §1.3, §6 item 5).

Three registries behind one lookup:

* :class:`KeyedRegistry` — the pseudonym and offset are keyed HMACs of the patient identity.
  With a project key this is linkable and needs no storage (the key is the 削除情報等); with an
  ephemeral key, which is never stored, it is the throw-away registry of unlinkable mode (APPI
  匿名加工情報 ③): consistent within one export, linked to nothing after it.
* :class:`DatabaseRegistry` — random pseudonym and random offset per patient, drawn once and
  kept in the index database (``deid_pseudonym``), every lookup written to the audit table
  (``deid_pseudonym_lookup``). This is the correspondence table (対応表) of APPI 仮名加工情報:
  values nobody can recompute from the key alone, and a record of every use.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from raddx.db.engine import make_engine, make_session_factory
from raddx.db.models import DeidPseudonym, DeidPseudonymLookup
from raddx.deid.dates import patient_offset_days
from raddx.deid.keys import ProjectKey
from raddx.deid.seal import SealKey
from raddx.errors import NotFound

__all__ = [
    "DatabaseRegistry",
    "KeyedRegistry",
    "PatientPseudonym",
    "PatientRegistry",
    "audit_rows",
]

_PREFIX = "RDX"
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class PatientPseudonym:
    """What the engine needs of a patient: the replacement ID/name and the date offset."""

    pseudonym: str
    date_offset_days: int


class PatientRegistry(Protocol):
    """Looks a patient up by identity (IssuerOfPatientID, PatientID, …, joined by NUL)."""

    def lookup(self, identity: str) -> PatientPseudonym: ...

    def close(self) -> None:
        """Release what the registry holds (database connections)."""


def _pseudonym(raw: bytes) -> str:
    """``RDX`` + 16 base32 characters (80 bits): fits LO, SH and PN, and is ASCII."""
    return _PREFIX + base64.b32encode(raw[:10]).decode("ascii")


class KeyedRegistry:
    """Pseudonym and offset as keyed HMACs of the identity (no storage)."""

    def __init__(self, key: ProjectKey, *, min_days: int, max_days: int) -> None:
        self.key = key
        self.min_days, self.max_days = min_days, max_days

    def close(self) -> None:
        """Nothing to release."""

    def lookup(self, identity: str) -> PatientPseudonym:
        return PatientPseudonym(
            pseudonym=_pseudonym(self.key.digest("patient", identity)),
            date_offset_days=patient_offset_days(
                self.key, identity, min_days=self.min_days, max_days=self.max_days
            ),
        )


class DatabaseRegistry:
    """Random pseudonym and offset per patient, kept in the database, every lookup audited.

    Parameters
    ----------
    session_factory : sessionmaker
        On the index database (migrated to revision 0004 or later).
    key : ProjectKey
        A project key: it names the project (its fingerprint) and keys the patient identity,
        so the table holds no patient ID.
    min_days, max_days : int
        The range of the random date offset.
    actor : str
        Who looks up, for the audit rows (e.g. ``"raddx deid run"``).
    seal_key : SealKey, optional
        The registry key (``raddx.deid.seal``): new rows keep the identity, pseudonym and
        offset only sealed with it (migration 0015). Rows written without one stay readable.

    Raises
    ------
    ValueError
        ``key`` is ephemeral: a kept mapping would make unlinkable output linkable.

    Notes
    -----
    Each lookup is its own transaction: the registry row and its audit row commit together,
    and two processes meeting the same new patient agree (the loser of the insert reads the
    winner's row).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        key: ProjectKey,
        min_days: int,
        max_days: int,
        actor: str,
        seal_key: SealKey | None = None,
    ) -> None:
        if key.ephemeral:
            raise ValueError("a database registry needs a project key, not an ephemeral one")
        self.session_factory = session_factory
        self.key = key
        self.project = key.key_id
        self.min_days, self.max_days = min_days, max_days
        self.actor = actor[:128]
        self.seal_key = seal_key
        self._engine: Engine | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key: ProjectKey,
        min_days: int,
        max_days: int,
        actor: str,
        seal_key: SealKey | None = None,
    ) -> DatabaseRegistry:
        """A registry with its own engine on ``url`` (one per process), closed by
        :meth:`close`."""
        engine = make_engine(url)
        registry = cls(
            make_session_factory(engine), key=key, min_days=min_days, max_days=max_days,
            actor=actor, seal_key=seal_key,
        )  # fmt: skip
        registry._engine = engine
        return registry

    def close(self) -> None:
        """Dispose of the engine made by :meth:`from_url` (a given session factory is the
        caller's to close)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def lookup(self, identity: str) -> PatientPseudonym:
        """The patient's pseudonym and offset, created on first sight; audited every time.

        Raises
        ------
        RuntimeError
            No row could be created after repeated unique-constraint conflicts (which would
            mean a broken random source).
        """
        patient_key = self.key.digest("registry-patient", identity).hex()
        for _ in range(_ATTEMPTS):
            try:
                with self.session_factory() as session, session.begin():
                    return self._lookup(session, patient_key, identity)
            except IntegrityError:
                continue  # another process created the row first, or a pseudonym collided
        raise RuntimeError("could not create a registry entry (repeated conflicts)")

    def _aad(self, patient_key: str) -> bytes:
        return f"{self.project}\0{patient_key}".encode("ascii")

    def _pseudonym_column(self, pseudonym: str) -> str:
        if self.seal_key is None:
            return pseudonym
        return self.key.digest("registry-pseudonym", pseudonym).hex()

    def _open(self, row: DeidPseudonym) -> dict[str, Any]:
        if row.sealed is None:
            return {"identity": None, "pseudonym": row.pseudonym, "offset": row.date_offset_days}
        if self.seal_key is None:
            raise ValueError(
                "the pseudonym registry is sealed: set $RADDX_DEID_REGISTRY_KEY(_FILE) to read it"
            )
        opened: dict[str, Any] = json.loads(
            self.seal_key.open(row.sealed, aad=self._aad(row.patient_key))
        )
        return opened

    def _lookup(self, session: Session, patient_key: str, identity: str) -> PatientPseudonym:
        now = dt.datetime.now(dt.UTC)
        row = session.scalars(
            select(DeidPseudonym).where(
                DeidPseudonym.project == self.project, DeidPseudonym.patient_key == patient_key
            )
        ).one_or_none()
        event = "read"
        if row is None:
            event = "created"
            span = self.max_days - self.min_days + 1
            pseudonym = _pseudonym(secrets.token_bytes(10))
            offset = self.min_days + secrets.randbelow(span)
            row = DeidPseudonym(
                project=self.project,
                patient_key=patient_key,
                pseudonym=self._pseudonym_column(pseudonym),
                date_offset_days=None if self.seal_key is not None else offset,
                created_at=now,
            )
            if self.seal_key is not None:
                record = {"identity": identity, "pseudonym": pseudonym, "offset": offset}
                row.sealed = self.seal_key.seal(
                    json.dumps(record, ensure_ascii=False).encode("utf-8"),
                    aad=self._aad(patient_key),
                )
            session.add(row)
            session.flush()
        opened = self._open(row)
        session.add(DeidPseudonymLookup(pseudonym_fk=row.id, event=event, actor=self.actor, at=now))
        return PatientPseudonym(str(opened["pseudonym"]), int(opened["offset"]))

    def reveal(self, pseudonym: str) -> str:
        """The original identity behind ``pseudonym`` (IssuerOfPatientID, NUL, PatientID, …),
        for the data controller; needs the registry key, audited as ``revealed``.

        Raises
        ------
        NotFound
            No sealed row of this project has that pseudonym (rows written without a registry
            key hold no identity to reveal).
        ValueError
            No registry key, or the wrong one.
        """
        if self.seal_key is None:
            raise ValueError("revealing needs the registry key ($RADDX_DEID_REGISTRY_KEY(_FILE))")
        with self.session_factory() as session, session.begin():
            row = session.scalars(
                select(DeidPseudonym).where(
                    DeidPseudonym.project == self.project,
                    DeidPseudonym.pseudonym == self._pseudonym_column(pseudonym),
                    DeidPseudonym.sealed.is_not(None),
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"no sealed registry entry for pseudonym {pseudonym}")
            identity = str(self._open(row)["identity"])
            session.add(
                DeidPseudonymLookup(
                    pseudonym_fk=row.id, event="revealed", actor=self.actor,
                    at=dt.datetime.now(dt.UTC),
                )
            )  # fmt: skip
        return identity


def audit_rows(session: Session, **filters: Any) -> list[DeidPseudonymLookup]:
    """The audit rows (for reports and tests), oldest first."""
    query = select(DeidPseudonymLookup).filter_by(**filters).order_by(DeidPseudonymLookup.id)
    return list(session.scalars(query))
