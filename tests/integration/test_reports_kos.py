"""Key images of a report as DICOM KOS (TID 2010) at the two doors that carry them: the
archive copy of a signed report (stored into its study) and the exchange package (export
carries the KOS, import restores key images from it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydicom.uid import KeyObjectSelectionDocumentStorage
from sqlalchemy import delete, select

from dicom_factory import make_dataset, to_part10
from raddx.db.models import Instance, ReportStudy, ReportVersion, Series
from raddx.reports import ReportSelection, service, store
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
