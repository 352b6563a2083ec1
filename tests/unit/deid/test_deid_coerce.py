"""deid/coerce.py: referral import (mode: coerce) — local PatientID, originals kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

from deid_corpus import build_corpus
from dicom_factory import make_dataset, to_part10
from raddx.deid import Policy, ProjectKey, deidentify_paths
from raddx.deid.coerce import IdentityMap, coerce_identity
from raddx.errors import InvalidInput


def _map(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _policy(id_map: Path, **changes: Any) -> Policy:
    data: dict[str, Any] = {
        "name": "referral",
        "mode": "coerce",
        "coerce": {"issuer_of_patient_id": "KOBE CITY HOSPITAL", "id_map": str(id_map)},
    }
    return Policy.model_validate(data | changes)


def test_map_prefers_the_issuer_specific_row(tmp_path: Path) -> None:
    ids = IdentityMap.from_csv(
        _map(
            tmp_path,
            "issuer_of_patient_id,patient_id,local_patient_id\n"
            ",7001234,L-1\nSHIBA GENERAL HOSPITAL,7001234,L-2\n",
        )
    )
    assert ids.local_id("SHIBA GENERAL HOSPITAL", "7001234") == "L-2"
    assert ids.local_id("OTHER", "7001234") == "L-1"
    assert ids.local_id("OTHER", "42") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("patient_id,local_patient_id\n7001234,\n", r"ids.csv:2: needs"),
        ("patient_id\n7001234\n", "needs patient_id and local_patient_id"),
        ("patient_id,local_patient_id\n1,A\n1,B\n", "mapped twice"),
        ("patient_id,local_patient_id\n1,A\\\\B\n", "not a valid LO"),
    ],
)
def test_bad_maps_are_refused_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IdentityMap.from_csv(_map(tmp_path, text))


def test_coercion_keeps_the_originals(tmp_path: Path) -> None:
    ds = Dataset()
    ds.PatientID = "7001234"
    ds.IssuerOfPatientID = "SHIBA GENERAL HOSPITAL"
    earlier = Dataset()
    earlier.ReasonForTheAttributeModification = "CORRECT"
    ds.OriginalAttributesSequence = [earlier]
    ids = IdentityMap({("", "7001234"): "L-1"})
    when = dt.datetime(2026, 11, 26, 1, 2, 3, tzinfo=dt.UTC)

    coerce_identity(ds, id_map=ids, issuer="KOBE CITY HOSPITAL", now=when)

    assert (ds.PatientID, ds.IssuerOfPatientID) == ("L-1", "KOBE CITY HOSPITAL")
    first, item = ds.OriginalAttributesSequence
    assert first.ReasonForTheAttributeModification == "CORRECT"
    assert item.ReasonForTheAttributeModification == "COERCE"
    assert item.AttributeModificationDateTime == "20261126010203.000000+0000"
    assert item.SourceOfPreviousValues == "SHIBA GENERAL HOSPITAL"
    assert item.ModifiedAttributesSequence[0].PatientID == "7001234"


def test_an_unmapped_patient_is_refused() -> None:
    ds = Dataset()
    ds.PatientID = "42"
    with pytest.raises(InvalidInput, match="not in the ID map"):
        coerce_identity(ds, id_map=IdentityMap({}), issuer="X")


def test_a_referral_run_changes_only_the_patient_id(tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "in", patients=2, images_per_series=1)
    first, second = corpus.patients
    ids = _map(tmp_path, f"patient_id,local_patient_id\n{first.patient_id},K-0001\nPID001,K-2\n")
    us = make_dataset(modality="US")  # burned-in risk is no reason to hold back a referral
    (tmp_path / "in" / "us.dcm").write_bytes(to_part10(us))
    summary = deidentify_paths(
        [tmp_path / "in"], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=_policy(ids), key=ProjectKey.random(),
    )  # fmt: skip
    outputs = {o.SOPInstanceUID: o for o in map(pydicom.dcmread, (tmp_path / "out").rglob("*.dcm"))}
    assert us.SOPInstanceUID in outputs  # UIDs are kept
    assert outputs.pop(us.SOPInstanceUID).PatientID == "K-2"
    assert {o.PatientID for o in outputs.values()} == {"K-0001"}
    assert all(o.PatientName == first.person_name for o in outputs.values())
    assert all("PatientIdentityRemoved" not in o for o in outputs.values())
    half = len(corpus.files) // 2
    assert (summary.written, summary.quarantined) == (half + 1, half)  # the second patient
    reasons = (tmp_path / "q" / "reasons.jsonl").read_text()
    assert reasons.count("not in the ID map") == half
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["codes"] == []
    assert second.patient_id not in reasons  # reasons never carry PHI


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"coerce": None}, "needs coerce.issuer_of_patient_id"),
        ({"options": ["clean_descriptors"]}, "no options or overrides"),
        ({"mode": "deidentify"}, "coerce settings need mode: coerce"),
    ],
)
def test_coerce_policies_are_checked(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _policy(tmp_path / "ids.csv", **changes)


def test_a_missing_map_fails_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the ID map"):
        deidentify_paths(
            [tmp_path], out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
            policy=_policy(tmp_path / "absent.csv"), key=ProjectKey.random(),
        )  # fmt: skip
