from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from raddx.archive.header import check_uid, parse_header
from raddx.errors import InvalidInput


@pytest.mark.parametrize(
    ("uid", "strict", "ok"),
    [
        ("1.2.840.10008.5.1.4.1.1.2", True, True),
        ("2.25.329800735698586629295641978511506172918", True, True),
        ("1.2.03.4", True, False),  # leading zero: refused in strict mode…
        ("1.2.03.4", False, True),  # …tolerated (and reported) in lenient mode
        ("1.2.3a", False, False),
        ("1.2 .3", False, False),
        ("1..2", False, False),
        (".1.2", False, False),
        ("1.2.", False, False),
        ("", False, False),
        ("1." + "2" * 63, False, False),  # 65 characters
    ],
)
def test_check_uid(uid: str, strict: bool, ok: bool) -> None:
    result, reason = check_uid(uid, strict=strict)
    assert result is ok
    assert bool(reason) is (not ok or "leading zero" in reason)


def test_missing_sop_instance_uid_is_refused_with_its_name() -> None:
    ds = make_dataset()
    data = to_part10(ds)
    del ds.SOPInstanceUID
    ds.preamble = b"\0" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    with pytest.raises(InvalidInput, match="SOPInstanceUID is missing"):
        parse_header(buffer.getvalue())
    assert parse_header(data).sop_instance_uid


def test_invalid_uid_characters_are_refused() -> None:
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):  # pydicom, writing side
        ds = make_dataset(study_uid="1.2.840.ABC")
    with pytest.raises(InvalidInput, match=r"StudyInstanceUID '1\.2\.840\.ABC' contains"):
        parse_header(to_part10(ds))


@pytest.mark.parametrize(
    ("name", "patient_name", "groups"),
    [
        (
            "chrH31.dcm",
            "Yamada^Tarou=山田^太郎=やまだ^たろう",
            ("YAMADA^TAROU", "山田^太郎", "やまだ^たろう"),
        ),
        (
            "chrH32.dcm",
            "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
            ("ヤマダ^タロウ", "山田^太郎", "やまだ^たろう"),
        ),
    ],
)
def test_japanese_names_decoded_into_all_groups(
    name: str, patient_name: str, groups: tuple[str, ...]
) -> None:
    """ISO 2022 IR 87 (H31) and IR 13 + IR 87 (H32): every group survives, none is mangled."""
    data = Path(pydicom.data.get_charset_files(name)[0]).read_bytes()
    record = parse_header(data)
    assert record.patient["patient_name"] == patient_name
    assert (
        record.patient["patient_name_alphabetic_norm"],
        record.patient["patient_name_ideographic_norm"],
        record.patient["patient_name_phonetic_norm"],
    ) == groups
    assert record.specific_character_set is not None


def test_utf8_name() -> None:
    ds = make_dataset(charset="ISO_IR 192", patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう")
    record = parse_header(to_part10(ds))
    assert record.patient["patient_name_ideographic"] == "山田^太郎"
    assert record.specific_character_set == "ISO_IR 192"


@pytest.mark.parametrize(
    ("attribute", "value", "column", "expected"),
    [
        ("StudyDate", "20261125", "study_date", "20261125"),
        ("StudyDate", "2026.11.25", "study_date", "20261125"),  # ACR-NEMA style
        ("StudyDate", "garbage", "study_date", None),  # not indexed; the blob keeps it
        ("StudyTime", "101010.123", "study_time", "101010.123"),
        ("StudyTime", "10:10:10", "study_time", "101010"),  # legacy colons
        ("StudyTime", "1010", "study_time", "101000"),  # padded for range matching
        ("StudyTime", "10", "study_time", "100000"),
    ],
)
def test_dates_and_times_normalised(
    attribute: str, value: str, column: str, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test builds deliberately non-conformant values, as old modalities send them.
    for mode in ("reading_validation_mode", "writing_validation_mode"):
        monkeypatch.setattr(pydicom.config.settings, mode, pydicom.config.IGNORE)
    ds = make_dataset()
    setattr(ds, attribute, value)
    record = parse_header(to_part10(ds))
    assert record.study[column] == expected


def test_meta_and_dataset_uid_mismatch_lenient_vs_strict() -> None:
    ds = make_dataset()
    data = to_part10(ds)
    wrong = data.replace(ds.SOPInstanceUID.encode(), ds.SOPInstanceUID[:-1].encode() + b"9", 1)
    if wrong == data:  # the UID ends in 9 already
        wrong = data.replace(ds.SOPInstanceUID.encode(), ds.SOPInstanceUID[:-1].encode() + b"8", 1)
    record = parse_header(wrong)
    assert record.sop_instance_uid == ds.SOPInstanceUID
    assert any("Media Storage SOP Instance UID" in w for w in record.warnings)
    with pytest.raises(InvalidInput, match="Media Storage SOP Instance UID"):
        parse_header(wrong, strict=True)


def _with_sequences(charset: str | list[str] | None = None) -> pydicom.Dataset:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = make_dataset(charset=charset, patient_name=JAPANESE_NAME if charset else "Doe^John")
    code = Dataset()
    code.CodeValue = "32000000"
    code.CodingSchemeDesignator = "JJ1017"
    code.CodeMeaning = "胸部単純CT" if charset else "CT chest"
    ds.ProcedureCodeSequence = Sequence([code])
    first, second = Dataset(), Dataset()
    first.RequestedProcedureID = "RP1"
    first.ScheduledProcedureStepID = "SPS1"
    first.AccessionNumber = "ACC001"
    first.RequestedProcedureDescription = "胸部CT" if charset else "Chest CT"
    second.RequestedProcedureID = "RP2"
    ds.RequestAttributesSequence = Sequence([first, second])
    return ds


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined_length", [False, True])
@pytest.mark.parametrize("charset", [None, ["ISO 2022 IR 6", "ISO 2022 IR 87"], "ISO_IR 192"])
def test_sequence_items_are_extracted(
    transfer_syntax: str, undefined_length: bool, charset: str | list[str] | None
) -> None:
    ds = _with_sequences(charset)
    for keyword in ("ProcedureCodeSequence", "RequestAttributesSequence"):
        ds[keyword].is_undefined_length = undefined_length
        for item in ds[keyword].value:
            item.is_undefined_length_sequence_item = undefined_length
    record = parse_header(to_part10(ds, transfer_syntax))
    meaning = "胸部単純CT" if charset else "CT chest"
    assert record.procedure_codes == (
        {
            "code_value": "32000000",
            "coding_scheme_designator": "JJ1017",
            "coding_scheme_version": None,
            "code_meaning": meaning,
        },
    )
    assert [i["requested_procedure_id"] for i in record.request_attributes] == ["RP1", "RP2"]
    assert record.request_attributes[0]["requested_procedure_description"] == (
        "胸部CT" if charset else "Chest CT"
    )
    assert record.request_attributes[1]["accession_number"] is None
    assert not record.warnings


def test_objects_without_sequences_have_no_items() -> None:
    record = parse_header(to_part10(make_dataset()))
    assert record.procedure_codes == () and record.request_attributes == ()


def test_acquisition_date_time_gets_its_utc_instant() -> None:
    ds = make_dataset()
    ds.AcquisitionDateTime = "20240101090000"
    ds.TimezoneOffsetFromUTC = "+0900"
    record = parse_header(to_part10(ds))
    assert record.instance["acquisition_date_time"] == "20240101090000"
    assert record.instance["acquisition_date_time_utc"] == "20240101000000"
