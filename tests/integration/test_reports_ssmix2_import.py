"""``raddx report import`` of an SS-MIX2 standardised storage tree (the migration use
case): the valid ORU^R01 file of each report is imported, superseded versions (condition
flag 0) and other data kinds are listed as skipped with the reason, a broken message is an
error row, and nothing else is lost or guessed."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from sqlalchemy import delete

from dicom_factory import make_dataset, to_part10
from raddx.db.models import ReportStudy, ReportVersion
from raddx.reports import ReportSelection, Sections, service, store
from raddx.reports.lifecycle import amend
from raddx.reports.package import import_reports
from raddx.reports.samples import sample_record
from raddx.reports.ssmix2 import export_ssmix2, parse_ssmix2_name
from raddx.services import Services

PID = "0000051234"


def test_file_names_of_the_storage_are_recognised() -> None:
    name = parse_ssmix2_name("0123456789_20080126_OML-11_081251234567800_200802031630123_01_1")
    assert name is not None
    assert (name.patient_id, name.data_kind, name.flag) == ("0123456789", "OML-11", "1")
    assert parse_ssmix2_name("0000051234_-_ORU-RAD_-_20240402103015000_-_0") is not None
    for other in ("report.hl7", "README", "a_b_c", "0123_2008012_OML-11_1_2008_01_1"):
        assert parse_ssmix2_name(other) is None


def test_ssmix2_tree_is_imported_current_versions_only(services: Services, tmp_path: Path) -> None:
    record = sample_record(51, patient_id=PID)
    record = record.replace(
        patient=dataclasses.replace(
            record.patient, name_kanji="山田^太郎", name_kana="ヤマダ^タロウ"
        )
    )
    ds = make_dataset(
        study_uid=record.studies[0].study_uid,
        accession=record.order.accession_no,
        patient_id=PID,
    )
    services.ingest.store(to_part10(ds), source="test")
    v2 = amend(
        record,
        verifier=record.verifier,  # type: ignore[arg-type]
        at=record.verified_at.replace(hour=23),  # type: ignore[union-attr]
        sections=Sections(findings="右肺上葉に結節影。", impression="訂正: 陳旧性炎症"),
    )
    with services.session_factory.begin() as s:
        service.import_record(session=s, record=record, source="seed")
        service.import_record(session=s, record=v2, source="seed")
    tree = tmp_path / "ssmix2"
    written = export_ssmix2(
        session_factory=services.session_factory,
        selection=ReportSelection(latest_only=False),
        target=tree,
    )
    assert written.written == 2 and written.errors == []
    folder = next(p.parent for p in tree.rglob("*_1"))
    # What else a hospital's tree holds: an ADT message of the same patient, a broken report.
    day = folder.parent.name
    adt = folder.parent / "ADT-00" / f"{PID}_{day}_ADT-00_-_20240401090000000_-_1"
    adt.parent.mkdir()
    adt.write_bytes(b"MSH|^~\\&|HIS||||20240401090000||ADT^A08|1|P|2.5\rPID|||" + PID.encode())
    broken = folder / f"{PID}_{day}_ORU-RAD_ORD9_20240402000000000_-_1"
    broken.write_bytes(b"MSH|^~\\&|RIS||||20240402||ORU^R01^ORU_R01|9|P|2.5\r")
    (tree / "README.txt").write_text("SS-MIX2 標準化ストレージ", encoding="utf-8")
    # Into an index that has not got the reports (the receiving system of a migration).
    with services.session_factory.begin() as s:
        s.execute(delete(ReportStudy))
        s.execute(delete(ReportVersion))
    result = import_reports(
        session_factory=services.session_factory, source=tree, result_path=tmp_path / "r.csv"
    )
    assert dict(result.counts) == {"imported": 1, "skipped": 3, "error": 1}, result
    with services.session_factory() as s:
        back = store.load(session=s, report_id=record.report_id)
    assert back.version == 2 and "陳旧性炎症" in back.sections.impression
    assert back.patient.name_kanji == "山田^太郎"
    with (tmp_path / "r.csv").open(encoding="utf-8") as f:
        rows = {Path(r["source"]).name: (r["result"], r["detail"]) for r in csv.DictReader(f)}
    flag0 = next(n for n in rows if n.endswith("_0"))
    assert rows[flag0][0] == "skipped" and "condition flag 0" in rows[flag0][1]
    assert rows[adt.name][0] == "skipped" and "ADT-00" in rows[adt.name][1]
    assert rows[broken.name][0] == "error" and "PID or OBR" in rows[broken.name][1]
    assert rows["README.txt"][0] == "skipped"
    # Again: the same tree changes nothing (imports are idempotent).
    again = import_reports(
        session_factory=services.session_factory, source=tree, result_path=tmp_path / "r2.csv"
    )
    assert again.counts["unchanged"] == 1 and again.counts["imported"] == 0
