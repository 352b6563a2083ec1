"""Report operations against a real index (SQLite and PostgreSQL): links to archive studies,
versions, listing, and import's idempotence and quarantine (raddx.reports.service)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from dicom_factory import make_dataset, to_part10
from raddx.db.models import ReportQuarantine
from raddx.errors import Conflict, NotFound
from raddx.reports import Person, ReportSelection, ReportStatusValues, Sections, service, store
from raddx.reports.samples import JST, sample_record
from raddx.services import Services

AT = dt.datetime(2024, 4, 2, 10, 0, tzinfo=JST)
VERIFIER = Person(name="確定^花子", id="D002")
STUDY = "1.2.392.200036.9116.2.6.1.77"


@pytest.fixture
def archive(services: Services) -> Services:
    ds = make_dataset(study_uid=STUDY, accession="A1", patient_id="P77")
    services.ingest.store(to_part10(ds), source="test")
    return services


def test_report_lifecycle_in_the_store(archive: Services) -> None:
    draft = sample_record(
        1, status=ReportStatusValues.DRAFT, study_uid=STUDY, accession_no="A1", patient_id="P77"
    )
    with archive.session_factory.begin() as s:
        service.create(session=s, record=draft)
    with archive.session_factory.begin() as s:
        service.edit(session=s, report_id=draft.report_id, changes={"institution": "別病院"})
        service.finalise(session=s, report_id=draft.report_id, verifier=VERIFIER, at=AT)
    with archive.session_factory.begin() as s, pytest.raises(Conflict, match="amend"):
        service.edit(session=s, report_id=draft.report_id, changes={"institution": "x"})
    with archive.session_factory.begin() as s:
        service.amend(
            session=s,
            report_id=draft.report_id,
            verifier=VERIFIER,
            at=AT,
            changes={"sections": Sections(impression="訂正")},
        )
    with archive.session_factory() as s:
        v1 = store.load(session=s, report_id=draft.report_id, version=1)
        v2 = store.load(session=s, report_id=draft.report_id)
        by_study = list(store.iter_records(session=s, selection=ReportSelection(study_uid=STUDY)))
        finals = list(
            store.iter_records(
                session=s, selection=ReportSelection(statuses=(ReportStatusValues.FINAL,))
            )
        )
    assert (v1.status, v1.institution, v2.version, v2.status) == ("final", "別病院", 2, "amended")
    assert [r.version for r in by_study] == [2] and finals == []


def test_create_checks_study_and_accession_against_the_archive(archive: Services) -> None:
    unknown = sample_record(2, status=ReportStatusValues.DRAFT, accession_no="A1")
    wrong_acc = sample_record(
        3, status=ReportStatusValues.DRAFT, study_uid=STUDY, accession_no="OTHER"
    )
    with archive.session_factory.begin() as s, pytest.raises(NotFound, match="not in the archive"):
        service.create(session=s, record=unknown)
    with archive.session_factory.begin() as s, pytest.raises(Conflict, match="accession"):
        service.create(session=s, record=wrong_acc)


def test_import_is_idempotent_rejects_lower_and_conflicting_versions(archive: Services) -> None:
    record = sample_record(4, study_uid=STUDY, accession_no="A1", patient_id="P77")
    newer = record.replace(version=2, institution="新")
    with archive.session_factory.begin() as s:
        outcomes = [
            service.import_record(session=s, record=r, source="t").result
            for r in (record, record, newer, record)
        ]
        conflicting = service.import_record(
            session=s, record=newer.replace(institution="違う内容"), source="t"
        )
    assert outcomes == ["imported", "unchanged", "imported", "rejected"]
    assert conflicting.result == "rejected" and "other content" in conflicting.detail


def test_import_of_a_report_for_an_unknown_study_is_quarantined(archive: Services) -> None:
    record = sample_record(5)  # its study is not in the archive
    with archive.session_factory.begin() as s:
        outcome = service.import_record(session=s, record=record, source="pkg.zip")
    with archive.session_factory() as s:
        kept = s.scalar(select(func.count()).select_from(ReportQuarantine))
        assert store.latest(session=s, report_id=record.report_id) is None
    assert outcome.result == "quarantined" and "not in the archive" in outcome.detail
    assert kept == 1


def test_import_matches_by_patient_and_date_when_the_uid_is_unknown(archive: Services) -> None:
    base = sample_record(6, patient_id="P77", accession_no="A1")
    study = base.studies[0]
    record = base.replace(
        studies=(
            study.__class__(
                study_uid="1.2.3.999", study_datetime=dt.datetime(2026, 11, 25, 10, 0, tzinfo=JST)
            ),
        ),
        key_images=(),
        order=base.order.__class__(accession_no="A1"),
    )
    with archive.session_factory.begin() as s:
        outcome = service.import_record(session=s, record=record, source="t")
        stored = store.load(session=s, report_id=record.report_id)
    assert outcome.result == "imported"
    assert [x.study_uid for x in stored.studies] == [STUDY]
