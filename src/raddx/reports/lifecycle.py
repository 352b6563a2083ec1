"""What may happen to a report: edit, submit, finalise, amend, add an addendum, cancel.

Pure functions from one record to the next (the service stores the result). The rule they
enforce, once for every door: a draft or preliminary version is work in progress and changes in
place; a signed version never changes — amending it or adding an addendum makes a new version
whose ``predecessor`` is the signed one (PS3.20 ``relatedDocument RPLC``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from raddx.errors import Conflict, InvalidInput
from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.record import Addendum, Person, Predecessor, ReportRecord
from raddx.reports.status import NEW_VERSION_OF_SIGNED, TERMINAL, in_place_allowed

__all__ = ["add_addendum", "amend", "cancel", "edit", "finalise", "submit_preliminary"]

#: Fields a change may not touch: identity and signature are set by these functions only.
_FIXED = frozenset({"report_id", "version", "status", "content_sha256", "predecessor"})


def _build(record: ReportRecord, **changes: Any) -> ReportRecord:
    try:
        return record.replace(**changes)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(str(exc)) from None


def _check_changes(changes: dict[str, Any]) -> None:
    bad = sorted(set(changes) & _FIXED)
    if bad:
        raise InvalidInput(f"{', '.join(bad)} cannot be edited; use the report's actions")


def _work_in_progress(record: ReportRecord, action: str) -> None:
    if record.signed:
        raise Conflict(
            f"report {record.report_id} version {record.version} is {record.status} and cannot "
            f"be changed in place ({action}); amend it or add an addendum instead"
        )
    if record.status in TERMINAL:
        raise Conflict(f"report {record.report_id} is {record.status}; nothing follows that")


def edit(record: ReportRecord, **changes: Any) -> ReportRecord:
    """Change a draft or preliminary version in place.

    Raises
    ------
    Conflict
        The version is signed or cancelled (a final report is amended, never edited).
    InvalidInput
        The changes name an identity/signature field or make an invalid record.
    """
    _work_in_progress(record, "edit")
    _check_changes(changes)
    return _build(record, **changes)


def submit_preliminary(record: ReportRecord, *, author: Person | None = None) -> ReportRecord:
    """Mark a draft as read (一次読影), optionally naming the reading physician."""
    _work_in_progress(record, "submit")
    if not in_place_allowed(record.status, S.PRELIMINARY):
        raise Conflict(f"report {record.report_id} is {record.status}, not a draft")
    return _build(record, status=S.PRELIMINARY, author=author or record.author)


def finalise(record: ReportRecord, *, verifier: Person, at: dt.datetime) -> ReportRecord:
    """Sign a draft or preliminary version (二次読影・確定): status final, verifier, time and
    the content digest. The version number does not change: nothing signed existed before.

    Raises
    ------
    Conflict
        Already signed or cancelled.
    InvalidInput
        No impression yet (a final report without one cannot be built).
    """
    _work_in_progress(record, "finalise")
    return _build(record, status=S.FINAL, verifier=verifier, verified_at=at)


def amend(
    record: ReportRecord,
    *,
    verifier: Person,
    at: dt.datetime,
    status: S = S.AMENDED,
    **changes: Any,
) -> ReportRecord:
    """A new signed version of a signed report with ``changes`` (status amended or
    corrected; ``entered-in-error`` withdraws it).

    Raises
    ------
    Conflict
        ``record`` is not signed (edit it instead).
    InvalidInput
        ``status`` is not one a new version of a signed report may have, or the changes are
        invalid.
    """
    if not record.signed:
        raise Conflict(
            f"report {record.report_id} version {record.version} is {record.status}, not "
            "signed; edit it instead of amending"
        )
    if S(status) not in NEW_VERSION_OF_SIGNED:
        raise InvalidInput("an amendment's status is amended, corrected or entered-in-error")
    _check_changes(changes)
    return _build(
        record,
        **changes,
        version=record.version + 1,
        status=S(status),
        predecessor=Predecessor(record.report_id, record.version),
        verifier=verifier,
        verified_at=at,
    )


def add_addendum(
    record: ReportRecord, *, text: str, author: Person, verifier: Person, at: dt.datetime
) -> ReportRecord:
    """A new signed version that adds an addendum (PS3.20 Addendum section) to a signed report;
    the rest of the content is unchanged."""
    try:
        addendum = Addendum(text=text, author=author, created_at=at)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(str(exc)) from None
    return amend(record, verifier=verifier, at=at, addenda=(*record.addenda, addendum))


def cancel(record: ReportRecord) -> ReportRecord:
    """Cancel a report that was never signed (a signed one is withdrawn by an
    ``entered-in-error`` amendment)."""
    _work_in_progress(record, "cancel")
    return _build(record, status=S.CANCELLED)
