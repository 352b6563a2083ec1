"""raddx report export --format ss-mix2 DEST: report versions land in an SS-MIX2
standardised storage tree as ISO-2022-JP ORU^R01 files; re-export changes nothing; a new
version turns the old file's condition flag to invalid; a report that cannot be written is
listed and the exit code says so."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from dicom_factory import make_dataset, to_part10
from raddx.config import load_settings
from raddx.reports import Sections, service
from raddx.reports.enum import ReportStatusValues
from raddx.reports.lifecycle import amend
from raddx.reports.samples import sample_record
from raddx.services import Services


def _raddx(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raddx.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_ss_mix2_export_tree_content_idempotence_and_flags(tmp_path: Path) -> None:
    data = tmp_path / "data"
    record = sample_record(41, patient_id="0000041234")
    # The generated name may have 髙 (not in JIS X 0208): a name ISO-2022-JP carries.
    record = record.replace(
        patient=dataclasses.replace(
            record.patient, name_kanji="山田^太郎", name_kana="ヤマダ^タロウ"
        )
    )
    services = Services.from_settings(load_settings(data_dir=data))
    try:
        ds = make_dataset(
            study_uid=record.studies[0].study_uid,
            accession=record.order.accession_no,
            patient_id=record.patient.patient_id,
        )
        services.ingest.store(to_part10(ds), source="test")
        with services.session_factory.begin() as s:
            service.import_record(session=s, record=record, source="seed")
            # A draft is never sent, so it has no place in the tree.
            draft = sample_record(42, status=ReportStatusValues.DRAFT, patient_id="0000041234")
            service.import_record(
                session=s,
                record=draft.replace(studies=record.studies, order=record.order, key_images=()),
                source="seed",
            )
    finally:
        services.close()
    dest = tmp_path / "ssmix2"
    out = _raddx("report", "export", dest, "--format", "ss-mix2", "--data-dir", data)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "1 file(s) written" in out.stdout
    [path] = _files(dest)
    day = record.study_date.strftime("%Y%m%d")  # type: ignore[union-attr]
    rel = path.relative_to(dest)
    assert rel.parts[:5] == ("000", "004", "0000041234", day, "ORU-RAD")
    assert rel.name.startswith(f"0000041234_{day}_ORU-RAD_") and rel.name.endswith("_1")
    content = path.read_bytes()
    assert b"\x1b$B" in content and max(content) < 0x80  # ISO-2022-JP, 7-bit
    text = content.decode("iso2022_jp")
    assert "~ISO IR87" in text.split("\r")[0] and record.sections.impression in text.replace(
        "\\.br\\", "\n"
    )
    # Re-export: the same bytes, nothing rewritten.
    before = path.stat().st_mtime_ns
    again = _raddx("report", "export", dest, "--format", "ss-mix2", "--data-dir", data)
    assert again.returncode == 0 and "0 file(s) written, 1 unchanged" in again.stdout
    assert path.stat().st_mtime_ns == before
    # An amendment: its file is valid, the first version's flag turns invalid.
    services = Services.from_settings(load_settings(data_dir=data))
    try:
        with services.session_factory.begin() as s:
            v2 = amend(
                record,
                verifier=record.verifier,  # type: ignore[arg-type]
                at=record.verified_at.replace(hour=23),  # type: ignore[union-attr]
                sections=Sections(impression="訂正: 陳旧性炎症"),
            )
            assert service.import_record(session=s, record=v2, source="t").result == "imported"
    finally:
        services.close()
    third = _raddx("report", "export", dest, "--format", "ss-mix2", "--data-dir", data)
    assert third.returncode == 0 and "1 superseded" in third.stdout, third.stdout
    flags = sorted(p.name[-1] for p in _files(dest))
    assert flags == ["0", "1"]
    [current] = [p for p in _files(dest) if p.name.endswith("_1")]
    assert "陳旧性炎症" in current.read_bytes().decode("iso2022_jp")


def test_ss_mix2_export_lists_a_report_it_cannot_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    record = sample_record(43, patient_id="P43")
    # 髙 is outside JIS X 0208: no ISO-2022-JP message can carry it.
    record = record.replace(sections=Sections(impression="髙度の石灰化", findings="所見"))
    services = Services.from_settings(load_settings(data_dir=data))
    try:
        ds = make_dataset(
            study_uid=record.studies[0].study_uid,
            accession=record.order.accession_no,
            patient_id="P43",
        )
        services.ingest.store(to_part10(ds), source="test")
        with services.session_factory.begin() as s:
            service.import_record(session=s, record=record, source="seed")
    finally:
        services.close()
    out = _raddx("report", "export", tmp_path / "t", "--format", "ss-mix2", "--data-dir", data)
    assert out.returncode == 1
    assert "1 error(s)" in out.stdout and "JIS X 0208" in out.stdout
    assert _files(tmp_path / "t") == []


def test_ss_mix2_export_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    out = _raddx(
        "report", "export", tmp_path / "not-a-folder", "--format", "ss-mix2",
        "--data-dir", tmp_path / "data",
    )  # fmt: skip
    assert out.returncode == 2 and "is a file" in out.stderr
