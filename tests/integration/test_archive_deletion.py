"""Soft delete, restore and purge (``raddx.archive.deletion``) on SQLite and PostgreSQL:
what the query engine and retrieve see, counters, blobs, re-receiving a deleted object."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select
from typer.testing import CliRunner

from dicom_factory import make_dataset, to_part10
from raddx.archive import RetrieveService, sweep_orphans
from raddx.archive.deletion import purge, restore, soft_delete
from raddx.archive.query import Query, QueryService
from raddx.archive.statistics import archive_statistics
from raddx.cli import app
from raddx.db.models import Instance, Patient, PurgePending, Series, Study
from raddx.errors import Conflict, NotFound
from raddx.services import Services

_L = "STUDY"


def _store_study(services: Services, patient_id: str = "DEL1") -> tuple[str, list[str], list[str]]:
    """A CT series of two images and an MR series of one; returns (study, series, sops)."""
    study = generate_uid()
    series = [generate_uid(), generate_uid()]
    sops = []
    for series_uid, modality, count in ((series[0], "CT", 2), (series[1], "MR", 1)):
        for _ in range(count):
            ds = make_dataset(
                patient_id=patient_id, study_uid=study, series_uid=series_uid, modality=modality
            )
            services.ingest.store(to_part10(ds), source="test")
            sops.append(str(ds.SOPInstanceUID))
    return study, series, sops


def _studies(services: Services, **keys: str) -> list[dict]:
    query = Query(
        level="STUDY",  # type: ignore[arg-type]
        information_model="STUDY_ROOT",  # type: ignore[arg-type]
        keys={"ModalitiesInStudy": "", "NumberOfStudyRelatedInstances": "", **keys},
    )
    return list(QueryService(services.session_factory).find(query))


def _patients(services: Services, patient_id: str) -> list[dict]:
    query = Query(
        level="PATIENT",  # type: ignore[arg-type]
        information_model="PATIENT_ROOT",  # type: ignore[arg-type]
        keys={"PatientID": patient_id, "NumberOfPatientRelatedStudies": ""},
    )
    return list(QueryService(services.session_factory).find(query))


def _retrievable(services: Services, study: str) -> int:
    query = Query(
        level="STUDY",  # type: ignore[arg-type]
        information_model="STUDY_ROOT",  # type: ignore[arg-type]
        keys={"StudyInstanceUID": study},
    )
    return len(RetrieveService(services.session_factory, services.blobs).instances(query))


def _delete(services: Services, level: str, uid: str, now: dt.datetime | None = None) -> int:
    with services.session_factory() as session, session.begin():
        done = soft_delete(
            session=session,
            level=level,  # type: ignore[arg-type]
            uid=uid,
            now=now or dt.datetime.now(dt.UTC),
        )
    return done.instances


def _restore(services: Services, level: str, uid: str) -> int:
    with services.session_factory() as session, session.begin():
        return restore(session=session, level=level, uid=uid).instances  # type: ignore[arg-type]


def test_soft_deleted_study_is_hidden_from_query_and_retrieve_and_restored(
    services: Services,
) -> None:
    study, _, _ = _store_study(services)
    other, _, _ = _store_study(services)

    assert _delete(services, "STUDY", study) == 3

    assert [a["StudyInstanceUID"] for a in _studies(services, PatientID="DEL1")] == [other]
    assert _retrievable(services, study) == 0
    assert _patients(services, "DEL1")[0]["NumberOfPatientRelatedStudies"] == 1
    assert _restore(services, "STUDY", study) == 3
    assert _retrievable(services, study) == 3
    assert len(_studies(services, PatientID="DEL1")) == 2


def test_deleting_a_series_recounts_the_study(services: Services) -> None:
    study, series, _ = _store_study(services)

    _delete(services, "SERIES", series[1])  # the MR series

    (answer,) = _studies(services, StudyInstanceUID=study)
    assert answer["ModalitiesInStudy"] == ["CT"]
    assert answer["NumberOfStudyRelatedInstances"] == 2
    assert _studies(services, ModalitiesInStudy="MR", StudyInstanceUID=study) == []
    with services.session_factory() as session:
        stats = archive_statistics(session=session)
    assert (stats.studies, stats.series, stats.instances, stats.deleted_instances) == (1, 1, 2, 1)
    assert [(m.modality, m.series, m.instances) for m in stats.modalities] == [("CT", 1, 2)]


def test_last_instance_deleted_takes_series_study_and_patient(services: Services) -> None:
    ds = make_dataset(patient_id="ALONE")
    services.ingest.store(to_part10(ds), source="test")

    _delete(services, "IMAGE", str(ds.SOPInstanceUID))

    assert _studies(services, PatientID="ALONE") == []
    assert _patients(services, "ALONE") == []
    _restore(services, "IMAGE", str(ds.SOPInstanceUID))
    assert _patients(services, "ALONE")[0]["NumberOfPatientRelatedStudies"] == 1


def test_errors_unknown_already_deleted_not_deleted(services: Services) -> None:
    study, _, _ = _store_study(services)
    with pytest.raises(NotFound):
        _delete(services, "STUDY", generate_uid())
    with pytest.raises(Conflict, match="not deleted"):
        _restore(services, "STUDY", study)
    _delete(services, "STUDY", study)
    with pytest.raises(Conflict, match="already deleted"):
        _delete(services, "STUDY", study)


def test_re_receiving_a_deleted_instance_brings_it_back(services: Services) -> None:
    study = generate_uid()
    kept = make_dataset(patient_id="BACK", study_uid=study)
    services.ingest.store(to_part10(kept), source="test")
    _delete(services, "STUDY", study)

    result = services.ingest.store(to_part10(kept), source="test")

    assert result.outcome == "stored"
    (answer,) = _studies(services, StudyInstanceUID=study)
    assert answer["NumberOfStudyRelatedInstances"] == 1
    assert _patients(services, "BACK")[0]["NumberOfPatientRelatedStudies"] == 1


def test_purge_removes_rows_and_blobs_after_the_cutoff_only(services: Services) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    old_study, _, _ = _store_study(services, patient_id="OLD")
    new_study, _, _ = _store_study(services, patient_id="NEW")
    with services.session_factory() as session:
        old_keys = list(
            session.execute(
                select(Instance.blob_key)
                .join(Series, Series.id == Instance.series_fk)
                .join(Study, Study.id == Series.study_fk)
                .where(Study.study_instance_uid == old_study)
            ).scalars()
        )
    _delete(services, "STUDY", old_study, now=long_ago)
    _delete(services, "STUDY", new_study)

    report = purge(
        session_factory=services.session_factory,
        blobs=services.blobs,
        deleted_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
    )

    assert (report.patients, report.studies, report.series, report.instances) == (1, 1, 2, 3)
    assert report.blobs_deleted == 3
    assert not any(services.blobs.exists(k) for k in old_keys)
    with services.session_factory() as session:
        assert session.execute(select(func.count()).select_from(Instance)).scalar() == 3
        assert session.execute(select(Patient.patient_id)).scalars().all() == ["NEW"]
        assert session.execute(select(func.count()).select_from(PurgePending)).scalar() == 0
    _restore(services, "STUDY", new_study)  # the recent deletion can still be undone
    assert _retrievable(services, new_study) == 3


def test_interrupted_purge_blobs_are_deleted_by_the_sweep_not_reindexed(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    study, _, _ = _store_study(services, patient_id="CUT")
    _delete(services, "STUDY", study)
    # The process "dies" after the purge's commit, before any blob is deleted.
    monkeypatch.setattr("raddx.archive.deletion.finish_pending_purges", lambda **_: 0)
    purge(
        session_factory=services.session_factory,
        blobs=services.blobs,
        deleted_before=dt.datetime.now(dt.UTC),
    )
    assert sum(1 for _ in services.blobs.list_blobs()) == 3

    report = sweep_orphans(
        session_factory=services.session_factory,
        blobs=services.blobs,
        ingest=services.ingest,
        grace_seconds=0,
    )

    assert (report.recovered, report.orphan_blobs) == (0, 3)
    assert _studies(services, PatientID="CUT") == []


def _cli(services: Services, args: list[str]) -> object:
    storage = [
        "--data-dir",
        str(services.settings.data_dir),
        "--database-url",
        services.settings.resolved_database_url,
    ]
    return CliRunner().invoke(app, [*args, *storage])


def test_cli_purge_older_than(services: Services) -> None:
    study, _, _ = _store_study(services, patient_id="CLI")
    _delete(services, "STUDY", study)

    kept = _cli(services, ["purge", "--older-than", "1d"])
    assert kept.exit_code == 0, kept.output  # type: ignore[attr-defined]
    assert "purged 0 patient(s)" in kept.output  # type: ignore[attr-defined]
    done = _cli(services, ["purge", "--older-than", "0"])
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert "3 instance(s)" in done.output  # type: ignore[attr-defined]
    assert "3 blob(s) deleted" in done.output  # type: ignore[attr-defined]
    bad = _cli(services, ["purge", "--older-than", "soon"])
    assert bad.exit_code == 2
    assert "not a duration" in bad.output  # type: ignore[attr-defined]
