"""The hand encoder of C-FIND answers writes exactly the bytes pydicom writes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode, encode

from raddx.dimse._identifier_codec import encode_answer
from raddx.dimse.find import FindAnswer

JAPANESE_PN = "Yamada^Tarou=山田^太郎=やまだ^たろう"

STUDY_ANSWER: dict[str, Any] = {
    "QueryRetrieveLevel": "STUDY",
    "StudyInstanceUID": "1.2.3.4.5",  # odd length: padded with NUL
    "PatientID": "Q000001",
    "PatientName": "FAM000001^GIVEN",
    "StudyDate": "20000101",
    "StudyTime": "",
    "AccessionNumber": None,
    "StudyDescription": "CT chest",
    "ModalitiesInStudy": ["CT", "SR"],
    "NumberOfStudyRelatedInstances": 30,
    "RetrieveAETitle": "RADDX",
}

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("ascii study, default repertoire", STUDY_ANSWER, []),
    ("ascii study, ISO_IR 100", STUDY_ANSWER, ["ISO_IR 100"]),
    (
        "Japanese, ISO 2022 IR 87",
        {**STUDY_ANSWER, "PatientName": JAPANESE_PN, "StudyDescription": "胸部CT 造影"},
        ["ISO 2022 IR 6", "ISO 2022 IR 87"],
    ),
    (
        "Japanese with half-width katakana, IR 13 + IR 87",
        {**STUDY_ANSWER, "PatientName": "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=ﾔﾏﾀﾞ^ﾀﾛｳ", "StudyDescription": "ｶﾞｿﾞｳ"},
        ["ISO 2022 IR 13", "ISO 2022 IR 87"],
    ),
    (
        "Japanese, UTF-8",
        {**STUDY_ANSWER, "PatientName": JAPANESE_PN, "StudyDescription": "頭部 MRI"},
        ["ISO_IR 192"],
    ),
    (
        "several names and a backslash in LT",
        {
            "QueryRetrieveLevel": "STUDY",
            "ReferringPhysicianName": "Sato^Hanako\\佐藤^花子",
            "PatientComments": "a\\b is one value in LT",
            "OtherPatientIDs": "X1\\X2",
        },
        ["ISO_IR 192"],
    ),
    (
        "sequences, incl. an empty one",
        {
            "QueryRetrieveLevel": "STUDY",
            "StudyInstanceUID": "1.2.3",
            "ProcedureCodeSequence": [
                {"CodeValue": "32000", "CodingSchemeDesignator": "JJ1017", "CodeMeaning": "胸部"},
                {"CodeValue": "1", "CodingSchemeDesignator": "99L", "CodeMeaning": None},
            ],
            "RequestAttributesSequence": [],
        },
        ["ISO 2022 IR 6", "ISO 2022 IR 87"],
    ),
    (
        "binary and numbers at image level",
        {
            "QueryRetrieveLevel": "IMAGE",
            "SOPInstanceUID": "1.2.3.4",
            "Rows": 512,
            "Columns": 512,
            "InstanceNumber": 7,
            "NumberOfFrames": "1",
        },
        [],
    ),
]


def _pydicom_bytes(values: dict[str, Any], charset: list[str], implicit: bool) -> bytes:
    encoded = encode(FindAnswer(values, charset).dataset(), implicit, True)
    assert encoded is not None
    return encoded


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
@pytest.mark.parametrize(("values", "charset"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bytes_equal_pydicom(values: dict[str, Any], charset: list[str], implicit: bool) -> None:
    ours = encode_answer(values, charset, implicit_vr=implicit)
    assert ours == _pydicom_bytes(values, charset, implicit)


def test_decodes_back_to_every_name_group() -> None:
    values = {"QueryRetrieveLevel": "PATIENT", "PatientName": JAPANESE_PN}
    ours = encode_answer(values, ["ISO 2022 IR 6", "ISO 2022 IR 87"], implicit_vr=False)
    assert ours is not None
    from io import BytesIO

    ds: Dataset = decode(BytesIO(ours), False, True)
    assert str(ds.PatientName) == JAPANESE_PN
    assert ds.SpecificCharacterSet == ["ISO 2022 IR 6", "ISO 2022 IR 87"]


@pytest.mark.parametrize(
    "values",
    [
        {"SliceThickness": 1.25},  # a float: pydicom's DS formatting decides
        {"PixelData": b"\0\0"},  # OB/OW: never in an answer
        {"NotAKeyword": "x"},
        {"PatientName": ["Yamada", 3]},
    ],
    ids=["float", "binary-other", "unknown-keyword", "mixed-list"],
)
def test_unusual_values_fall_back_to_pydicom(values: dict[str, Any]) -> None:
    assert encode_answer(values, [], implicit_vr=True) is None


_JIS_TEXT = st.text(
    alphabet=st.sampled_from("山田太郎やまだたろうアイウエオ胸部腹部造影検査 ABCabc0123^-.,"),
    max_size=24,
)
#: A person name: one to three component groups (PS3.5 6.2.1.1 allows no more).
_JIS_NAME = st.lists(_JIS_TEXT, min_size=1, max_size=3).map("=".join)


@settings(max_examples=150, deadline=None)
@given(
    name=_JIS_NAME,
    description=_JIS_TEXT,
    charset=st.sampled_from([["ISO_IR 192"], ["ISO 2022 IR 6", "ISO 2022 IR 87"]]),
    implicit=st.booleans(),
)
def test_random_japanese_text_matches_pydicom(
    name: str, description: str, charset: list[str], implicit: bool
) -> None:
    values = {"QueryRetrieveLevel": "STUDY", "PatientName": name, "StudyDescription": description}
    ours = encode_answer(values, charset, implicit_vr=implicit)
    assert ours == _pydicom_bytes(values, charset, implicit)
