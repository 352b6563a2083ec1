"""``raddx import`` (import_paths) records one Import event (PS3.15 A.5.3.5) per study
stored, with its patient and SOP class counts; duplicates and rejects add nothing."""

from __future__ import annotations

from pathlib import Path

from audit_schema import assert_valid
from dicom_factory import write_files
from raddx.archive.importer import import_paths
from raddx.config import load_settings
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.services import Services

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)


def test_one_import_event_per_study(tmp_path: Path) -> None:
    write_files(tmp_path / "in" / "a", 2, patient_id="PAT-I1")
    write_files(tmp_path / "in" / "b", 1, patient_id="PAT-I2")
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        with audit.capture() as events:
            import_paths(iter([tmp_path / "in"]), ingest=services.ingest)
            again = list(events)
            import_paths([tmp_path / "in"], ingest=services.ingest)  # all duplicates now
    finally:
        services.close()
    assert sorted((e.event_id.code.code, e.action.value, e.patient_id) for e in again) == [
        ("110107", "C", "PAT-I1"),
        ("110107", "C", "PAT-I2"),
    ]
    assert len(events) == 2
    first = next(e for e in again if e.patient_id == "PAT-I1")
    assert first.studies[0].sop_classes == (("1.2.840.10008.5.1.4.1.1.2", 2),)
    root = assert_valid(to_xml(first, SOURCE))
    media = root.xpath("ActiveParticipant[RoleIDCode/@csd-code='110155']")[0]
    assert media.get("UserID") == (tmp_path / "in").resolve().as_uri()
