"""The leak checker finds what the engine missed (it must be able to fail)."""

from __future__ import annotations

from pathlib import Path

import pydicom

from deid_corpus import build_corpus
from raddx.deid import ProjectKey, deidentify_paths, load_policy, verify_paths

KEY = ProjectKey(b"raddx test project key 0001")


def _run(tmp_path: Path) -> tuple[Path, Path]:
    inbox, out = tmp_path / "in", tmp_path / "out"
    build_corpus(inbox, patients=2, images_per_series=1)
    deidentify_paths(
        [inbox], out_dir=out, quarantine_dir=tmp_path / "q", policy=load_policy("pseudonymize"),
        key=KEY,
    )  # fmt: skip
    return inbox, out


def test_clean_output_passes(tmp_path: Path) -> None:
    inbox, out = _run(tmp_path)
    report = verify_paths([inbox], out, policy=load_policy("pseudonymize"))
    assert report.findings == []
    assert report.ok
    assert report.outputs == report.inputs == 6
    assert report.tokens > 20


def test_planted_leaks_are_found(tmp_path: Path) -> None:
    inbox, out = _run(tmp_path)
    victim = sorted(out.rglob("*.dcm"))[0]
    ds = pydicom.dcmread(victim)
    block = ds.private_block(0x0071, "SNEAKY", create=True)
    block.add_new(0x01, "LO", "Kowalczyk")  # a surname from the corpus, in a private tag
    ds.add_new(0x00731010, "UN", "ふじもり".encode())  # kana, undecodable UN bytes
    ds.ImageComments = "Ｈａｓｅｇａｗａ"  # full-width Latin
    del ds.PatientIdentityRemoved
    ds.save_as(victim)

    report = verify_paths([inbox], out, policy=load_policy("pseudonymize"))

    where = {(f.output.name, f.where) for f in report.findings}
    assert (victim.name, "(0071,1001)") in where
    assert (victim.name, "(0020,4000)") in where
    assert (victim.name, "raw bytes") in where
    assert (victim.name, "required") in where
    assert not report.ok
    assert all("Kowalczyk" not in f.detail for f in report.findings)  # masked in the report


def test_empty_output_is_not_ok(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    build_corpus(inbox, patients=1, images_per_series=1)
    (tmp_path / "out").mkdir()
    assert not verify_paths([inbox], tmp_path / "out", policy=load_policy("basic")).ok
