"""raddx.archive.correction.rewrite_header: write-then-read round trips of corrected objects
(PS3.3 C.12.1 OriginalAttributesSequence), Japanese names included."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_factory import make_dataset, to_part10
from raddx.archive.correction import rewrite_header
from raddx.errors import InvalidInput

NOW = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)


def _read(data: bytes) -> object:
    return dcmread(io.BytesIO(data))


@pytest.mark.parametrize(
    ("charset", "new_name", "expected_charset"),
    [
        (None, "Sato^Hanako", None),  # ASCII stays in the default repertoire
        (None, "佐藤^花子=サトウ^ハナコ", "ISO_IR 192"),  # kanji do not fit: UTF-8
        ("ISO_IR 100", "Müller^Jörg", "ISO_IR 100"),  # Latin-1 holds ü/ö: kept
        # ISO 2022 IR 87 encodes kanji: the object keeps its Japanese character set.
        ("\\ISO 2022 IR 87", "佐藤^花子", ["", "ISO 2022 IR 87"]),
    ],
)
def test_round_trip(charset: str | None, new_name: str, expected_charset: object) -> None:
    original = make_dataset(patient_name="Yamada^Taro", charset=charset, accession="OLD")
    data = to_part10(original)
    fixed = rewrite_header(
        data, {"PatientName": new_name, "PatientID": "P2", "AccessionNumber": "NEW"}, now=NOW
    )
    assert fixed is not None
    ds = _read(fixed)
    assert str(ds.PatientName) == new_name
    assert (ds.PatientID, ds.AccessionNumber) == ("P2", "NEW")
    assert ds.get("SpecificCharacterSet") == expected_charset
    assert ds.PixelData == original.PixelData
    assert ds.SOPInstanceUID == original.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    (item,) = ds.OriginalAttributesSequence
    assert item.ReasonForTheAttributeModification == "CORRECT"
    assert item.ModifyingSystem == "raddx"
    assert item.AttributeModificationDateTime == "20261126093000.000000+0000"
    (before,) = item.ModifiedAttributesSequence
    assert str(before.PatientName) == "Yamada^Taro"
    assert (before.PatientID, before.AccessionNumber) == ("PID001", "OLD")


def test_absent_attribute_is_listed_empty_and_history_accumulates() -> None:
    data = to_part10(make_dataset(), ImplicitVRLittleEndian)
    first = rewrite_header(data, {"IssuerOfPatientID": "HOSP"}, now=NOW)
    assert first is not None
    second = rewrite_header(first, {"IssuerOfPatientID": "HOSP2"}, now=NOW)
    assert second is not None
    ds = _read(second)
    assert ds.IssuerOfPatientID == "HOSP2"
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    older, newer = ds.OriginalAttributesSequence
    assert older.ModifiedAttributesSequence[0]["IssuerOfPatientID"].value in (None, "")
    assert newer.ModifiedAttributesSequence[0].IssuerOfPatientID == "HOSP"


def test_unchanged_values_are_not_rewritten() -> None:
    data = to_part10(make_dataset(patient_id="P1"))
    # An absent IssuerOfPatientID is the same as an empty one: nothing to correct.
    assert rewrite_header(data, {"PatientID": "P1", "IssuerOfPatientID": ""}, now=NOW) is None


def test_unreadable_object() -> None:
    with pytest.raises(InvalidInput, match="not readable"):
        rewrite_header(b"\0" * 10, {"PatientID": "P1"}, now=NOW)
