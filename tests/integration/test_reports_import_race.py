"""Concurrent imports of one report id + version (raddx.reports.service.import_record) on
SQLite and PostgreSQL: the second writer gets "unchanged" for the same content and a
conflict for other content, never a unique-constraint error (it was a 500)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from dicom_factory import make_dataset, to_part10
from helpers import wait_for
from raddx.db.models import ReportVersion
from raddx.errors import Conflict
from raddx.reports import ReportStatusValues, service
from raddx.reports.samples import sample_record
from raddx.services import Services

STUDY = "1.2.392.200036.9116.2.6.1.88"


@pytest.fixture
def archive(services: Services) -> Services:
    ds = make_dataset(study_uid=STUDY, accession="A88", patient_id="P88")
    services.ingest.store(to_part10(ds), source="test")
    return services


def _rows(services: Services, report_id: str) -> list[tuple[int, bool, str]]:
    with services.session_factory() as s:
        q = (
            select(ReportVersion.version, ReportVersion.is_latest, ReportVersion.record)
            .where(ReportVersion.report_id == report_id)
            .order_by(ReportVersion.version)
        )
        return [(v, latest, rec) for v, latest, rec in s.execute(q)]


def _blocked_on_lock(services: Services) -> bool:
    """True when another PostgreSQL backend of this database waits for a lock (the second
    INSERT waiting for the first transaction's uncommitted row)."""
    with services.session_factory() as s:
        waiting = s.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)


def _interleave(services: Services, first: Callable[[Any], Any], second: Callable[[Any], Any]):
    """Run ``first`` in a transaction left open, then ``second`` in a thread with its own
    transaction, commit ``first`` only once ``second`` is waiting for it (PostgreSQL: its
    INSERT waits on the unique index; SQLite: its BEGIN IMMEDIATE waits for the writer),
    and return both results (or the exception ``second`` raised)."""
    results: dict[str, Any] = {}
    started = threading.Event()

    def run_second() -> None:
        started.set()
        try:
            with services.session_factory.begin() as s:
                results["second"] = second(s)
        except Exception as exc:  # handed to the test to assert on
            results["second"] = exc

    with services.session_factory.begin() as s:
        results["first"] = first(s)
        thread = threading.Thread(target=run_second)
        thread.start()
        started.wait(10)
        if services.settings.database_url.startswith("postgresql"):
            wait_for(lambda: _blocked_on_lock(services))
        # SQLite: the thread is at (or about to reach) BEGIN IMMEDIATE, which waits for
        # this writer either way; the outcome must not depend on which.
    thread.join(30)
    assert not thread.is_alive()
    return results["first"], results["second"]


def test_second_concurrent_import_of_the_same_content_is_a_no_op(archive: Services) -> None:
    record = sample_record(21, study_uid=STUDY, accession_no="A88", patient_id="P88")

    def do(s: Any) -> Any:
        return service.import_record(session=s, record=record, source="race")

    first, second = _interleave(archive, do, do)
    assert first.result == "imported"
    assert second.result == "unchanged", second
    rows = _rows(archive, record.report_id)
    assert [(v, latest) for v, latest, _ in rows] == [(1, True)]


def test_second_concurrent_import_with_other_content_is_a_conflict(archive: Services) -> None:
    record = sample_record(22, study_uid=STUDY, accession_no="A88", patient_id="P88")
    other = record.replace(institution="別の病院")

    def mine(s: Any) -> Any:
        return service.import_record(session=s, record=record, source="a")

    def theirs(s: Any) -> Any:
        return service.import_record(session=s, record=other, source="b")

    first, second = _interleave(archive, mine, theirs)
    assert first.result == "imported"
    assert second.result == "rejected" and "conflict" in second.detail, second
    rows = _rows(archive, record.report_id)
    assert len(rows) == 1 and "別の病院" not in rows[0][2]


def test_newer_version_stored_concurrently_keeps_one_latest(archive: Services) -> None:
    """A v2 import racing a second v2 import: the stored v1 stays, one v2 is latest."""
    v1 = sample_record(23, study_uid=STUDY, accession_no="A88", patient_id="P88")
    v2 = v1.replace(version=2, institution="新")
    with archive.session_factory.begin() as s:
        service.import_record(session=s, record=v1, source="v1")

    def do(s: Any) -> Any:
        return service.import_record(session=s, record=v2, source="race")

    first, second = _interleave(archive, do, do)
    assert (first.result, second.result) == ("imported", "unchanged")
    assert [(v, latest) for v, latest, _ in _rows(archive, v1.report_id)] == [
        (1, False),
        (2, True),
    ]


def test_concurrent_creates_of_one_report_id_give_a_conflict(archive: Services) -> None:
    """POST /api/reports twice at once with one id: the loser is a Conflict (409)."""
    draft = sample_record(
        24,
        status=ReportStatusValues.DRAFT,
        study_uid=STUDY,
        accession_no="A88",
        patient_id="P88",
    )

    def do(s: Any) -> Any:
        return service.create(session=s, record=draft)

    first, second = _interleave(archive, do, do)
    assert first.version == 1
    assert isinstance(second, Conflict), second


def test_many_threads_importing_one_package_row_at_once(archive: Services) -> None:
    """Free race: six sessions import the same record at the same moment."""
    record = sample_record(25, study_uid=STUDY, accession_no="A88", patient_id="P88")
    barrier = threading.Barrier(6)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait(10)
        try:
            with archive.session_factory.begin() as s:
                result: Any = service.import_record(session=s, record=record, source="t").result
        except Exception as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(str, outcomes)) == ["imported"] + ["unchanged"] * 5
    with archive.session_factory() as s:
        count = s.scalar(
            select(func.count())
            .select_from(ReportVersion)
            .where(ReportVersion.report_id == record.report_id)
        )
    assert count == 1
