"""deid/iod.py: composite actions resolved by the attribute's Type in the object's IOD."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from raddx.deid import Action, Deidentifier, Policy, ProjectKey, load_policy
from raddx.deid._generate_iod_types import build_table
from raddx.deid.iod import attribute_types, resolve_composite

KEY = ProjectKey(b"raddx test project key 0001")
A = Action


@pytest.mark.parametrize(
    ("action", "kind", "expected"),
    [
        (A.Z_D, "1", A.D), (A.Z_D, "2", A.Z), (A.Z_D, "3", A.Z), (A.Z_D, None, A.Z),
        (A.X_Z, "1C", A.Z), (A.X_Z, "2C", A.Z), (A.X_Z, "3", A.X),
        (A.X_D, "1", A.D), (A.X_D, "2", A.D), (A.X_D, None, A.X),  # X/D has no Z
        (A.X_Z_D, "1", A.D), (A.X_Z_D, "2", A.Z), (A.X_Z_D, "3", A.X),
        (A.X_Z_U, "3", A.U), (A.X_Z_U, None, A.U),  # references stay, remapped
    ],
)  # fmt: skip
def test_resolution_table(action: Action, kind: str | None, expected: Action) -> None:
    assert resolve_composite(action, kind) is expected


def test_a_simple_action_is_refused() -> None:
    with pytest.raises(ValueError, match="not a composite"):
        resolve_composite(A.X, "1")


def test_ct_image_types() -> None:
    types = attribute_types(CTImageStorage)
    assert types is not None
    assert types[0x00100020] == "2"  # PatientID, Patient module
    assert types[0x00080080] == "3"  # InstitutionName, General Equipment
    assert attribute_types("1.2.826.0.1.3680043.10.999.5") is None  # not a standard class


def _read_back(ds: Dataset) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _ct(sop_class: str = CTImageStorage) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    ds.PatientID = "7001234"
    ds.InstitutionName = "Shiba General Hospital"  # X/Z/D, Type 3 in the CT Image IOD
    item = Dataset()
    item.InstitutionName = "Shiba General Hospital"  # nested: the fallback (D)
    ds.AnatomicRegionSequence = [item]  # not in Table E.1-1: kept, items processed
    return _read_back(ds)


def test_ct_image_removes_type_3_and_empties_type_2() -> None:
    out = Deidentifier(load_policy("basic"), KEY).deidentify(_ct())
    assert "InstitutionName" not in out
    assert out.PatientID == ""
    assert out.AnatomicRegionSequence[0].InstitutionName == "ANONYMIZED"


def test_unknown_sop_class_keeps_the_fallback() -> None:
    out = Deidentifier(load_policy("basic"), KEY).deidentify(_ct("1.2.826.0.1.3680043.10.999.5"))
    assert out.InstitutionName == "ANONYMIZED"


def test_a_composite_override_is_resolved_too() -> None:
    data = load_policy("basic").model_dump(mode="json")
    policy = Policy.model_validate(data | {"overrides": {"InstitutionName": "X/Z"}})
    out = Deidentifier(policy, KEY).deidentify(_ct())
    assert "InstitutionName" not in out  # Type 3: X (the fallback would have been Z)
    fallback = Deidentifier(policy, KEY).deidentify(_ct("1.2.826.0.1.3680043.10.999.5"))
    assert fallback.InstitutionName == ""


def test_generator_keeps_top_level_composite_attributes_with_their_strongest_type() -> None:
    table = build_table(
        {CTImageStorage: "ct-image", "1.2.3": "unknown"},
        {"ct-image": [{"key": "patient"}, {"key": "equipment"}]},
        {
            "patient": [
                {"keyword": "PatientID", "type": "2", "path": []},
                {"keyword": "PatientName", "type": "2", "path": []},  # Z: not composite
                {"keyword": "InstitutionName", "type": "1", "path": ["SomeSequence"]},
            ],
            "equipment": [
                {"keyword": "PatientID", "type": "1C", "path": []},
                {"keyword": "InstitutionName", "type": "3", "path": []},
            ],
        },
        "test",
    )
    assert table["iods"] == {"ct-image": {"00080080": "3", "00100020": "1C"}}
    assert table["sop_classes"] == {CTImageStorage: "ct-image"}
