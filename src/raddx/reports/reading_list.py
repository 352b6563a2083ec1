"""The radiologist's reading list (読影リスト; issue 10 §4): the archive's studies still to be
reported, most urgent first, and the first draft of a report for one of them.

A study's *reading status* is its report status as the study browser computes it
(:func:`raddx.archive.query.report_status_expression`: the most advanced latest version of
the reports that list it; cancelled and entered-in-error ones count as none), named for the
reader: a signed report (final, amended, corrected) means *reported* and the study leaves the
list; otherwise a preliminary report means *preliminary* (一次読影 done, waiting for 二次読影),
a draft means *draft* (being written), and no report means *unreported*.

Priority is the order's Requested Procedure Priority (PS3.3 C.4.11; ``STAT`` first) when the
study is linked to a RIS order (``ris_study_link``, or the order's requested procedure that
assigned the Study Instance UID); a study without an order counts as ``ROUTINE``.
Within a priority the study that has waited longest comes first.

The list is one SELECT over the study index, the report status a correlated subquery on the
indexed ``report_study.study_instance_uid``, paged by limit/offset (bench numbers in the
README).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from raddx.archive.query import report_status_expression
from raddx.db.models import (
    Patient,
    ReportStudy,
    ReportVersion,
    RisOrder,
    RisRequestedProcedure,
    RisStudyLink,
    Study,
)
from raddx.errors import InvalidInput, NotFound
from raddx.reports import service
from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.enum import SexValues
from raddx.reports.record import OrderInfo, PatientInfo, Person, ReportRecord, Sections, StudyRef
from raddx.reports.status import SIGNED

__all__ = [
    "ReadingItem",
    "ReadingStatusValues",
    "create_draft_for_study",
    "new_report_id",
    "reading_list",
]


class ReadingStatusValues(StrEnum):
    """Where a study stands in the reading workflow (module docstring)."""

    UNREPORTED = "unreported"
    DRAFT = "draft"
    #: 一次読影 done; waits for the verifying radiologist (二次読影).
    PRELIMINARY = "preliminary"
    REPORTED = "reported"


#: A study's report status (:func:`raddx.archive.query.report_status_expression`, the one
#: rule the study browser uses too) for each reading status, and back.
_STUDY_STATUSES: dict[ReadingStatusValues, tuple[str, ...]] = {
    ReadingStatusValues.UNREPORTED: ("none",),
    ReadingStatusValues.DRAFT: (S.DRAFT.value,),
    ReadingStatusValues.PRELIMINARY: (S.PRELIMINARY.value,),
    ReadingStatusValues.REPORTED: tuple(s.value for s in SIGNED),
}
_READING_STATUS = {v: k for k, vs in _STUDY_STATUSES.items() for v in vs}
#: Rank of an unsigned report in progress: the preliminary one is shown before a draft.
_RANK = {S.DRAFT: 1, S.PRELIMINARY: 2}

#: Requested Procedure Priority (PS3.3 C.4.11 Defined Terms) as a sort key. DICOM gives no
#: order between MEDIUM and ROUTINE; both are the normal queue, as is a study without order.
_PRIORITY_RANK = {"STAT": 0, "HIGH": 1, "MEDIUM": 2, "ROUTINE": 2, "LOW": 3}
_NO_ORDER_RANK = 2


@dataclass(frozen=True, slots=True)
class ReadingItem:
    """One study of the reading list, with what a radiologist needs to choose it."""

    study_instance_uid: str
    study_date: str | None
    study_time: str | None
    accession_number: str | None
    study_description: str | None
    modalities: tuple[str, ...]
    number_of_instances: int
    patient_id: str
    patient_name: str | None
    patient_birth_date: str | None
    patient_sex: str | None
    #: The order's Requested Procedure Priority, ``None`` for a study without order.
    priority: str | None
    status: ReadingStatusValues
    #: The report in progress (draft or preliminary) with the most advanced status, if any.
    report_id: str | None
    report_status: str | None
    #: Its author: for a preliminary report, who did the first reading (一次読影医).
    report_author: str | None = None


def reading_list(
    *,
    session: Session,
    statuses: Sequence[ReadingStatusValues] = (
        ReadingStatusValues.UNREPORTED,
        ReadingStatusValues.DRAFT,
        ReadingStatusValues.PRELIMINARY,
    ),
    modality: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ReadingItem]:
    """Studies in the given reading statuses, most urgent first (module docstring).

    Parameters
    ----------
    statuses
        Reading statuses to keep (default: everything not yet reported).
    modality
        Keep studies with a series of this Modality (CS value, e.g. ``CT``).
    date_from, date_to
        Study date range, inclusive.

    Raises
    ------
    InvalidInput
        ``date_from`` after ``date_to``; an empty ``statuses``.
    """
    if not statuses:
        raise InvalidInput("name at least one reading status")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("the date range ends before it starts")
    link = aliased(RisStudyLink)
    procedure = aliased(RisRequestedProcedure)
    report_status = report_status_expression()
    priority_rank = case(
        *((RisOrder.requested_procedure_priority == p, r) for p, r in _PRIORITY_RANK.items()),
        else_=_NO_ORDER_RANK,
    )
    q = (
        select(Study, Patient, RisOrder.requested_procedure_priority, report_status)
        .join(Patient, Patient.id == Study.patient_fk)
        .outerjoin(link, link.study_instance_uid == Study.study_instance_uid)
        .outerjoin(procedure, procedure.study_instance_uid == Study.study_instance_uid)
        .outerjoin(RisOrder, RisOrder.id == func.coalesce(link.order_fk, procedure.order_fk))
        .where(Study.deleted_at.is_(None))
        .where(report_status.in_([v for s in statuses for v in _STUDY_STATUSES[s]]))
    )
    if modality:
        m = modality.strip().upper()
        mods = Study.modalities_in_study
        q = q.where(
            or_(
                mods == m,
                mods.startswith(m + "\\", autoescape=True),
                mods.endswith("\\" + m, autoescape=True),
                mods.contains("\\" + m + "\\", autoescape=True),
            )
        )
    if date_from:
        q = q.where(Study.study_date >= date_from.strftime("%Y%m%d"))
    if date_to:
        q = q.where(Study.study_date <= date_to.strftime("%Y%m%d"))
    q = q.order_by(
        priority_rank,
        Study.study_date.is_(None),
        Study.study_date,
        Study.study_time,
        Study.id,
    )
    rows = session.execute(q.limit(limit).offset(offset)).all()
    reports = _reports_in_progress(session, [study.study_instance_uid for study, *_ in rows])
    none = (None, None, None)
    return [
        ReadingItem(
            study_instance_uid=study.study_instance_uid,
            study_date=study.study_date,
            study_time=study.study_time,
            accession_number=study.accession_number,
            study_description=study.study_description,
            modalities=tuple(m for m in study.modalities_in_study.split("\\") if m),
            number_of_instances=study.number_of_study_related_instances,
            patient_id=patient.patient_id,
            patient_name=patient.patient_name,
            patient_birth_date=patient.patient_birth_date,
            patient_sex=patient.patient_sex,
            priority=priority,
            status=_READING_STATUS[study_status],
            report_id=reports.get(study.study_instance_uid, none)[0],
            report_status=reports.get(study.study_instance_uid, none)[1],
            report_author=reports.get(study.study_instance_uid, none)[2],
        )
        for study, patient, priority, study_status in rows
    ]


def _reports_in_progress(
    session: Session, uids: list[str]
) -> dict[str, tuple[str, str, str | None]]:
    """Per study: (report_id, status, author name) of its most advanced unsigned report in
    progress. Reads the record JSON of one page's reports only (the author has no column)."""
    if not uids:
        return {}
    found = session.execute(
        select(
            ReportStudy.study_instance_uid,
            ReportVersion.report_id,
            ReportVersion.status,
            ReportVersion.record,
        )
        .join(ReportVersion, ReportVersion.id == ReportStudy.report_version_fk)
        .where(
            and_(
                ReportVersion.is_latest.is_(True),
                ReportStudy.study_instance_uid.in_(uids),
                ReportVersion.status.in_([S.DRAFT.value, S.PRELIMINARY.value]),
            )
        )
        .order_by(ReportVersion.report_id)
    ).all()
    best: dict[str, tuple[str, str, str | None]] = {}
    for uid, report_id, status, record in found:
        kept = best.get(uid)
        if kept is None or _RANK[S(status)] > _RANK[S(kept[1])]:
            author = (json.loads(record).get("author") or {}).get("name")
            best[uid] = (report_id, status, author)
    return best


def new_report_id(today: dt.date | None = None) -> str:
    """A fresh report id: ``R<YYYYMMDD>-<12 hex digits>`` (48 random bits; a clash is refused
    by :func:`raddx.reports.service.create` rather than overwriting)."""
    day = today or dt.date.today()
    return f"R{day:%Y%m%d}-{secrets.token_hex(6).upper()}"


def _pn_groups(value: str | None) -> tuple[str, str, str]:
    groups = [*(value or "").split("=", 2), "", ""][:3]
    return groups[0], groups[1], groups[2]


def _study_datetime(study: Study) -> dt.datetime | None:
    """The study's instant from the index's UTC copy (``YYYYMMDDHHMMSS…``), if it has one."""
    text = (study.study_date_time_utc or "")[:14]
    if len(text) < 8 or not text.isdigit():
        return None
    text = text.ljust(14, "0")
    try:
        return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _birth_date(value: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(value or "", "%Y%m%d").date()
    except ValueError:
        return None


def create_draft_for_study(
    *,
    session: Session,
    study_instance_uid: str,
    author: Person | None,
    created_at: dt.datetime,
    sections: Sections | None = None,
    report_id: str | None = None,
) -> ReportRecord:
    """Create the first draft of a report on one archive study, with the patient, order and
    study taken from the index (and from the RIS order linked to the study, if any), so
    that a client does not copy them by hand.

    Raises
    ------
    NotFound
        The study is not in the archive (or is deleted).
    InvalidInput
        The study's indexed values make no valid record (e.g. an over-long accession).
    Conflict
        ``report_id`` exists.
    """
    row = session.execute(
        select(Study, Patient)
        .join(Patient, Patient.id == Study.patient_fk)
        .where(Study.study_instance_uid == study_instance_uid, Study.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(f"study {study_instance_uid} is not in the archive")
    study, patient = row
    order_row = session.execute(
        select(RisOrder, RisRequestedProcedure)
        .outerjoin(RisRequestedProcedure, RisRequestedProcedure.order_fk == RisOrder.id)
        .where(
            or_(
                RisOrder.id.in_(
                    select(RisStudyLink.order_fk).where(
                        RisStudyLink.study_instance_uid == study_instance_uid
                    )
                ),
                RisRequestedProcedure.study_instance_uid == study_instance_uid,
            )
        )
        .limit(1)
    ).first()
    alpha, kanji, kana = _pn_groups(patient.patient_name)
    sex = patient.patient_sex if patient.patient_sex in SexValues.__members__ else "U"
    order = order_row[0] if order_row else None
    procedure = order_row[1] if order_row else None
    try:
        record = ReportRecord(
            report_id=report_id or new_report_id(created_at.date()),
            version=1,
            status=S.DRAFT,
            patient=PatientInfo(
                patient_id=patient.patient_id,
                issuer=patient.issuer_of_patient_id or "",
                name_kanji=kanji,
                name_kana=kana,
                name_alpha=alpha,
                birth_date=_birth_date(patient.patient_birth_date),
                sex=SexValues(sex),
            ),
            created_at=created_at,
            order=OrderInfo(
                placer_order_no=(order.placer_order_number or "") if order else "",
                filler_order_no=order.filler_order_number if order else "",
                accession_no=study.accession_number or "",
                requested_procedure_id=procedure.requested_procedure_id if procedure else "",
                procedure_code=(procedure.jj1017_code or "") if procedure else "",
                procedure_name=(
                    (procedure.requested_procedure_description if procedure else None)
                    or study.study_description
                    or ""
                ),
                referring_physician=study.referring_physician_name or "",
            ),
            studies=(
                StudyRef(
                    study_uid=study.study_instance_uid,
                    modalities=tuple(m for m in study.modalities_in_study.split("\\") if m),
                    study_datetime=_study_datetime(study),
                ),
            ),
            sections=sections or Sections(),
            author=author,
            institution=study.institution_name or "",
        )
    except ValueError as exc:
        raise InvalidInput(f"study {study_instance_uid}: {exc}") from None
    return service.create(session=session, record=record)
