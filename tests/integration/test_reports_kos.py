"""Key images of a report as DICOM KOS (TID 2010) at the two doors that carry them: the
archive copy of a signed report (stored into its study) and the exchange package (export
carries the KOS, import restores key images from it)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import KeyObjectSelectionDocumentStorage
from sqlalchemy import delete, select

from dicom_factory import make_dataset, to_part10
from raddx.db.models import Instance, ReportStudy, ReportVersion, Series, Study
from raddx.reports import ReportSelection, ReportStatusValues, service, store
from raddx.reports.archive_copy import store_in_archive
from raddx.reports.formats import cda
from raddx.reports.formats.kos import from_kos, to_kos
from raddx.reports.package import export_package, import_reports
from raddx.reports.samples import sample_record
from raddx.services import Services

N = 31


@pytest.fixture
def stocked(services: Services) -> Services:
    record = sample_record(N)
    ds = make_dataset(
        study_uid=record.studies[0].study_uid,
        accession=record.order.accession_no,
        patient_id=record.patient.patient_id,
    )
    services.ingest.store(to_part10(ds), source="test")
    with services.session_factory.begin() as s:
        assert service.import_record(session=s, record=record, source="seed").result == "imported"
    return services


def test_signed_report_with_key_images_stores_a_kos_in_its_study(stocked: Services) -> None:
    record = sample_record(N)
    assert record.key_images
    copy = store_in_archive(record=record, ingest=stocked.ingest)
    assert copy.errors == () and len(copy.stored) == 3
    with stocked.session_factory() as s:
        rows = s.execute(
            select(Series.modality, Instance.sop_class_uid)
            .join(Instance, Instance.series_fk == Series.id)
            .order_by(Series.modality)
        ).all()
    assert ("KO", KeyObjectSelectionDocumentStorage) in [tuple(r) for r in rows]
    assert sorted(m for m, _ in rows) == ["CT", "DOC", "KO", "SR"]
    # Stored again (same version): the same objects, nothing new.
    assert store_in_archive(record=record, ingest=stocked.ingest).stored == copy.stored


def test_report_without_key_images_stores_no_kos(stocked: Services) -> None:
    record = sample_record(N).replace(key_images=())
    copy = store_in_archive(record=record, ingest=stocked.ingest)
    assert copy.errors == () and len(copy.stored) == 2


def _rewrite(folder: Path, name: str, data: bytes | None) -> None:
    """Replace (or with ``None`` remove) one file of a package folder, manifest updated."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = [f for f in manifest["files"] if f["path"] != name]
    if data is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(data)
        files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    manifest["files"] = files
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_package_carries_the_kos_and_import_restores_key_images(
    stocked: Services, tmp_path: Path
) -> None:
    record = sample_record(N)
    target = tmp_path / "pkg"
    export_package(
        session_factory=stocked.session_factory,
        selection=ReportSelection(),
        target=target,
        include_kos=True,
    )
    folder = f"reports/{record.report_id}/1"
    kos_file = target / folder / "keyimages.kos.dcm"
    assert [k.sop_uid for k in from_kos(kos_file.read_bytes())] == [
        k.sop_uid for k in record.key_images
    ]
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert f"{folder}/keyimages.kos.dcm" in {f["path"] for f in manifest["files"]}
    # A receiving system whose CDA lists no key images: only the KOS carries them.
    _rewrite(target, f"{folder}/report.fhir.json", None)
    _rewrite(target, f"{folder}/report.cda.xml", cda.to_cda(record.replace(key_images=())))
    # Into an index that has not got the report yet.
    with stocked.session_factory.begin() as s:
        s.execute(delete(ReportStudy))
        s.execute(delete(ReportVersion))
    result = import_reports(
        session_factory=stocked.session_factory, source=target, result_path=tmp_path / "r.csv"
    )
    assert dict(result.counts) == {"imported": 1}, result
    with stocked.session_factory() as s:
        back = store.load(session=s, report_id=record.report_id)
    assert [(k.sop_uid, k.series_uid) for k in back.key_images] == [
        (k.sop_uid, k.series_uid) for k in record.key_images
    ]


def test_foreign_folder_kos_is_skipped_not_read_as_a_report(
    stocked: Services, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ko.dcm").write_bytes(to_kos(sample_record(N)))
    result = import_reports(
        session_factory=stocked.session_factory,
        source=tmp_path / "in",
        result_path=tmp_path / "r.csv",
    )
    assert dict(result.counts) == {"skipped": 1}


def _archive_kos(services: Services) -> dict[str, list[bytes]]:
    """Every KOS in the archive by the study it is filed in."""
    with services.session_factory() as s:
        rows = s.execute(
            select(Study.study_instance_uid, Instance.blob_key)
            .join(Series, Series.study_fk == Study.id)
            .join(Instance, Instance.series_fk == Series.id)
            .where(Instance.sop_class_uid == KeyObjectSelectionDocumentStorage)
            .order_by(Instance.instance_number)
        ).all()
    found: dict[str, list[bytes]] = {}
    for study_uid, key in rows:
        found.setdefault(study_uid, []).append(services.blobs.get(key))
    return found


def _instances_of(services: Services, study_uid: str) -> set[str]:
    with services.session_factory() as s:
        return set(
            s.scalars(
                select(Instance.sop_instance_uid)
                .join(Series, Instance.series_fk == Series.id)
                .join(Study, Series.study_fk == Study.id)
                .where(Study.study_instance_uid == study_uid)
            )
        )


def test_key_images_in_two_studies_store_one_kos_in_each(services: Services) -> None:
    record = sample_record(N + 1, prior_study=True)
    for image in record.key_images:  # the images the radiologist chose, in their studies
        ds = make_dataset(
            study_uid=image.study_uid,
            series_uid=image.series_uid,
            sop_uid=image.sop_uid,
            accession=record.order.accession_no,
            patient_id=record.patient.patient_id,
            patient_name="山田^太郎",
            charset="ISO_IR 192",
        )
        services.ingest.store(to_part10(ds), source="test")
    with services.session_factory.begin() as s:
        assert service.import_record(session=s, record=record, source="seed").result == "imported"
    copy = store_in_archive(record=record, ingest=services.ingest)
    assert copy.errors == () and len(copy.stored) == 4  # SR, PDF, two KOS
    stored = _archive_kos(services)
    assert sorted(stored) == sorted(s.study_uid for s in record.studies)
    for study_uid, objects in stored.items():
        (data,) = objects
        kos = pydicom.dcmread(io.BytesIO(data))
        evidence = {
            sop.ReferencedSOPInstanceUID
            for study in kos.CurrentRequestedProcedureEvidenceSequence
            for series in study.ReferencedSeriesSequence
            for sop in series.ReferencedSOPSequence
        }
        assert {e.StudyInstanceUID for e in kos.CurrentRequestedProcedureEvidenceSequence} == {
            study_uid
        }
        # Every reference resolves to an instance of the KOS's own study in the archive.
        assert evidence <= _instances_of(services, study_uid)
        assert [k.sop_uid for k in from_kos(data)] == [
            k.sop_uid for k in record.key_images if k.study_uid == study_uid
        ]
    # Stored again (a retried finalise): the same objects, no duplicate KOS.
    assert store_in_archive(record=record, ingest=services.ingest).stored == copy.stored
    assert {k: len(v) for k, v in _archive_kos(services).items()} == dict.fromkeys(stored, 1)
    # An amendment: a new KOS per study, in the same series as the first version's, next
    # instance number, so a viewer lists the versions of the selection together.
    amended = record.replace(
        version=2, status=ReportStatusValues.AMENDED, predecessor=None, content_sha256=None
    )
    assert store_in_archive(record=amended, ingest=services.ingest).errors == ()
    for objects in _archive_kos(services).values():
        v1, v2 = (pydicom.dcmread(io.BytesIO(d)) for d in objects)
        assert v1.SeriesInstanceUID == v2.SeriesInstanceUID
        assert (v1.InstanceNumber, v2.InstanceNumber) == (1, 2)
        assert v1.SOPInstanceUID != v2.SOPInstanceUID


def test_package_carries_one_kos_per_study(services: Services, tmp_path: Path) -> None:
    record = sample_record(N + 2, prior_study=True)
    for ref in record.studies:
        ds = make_dataset(
            study_uid=ref.study_uid,
            accession=record.order.accession_no,
            patient_id=record.patient.patient_id,
        )
        services.ingest.store(to_part10(ds), source="test")
    with services.session_factory.begin() as s:
        assert service.import_record(session=s, record=record, source="seed").result == "imported"
    target = tmp_path / "pkg"
    export_package(
        session_factory=services.session_factory,
        selection=ReportSelection(),
        target=target,
        include_kos=True,
    )
    folder = f"reports/{record.report_id}/1"
    files = sorted(p.name for p in (target / folder).glob("*.kos.dcm"))
    assert files == ["keyimages.2.kos.dcm", "keyimages.kos.dcm"]
    second = from_kos((target / folder / "keyimages.2.kos.dcm").read_bytes())
    assert [k.study_uid for k in second] == [record.studies[1].study_uid]
    # A receiver whose documents list no key images gets both studies' from the KOS files.
    _rewrite(target, f"{folder}/report.fhir.json", None)
    _rewrite(target, f"{folder}/report.cda.xml", cda.to_cda(record.replace(key_images=())))
    with services.session_factory.begin() as s:
        s.execute(delete(ReportStudy))
        s.execute(delete(ReportVersion))
    result = import_reports(
        session_factory=services.session_factory, source=target, result_path=tmp_path / "r.csv"
    )
    assert dict(result.counts) == {"imported": 1}, result
    with services.session_factory() as s:
        back = store.load(session=s, report_id=record.report_id)
    assert [(k.study_uid, k.sop_uid, k.frame) for k in back.key_images] == [
        (k.study_uid, k.sop_uid, k.frame) for k in record.key_images
    ]
