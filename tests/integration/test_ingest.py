"""Ingest on a real index (SQLite and PostgreSQL) and a real blob store."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlalchemy import event, func, select

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.archive import IngestOutcome, blob_key_for
from raddx.config import DuplicatePolicyValues, load_settings
from raddx.db.models import Instance, Patient, Series, Study
from raddx.errors import Conflict, InvalidInput, OutOfResources
from raddx.services import Services


def _count(services: Services, model: type) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _blob_files(services: Services) -> list[Path]:
    return [p for p in services.blobs.root.rglob("*") if p.is_file()]


def test_store_indexes_every_level_and_keeps_exact_bytes(services: Services) -> None:
    ds = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192", accession="A1")
    data = to_part10(ds)
    result = services.ingest.store(data, source="test", calling_ae_title="MOD1")
    assert result.outcome is IngestOutcome.STORED
    with services.session_factory() as session:
        instance = session.scalars(select(Instance)).one()
        series = session.get(Series, instance.series_fk)
        study = session.get(Study, series.study_fk)
        patient = session.get(Patient, study.patient_fk)
        assert services.blobs.get(instance.blob_key) == data
        assert instance.blob_key == blob_key_for(ds.SOPInstanceUID)
        assert instance.size == len(data)
        assert instance.calling_ae_title == "MOD1"
        assert instance.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
        assert instance.specific_character_set == "ISO_IR 192"
        assert (study.study_instance_uid, study.accession_number) == (ds.StudyInstanceUID, "A1")
        assert study.modalities_in_study == "CT"
        assert study.number_of_study_related_instances == 1
        assert study.number_of_study_related_series == 1
        assert study.study_size == len(data)
        assert series.number_of_series_related_instances == 1
        assert patient.patient_name == JAPANESE_NAME
        assert patient.patient_name_ideographic == "山田^太郎"
        assert patient.patient_name_phonetic_norm == "やまだ^たろう"
        assert patient.patient_name_alphabetic_norm == "YAMADA^TAROU"


def test_counts_and_modalities_across_series(services: Services) -> None:
    study = pydicom.uid.generate_uid()
    for modality, count in (("CT", 3), ("SR", 1), ("CT", 2)):
        series = pydicom.uid.generate_uid()
        for _ in range(count):
            ds = make_dataset(study_uid=study, series_uid=series, modality=modality)
            services.ingest.store(to_part10(ds), source="test")
    with services.session_factory() as session:
        row = session.scalars(select(Study)).one()
        assert row.number_of_study_related_series == 3
        assert row.number_of_study_related_instances == 6
        assert sorted(row.modalities_in_study.split("\\")) == ["CT", "SR"]


# 300 kB objects are hashed on a helper thread during the blob write (ingest._ContentHash).
SIZES = pytest.mark.parametrize("pixel_bytes", [64, 300_000], ids=["small", "large"])


@SIZES
def test_identical_restore_is_a_noop(services: Services, pixel_bytes: int) -> None:
    data = to_part10(make_dataset(pixel_bytes=pixel_bytes))
    services.ingest.store(data, source="test")
    before = sorted(_blob_files(services))
    again = services.ingest.store(data, source="test")
    assert again.outcome is IngestOutcome.DUPLICATE
    assert sorted(_blob_files(services)) == before
    assert _count(services, Instance) == 1
    with services.session_factory() as session:
        assert session.scalars(select(Study)).one().number_of_study_related_instances == 1


@SIZES
def test_different_bytes_replace_by_default(services: Services, pixel_bytes: int) -> None:
    ds = make_dataset(study_description="first", pixel_bytes=pixel_bytes)
    first = to_part10(ds)
    services.ingest.store(first, source="test")
    ds.StudyDescription = "second"
    second = to_part10(ds)
    result = services.ingest.store(second, source="test")
    assert result.outcome is IngestOutcome.REPLACED
    with services.session_factory() as session:
        instance = session.scalars(select(Instance)).one()
        assert services.blobs.get(instance.blob_key) == second
        assert instance.sha256 == hashlib.sha256(second).hexdigest()
        assert instance.replaced_count == 1
        study = session.scalars(select(Study)).one()
        assert study.number_of_study_related_instances == 1
        assert study.study_size == len(second)
    assert len(_blob_files(services)) == 1  # the old bytes are gone
    third = services.ingest.store(first, source="test")  # and back again
    assert third.outcome is IngestOutcome.REPLACED
    assert len(_blob_files(services)) == 1


def test_different_bytes_rejected_when_configured(tmp_path: Path, database_url: str) -> None:
    settings = load_settings(
        data_dir=tmp_path / "d",
        database_url=database_url,
        duplicate_policy=DuplicatePolicyValues.REJECT,
    )
    svc = Services.from_settings(settings)
    try:
        ds = make_dataset(study_description="first")
        first = to_part10(ds)
        svc.ingest.store(first, source="test")
        ds.StudyDescription = "second"
        with pytest.raises(Conflict, match="already stored with different content"):
            svc.ingest.store(to_part10(ds), source="test")
        with svc.session_factory() as session:
            key = session.scalars(select(Instance.blob_key)).one()
        assert svc.blobs.get(key) == first
        assert len(_blob_files(svc)) == 1
    finally:
        svc.close()


def test_conflicting_patient_is_stored_and_flagged_not_merged(services: Services) -> None:
    services.ingest.store(to_part10(make_dataset(patient_name="Doe^John")), source="test")
    other = make_dataset(patient_name="Roe^Richard", birth_date="19800202")
    result = services.ingest.store(to_part10(other), source="test")
    assert result.outcome is IngestOutcome.STORED
    assert result.patient_conflict
    with services.session_factory() as session:
        patient = session.scalars(select(Patient)).one()
        assert patient.patient_name == "Doe^John"  # the stored patient is not overwritten
        flagged = session.scalars(
            select(Study).where(Study.study_instance_uid == other.StudyInstanceUID)
        ).one()
        assert flagged.patient_conflict
        assert "Roe^Richard" in (flagged.patient_conflict_detail or "")
        assert "19800202" in (flagged.patient_conflict_detail or "")
    assert _count(services, Study) == 2


def test_same_name_written_more_fully_is_not_a_conflict(services: Services) -> None:
    services.ingest.store(to_part10(make_dataset(patient_name="YAMADA^TAROU")), source="t")
    richer = make_dataset(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
    result = services.ingest.store(to_part10(richer), source="t")
    assert not result.patient_conflict
    with services.session_factory() as session:
        assert session.scalars(select(Patient)).one().patient_name_ideographic == "山田^太郎"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[: len(b) - 9], "truncated"),
        (lambda b: b"this is a text file, not an image\n" * 10, "not a DICOM Part 10 file"),
        (
            lambda b: b.replace(b"1.2.840.10008.5.1.4.1.1.2\0", b"1.2.840.10008.5.1.4.1.1.X\0"),
            "SOPClassUID",
        ),
    ],
    ids=["truncated", "not-dicom", "bad-sop-class-uid"],
)
def test_bad_input_is_rejected_and_nothing_is_kept(
    services: Services, mutate: object, message: str
) -> None:
    good = to_part10(make_dataset())
    bad = mutate(good)  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=message):
        services.ingest.store(bad, source="test")
    assert _count(services, Instance) == 0
    assert _count(services, Patient) == 0
    assert _blob_files(services) == []
    services.ingest.store(to_part10(make_dataset()), source="test")  # the store still works


def test_disk_full_keeps_nothing(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while writing the blob (injected at os.write: a real full disk cannot be made
    portably in CI) → OutOfResources, no row, no file; the next object stores fine."""

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OutOfResources, match="storage is full"):
        services.ingest.store(to_part10(make_dataset()), source="test")
    monkeypatch.undo()
    assert _count(services, Instance) == 0
    assert _blob_files(services) == []
    services.ingest.store(to_part10(make_dataset()), source="test")
    assert _count(services, Instance) == 1


def test_index_failure_removes_the_written_blob(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import raddx.archive.ingest as ingest_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(ingest_module, "file_instance", broken)
    with pytest.raises(RuntimeError):
        services.ingest.store(to_part10(make_dataset()), source="test")
    monkeypatch.undo()
    assert _blob_files(services) == []
    assert _count(services, Instance) == 0


def test_concurrent_store_of_the_same_instance(services: Services) -> None:
    """Two associations deliver the same object at the same moment: one row, one blob."""
    data = to_part10(make_dataset())
    results: list[IngestOutcome] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(services.ingest.store(data, source="test").outcome)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results) == sorted([IngestOutcome.STORED] + [IngestOutcome.DUPLICATE] * 3), (
        results
    )
    assert _count(services, Instance) == 1
    files = _blob_files(services)
    assert len(files) == 1
    assert files[0].read_bytes() == data


def test_concurrent_new_study_from_many_threads(services: Services) -> None:
    """Several associations start the same new study at once: the unique-key race on
    patient/study/series is resolved, counters are exact."""
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    payloads = [to_part10(make_dataset(study_uid=study, series_uid=series)) for _ in range(24)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(chunk: list[bytes]) -> None:
        try:
            barrier.wait()
            for data in chunk:
                services.ingest.store(data, source="test")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(payloads[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with services.session_factory() as session:
        row = session.scalars(select(Study)).one()
        assert row.number_of_study_related_instances == 24
        assert row.number_of_study_related_series == 1
    assert _count(services, Patient) == 1
    assert _count(services, Series) == 1
    assert len(_blob_files(services)) == 24


@pytest.mark.parametrize(
    "name", ["chrH31.dcm", "chrH32.dcm", "chrJapMulti.dcm", "chrJapMultiExplicitIR6.dcm"]
)
def test_japanese_charset_files_round_trip_byte_identical(services: Services, name: str) -> None:
    data = Path(pydicom.data.get_charset_files(name)[0]).read_bytes()
    services.ingest.store(data, source="import")
    record = pydicom.dcmread(pydicom.data.get_charset_files(name)[0])
    with services.session_factory() as session:
        key = session.scalars(
            select(Instance.blob_key).where(Instance.sop_instance_uid == record.SOPInstanceUID)
        ).one()
        patient = session.scalars(select(Patient)).one()
    assert services.blobs.get(key) == data
    assert patient.patient_name == str(record.PatientName)


def test_site_timezone_applies_to_objects_without_their_own(
    tmp_path: Path, database_url: str
) -> None:
    """Japanese modalities send local times without TimezoneOffsetFromUTC; with the site's
    ``default_timezone_offset`` their UTC instants are right, while an object's own offset
    still wins and nothing is written back into the object's attributes."""
    settings = load_settings(
        data_dir=tmp_path / "d", database_url=database_url, default_timezone_offset="+0900"
    )
    svc = Services.from_settings(settings)
    try:
        local = make_dataset()  # StudyDate 20261125, StudyTime 101010, no offset
        local.AcquisitionDateTime = "20261125101500"
        own = make_dataset()
        own.TimezoneOffsetFromUTC = "-0500"
        for ds in (local, own):
            svc.ingest.store(to_part10(ds), source="test")
        with svc.session_factory() as session:
            studies = {s.study_instance_uid: s for s in session.scalars(select(Study))}
            instant = session.scalars(
                select(Instance.acquisition_date_time_utc).where(
                    Instance.sop_instance_uid == local.SOPInstanceUID
                )
            ).one()
        assert studies[local.StudyInstanceUID].study_date_time_utc == "20261125011010"
        assert studies[local.StudyInstanceUID].timezone_offset_from_utc is None
        assert studies[own.StudyInstanceUID].study_date_time_utc == "20261125151010"
        assert instant == "20261125011500"
    finally:
        svc.close()


@pytest.mark.parametrize("offset", ["+9:00", "0900", "+1500", "+0960"])
def test_bad_site_timezone_is_refused(tmp_path: Path, offset: str) -> None:
    with pytest.raises(ValueError, match="default_timezone_offset"):
        load_settings(data_dir=tmp_path, default_timezone_offset=offset)


def test_full_index_database_is_out_of_resources_and_keeps_nothing(tmp_path: Path) -> None:
    """SQLite reports a full database (here: its page limit reached, standing in for a full
    disk under the index) as 'database or disk is full': the store fails as Out of Resources
    (C-STORE 0xA700), the blob written for it is removed, earlier objects are untouched."""
    svc = Services.from_settings(load_settings(data_dir=tmp_path / "d"))
    try:
        kept = make_dataset()
        svc.ingest.store(to_part10(kept), source="test")
        with svc.engine.connect() as conn:
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        svc.engine.dispose()

        @event.listens_for(svc.engine, "connect")
        def _limit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        with pytest.raises(OutOfResources, match="index database is out of disk space"):
            for _ in range(50):  # until a new page is needed
                svc.ingest.store(to_part10(make_dataset(pixel_bytes=4000)), source="test")
        with svc.session_factory() as session:
            stored = set(session.scalars(select(Instance.sop_instance_uid)))
        assert kept.SOPInstanceUID in stored
        assert len(_blob_files(svc)) == len(stored)  # no blob without its row
    finally:
        svc.close()
