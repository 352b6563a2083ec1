"""Clean Pixel Data by region rules: blanking, re-encoding, BurnedInAnnotation, quarantine."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    SecondaryCaptureImageStorage,
)

from deid_corpus import BURNED_BOX, burned_in_image
from raddx.deid import ProjectKey, deidentify_paths, load_policy
from raddx.deid.policy import Policy

KEY = ProjectKey(b"raddx test project key 0001")
X, Y, W, H = BURNED_BOX
RULE = {
    "name": "acme-sono-header",
    "match": {"manufacturer": "acme", "model": "Sono", "rows": 64, "columns": 160},
    "regions": [list(BURNED_BOX)],
}


def _policy(rules: list[dict[str, Any]] | None = None, **changes: Any) -> Policy:
    data = load_policy("anonymize").model_dump(mode="json")
    data["options"] = [*data["options"], "clean_pixel_data"]
    data["pixel_rules"] = [RULE] if rules is None else rules
    data.update(changes)
    return Policy.model_validate(data)


def _save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    path.write_bytes(buffer.getvalue())
    return path


def _run(tmp_path: Path, *datasets: Dataset, policy: Policy | None = None) -> list[Dataset]:
    inbox = tmp_path / "in"
    for number, ds in enumerate(datasets):
        _save(ds, inbox / f"{number}.dcm")
    deidentify_paths(
        [inbox], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=policy or _policy(), key=ProjectKey.random(),
    )  # fmt: skip
    return [pydicom.dcmread(p) for p in sorted((tmp_path / "out").rglob("*.dcm"))]


def _reasons(tmp_path: Path) -> list[str]:
    path = tmp_path / "q" / "reasons.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["reason"] for line in path.read_text().splitlines()]


def _outside(pixels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    mask = np.ones(pixels.shape[:2], dtype=bool)
    mask[Y : Y + H, X : X + W] = False
    return pixels[mask]


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_native_box_is_blanked_and_nothing_else_changes(tmp_path: Path, syntax: str) -> None:
    original = burned_in_image(transfer_syntax=syntax)
    before = original.pixel_array.copy()
    assert before[Y : Y + H, X : X + W].max() > 200  # the text (the gradient there is < 170)

    [out] = _run(tmp_path, original)

    after = out.pixel_array
    assert after[Y : Y + H, X : X + W].max() == 0
    assert np.array_equal(_outside(after), _outside(before))
    assert out.file_meta.TransferSyntaxUID == syntax
    assert out.BurnedInAnnotation == "NO"
    assert "113101" in [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert "LossyImageCompression" not in out


def test_rle_is_decoded_and_written_native(tmp_path: Path) -> None:
    original = burned_in_image(color=True, transfer_syntax=RLELossless)
    before = original.pixel_array.copy()

    [out] = _run(tmp_path, original)

    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    after = out.pixel_array
    assert after[Y : Y + H, X : X + W].max() == 0
    assert np.array_equal(_outside(after), _outside(before))
    assert out.PhotometricInterpretation == "RGB"
    assert out.get("LossyImageCompression", "00") != "01"  # lossless stays lossless


def test_jpeg_baseline_is_written_native_and_stays_declared_lossy(tmp_path: Path) -> None:
    original = burned_in_image(color=True, transfer_syntax=JPEGBaseline8Bit)
    before = original.pixel_array.copy()  # pydicom converts YBR_FULL_422 to RGB

    [out] = _run(tmp_path, original)

    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.PhotometricInterpretation == "RGB"
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == "ISO_10918_1"
    after = out.pixel_array
    assert after[Y : Y + H, X : X + W].max() == 0
    assert np.array_equal(_outside(after), _outside(before))  # no second lossy step


def test_high_risk_objects_without_a_rule_stay_in_quarantine(tmp_path: Path) -> None:
    covered = burned_in_image()
    other_model = burned_in_image(model="Other 9")
    screen = burned_in_image(
        modality="OT", manufacturer="Other", sop_class=SecondaryCaptureImageStorage
    )

    outputs = _run(tmp_path, covered, other_model, screen)

    assert len(outputs) == 1 and outputs[0].BurnedInAnnotation == "NO"
    assert sorted(_reasons(tmp_path)) == [
        "BurnedInAnnotation YES: burned-in text in the pixels",
        "BurnedInAnnotation YES: burned-in text in the pixels",
    ]


def test_a_secondary_capture_with_its_rule_is_output(tmp_path: Path) -> None:
    rule = {"name": "dose-screen", "match": {"modality": "OT", "manufacturer": "ACME"},
            "regions": [list(BURNED_BOX), [150, 60, 40, 40]]}  # fmt: skip
    screen = burned_in_image(modality="OT", sop_class=SecondaryCaptureImageStorage)
    before = screen.pixel_array.copy()

    [out] = _run(tmp_path, screen, policy=_policy([rule]))

    after = out.pixel_array
    mask = np.ones(after.shape, dtype=bool)
    mask[Y : Y + H, X : X + W] = mask[60:, 150:] = False
    assert after[~mask].max() == 0
    assert np.array_equal(after[mask], before[mask])
    assert out.BurnedInAnnotation == "NO"


def test_undecodable_pixels_stay_in_quarantine_with_the_reason(tmp_path: Path) -> None:
    broken = burned_in_image(transfer_syntax=JPEGBaseline8Bit)
    broken.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8not a jpeg"])
    assert _run(tmp_path, broken) == []
    [reason] = _reasons(tmp_path)
    assert reason.startswith("pixel rule acme-sono-header: cannot decode the pixels")


def test_what_if_lists_the_blanking(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    _save(burned_in_image(), inbox / "us.dcm")
    summary = deidentify_paths(
        [inbox], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q", policy=_policy(),
        key=KEY, what_if=True,
    )  # fmt: skip
    actions = [str(a) for a in summary.outcomes[0].actions]
    assert "(7FE0,0010) PixelData: 1 region(s) blanked by rule acme-sono-header" in actions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pixel_rules": []}, "clean_pixel_data needs pixel_rules"),
        ({"options": ["clean_descriptors"]}, "pixel_rules need the clean_pixel_data option"),
        ({"pixel_rules": [RULE | {"regions": [[0, 0, 0, 5]]}]}, "width, height >= 1"),
        ({"pixel_rules": [RULE | {"match": {}}]}, "at least one field"),
        ({"pixel_rules": [RULE | {"match": {"sop_class": "NoSuchStorage"}}]}, "unknown SOP"),
    ],
)
def test_bad_pixel_rules_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _policy(**change)
