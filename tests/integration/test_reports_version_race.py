"""Two requests making the next version of one report at the same time (amend, addendum,
edit racing), on SQLite and PostgreSQL: never two rows with one version, never two latest
rows, the loser gets a Conflict (HTTP 409 problem+json) and nothing of it is written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from dicom_factory import make_dataset, to_part10
from helpers import wait_for
from raddx.db.models import ReportVersion
from raddx.errors import Conflict
from raddx.reports import Person, ReportStatusValues, Sections, service, store
from raddx.reports.samples import JST, sample_record
from raddx.services import Services

STUDY = "1.2.392.200036.9116.2.6.1.93"
VERIFIER = Person(name="確定^花子", id="D002")
AT = dt.datetime(2024, 4, 2, 10, 0, tzinfo=JST)


@pytest.fixture
def signed(services: Services) -> tuple[Services, str]:
    """A final report (version 1) on an archive study."""
    ds = make_dataset(study_uid=STUDY, accession="A93", patient_id="P93")
    services.ingest.store(to_part10(ds), source="test")
    record = sample_record(93, study_uid=STUDY, accession_no="A93", patient_id="P93")
    with services.session_factory.begin() as s:
        assert service.import_record(session=s, record=record, source="seed").result == "imported"
    return services, record.report_id


def _rows(services: Services, report_id: str) -> list[tuple[int, bool, str]]:
    with services.session_factory() as s:
        q = (
            select(ReportVersion.version, ReportVersion.is_latest, ReportVersion.record)
            .where(ReportVersion.report_id == report_id)
            .order_by(ReportVersion.version)
        )
        return [(v, latest, rec) for v, latest, rec in s.execute(q)]


def _race(services: Services, *changes: Callable[[Any], Any]) -> list[Any]:
    """Run every change in its own thread and transaction, released together by a barrier;
    each one's result, or the exception it raised."""
    barrier = threading.Barrier(len(changes))
    results: list[Any] = [None] * len(changes)

    def run(i: int) -> None:
        barrier.wait(10)
        try:
            with services.session_factory.begin() as s:
                results[i] = changes[i](s)
        except Exception as exc:  # handed to the test to assert on
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(changes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return results


def _amend(report_id: str, impression: str, base: int | None) -> Callable[[Any], Any]:
    def do(s: Any) -> Any:
        return service.amend(
            session=s,
            report_id=report_id,
            verifier=VERIFIER,
            at=AT,
            changes={"sections": Sections(findings="右肺上葉に結節影。", impression=impression)},
            base_version=base,
        )

    return do


def _addendum(report_id: str, note: str, base: int | None) -> Callable[[Any], Any]:
    def do(s: Any) -> Any:
        return service.add_addendum(
            session=s,
            report_id=report_id,
            text=note,
            author=VERIFIER,
            verifier=VERIFIER,
            at=AT,
            base_version=base,
        )

    return do


def test_amendment_and_addendum_on_the_same_version_one_wins(
    signed: tuple[Services, str],
) -> None:
    services, rid = signed
    results = _race(
        services, _amend(rid, "訂正: 肺腺癌疑い", 1), _addendum(rid, "追記: 造影CTを推奨", 1)
    )
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and won[0].version == 2
    assert len(lost) == 1 and isinstance(lost[0], Conflict), lost
    assert "reload" in str(lost[0])
    rows = _rows(services, rid)
    assert [(v, latest) for v, latest, _ in rows] == [(1, False), (2, True)]
    # Nothing of the loser was written.
    loser_text = "造影CT" if not won[0].addenda else "肺腺癌疑い"
    assert loser_text not in rows[1][2]


def test_amendments_without_base_version_never_share_a_version(
    signed: tuple[Services, str],
) -> None:
    """No base version given: on SQLite (one writer at a time) both may succeed, as v2 and
    v3; on PostgreSQL both read v1 and the database refuses the second v2. Either way no
    version twice, one latest row, and every loser is a Conflict."""
    services, rid = signed
    results = _race(services, *(_amend(rid, f"訂正{i}: 所見変わらず", None) for i in range(4)))
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception)), results
    versions = sorted(r.version for r in results if not isinstance(r, Exception))
    assert versions and len(set(versions)) == len(versions)
    rows = _rows(services, rid)
    assert [v for v, _, _ in rows] == [1, *versions]
    assert [v for v, latest, _ in rows if latest] == [max(versions)]


def test_edit_racing_finalise_never_unsigns(services: Services) -> None:
    """A save (PATCH) of a preliminary report racing its finalisation: the edit either comes
    first (and is signed) or is refused; a signed row is never overwritten in place."""
    ds = make_dataset(study_uid=STUDY, accession="A93", patient_id="P93")
    services.ingest.store(to_part10(ds), source="test")
    draft = sample_record(
        94,
        status=ReportStatusValues.PRELIMINARY,
        study_uid=STUDY,
        accession_no="A93",
        patient_id="P93",
    )
    with services.session_factory.begin() as s:
        service.create(session=s, record=draft)
    edit = "所見追記: 縦隔リンパ節腫大なし。"

    def save(s: Any) -> Any:
        return service.edit(
            session=s,
            report_id=draft.report_id,
            changes={"sections": dataclasses.replace(draft.sections, findings=edit)},
        )

    def sign(s: Any) -> Any:
        return service.finalise(session=s, report_id=draft.report_id, verifier=VERIFIER, at=AT)

    saved, final = _race(services, save, sign)
    assert not isinstance(final, Exception) and final.status == "final"
    ((_, latest, stored),) = _rows(services, draft.report_id)
    assert '"status":"final"' in stored and latest
    if isinstance(saved, Exception):  # the finalise came first: the edit is refused
        assert isinstance(saved, Conflict) and "amend" in str(saved)
        assert edit not in stored
    else:  # the edit came first: the signed content includes it
        assert edit in stored


def _blocked_on_lock(services: Services) -> bool:
    with services.session_factory() as s:
        return bool(
            s.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_import_of_a_later_version_racing_an_amendment_keeps_one_latest(
    signed: tuple[Services, str],
) -> None:
    """An amendment stores v2 while an import stores v3 of the same report. On PostgreSQL
    each writer's UPDATE of the old flag sees only committed rows, so both would have kept
    their row latest: the one-latest index refuses the import (a rejected row saying why).
    On SQLite the import waits for the amendment and goes on top of it."""
    services, rid = signed
    with services.session_factory() as s:
        v1 = store.load(session=s, report_id=rid)
    v3 = v1.replace(version=3, institution="ラドックス第二病院", content_sha256=None)
    result: dict[str, Any] = {}
    started = threading.Event()

    def importer() -> None:
        started.set()
        with services.session_factory.begin() as s:
            result["import"] = service.import_record(session=s, record=v3, source="race")

    with services.session_factory.begin() as s:
        _amend(rid, "訂正: 肺腺癌疑い", 1)(s)
        thread = threading.Thread(target=importer)
        thread.start()
        started.wait(10)
        postgres = services.settings.database_url.startswith("postgresql")
        if postgres:
            wait_for(lambda: _blocked_on_lock(services))
    thread.join(30)
    assert not thread.is_alive()
    rows = _rows(services, rid)
    assert len([v for v, latest, _ in rows if latest]) == 1
    if postgres:
        assert result["import"].result == "rejected"
        assert "concurrent" in result["import"].detail
        assert [(v, latest) for v, latest, _ in rows] == [(1, False), (2, True)]
    else:
        assert result["import"].result == "imported"
        assert [(v, latest) for v, latest, _ in rows] == [(1, False), (2, False), (3, True)]


def test_the_database_refuses_a_second_latest_row(signed: tuple[Services, str]) -> None:
    services, rid = signed
    with pytest.raises(IntegrityError), services.session_factory.begin() as s:
        s.execute(
            text(
                "INSERT INTO report_version (report_id, version, status, is_latest, patient_id,"
                " issuer_of_patient_id, modalities, created_at, record, stored_at) VALUES "
                "(:rid, 7, 'final', TRUE, 'P93', '', 'CT', :now, '{}', :now)"
            ),
            {"rid": rid, "now": AT},
        )
    assert [v for v, _, _ in _rows(services, rid)] == [1]


def test_http_amendments_on_one_version_answer_201_and_409(
    signed: tuple[Services, str], http_url: str
) -> None:
    """Two amendment requests released together over real HTTP, each made on version 1."""
    services, rid = signed
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def post(impression: str) -> None:
        body = {
            "verifier": {"name": "確定^花子", "id": "D002"},
            "at": "2024-04-02T10:00:00+09:00",
            "sections": {"impression": impression},
            "base_version": 1,
        }
        barrier.wait(10)
        answer = httpx.post(f"{http_url}/api/reports/{rid}/amendments", json=body, timeout=120)
        with lock:
            answers.append(answer)

    threads = [
        threading.Thread(target=post, args=(text_,)) for text_ in ("訂正A: 肺腺癌疑い", "訂正B")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert "reload" in refused.json()["detail"]
    rows = _rows(services, rid)
    assert [(v, latest) for v, latest, _ in rows] == [(1, False), (2, True)]
    # A later amendment made on the now-stale version 1 is refused up front, on any index.
    stale = httpx.post(
        f"{http_url}/api/reports/{rid}/amendments",
        json={
            "verifier": {"name": "確定^花子"},
            "base_version": 1,
            "sections": {"impression": "x"},
        },
        timeout=120,
    )
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    bad = httpx.post(
        f"{http_url}/api/reports/{rid}/addenda",
        json={
            "text": "追記",
            "author": {"name": "a"},
            "verifier": {"name": "b"},
            "base_version": 0,
        },
        timeout=30,
    )
    assert bad.status_code == 422
