"""The correspondence table (``--mapping-csv``): content, encodings, permissions, placement."""

from __future__ import annotations

import csv
import datetime as dt
import io
import stat
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from dicom_factory import make_dataset, to_part10
from raddx.deid import ProjectKey, deidentify_paths, load_policy
from raddx.errors import InvalidInput

KEY = ProjectKey(b"raddx test project key 0001")
STUDY_A, STUDY_B = generate_uid(), generate_uid()


def _inbox(tmp_path: Path, first_id: str = "患者０１２３") -> Path:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for number, (pid, study, accession) in enumerate(
        [(first_id, STUDY_A, "受付A1"), (first_id, STUDY_A, "受付A1"), ("7001234", STUDY_B, "B2")]
    ):
        ds = make_dataset(
            patient_id=pid, patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう",
            study_uid=study, accession=accession, charset="ISO_IR 192",
        )  # fmt: skip
        (inbox / f"{number}.dcm").write_bytes(to_part10(ds))
    return inbox


def _run(tmp_path: Path, inbox: Path, **kwargs: object) -> Path:
    table = tmp_path / "secure" / "mapping.csv"
    deidentify_paths(
        [inbox], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=load_policy("pseudonymize"), key=KEY, mapping_csv=table, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return table


def _rows(table: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(table.read_bytes().decode(encoding), newline="")))


def test_table_maps_every_written_instance_to_its_output(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    table = _run(tmp_path, inbox)

    assert stat.S_IMODE(table.stat().st_mode) == 0o600
    rows = _rows(table)
    assert len(rows) == 3
    outputs = {
        ds.SOPInstanceUID: ds
        for ds in (pydicom.dcmread(p) for p in (tmp_path / "out").rglob("*.dcm"))
    }
    originals = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in inbox.iterdir()}
    for row in rows:
        out = outputs[row["pseudonymous_sop_instance_uid"]]
        original = originals[row["original_sop_instance_uid"]]
        assert row["original_patient_id"] == original.PatientID
        assert row["pseudonymous_patient_id"] == out.PatientID != original.PatientID
        assert row["original_accession_number"] == original.AccessionNumber
        assert row["pseudonymous_accession_number"] == out.get("AccessionNumber", "")
        assert row["original_study_instance_uid"] == original.StudyInstanceUID
        assert row["pseudonymous_study_instance_uid"] == out.StudyInstanceUID
        assert row["pseudonymous_series_instance_uid"] == out.SeriesInstanceUID
        back = dt.date.fromisoformat(original.StudyDate) - dt.date.fromisoformat(out.StudyDate)
        assert int(row["date_offset_days"]) == back.days > 0  # output = original − offset
    japanese = [r for r in rows if r["original_patient_id"] == "患者０１２３"]
    assert len(japanese) == 2 and len({r["pseudonymous_patient_id"] for r in japanese}) == 1
    assert len({r["date_offset_days"] for r in japanese}) == 1  # one offset per patient


def test_table_is_the_same_for_any_number_of_workers(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    one = _run(tmp_path / "a", inbox).read_bytes()
    two = _run(tmp_path / "b", inbox, jobs=2).read_bytes()
    assert one == two


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8-sig", b"\xef\xbb\xbf"), ("cp932", b"")])
def test_excel_encodings(tmp_path: Path, encoding: str, bom: bytes) -> None:
    table = _run(tmp_path, _inbox(tmp_path), mapping_encoding=encoding)
    data = table.read_bytes()
    assert data.startswith(bom + b"original_patient_id,")
    assert "患者０１２３".encode(encoding.removesuffix("-sig")) in data
    assert {r["original_accession_number"] for r in _rows(table, encoding)} == {"受付A1", "B2"}


def test_a_character_cp932_lacks_fails_clearly_and_writes_no_table(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, first_id="𠮷田0001")  # U+20BB7 is not in CP932
    with pytest.raises(InvalidInput, match=r"column original_patient_id.*utf-8-sig"):
        _run(tmp_path, inbox, mapping_encoding="cp932")
    assert list((tmp_path / "secure").iterdir()) == []  # no table, no temporary file


@pytest.mark.parametrize("inside", ["out", "q"])
def test_table_inside_the_output_or_quarantine_is_refused_before_reading(
    tmp_path: Path, inside: str
) -> None:
    with pytest.raises(InvalidInput, match="keep the correspondence table apart"):
        deidentify_paths(
            [_inbox(tmp_path)], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
            policy=load_policy("pseudonymize"), key=KEY,
            mapping_csv=tmp_path / inside / "sub" / "mapping.csv",
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_what_if_writes_no_table(tmp_path: Path) -> None:
    table = _run(tmp_path, _inbox(tmp_path), what_if=True)
    assert not table.exists()
