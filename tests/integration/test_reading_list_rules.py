"""The reading list's rules (``raddx.reports.reading_list``) on SQLite and PostgreSQL: which
reports make a study reported, the priority order, deleted studies, and the draft a study
gets (patient, order and study taken from the archive and the RIS)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.uid import generate_uid

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.archive.deletion import soft_delete
from raddx.archive.query import QueryRetrieveLevelValues
from raddx.errors import NotFound
from raddx.reports import Person, service
from raddx.reports.reading_list import (
    ReadingStatusValues,
    create_draft_for_study,
    reading_list,
)
from raddx.reports.record import Sections
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.services import Services

NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
DOCTOR = Person("読影^一郎", "dr1")


def _study(services: Services, date: str, **kwargs: object) -> str:
    ds = make_dataset(charset="ISO_IR 192", **kwargs)  # type: ignore[arg-type]
    ds.StudyDate = date
    services.ingest.store(to_part10(ds), source="test")
    return str(ds.StudyInstanceUID)


def _ordered(services: Services, priority: str, date: str, n: int) -> str:
    with services.session_factory.begin() as s:
        placed = place_order(
            OrderCreate(
                patient=PatientData(f"PO{n}", "", JAPANESE_NAME),
                procedures=(
                    ProcedureCreate(
                        modality="CT", scheduled_start_date=date, description="胸部単純CT"
                    ),
                ),
                accession_number=f"ACC-O{n}",
                priority=priority,
            ),
            session=s,
        )
    return _study(
        services,
        date,
        study_uid=placed.study_instance_uids[0],
        accession=f"ACC-O{n}",
        patient_id=f"PO{n}",
        patient_name=JAPANESE_NAME,
    )


def _listed(services: Services, **kwargs: object) -> list[tuple[str, ReadingStatusValues]]:
    with services.session_factory() as s:
        return [(i.study_instance_uid, i.status) for i in reading_list(session=s, **kwargs)]  # type: ignore[arg-type]


def _draft(services: Services, uid: str, **sections: str) -> str:
    with services.session_factory.begin() as s:
        return create_draft_for_study(
            session=s,
            study_instance_uid=uid,
            author=DOCTOR,
            created_at=NOW,
            sections=Sections(**sections),
        ).report_id


def test_priority_then_longest_waiting(services: Services) -> None:
    low = _ordered(services, "LOW", "20261101", 1)
    plain_new = _study(services, "20261120", accession="A2", patient_id="P2")
    plain_old = _study(services, "20261001", accession="A3", patient_id="P3")
    high = _ordered(services, "HIGH", "20261125", 4)
    stat = _ordered(services, "STAT", "20261126", 5)
    routine = _ordered(services, "ROUTINE", "20261010", 6)
    # Routine orders and studies without an order are one queue, oldest first.
    assert [u for u, _ in _listed(services)] == [stat, high, plain_old, routine, plain_new, low]


def test_which_reports_make_a_study_reported(services: Services) -> None:
    cancelled = _study(services, "20261101", accession="A1", patient_id="P1")
    rid = _draft(services, cancelled)
    with services.session_factory.begin() as s:
        service.cancel(session=s, report_id=rid)
    # A second report (a draft) on a study already reported does not bring it back.
    reported = _study(services, "20261102", accession="A2", patient_id="P2")
    first = _draft(services, reported, impression="異常なし")
    with services.session_factory.begin() as s:
        service.finalise(session=s, report_id=first, verifier=DOCTOR, at=NOW)
    _draft(services, reported)
    gone = _study(services, "20261103", accession="A3", patient_id="P3")
    with services.session_factory.begin() as s:
        soft_delete(session=s, level=QueryRetrieveLevelValues.STUDY, uid=gone, now=NOW)
    assert _listed(services) == [(cancelled, ReadingStatusValues.UNREPORTED)]
    assert _listed(services, statuses=[ReadingStatusValues.REPORTED]) == [
        (reported, ReadingStatusValues.REPORTED)
    ]


def test_draft_for_a_study_takes_the_archive_and_the_order(services: Services) -> None:
    uid = _ordered(services, "STAT", "20261126", 1)
    with services.session_factory.begin() as s:
        record = create_draft_for_study(
            session=s, study_instance_uid=uid, author=DOCTOR, created_at=NOW
        )
    assert (record.version, record.status.value, record.author) == (1, "draft", DOCTOR)
    assert record.report_id.startswith("R20261126-")
    p = record.patient
    assert (p.patient_id, p.name_kanji, p.name_kana, p.name_alpha) == (
        "PO1",
        "山田^太郎",
        "やまだ^たろう",
        "Yamada^Tarou",
    )
    assert (p.birth_date, p.sex.value) == (dt.date(1970, 1, 1), "M")
    assert record.order.accession_no == "ACC-O1"
    assert record.order.procedure_name == "胸部単純CT"
    assert record.order.requested_procedure_id
    (study,) = record.studies
    assert (study.study_uid, study.modalities) == (uid, ("CT",))
    assert study.study_datetime is not None and study.study_datetime.date() == dt.date(2026, 11, 26)
    with services.session_factory() as s:
        (item,) = reading_list(session=s)
    assert (item.report_id, item.report_status) == (record.report_id, "draft")


def test_draft_for_an_unknown_or_deleted_study_is_refused(services: Services) -> None:
    with pytest.raises(NotFound), services.session_factory.begin() as s:
        create_draft_for_study(
            session=s, study_instance_uid=generate_uid(), author=None, created_at=NOW
        )
    uid = _study(services, "20261101")
    with services.session_factory.begin() as s:
        soft_delete(session=s, level=QueryRetrieveLevelValues.STUDY, uid=uid, now=NOW)
    with pytest.raises(NotFound), services.session_factory.begin() as s:
        create_draft_for_study(session=s, study_instance_uid=uid, author=None, created_at=NOW)
