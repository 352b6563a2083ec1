"""The runner: output layout, manifest, quarantine with reasons, resume, preflight."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import CTImageStorage

from deid_corpus import build_corpus
from dicom_factory import make_dataset, to_part10
from raddx.deid import ProjectKey, deidentify_paths, load_policy, verify_paths
from raddx.errors import InvalidInput

KEY = ProjectKey(b"raddx test project key 0001")
CT_SMALL = Path(pydicom.data.get_testdata_file("CT_small.dcm"))


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=2)
    (inbox / "cut.dcm").write_bytes(CT_SMALL.read_bytes()[:8000])  # truncated pixel data
    (inbox / "notes.txt").write_text("not DICOM")
    us = make_dataset(modality="US")
    (inbox / "us.dcm").write_bytes(to_part10(us))
    burned = make_dataset(modality="CT")
    burned.BurnedInAnnotation = "YES"
    (inbox / "burned.dcm").write_bytes(to_part10(burned))
    # ISO 2022 IR 87 bytes under a declared ISO_IR 100: the escapes would survive decoding
    jis = pydicom.data.get_charset_files("chrH31.dcm")[0]
    data = Path(jis).read_bytes().replace(b"\\ISO 2022 IR 87 ", b"ISO_IR 100      ")
    wrong = pydicom.dcmread(io.BytesIO(data))
    wrong.Modality = "CT"  # not quarantined for its modality or class: only for its charset
    wrong.SOPClassUID = wrong.file_meta.MediaStorageSOPClassUID = CTImageStorage
    buffer = io.BytesIO()
    wrong.save_as(buffer)
    (inbox / "wrong-charset.dcm").write_bytes(buffer.getvalue())
    return inbox


def test_run_writes_outputs_manifest_and_quarantine(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    out, quarantine = tmp_path / "out", tmp_path / "q"

    summary = deidentify_paths(
        [inbox], out_dir=out, quarantine_dir=quarantine, policy=load_policy("pseudonymize"),
        key=KEY,
    )  # fmt: skip

    assert (summary.written, summary.quarantined) == (5, 5)
    reasons = {
        Path(r["file"]).name: r["reason"]
        for r in map(json.loads, (quarantine / "reasons.jsonl").read_text().splitlines())
    }
    assert reasons["cut.dcm"].startswith("truncated: (7FE0,0010)")
    assert reasons["notes.txt"].startswith("not a DICOM Part 10 file")
    assert reasons["us.dcm"] == "Modality US: burned-in text risk"
    assert reasons["burned.dcm"].startswith("BurnedInAnnotation YES")
    assert reasons["wrong-charset.dcm"].startswith("wrong SpecificCharacterSet: (0010,0010)")
    assert len(list(quarantine.glob("*-*"))) == 5  # the originals, kept for review
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["profile"]["edition"] == "2026d"
    assert manifest["policy"] == "pseudonymize"
    assert manifest["config_hash"] == load_policy("pseudonymize").config_hash()
    assert manifest["key_id"] == KEY.key_id
    assert manifest["codes"][0] == "113100"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.dcm"))
    assert written == [f["output"] for f in manifest["files"]]
    for relative in written:  # <Study>/<Series>/<SOP>.dcm, all new UIDs: no input names
        study, series, name = relative.split("/")
        ds = pydicom.dcmread(out / relative)
        assert (study, series, name) == (
            ds.StudyInstanceUID, ds.SeriesInstanceUID, f"{ds.SOPInstanceUID}.dcm"
        )  # fmt: skip
        assert "Hasegawa" not in relative


def test_rerun_with_the_project_key_resumes_without_duplicates(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=2)
    out = tmp_path / "out"
    policy = load_policy("pseudonymize")
    deidentify_paths([inbox], out_dir=out, quarantine_dir=tmp_path / "q", policy=policy, key=KEY)
    first = {p: p.read_bytes() for p in out.rglob("*.dcm")}
    next(iter(first)).unlink()  # as if interrupted before the last file
    deidentify_paths([inbox], out_dir=out, quarantine_dir=tmp_path / "q", policy=policy, key=KEY)
    assert {p: p.read_bytes() for p in out.rglob("*.dcm")} == first
    assert not list(out.rglob(".tmp-*"))


def test_unwritable_output_fails_before_reading(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(InvalidInput, match="not writable"):
        deidentify_paths(
            [tmp_path / "does-not-matter"], out_dir=blocker / "out", quarantine_dir=tmp_path / "q",
            policy=load_policy("basic"), key=ProjectKey.random(),
        )  # fmt: skip
    assert not (tmp_path / "q").exists()


def test_ephemeral_key_refuses_a_non_empty_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.dcm").write_bytes(b"")
    with pytest.raises(InvalidInput, match="not empty"):
        deidentify_paths(
            [], out_dir=out, quarantine_dir=tmp_path / "q", policy=load_policy("anonymize"),
            key=ProjectKey.random(),
        )  # fmt: skip


def test_what_if_lists_actions_and_writes_nothing(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=1)
    summary = deidentify_paths(
        [inbox], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=load_policy("basic"), key=ProjectKey.random(), what_if=True,
    )  # fmt: skip
    assert not (tmp_path / "out").exists()
    actions = {str(a) for a in summary.outcomes[-1].actions}  # the SR
    assert "(0010,0010) PatientName: Z" in actions
    assert "(0009,0010) (private): X" in actions
    assert "(0010,1002) OtherPatientIDsSequence: X" in actions
    assert "(0040,A730) ContentSequence: D" in actions
    nested = "(0040,A375)[0].(0008,1115)[0].(0008,1199)[0].(0008,1155) ReferencedSOPInstanceUID: U"
    assert nested in actions
    # no value is ever printed
    assert not any("Hasegawa" in a for a in actions)


def test_two_processes_write_the_same_files_as_one(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    results = []
    for jobs in (1, 2):
        out, quarantine = tmp_path / f"out{jobs}", tmp_path / f"q{jobs}"
        summary = deidentify_paths(
            [inbox], out_dir=out, quarantine_dir=quarantine,
            policy=load_policy("pseudonymize"), key=KEY, jobs=jobs,
        )  # fmt: skip
        files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.dcm")}
        manifest = json.loads((out / "manifest.json").read_text())["files"]
        reasons = sorted((quarantine / "reasons.jsonl").read_text().splitlines())
        results.append((summary.written, summary.quarantined, files, manifest, reasons))
    assert results[0] == results[1]
    assert results[0][0] == 5


def test_jobs_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="jobs must be at least 1"):
        deidentify_paths(
            [tmp_path], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
            policy=load_policy("basic"), key=KEY, jobs=0,
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_a_zip_archive_gives_the_same_output_as_its_folder(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    archive = tmp_path / "handover.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
            z.write(path, path.relative_to(inbox).as_posix())
        z.writestr("../../escape.dcm", CT_SMALL.read_bytes()[:8000])  # never extracted
    results = []
    for name, source in (("folder", inbox), ("zip", archive)):
        out, quarantine = tmp_path / f"out-{name}", tmp_path / f"q-{name}"
        summary = deidentify_paths(
            [source], out_dir=out, quarantine_dir=quarantine,
            policy=load_policy("pseudonymize"), key=KEY,
        )  # fmt: skip
        files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.dcm")}
        results.append((summary.written, files))
    assert results[0] == results[1]
    reasons = (tmp_path / "q-zip" / "reasons.jsonl").read_text()
    assert "handover.zip!../../escape.dcm" in reasons
    assert not (tmp_path.parent / "escape.dcm").exists()
    copies = {p.name for p in (tmp_path / "q-zip").iterdir()}
    assert any(name.endswith("-cut.dcm") for name in copies)
    report = verify_paths([archive], tmp_path / "out-zip", policy=load_policy("pseudonymize"))
    assert report.ok, report.findings


def test_a_broken_zip_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    summary = deidentify_paths(
        [tmp_path / "in"], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=load_policy("basic"), key=KEY,
    )  # fmt: skip
    assert (summary.written, summary.quarantined) == (0, 1)
    assert "not a DICOM Part 10 file" in (tmp_path / "q" / "reasons.jsonl").read_text()
