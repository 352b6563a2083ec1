"""Per-modality Clean Descriptors vocabularies (``raddx.deid.vocabulary``) and their use."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from dicom_factory import make_dataset, to_part10
from raddx.deid import Deidentifier, Policy, ProjectKey, load_policy
from raddx.deid.vocabulary import filter_description, load_vocabulary

KEY = ProjectKey(b"raddx test project key 0001")


@pytest.mark.parametrize(
    ("text", "vocabulary", "expected"),
    [
        ("CT CHEST W/O CONTRAST", "ct", "CT CHEST W/O CONTRAST"),
        ("CT Chest Dr Suzuki", "ct", "CT Chest * *"),  # a colleague's name is not a term
        ("T2 FLAIR AX 5mm", "mr", "T2 FLAIR AX 5mm"),
        ("T2 FLAIR AX 5mm", "ct", "* * AX 5mm"),  # MR words are not CT words
        ("HEAD 20261125", "ct", "HEAD *"),  # a long number may be a date or an ID
        ("CHEST (PA, LAT)", "xr", "CHEST (PA, LAT)"),  # punctuation stays
        ("", "ct", ""),
    ],
)
def test_filter_description(text: str, vocabulary: str, expected: str) -> None:
    assert filter_description(text, load_vocabulary(vocabulary)) == expected


def test_a_vocabulary_file_of_ones_own(tmp_path: Path) -> None:
    own = tmp_path / "site.txt"
    own.write_text("# our protocol names\nKOKYU\nsokutei  # breath-hold\n", encoding="utf-8")
    vocabulary = load_vocabulary(str(own))
    assert {"kokyu", "sokutei", "chest"} <= vocabulary  # with common.txt
    with pytest.raises(ValueError, match="not shipped"):
        load_vocabulary(str(tmp_path / "missing.txt"))


def _policy(**changes: object) -> Policy:
    return Policy.model_validate(load_policy("anonymize").model_dump(mode="json") | changes)


def _deidentify(policy: Policy, modality: str) -> pydicom.Dataset:
    ds = pydicom.dcmread(io.BytesIO(to_part10(make_dataset(modality=modality))))
    ds.SeriesDescription = "CHEST W/O CONTRAST Dr Kobayashi"
    ds.StudyDescription = "CT CHEST routine Kobayashi"
    ds.ImageComments = "reviewed by Kobayashi"
    return Deidentifier(policy, KEY).deidentify(ds)


def test_descriptions_keep_only_the_modalitys_words() -> None:
    policy = _policy(descriptor_vocabularies={"CT": "ct", "*": "common"})
    out = _deidentify(policy, "CT")
    assert out.SeriesDescription == "CHEST W/O CONTRAST * *"
    assert out.StudyDescription == "CT CHEST routine *"
    # not a vocabulary attribute: only the PHI scrubber applies (the name is not PHI here)
    assert out.ImageComments == "reviewed by Kobayashi"
    mr = _deidentify(policy, "MR")  # falls back to "*"
    assert mr.StudyDescription == "* CHEST routine *"


def test_without_vocabularies_descriptions_are_only_scrubbed() -> None:
    out = _deidentify(_policy(), "CT")
    assert out.SeriesDescription == "CHEST W/O CONTRAST Dr Kobayashi"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"descriptor_vocabularies": {"CT": "klingon"}}, "not shipped"),
        ({"descriptor_vocabularies": {"CT": "ct"}, "vocabulary_attributes": ["Nope"]}, "unknown"),
    ],
)
def test_bad_vocabulary_policies(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _policy(**changes)


def test_vocabularies_need_clean_descriptors() -> None:
    data = load_policy("basic").model_dump(mode="json")
    with pytest.raises(ValueError, match="clean_descriptors"):
        Policy.model_validate(data | {"descriptor_vocabularies": {"CT": "ct"}})
