"""Report operations every door calls: create, edit, submit, finalise, amend, addendum,
cancel, and import of a record from outside, with its link to the archive's studies.

Each function takes the caller's session (keyword-only) and leaves the commit to the caller
(STYLE rule 8); the rules live in :mod:`raddx.reports.lifecycle` and here, once.

Concurrency: a change reads the latest version locked (:func:`store.load` ``for_update``),
so two changes of one report are serialised and the second judges what the first wrote
(editing a report another request just signed is refused). Two requests creating the same
next version cannot both succeed: the database's unique constraints refuse the second
(:class:`store.VersionExists`, :class:`store.ConcurrentVersion`, both :class:`Conflict`,
HTTP 409). A caller that says which version its change was made on (``base_version``) gets
a Conflict when the report has moved on since, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import Patient, ProcedureCode, Study
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.outbox import OutboxEventValues, record_event
from raddx.reports import lifecycle, store
from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.record import Person, ReportRecord, StudyRef, canonical_json

__all__ = [
    "ImportOutcome",
    "ImportResultValues",
    "add_addendum",
    "amend",
    "cancel",
    "create",
    "edit",
    "finalise",
    "import_record",
    "link_studies",
    "submit_preliminary",
]


def link_studies(*, session: Session, record: ReportRecord) -> None:
    """Check that every study the report lists is in the archive and that the report's
    accession number is the one the archive has for it.

    Raises
    ------
    NotFound
        A listed study is not in the archive.
    Conflict
        The archive has another accession number for the study.
    """
    for ref in record.studies:
        study = session.scalars(
            select(Study).where(Study.study_instance_uid == ref.study_uid)
        ).first()
        if study is None:
            raise NotFound(f"study {ref.study_uid} is not in the archive")
        accession = record.order.accession_no
        if accession and study.accession_number and study.accession_number != accession:
            raise Conflict(
                f"study {ref.study_uid} has accession number {study.accession_number!r} in the "
                f"archive, the report says {accession!r}"
            )


def create(*, session: Session, record: ReportRecord) -> ReportRecord:
    """Store a new report (its first version, draft or preliminary) linked to its studies.

    Raises
    ------
    Conflict
        The report id exists, or the record is already signed (sign with :func:`finalise`).
    NotFound
        A listed study is not in the archive.
    """
    if record.version != 1 or record.status not in (S.DRAFT, S.PRELIMINARY):
        raise InvalidInput("a new report is version 1, draft or preliminary")
    if store.latest(session=session, report_id=record.report_id) is not None:
        raise Conflict(f"report {record.report_id} exists")
    link_studies(session=session, record=record)
    store.insert_version(session=session, record=record, first=True)
    return record


def _in_place(session: Session, record: ReportRecord, before: ReportRecord) -> ReportRecord:
    if [s.study_uid for s in record.studies] != [s.study_uid for s in before.studies] or (
        record.order.accession_no != before.order.accession_no
    ):
        link_studies(session=session, record=record)
    store.update_in_place(session=session, record=record)
    return record


def _new_version(session: Session, record: ReportRecord) -> ReportRecord:
    link_studies(session=session, record=record)
    store.insert_version(session=session, record=record)
    _announce(session, record)
    return record


def _announce(session: Session, record: ReportRecord) -> None:
    """Queue ORU^R01 of a signed version for the EHRs configured to take reports
    (``raddx.outbox``; issue 7: finalised, amended, addendum)."""
    record_event(
        session=session,
        event=OutboxEventValues.ORU,
        subject=f"{record.report_id}:{record.version}",
        action=record.status.value,
    )


def revision(record: ReportRecord) -> str:
    """A short digest of everything the record holds: it changes with every save, including
    in-place edits of a draft, which keep the version number. An editor sends back the
    revision it loaded (``base_revision``) so that two people (or two tabs) saving the same
    draft cannot silently overwrite each other's text."""
    return hashlib.sha256(canonical_json(record.to_dict()).encode("utf-8")).hexdigest()[:20]


def _load_for_change(
    session: Session,
    report_id: str,
    base_version: int | None,
    base_revision: str | None = None,
) -> ReportRecord:
    """The latest version, locked; a Conflict when the caller's change was made on another
    version than the latest (``base_version``, when given) or on another revision of it
    (``base_revision``: the draft was saved by someone else since)."""
    before = store.load(session=session, report_id=report_id, for_update=True)
    if base_version is not None and before.version != base_version:
        raise Conflict(
            f"report {report_id} is at version {before.version}; the change was made on "
            f"version {base_version} (another request changed it meanwhile): reload it"
        )
    if base_revision is not None and revision(before) != base_revision:
        raise Conflict(
            f"report {report_id} was saved by another request since it was loaded "
            "(someone else, or another window): reload it to see that text"
        )
    return before


def edit(
    *,
    session: Session,
    report_id: str,
    changes: dict[str, Any],
    base_version: int | None = None,
    base_revision: str | None = None,
) -> ReportRecord:
    """Change the latest version of a draft or preliminary report in place.

    Raises
    ------
    Conflict
        The latest version is signed (amend it) or cancelled, or is not ``base_version``,
        or has another content than ``base_revision``.
    """
    before = _load_for_change(session, report_id, base_version, base_revision)
    return _in_place(session, lifecycle.edit(before, **changes), before)


def submit_preliminary(
    *,
    session: Session,
    report_id: str,
    author: Person | None = None,
    base_revision: str | None = None,
) -> ReportRecord:
    """Draft → preliminary (一次読影); ``base_revision``: the text the submitter saw."""
    before = _load_for_change(session, report_id, None, base_revision)
    return _in_place(session, lifecycle.submit_preliminary(before, author=author), before)


def finalise(
    *,
    session: Session,
    report_id: str,
    verifier: Person,
    at: dt.datetime,
    base_revision: str | None = None,
) -> ReportRecord:
    """Sign the latest version (二次読影・確定). With ``base_revision`` (the text the signer
    has on screen) a Conflict when someone saved another text since: nobody signs a text
    they have not seen."""
    before = _load_for_change(session, report_id, None, base_revision)
    record = _in_place(session, lifecycle.finalise(before, verifier=verifier, at=at), before)
    _announce(session, record)
    return record


def amend(
    *,
    session: Session,
    report_id: str,
    verifier: Person,
    at: dt.datetime,
    status: S = S.AMENDED,
    changes: dict[str, Any],
    base_version: int | None = None,
) -> ReportRecord:
    """A new signed version of a signed report.

    Raises
    ------
    Conflict
        Not signed; the latest version is not ``base_version``; a concurrent request
        stored a new version meanwhile.
    """
    before = _load_for_change(session, report_id, base_version)
    record = lifecycle.amend(before, verifier=verifier, at=at, status=status, **changes)
    return _new_version(session, record)


def add_addendum(
    *,
    session: Session,
    report_id: str,
    text: str,
    author: Person,
    verifier: Person,
    at: dt.datetime,
    base_version: int | None = None,
) -> ReportRecord:
    """A new signed version with an addendum (Conflict as :func:`amend`)."""
    before = _load_for_change(session, report_id, base_version)
    record = lifecycle.add_addendum(before, text=text, author=author, verifier=verifier, at=at)
    return _new_version(session, record)


def cancel(*, session: Session, report_id: str) -> ReportRecord:
    """Cancel an unsigned report."""
    before = _load_for_change(session, report_id, None)
    return _in_place(session, lifecycle.cancel(before), before)


# -- import -------------------------------------------------------------------------------


class ImportResultValues(StrEnum):
    """What became of one imported record (one row of the result file)."""

    IMPORTED = "imported"
    #: Same id and version with the same content: nothing to do (imports are idempotent).
    UNCHANGED = "unchanged"
    #: Kept in the quarantine: no study of the archive matched.
    QUARANTINED = "quarantined"
    #: Refused: lower version than stored, or same version with other content.
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImportOutcome:
    result: ImportResultValues
    detail: str = ""


def _match(session: Session, record: ReportRecord) -> tuple[ReportRecord | None, str]:
    """The record linked to archive studies: by accession + Study UID, else by patient ID +
    study date + procedure. ``(None, reason)`` when nothing matches."""
    if record.studies:
        missing = []
        for ref in record.studies:
            study = session.scalars(
                select(Study).where(Study.study_instance_uid == ref.study_uid)
            ).first()
            accession = record.order.accession_no
            if study is None or (
                accession and study.accession_number and study.accession_number != accession
            ):
                missing.append(ref.study_uid)
        if not missing:
            return record, ""
        reason = f"study {', '.join(missing)} not in the archive with accession " + (
            record.order.accession_no or "(none)"
        )
    else:
        reason = "the report names no study"
    date = record.study_date
    if date is None and record.studies:
        return None, reason
    q = (
        select(Study)
        .join(Patient, Study.patient_fk == Patient.id)
        .where(Patient.patient_id == record.patient.patient_id)
    )
    if date is not None:
        q = q.where(Study.study_date == date.strftime("%Y%m%d"))
    code = record.order.procedure_code
    if code:
        q = q.where(
            Study.id.in_(select(ProcedureCode.study_fk).where(ProcedureCode.code_value == code))
        )
    candidates = list(session.scalars(q.limit(2)))
    if len(candidates) != 1:
        how = "no study" if not candidates else "several studies"
        return None, f"{reason}; {how} of patient {record.patient.patient_id} on that date"
    study = candidates[0]
    old = record.studies[0] if record.studies else None
    ref = StudyRef(
        study_uid=study.study_instance_uid,
        modalities=old.modalities
        if old
        else tuple(m for m in study.modalities_in_study.split("\\") if m),
        study_datetime=old.study_datetime if old else None,
        body_parts=old.body_parts if old else (),
    )
    try:
        linked = record.replace(studies=(ref, *record.studies[1:]), content_sha256=None)
    except ValueError as exc:  # key images of the replaced study UID
        return None, f"{reason}; matched study {study.study_instance_uid} but {exc}"
    return linked, ""


def import_record(*, session: Session, record: ReportRecord, source: str) -> ImportOutcome:
    """Bring one record from outside into the store (exchange package, CSV, foreign files).

    Idempotent: the same id and version with the same content is a no-op; a version lower
    than the stored latest is rejected, as is the same version with other content. A record
    that matches no archive study is quarantined, never dropped.
    """
    current = store.latest(session=session, report_id=record.report_id)
    if current is not None:
        if record.version < current.version:
            return ImportOutcome(
                ImportResultValues.REJECTED,
                f"version {record.version} is lower than the stored version {current.version}",
            )
        if record.version == current.version:
            return _against_stored(record, current)
    linked, reason = _match(session, record)
    if linked is None:
        store.put_in_quarantine(session=session, record=record, reason=reason, source=source)
        return ImportOutcome(ImportResultValues.QUARANTINED, reason)
    try:
        store.insert_version(session=session, record=linked, first=current is None)
    except store.VersionExists:
        # A concurrent import stored this version after our read (two imports of one
        # package, PostgreSQL): judge against what it stored, as if we had come second.
        stored = store.load(session=session, report_id=record.report_id, version=record.version)
        return _against_stored(record, stored)
    except store.ConcurrentVersion as exc:
        # Another version of this report became latest meanwhile (an amendment or another
        # import, PostgreSQL): nothing of this record was written; say so on its row.
        return ImportOutcome(ImportResultValues.REJECTED, f"conflict: {exc}")
    return ImportOutcome(ImportResultValues.IMPORTED)


def _against_stored(record: ReportRecord, stored: ReportRecord) -> ImportOutcome:
    """Same id and version as a stored record: a no-op when the content is the same, a
    conflict (rejected) when it is not."""
    if record.to_dict() == stored.to_dict() or _same_ignoring_links(record, stored):
        return ImportOutcome(ImportResultValues.UNCHANGED)
    return ImportOutcome(
        ImportResultValues.REJECTED,
        f"conflict: version {record.version} is stored with other content",
    )


def _same_ignoring_links(a: ReportRecord, b: ReportRecord) -> bool:
    """Equal but for the study UIDs import matching filled in (a re-import of a report that
    was linked by patient + date the first time)."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("studies", None)
        d.pop("content_sha256", None)
        d.pop("key_images", None)
    return da == db
