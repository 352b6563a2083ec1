"""The performed procedure steps (MPPS, PS3.4 F.7) received for a study: what the study page
shows as its MPPS state (IN PROGRESS, COMPLETED, DISCONTINUED) beside the order."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import RisPerformedStep

__all__ = ["PerformedStepRow", "performed_steps_for_study"]


@dataclass(frozen=True, slots=True)
class PerformedStepRow:
    """One MPPS as the archive holds it (the modality's own words, verbatim)."""

    sop_instance_uid: str
    performed_procedure_step_status: str
    performed_procedure_step_id: str | None
    modality: str | None
    performed_station_ae_title: str | None
    start: str | None
    end: str | None
    performed_series_count: int


def _when(date: str | None, time: str | None) -> str | None:
    return f"{date}{time or ''}" if date else None


def performed_steps_for_study(
    *, session: Session, study_instance_uid: str
) -> list[PerformedStepRow]:
    """The MPPS whose StudyInstanceUID is ``study_instance_uid``, oldest first."""
    rows = session.scalars(
        select(RisPerformedStep)
        .where(RisPerformedStep.study_instance_uid == study_instance_uid)
        .order_by(RisPerformedStep.created_at, RisPerformedStep.id)
    )
    return [
        PerformedStepRow(
            sop_instance_uid=r.sop_instance_uid,
            performed_procedure_step_status=r.performed_procedure_step_status,
            performed_procedure_step_id=r.performed_procedure_step_id,
            modality=r.modality,
            performed_station_ae_title=r.performed_station_ae_title,
            start=_when(
                r.performed_procedure_step_start_date, r.performed_procedure_step_start_time
            ),
            end=_when(r.performed_procedure_step_end_date, r.performed_procedure_step_end_time),
            performed_series_count=r.performed_series_count,
        )
        for r in rows
    ]
