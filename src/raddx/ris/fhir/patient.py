"""FHIR Patient (JP Core ``JP_Patient``) from the RIS and the archive index.

A patient the RIS knows (orders, ADT) is ``Patient/r<n>``; a patient known only from stored
images is ``Patient/a<n>``; both are matched by PatientID within IssuerOfPatientID, the
identity the RIS and the archive share. Names keep their three PN groups as JP Core asks:
kanji (ideographic, ``IDE``), kana (phonetic, ``SYL``) and alphabetic (``ABC``), each a
HumanName with the ISO 21090 representation extension (built by the report format's
:func:`raddx.reports.formats.fhir.patient_resource`, so both formats agree).

Name matching is the archive's PN matching (:mod:`raddx.archive.query.matching`): any of the
three groups, case- and width-insensitive, ``*`` wildcards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from raddx.archive.query.attributes import Attribute
from raddx.archive.query.enum import AttributeKindValues, QueryRetrieveLevelValues
from raddx.archive.query.matching import parse_key, where_clause
from raddx.db.models import Patient, RisPatient
from raddx.errors import NotFound
from raddx.reports.enum import SexValues
from raddx.reports.formats.fhir import patient_resource as report_patient_resource
from raddx.reports.profile import FHIR
from raddx.reports.record import PatientInfo
from raddx.ris.fhir._common import JP_PATIENT, DateRange, PatientKey

__all__ = [
    "PatientRow",
    "PatientSearch",
    "identity_of",
    "patient_key_for",
    "patient_keys_for",
    "patient_resource",
    "read_patient",
    "search_patients",
]

_L = QueryRetrieveLevelValues.PATIENT
_K = AttributeKindValues


@dataclass(frozen=True, slots=True)
class PatientRow:
    """A patient as the FHIR view shows it."""

    key: PatientKey
    patient_id: str
    issuer: str
    alphabetic: str | None
    ideographic: str | None
    phonetic: str | None
    birth_date: str | None
    sex: str | None
    replaced_by: PatientKey | None = None


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """Search criteria (all given ones must hold).

    ``identifier``: ``(issuer or None for any, PatientID)``; ``name``: a PN matching value
    (``*`` wildcards) matched against every group; ``gender``: M, F, O or ``unknown`` (none
    or another value recorded)."""

    identifier: tuple[str | None, str] | None = None
    name: str | None = None
    birth_date: DateRange | None = None
    gender: str | None = None


def _row(table: Any, row: Any, key: PatientKey, replaced_by: PatientKey | None = None) -> Any:
    return PatientRow(
        key=key,
        patient_id=row.patient_id,
        issuer=row.issuer_of_patient_id or "",
        alphabetic=row.patient_name_alphabetic,
        ideographic=row.patient_name_ideographic,
        phonetic=row.patient_name_phonetic,
        birth_date=row.patient_birth_date,
        sex=row.patient_sex,
        replaced_by=replaced_by,
    )


def _clauses(table: Any, search: PatientSearch) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if search.identifier is not None:
        issuer, value = search.identifier
        clauses.append(table.patient_id == value)
        if issuer is not None:
            clauses.append(table.issuer_of_patient_id == issuer)
    keys = (
        (Attribute("PatientName", _L, _K.PN, "patient_name", table=table), search.name),
        (
            Attribute("PatientBirthDate", _L, _K.DA, "patient_birth_date", table=table),
            search.birth_date.dicom() if search.birth_date else None,
        ),
    )
    for attribute, value in keys:
        if value:
            clause = where_clause(parse_key(attribute, value))
            if clause is not None:
                clauses.append(clause)
    if search.gender == "unknown":
        clauses.append(or_(table.patient_sex.is_(None), table.patient_sex.not_in(("M", "F", "O"))))
    elif search.gender:
        clauses.append(table.patient_sex == search.gender)
    return clauses


def _archive_only() -> ColumnElement[bool]:
    """Archive patients the RIS does not know (those are shown as their RIS record)."""
    return and_(
        Patient.deleted_at.is_(None),
        ~exists().where(
            RisPatient.patient_id == Patient.patient_id,
            RisPatient.issuer_of_patient_id == Patient.issuer_of_patient_id,
        ),
    )


def search_patients(
    search: PatientSearch, *, session: Session, offset: int, limit: int
) -> tuple[int, list[PatientRow]]:
    """``(total, page)``: RIS patients (not merged away) first, then archive-only ones, each
    in row order."""
    if search.birth_date is not None and search.birth_date.empty:
        return 0, []
    ris_where = [RisPatient.merged_into_fk.is_(None), *_clauses(RisPatient, search)]
    archive_where = [_archive_only(), *_clauses(Patient, search)]
    ris_total = session.scalar(select(func.count(RisPatient.id)).where(*ris_where)) or 0
    archive_total = session.scalar(select(func.count(Patient.id)).where(*archive_where)) or 0
    rows: list[PatientRow] = []
    if offset < ris_total:
        found = session.scalars(
            select(RisPatient).where(*ris_where).order_by(RisPatient.id).offset(offset).limit(limit)
        )
        rows += [_row(RisPatient, r, PatientKey("r", r.id)) for r in found]
    if len(rows) < limit:
        found = session.scalars(
            select(Patient)
            .where(*archive_where)
            .order_by(Patient.id)
            .offset(max(0, offset - ris_total))
            .limit(limit - len(rows))
        )
        rows += [_row(Patient, r, PatientKey("a", r.id)) for r in found]
    return ris_total + archive_total, rows


def read_patient(key: PatientKey, *, session: Session) -> PatientRow:
    """One patient by id; a merged RIS patient is returned with ``replaced_by``.

    Raises
    ------
    NotFound
        No such row (or a soft-deleted archive patient).
    """
    if key.source == "r":
        ris = session.get(RisPatient, key.row)
        if ris is not None:
            target = PatientKey("r", ris.merged_into_fk) if ris.merged_into_fk else None
            return _row(RisPatient, ris, key, target)
    else:
        archived = session.get(Patient, key.row)
        if archived is not None and archived.deleted_at is None:
            return _row(Patient, archived, key)
    raise NotFound(f"no Patient/{key}")


def identity_of(key: PatientKey, *, session: Session) -> tuple[str, str]:
    """``(PatientID, IssuerOfPatientID)`` of a Patient id (raises NotFound like
    :func:`read_patient`)."""
    row = read_patient(key, session=session)
    return row.patient_id, row.issuer


def patient_keys_for(
    identities: list[tuple[str, str]], *, session: Session
) -> dict[tuple[str, str], PatientKey | None]:
    """The Patient id of each ``(PatientID, issuer)``: its RIS record, else its archive
    record (two queries for all of them)."""
    keys: dict[tuple[str, str], PatientKey | None] = dict.fromkeys(identities)
    if not identities:
        return keys
    ids = sorted({i for i, _ in identities})
    for table, source, extra in (
        (RisPatient, "r", ()),
        (Patient, "a", (Patient.deleted_at.is_(None),)),
    ):
        for row_id, patient_id, issuer in session.execute(
            select(table.id, table.patient_id, table.issuer_of_patient_id).where(
                table.patient_id.in_(ids), *extra
            )
        ):
            identity = (patient_id, issuer or "")
            if identity in keys and keys[identity] is None:
                keys[identity] = PatientKey(source, row_id)
    return keys


def patient_key_for(patient_id: str, issuer: str, *, session: Session) -> PatientKey | None:
    """The Patient id of one identity (see :func:`patient_keys_for`)."""
    return patient_keys_for([(patient_id, issuer)], session=session)[(patient_id, issuer)]


def _birth_date(value: str | None) -> dt.date | None:
    if not value or len(value) != 8 or not value.isdigit():
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None


def patient_resource(row: PatientRow) -> dict[str, Any]:
    """The patient as a JP Core ``JP_Patient`` resource (names IDE/SYL/ABC)."""
    sex = row.sex if row.sex in ("M", "F", "O") else "U"
    try:
        info = PatientInfo(
            patient_id=row.patient_id,
            issuer=row.issuer,
            name_kanji=row.ideographic or "",
            name_kana=row.phonetic or "",
            name_alpha=row.alphabetic or "",
            birth_date=_birth_date(row.birth_date),
            sex=SexValues(sex),
        )
        resource = report_patient_resource(info, str(row.key))
    except ValueError:
        # An archive patient the report model refuses (e.g. an empty PatientID as some
        # modalities send): still a Patient, with what we can say.
        resource = {"resourceType": "Patient", "id": str(row.key), "gender": "unknown"}
        if row.patient_id:
            resource["identifier"] = [{"system": FHIR.patient_id_system, "value": row.patient_id}]
    resource["meta"] = {"profile": [JP_PATIENT]}
    if row.replaced_by is not None:
        resource["active"] = False
        resource["link"] = [
            {"other": {"reference": f"Patient/{row.replaced_by}"}, "type": "replaced-by"}
        ]
    return resource
