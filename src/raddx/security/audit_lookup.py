"""Who the patient of a study is, for audit messages of doors that only know study UIDs
(WADO-RS, STOW-RS, REST deletions): PS3.15 A.5.3.7 names the patient of every transfer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from raddx.db.models import Instance, Patient, Series, Study
from raddx.security.audit import PatientRef

__all__ = ["study_of", "study_patients"]


def study_patients(
    session_factory: sessionmaker[Any], study_instance_uids: Iterable[str]
) -> dict[str, PatientRef]:
    """PatientID and PatientName (verbatim) of each study found, by Study Instance UID."""
    uids = sorted(set(study_instance_uids))
    if not uids:
        return {}
    stmt = (
        select(Study.study_instance_uid, Patient.patient_id, Patient.patient_name)
        .join(Patient, Study.patient_fk == Patient.id)
        .where(Study.study_instance_uid.in_(uids))
    )
    with session_factory() as session:
        return {uid: PatientRef(pid or "", name) for uid, pid, name in session.execute(stmt)}


def study_of(session_factory: sessionmaker[Any], level: str, uid: str) -> str | None:
    """The Study Instance UID a STUDY, SERIES or IMAGE level ``uid`` belongs to."""
    if level == "STUDY":
        return uid
    if level == "SERIES":
        stmt = (
            select(Study.study_instance_uid)
            .join(Series, Series.study_fk == Study.id)
            .where(Series.series_instance_uid == uid)
        )
    else:
        stmt = (
            select(Study.study_instance_uid)
            .join(Series, Series.study_fk == Study.id)
            .join(Instance, Instance.series_fk == Series.id)
            .where(Instance.sop_instance_uid == uid)
        )
    with session_factory() as session:
        found: str | None = session.scalars(stmt.limit(1)).first()
        return found
