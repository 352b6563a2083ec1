"""The ``public`` policy (open datasets): raddx does not deface, so every CT or MR object that
may show a face — a head by BodyPartExamined or by a head word (English or Japanese) in its
descriptions, or one that does not say what it shows — is withheld in quarantine with a reason
that names no descriptive text; a chest CT and an X-ray go out, and the output declares Clean
Recognizable Visual Features (113102)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from dicom_factory import make_dataset, to_part10
from raddx.deid import ProjectKey, deidentify_paths, load_policy
from raddx.deid.policy import QuarantinePolicy
from raddx.deid.risk import quarantine_reason

FACES = QuarantinePolicy(recognizable_faces=True)


@pytest.mark.parametrize(
    ("modality", "attributes", "withheld"),
    [
        ("MR", {"BodyPartExamined": "BRAIN"}, "BodyPartExamined BRAIN"),
        ("CT", {"BodyPartExamined": "SKULL"}, "BodyPartExamined SKULL"),
        (
            "CT",
            {"BodyPartExamined": "CHEST", "SeriesDescription": "頭部単純 山田様"},
            "names the head",
        ),
        ("MR", {"BodyPartExamined": "", "StudyDescription": "Brain MRI"}, "names the head"),
        ("CT", {}, "without BodyPartExamined"),
        ("CT", {"BodyPartExamined": "CHEST", "StudyDescription": "胸部CT"}, None),
        ("MR", {"BodyPartExamined": "KNEE"}, None),
        ("CR", {}, None),
    ],
)
def test_which_objects_may_show_a_face(
    modality: str, attributes: dict[str, str], withheld: str | None
) -> None:
    ds = make_dataset(modality=modality, charset="ISO_IR 192")
    for keyword in ("BodyPartExamined", "StudyDescription", "SeriesDescription"):
        if keyword in ds:
            del ds[keyword]
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    reason = quarantine_reason(ds, FACES)
    if withheld is None:
        assert reason is None
    else:
        assert reason is not None and withheld in reason and "review by hand" in reason
        assert "山田" not in reason  # the reason never repeats a description


def test_without_the_rule_a_head_ct_goes_out() -> None:
    ds = make_dataset(modality="CT")
    ds.BodyPartExamined = "HEAD"
    assert quarantine_reason(ds, QuarantinePolicy()) is None


def test_public_run_withholds_heads_and_declares_the_option(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name, modality, part in (
        ("head", "CT", "HEAD"),
        ("chest", "CT", "CHEST"),
        ("cr", "CR", ""),
    ):
        ds = make_dataset(modality=modality, patient_name="山田^太郎", charset="ISO_IR 192")
        if part:
            ds.BodyPartExamined = part
        (inbox / f"{name}.dcm").write_bytes(to_part10(ds))
    out, quarantine = tmp_path / "out", tmp_path / "q"

    summary = deidentify_paths(
        [inbox],
        out_dir=out,
        quarantine_dir=quarantine,
        policy=load_policy("public"),
        key=ProjectKey.random(),
    )

    assert (summary.written, summary.quarantined) == (2, 1)
    (reason,) = map(json.loads, (quarantine / "reasons.jsonl").read_text().splitlines())
    assert Path(reason["file"]).name == "head.dcm"
    assert "BodyPartExamined HEAD" in reason["reason"]
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        assert {"113100", "113102", "113103"} <= codes
        assert "public" in str(ds.DeidentificationMethod)
