"""A study's report status, for matching and answers at STUDY level (issue 10: the study
browser filters and shows it).

A study's status is that of its most advanced report: the latest version of each report
reading the study (``report_study``), ranked draft < preliminary < final < amended <
corrected; cancelled and entered-in-error reports count as no report, and a study without a
report is ``none``. Computed in SQL as a correlated subquery on the indexed
``report_study.study_instance_uid``, so nothing has to be kept in step when reports change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true

from raddx.db.models import ReportStudy, ReportVersion, Study
from raddx.errors import InvalidInput
from raddx.reports.enum import ReportStatusValues

__all__ = [
    "REPORT_STATUSES",
    "parse_report_status",
    "report_status_clause",
    "report_status_expression",
]

_R = ReportStatusValues
_RANKED = (_R.DRAFT, _R.PRELIMINARY, _R.FINAL, _R.AMENDED, _R.CORRECTED)
#: The values a study's report status takes, ``none`` first.
REPORT_STATUSES: tuple[str, ...] = ("none", *(s.value for s in _RANKED))


def parse_report_status(values: tuple[str, ...]) -> tuple[str, ...]:
    """Check report status filter values (alternatives, ORed).

    Raises
    ------
    InvalidInput
        A value that is not one of :data:`REPORT_STATUSES`.
    """
    for value in values:
        if value not in REPORT_STATUSES:
            raise InvalidInput(
                f"report status {value!r} is not one of {', '.join(REPORT_STATUSES)}"
            )
    return tuple(dict.fromkeys(values))


def report_status_expression() -> ColumnElement[Any]:
    """The report status of the outer query's Study row (``none`` without a report)."""
    rank = case({s.value: n for n, s in enumerate(_RANKED, 1)}, value=ReportVersion.status)
    best = (
        select(func.max(rank))
        .select_from(ReportStudy)
        .join(ReportVersion, ReportVersion.id == ReportStudy.report_version_fk)
        .where(
            ReportStudy.study_instance_uid == Study.study_instance_uid,
            ReportVersion.is_latest == true(),
            ReportVersion.status.in_([s.value for s in _RANKED]),
        )
        .scalar_subquery()
    )
    return case({n: s.value for n, s in enumerate(_RANKED, 1)}, value=best, else_="none")


def _has_report(statuses: list[str]) -> ColumnElement[bool]:
    """The outer Study row has a report whose latest version is in one of ``statuses``."""
    return exists(
        select(ReportStudy.id)
        .join(ReportVersion, ReportVersion.id == ReportStudy.report_version_fk)
        .where(
            ReportStudy.study_instance_uid == Study.study_instance_uid,
            ReportVersion.is_latest == true(),
            ReportVersion.status.in_(statuses),
        )
    )


def report_status_clause(statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """The outer Study row's report status is one of ``statuses`` (checked values).

    The same rule as :func:`report_status_expression`, written as EXISTS / NOT EXISTS so
    that PostgreSQL plans semi- and anti-joins instead of evaluating the status of every
    study (``none`` on 100,000 studies: 0.5 s as an expression): status s holds when a
    report is at s and none is above it.
    """
    ranked = [s.value for s in _RANKED]
    alternatives = []
    for status in statuses:
        if status == "none":
            alternatives.append(~_has_report(ranked))
            continue
        above = ranked[ranked.index(status) + 1 :]
        clause = _has_report([status])
        alternatives.append(and_(clause, ~_has_report(above)) if above else clause)
    return or_(*alternatives)
