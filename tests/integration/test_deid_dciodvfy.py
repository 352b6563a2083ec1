"""Issue 8 hard gate: de-identification introduces no IOD error that dicom3tools' ``dciodvfy``
reports (research notes §5.2 item 4). Errors the input already has (the seeded corpus is not
a complete CT, and its Japanese names are longer than 64 bytes in ISO 2022) do not count;
any error line an output has and no input had fails, for every shipped policy and for a
pixel-cleaned JPEG (decoded, blanked, written native)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import JPEGBaseline8Bit

from deid_corpus import BURNED_BOX, build_corpus, burned_in_image
from dicom3tools import dciodvfy_errors
from raddx.deid import ProjectKey, deidentify_paths, load_policy
from raddx.deid.policy import Policy

KEY = ProjectKey(b"raddx test project key 0001")
_errors = dciodvfy_errors


def _new_errors(inputs: list[Path], out: Path) -> dict[str, set[str]]:
    known: set[str] = set()
    for path in inputs:
        known |= _errors(path)
    outputs = sorted(out.rglob("*.dcm"))
    assert outputs
    return {p.name: new for p in outputs if (new := _errors(p) - known)}


@pytest.mark.parametrize("name", ["basic", "pseudonymize", "anonymize"])
def test_shipped_policies_add_no_iod_error(tmp_path: Path, name: str) -> None:
    corpus = build_corpus(tmp_path / "in", patients=2, images_per_series=2)
    deidentify_paths(
        [tmp_path / "in"], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=load_policy(name), key=KEY,
    )  # fmt: skip
    assert _new_errors(corpus.files, tmp_path / "out") == {}


def test_pixel_cleaning_adds_no_iod_error(tmp_path: Path) -> None:
    ds = burned_in_image(color=True, transfer_syntax=JPEGBaseline8Bit)
    ds.PatientSex, ds.PatientBirthDate, ds.StudyTime, ds.StudyID = "M", "", "101010", "1"
    ds.AccessionNumber, ds.ReferringPhysicianName = "A1", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    source = tmp_path / "in" / "us.dcm"
    source.parent.mkdir()
    ds.save_as(source, enforce_file_format=True)
    data = load_policy("anonymize").model_dump(mode="json")
    data["options"] = [*data["options"], "clean_pixel_data"]
    data["pixel_rules"] = [
        {"name": "us", "match": {"manufacturer": "ACME"}, "regions": [list(BURNED_BOX)]}
    ]
    summary = deidentify_paths(
        [source.parent], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=Policy.model_validate(data), key=ProjectKey.random(),
    )  # fmt: skip
    assert summary.written == 1
    assert _new_errors([source], tmp_path / "out") == {}
