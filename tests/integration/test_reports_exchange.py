"""Exchange packages and CSV import against a real index (SQLite and PostgreSQL): export,
re-import (idempotent), tampering, quarantine, CSV all-or-nothing and --partial, and the
``raddx report`` commands as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dicom_factory import make_dataset, to_part10
from raddx.config import load_settings
from raddx.db.models import ReportQuarantine, ReportVersion
from raddx.reports import ReportSelection, ReportStatusValues, service
from raddx.reports.csv_import import import_csv
from raddx.reports.formats.csv import to_csv_row, write_csv
from raddx.reports.package import export_package, import_reports
from raddx.reports.samples import sample_record
from raddx.services import Services

N = 6


def _study(n: int) -> str:
    return f"1.2.392.200036.9116.2.6.1.{1000 + n}"


@pytest.fixture
def stocked(services: Services) -> Services:
    """An archive with N studies and a final report for each (one of them amended)."""
    for n in range(1, N + 1):
        ds = make_dataset(study_uid=_study(n), accession=f"A{n:08d}", patient_id=f"P{n:06d}")
        services.ingest.store(to_part10(ds), source="test")
    with services.session_factory.begin() as s:
        for n in range(1, N + 1):
            service.import_record(session=s, record=sample_record(n), source="seed")
    return services


def _results(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _count(services: Services, model: type) -> int:
    with services.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("suffix", [".zip", ""])
def test_export_then_reimport_is_a_no_op(stocked: Services, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"pkg{suffix}"
    summary = export_package(
        session_factory=stocked.session_factory, selection=ReportSelection(), target=target
    )
    assert (summary.reports, summary.files) == (N, 2 * N + 1)
    result = import_reports(
        session_factory=stocked.session_factory, source=target, result_path=tmp_path / "r.csv"
    )
    assert dict(result.counts) == {"unchanged": N} and not result.failed
    assert [r["result"] for r in _results(tmp_path / "r.csv")] == ["unchanged"] * N


def test_tampered_package_imports_nothing(stocked: Services, tmp_path: Path) -> None:
    target = tmp_path / "pkg.zip"
    export_package(
        session_factory=stocked.session_factory, selection=ReportSelection(), target=target
    )
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(target) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("R00000003/1/report.fhir.json"):
                data = data.replace("肺".encode(), "脳".encode())
            dst.writestr(item, data)
    # Import into an empty archive: had anything been imported it would show.
    other = Services.from_settings(
        load_settings(data_dir=tmp_path / "other", database_url=f"sqlite:///{tmp_path / 'o.db'}")
    )
    try:
        result = import_reports(
            session_factory=other.session_factory, source=tampered, result_path=tmp_path / "r.csv"
        )
        assert "SHA-256 does not match" in result.aborted and result.failed
        assert _count(other, ReportVersion) == 0 and _count(other, ReportQuarantine) == 0
        # The untampered package into the empty archive: no studies there, so quarantined.
        result = import_reports(
            session_factory=other.session_factory, source=target, result_path=tmp_path / "q.csv"
        )
        assert dict(result.counts) == {"quarantined": N}
        assert _count(other, ReportQuarantine) == N and _count(other, ReportVersion) == 0
    finally:
        other.close()


def test_selection_by_status_patient_date_and_modality(stocked: Services, tmp_path: Path) -> None:
    selection = ReportSelection(
        patient_id="P000002", modality="CT", statuses=(ReportStatusValues.FINAL,)
    )
    summary = export_package(
        session_factory=stocked.session_factory, selection=selection, target=tmp_path / "p.zip"
    )
    with zipfile.ZipFile(tmp_path / "p.zip") as z:
        manifest = json.loads(z.read("manifest.json"))
    assert summary.reports == 1 and manifest["counts"]["reports"] == 1
    assert manifest["selection"]["patient_id"] == "P000002"
    assert {f["path"] for f in manifest["files"]} == {
        "reports/R00000002/1/report.cda.xml",
        "reports/R00000002/1/report.fhir.json",
        "index.csv",
    }


def _write(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    out = io.StringIO()
    write_csv([], out)
    writer = csv.DictWriter(
        out, fieldnames=out.getvalue().strip().split(","), lineterminator="\r\n"
    )
    for row in rows:
        writer.writerow(row)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def test_csv_all_or_nothing_then_partial(stocked: Services, tmp_path: Path) -> None:
    good = to_csv_row(sample_record(1).replace(version=2, institution="CSV病院"))
    bad_date = {**to_csv_row(sample_record(2).replace(version=2)), "created_at": "20241399"}
    conflict = {**good, "institution": "別の内容"}  # same id and version, other content
    path = _write(tmp_path / "in.csv", [good, bad_date, conflict], encoding="cp932")
    result = import_csv(
        session_factory=stocked.session_factory, path=path, result_path=tmp_path / "r.csv"
    )
    assert "not imported" in result.aborted
    rows = _results(tmp_path / "r.csv")
    assert [r["result"] for r in rows] == ["not imported", "error", "rejected"]
    assert rows[1]["line"] == "4" and "created_at" in rows[1]["detail"]
    with stocked.session_factory() as s:
        assert s.scalar(select(func.max(ReportVersion.version))) == 1  # nothing stored
    result = import_csv(
        session_factory=stocked.session_factory,
        path=path,
        result_path=tmp_path / "r2.csv",
        partial=True,
    )
    assert dict(result.counts) == {"imported": 1, "error": 1, "rejected": 1}
    with stocked.session_factory() as s:
        assert s.scalar(select(func.max(ReportVersion.version))) == 2


def _raddx(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raddx.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_export_and_import(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = load_settings(data_dir=data)
    services = Services.from_settings(settings)
    try:
        ds = make_dataset(study_uid=_study(1), accession="A00000001", patient_id="P000001")
        services.ingest.store(to_part10(ds), source="test")
        with services.session_factory.begin() as s:
            service.import_record(session=s, record=sample_record(1), source="seed")
    finally:
        services.close()
    out = _raddx(
        "report", "export", tmp_path / "p.zip", "--data-dir", data, "--status", "final", "--pdf"
    )
    assert out.returncode == 0, out.stderr
    assert "exported 1 report(s), 4 file(s)" in out.stdout
    with zipfile.ZipFile(tmp_path / "p.zip") as z:
        assert z.read("reports/R00000001/1/report.pdf").startswith(b"%PDF")
    again = _raddx("report", "import", tmp_path / "p.zip", "--data-dir", data)
    assert again.returncode == 0, again.stderr
    assert "1 unchanged" in again.stdout
    assert (tmp_path / "p.zip.result.csv").is_file()
    csv_out = _raddx("report", "export", tmp_path / "r.csv", "--data-dir", data, "--bom")
    assert csv_out.returncode == 0 and "exported 1 report(s)" in csv_out.stdout
    assert (tmp_path / "r.csv").read_bytes().startswith("\ufeffreport_id,".encode())
    unknown = tmp_path / "bad.csv"
    unknown.write_bytes("report_id\n".encode("utf-16"))
    failed = _raddx("report", "import", unknown, "--data-dir", data)
    assert failed.returncode == 2 and "encoding" in failed.stderr


def test_folder_of_another_vendors_exports(stocked: Services, tmp_path: Path) -> None:
    """Migration: CDA, FHIR, ORU and SR files of another system, one broken file, one stray."""
    from raddx.reports.formats import cda, fhir, hl7v2, sr

    folder = tmp_path / "vendor"
    folder.mkdir()
    records = [sample_record(n).replace(version=2, institution="旧システム") for n in (1, 2, 3, 4)]
    (folder / "a.xml").write_bytes(cda.to_cda(records[0]))
    (folder / "b.json").write_bytes(fhir.to_fhir(records[1]))
    (folder / "c.hl7").write_bytes(hl7v2.to_oru(records[2]))
    (folder / "d.dcm").write_bytes(sr.to_sr(records[3]))
    (folder / "broken.xml").write_bytes(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><id")
    (folder / "notes.txt").write_text("not a report", encoding="utf-8")
    result = import_reports(
        session_factory=stocked.session_factory, source=folder, result_path=tmp_path / "r.csv"
    )
    rows = {Path(r["source"]).name: r for r in _results(tmp_path / "r.csv")}
    assert (
        rows["broken.xml"]["result"] == "error"
        and "not well-formed" in rows["broken.xml"]["detail"]
    )
    assert rows["notes.txt"]["result"] == "skipped"
    assert [rows[n]["result"] for n in ("a.xml", "b.json", "c.hl7")] == ["imported"] * 3
    # The SR names no report id: it comes in under its accession number, as a new report.
    assert rows["d.dcm"]["result"] == "imported" and rows["d.dcm"]["report_id"] == "A00000004"
    assert result.failed  # the broken file needs a person
