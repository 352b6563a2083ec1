"""Report versions in the index database: records ⇄ ``report_version`` rows.

The canonical record is stored whole as JSON (the truth every format is made from); the
columns beside it are copies of the keys we select on. Functions take the caller's session
and never commit (STYLE rule 8).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raddx.db.models import ReportQuarantine, ReportStudy, ReportVersion
from raddx.errors import Conflict, NotFound
from raddx.reports.enum import ReportStatusValues
from raddx.reports.record import ReportRecord, canonical_json

__all__ = [
    "ConcurrentVersion",
    "ReportSelection",
    "VersionExists",
    "insert_version",
    "iter_quarantine",
    "iter_records",
    "latest",
    "load",
    "put_in_quarantine",
    "update_in_place",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _columns(record: ReportRecord) -> dict[str, object]:
    modalities: list[str] = []
    for study in record.studies:
        modalities.extend(m for m in study.modalities if m not in modalities)
    date = record.study_date
    return {
        "status": record.status.value,
        "patient_id": record.patient.patient_id,
        "issuer_of_patient_id": record.patient.issuer,
        "accession_number": record.order.accession_no or None,
        "study_date": date.strftime("%Y%m%d") if date else None,
        "modalities": "\\".join(modalities)[:64],
        "created_at": record.created_at,
        "verified_at": record.verified_at,
        "content_sha256": record.content_sha256,
        "record": canonical_json(record.to_dict()),
    }


def _record(row: ReportVersion) -> ReportRecord:
    return ReportRecord.from_dict(json.loads(row.record))


class VersionExists(Conflict):
    """The (report_id, version) is already stored: a concurrent writer got there first."""


class ConcurrentVersion(Conflict):
    """Another version of the report was stored by a concurrent writer while this one was
    being stored: the database's one-latest-per-report index refused the second."""


def insert_version(*, session: Session, record: ReportRecord, first: bool = False) -> None:
    """Store ``record`` as a new version and make it the report's latest.

    The caller has checked that the version is higher than the stored ones (``first``: that
    none is stored, which saves the update of the previous latest). A concurrent writer may
    have stored the same (report_id, version) since that check: the INSERT is ``ON CONFLICT
    DO NOTHING`` on the unique constraint, so this transaction stays usable (PostgreSQL
    aborts a transaction at a unique violation) and nothing of this version is written;
    the caller decides whether the stored row is the same content. Core INSERTs rather
    than the ORM unit of work: this is the import's inner loop (bench/reports.py).

    A later version goes in unflagged, the old latest is unflagged, then the new row is
    flagged: the database allows one latest row per report (``uq_report_version_latest``),
    so of two writers storing *different* new versions at once (PostgreSQL, where each
    sees only committed rows) the second fails there. That part runs in a savepoint, so the
    caller's transaction stays usable and nothing of this version is left behind.

    Raises
    ------
    VersionExists
        The version is stored already (on PostgreSQL after waiting for the concurrent
        writer to commit; SQLite serialises writers with ``BEGIN IMMEDIATE``).
    ConcurrentVersion
        Another version of the report became latest meanwhile.
    """
    params = {
        "report_id": record.report_id,
        "version": record.version,
        "is_latest": first,
        "stored_at": _now(),
        **_columns(record),
    }
    if first:
        conn = session.connection()
        row_id = conn.execute(_insert_version(conn.dialect.name), params).scalar()
        if row_id is None:
            raise VersionExists(_stored_meanwhile(record))
        _link_studies(conn, record, row_id)
        return
    try:
        with session.begin_nested():
            conn = session.connection()
            row_id = conn.execute(_insert_version(conn.dialect.name), params).scalar()
            if row_id is None:
                raise VersionExists(_stored_meanwhile(record))
            conn.execute(_UNSET_LATEST, {"rid": record.report_id, "keep": row_id})
            conn.execute(_SET_LATEST, {"row": row_id})
            _link_studies(conn, record, row_id)
    except IntegrityError:
        raise ConcurrentVersion(
            f"report {record.report_id}: another version was stored by a concurrent request "
            f"while version {record.version} was being stored; reload the report and try "
            "again"
        ) from None


def _stored_meanwhile(record: ReportRecord) -> str:
    return (
        f"report {record.report_id} version {record.version} is stored already (by a "
        "concurrent request); reload the report and try again"
    )


def _link_studies(conn: Any, record: ReportRecord, row_id: int) -> None:
    if record.studies:
        conn.execute(
            _INSERT_STUDY,
            [
                {"report_version_fk": row_id, "study_instance_uid": s.study_uid}
                for s in record.studies
            ],
        )


# Statements with bound parameters, built once: SQLAlchemy caches their compiled form (a
# statement built with literal .values() per call was compiled anew each time).
_VERSIONS = cast(Table, ReportVersion.__table__)
_UNSET_LATEST = (
    update(_VERSIONS)
    .where(
        _VERSIONS.c.report_id == bindparam("rid"),
        _VERSIONS.c.is_latest.is_(True),
        _VERSIONS.c.id != bindparam("keep"),
    )
    .values(is_latest=False)
)
_SET_LATEST = update(_VERSIONS).where(_VERSIONS.c.id == bindparam("row")).values(is_latest=True)
_LATEST_RECORD = (
    select(_VERSIONS.c.record)
    .where(_VERSIONS.c.report_id == bindparam("rid"))
    .order_by(_VERSIONS.c.version.desc())
    .limit(1)
)
_CONFLICT_KEYS = [_VERSIONS.c.report_id, _VERSIONS.c.version]
_INSERT_VERSION: dict[str, Insert] = {
    "postgresql": postgresql.insert(_VERSIONS)
    .on_conflict_do_nothing(index_elements=_CONFLICT_KEYS)
    .returning(_VERSIONS.c.id),
    "sqlite": sqlite.insert(_VERSIONS)
    .on_conflict_do_nothing(index_elements=_CONFLICT_KEYS)
    .returning(_VERSIONS.c.id),
}
_INSERT_STUDY = insert(cast(Table, ReportStudy.__table__))


def _insert_version(dialect: str) -> Insert:
    try:
        return _INSERT_VERSION[dialect]
    except KeyError:  # the index runs on SQLite or PostgreSQL (ARCHITECTURE.md)
        raise NotImplementedError(f"report store on {dialect}") from None


def update_in_place(*, session: Session, record: ReportRecord) -> None:
    """Overwrite the stored row of ``record``'s version (only unsigned versions come here:
    :mod:`raddx.reports.lifecycle` refuses in-place changes of signed ones)."""
    row = _row(session, record.report_id, record.version)
    for name, value in _columns(record).items():
        setattr(row, name, value)
    stored = set(
        session.scalars(
            select(ReportStudy.study_instance_uid).where(ReportStudy.report_version_fk == row.id)
        )
    )
    wanted = {s.study_uid for s in record.studies}
    if stored != wanted:
        for link in session.scalars(
            select(ReportStudy).where(ReportStudy.report_version_fk == row.id)
        ):
            session.delete(link)
        session.add_all(ReportStudy(report_version_fk=row.id, study_instance_uid=u) for u in wanted)
    session.flush()


def _row(
    session: Session, report_id: str, version: int | None, *, for_update: bool = False
) -> ReportVersion:
    query = select(ReportVersion).where(ReportVersion.report_id == report_id)
    if for_update:
        # populate_existing: the row may be in the session from an unlocked read before.
        query = query.with_for_update().execution_options(populate_existing=True)
    if version is None:
        # Highest version through the (report_id, version) unique index, not ``is_latest``:
        # SQLite's planner picks the low-selectivity is_latest index for that and scans every
        # report (import got quadratic: bench/reports.py).
        query = query.order_by(ReportVersion.version.desc()).limit(1)
    else:
        query = query.where(ReportVersion.version == version)
    row = session.scalars(query).first()
    if row is None:
        what = f"report {report_id}" + ("" if version is None else f" version {version}")
        raise NotFound(f"{what} does not exist")
    return row


def load(
    *,
    session: Session,
    report_id: str,
    version: int | None = None,
    for_update: bool = False,
) -> ReportRecord:
    """The record of ``report_id`` at ``version`` (the latest when ``None``).

    ``for_update``: lock the row until the transaction ends (``SELECT … FOR UPDATE`` on
    PostgreSQL; SQLite has one writer at a time anyway), for a change made from what was
    read: a concurrent change of the same report waits, then reads what this one wrote.

    Raises
    ------
    NotFound
        No such report or version.
    """
    return _record(_row(session, report_id, version, for_update=for_update))


def latest(*, session: Session, report_id: str) -> ReportRecord | None:
    """The latest version of ``report_id``, or ``None`` when the report is unknown."""
    text = session.execute(_LATEST_RECORD, {"rid": report_id}).scalar()
    return None if text is None else ReportRecord.from_dict(json.loads(text))


@dataclass(frozen=True)
class ReportSelection:
    """Which reports to list or export (every criterion optional, all must hold)."""

    report_id: str | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    accession_no: str | None = None
    statuses: tuple[ReportStatusValues, ...] = ()
    modality: str | None = None
    #: Study date range, inclusive.
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    #: Only the latest version of each report (else every version).
    latest_only: bool = True

    def query(self) -> Select[Any]:
        """The SELECT of the matching rows, in a stable order."""
        q = select(ReportVersion)
        if self.latest_only:
            q = q.where(ReportVersion.is_latest.is_(True))
        if self.report_id is not None:
            q = q.where(ReportVersion.report_id == self.report_id)
        if self.patient_id is not None:
            q = q.where(ReportVersion.patient_id == self.patient_id)
        if self.accession_no is not None:
            q = q.where(ReportVersion.accession_number == self.accession_no)
        if self.statuses:
            q = q.where(ReportVersion.status.in_([s.value for s in self.statuses]))
        if self.modality is not None:
            # Backslash-joined list: match a whole element.
            m = self.modality
            q = q.where(
                (ReportVersion.modalities == m)
                | ReportVersion.modalities.startswith(m + "\\", autoescape=True)
                | ReportVersion.modalities.endswith("\\" + m, autoescape=True)
                | ReportVersion.modalities.contains("\\" + m + "\\", autoescape=True)
            )
        if self.date_from is not None:
            q = q.where(ReportVersion.study_date >= self.date_from.strftime("%Y%m%d"))
        if self.date_to is not None:
            q = q.where(ReportVersion.study_date <= self.date_to.strftime("%Y%m%d"))
        if self.study_uid is not None:
            q = q.where(
                ReportVersion.id.in_(
                    select(ReportStudy.report_version_fk).where(
                        ReportStudy.study_instance_uid == self.study_uid
                    )
                )
            )
        return q.order_by(ReportVersion.report_id, ReportVersion.version)


def iter_records(
    *, session: Session, selection: ReportSelection, limit: int | None = None, offset: int = 0
) -> Iterator[ReportRecord]:
    """The selected records, streamed (rows are fetched in batches, so an export of many
    reports keeps memory flat)."""
    q = selection.query().offset(offset)
    if limit is not None:
        q = q.limit(limit)
    # Only the JSON column, as plain rows: ORM objects would be tracked by the session.
    q = q.with_only_columns(ReportVersion.record)
    for text in session.scalars(q.execution_options(yield_per=500)):
        yield ReportRecord.from_dict(json.loads(cast(str, text)))


def put_in_quarantine(*, session: Session, record: ReportRecord, reason: str, source: str) -> None:
    """Keep an imported report that could not be linked, with why and where it came from."""
    session.add(
        ReportQuarantine(
            report_id=record.report_id,
            version=record.version,
            reason=reason,
            source=source,
            record=canonical_json(record.to_dict()),
            received_at=_now(),
        )
    )
    session.flush()


def iter_quarantine(
    *, session: Session, limit: int = 100, offset: int = 0
) -> Iterator[dict[str, object]]:
    """Quarantined imports, oldest first: what came, from where, why it matched nothing."""
    q = select(ReportQuarantine).order_by(ReportQuarantine.id).limit(limit).offset(offset)
    for row in session.scalars(q):
        yield {
            "id": row.id,
            "report_id": row.report_id,
            "version": row.version,
            "reason": row.reason,
            "source": row.source,
            "received_at": row.received_at.isoformat(),
            "record": json.loads(row.record),
        }
