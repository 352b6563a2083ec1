"""Clean Descriptors' PHI tokens: the walk gathers exactly what ``phi_tokens`` finds.

The engine collects an object's tokens (every person-name group incl. kanji and kana, removed
IDs, dates in all their spellings) while it applies the actions, and cleans the free text
after the walk. ``Deidentifier.phi_tokens`` (also the leak checker's source of tokens) stays
the reference: a change to the walk that drops a token, or picks up one it should not, fails
here before it shows as a leak or as over-cleaned text.
"""

from __future__ import annotations

import copy
import io
import struct
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from deid_corpus import Corpus, build_corpus
from raddx.deid import Deidentifier, Policy, ProjectKey, load_policy
from raddx.deid._writer import encode_part10

KEY = ProjectKey(b"raddx test project key 0001")


def _full_dates() -> Policy:
    """pseudonymize with Retain Longitudinal Full Dates (113106) instead of Modified (113107)."""
    data = load_policy("pseudonymize").model_dump(mode="json")
    data["name"] = "full-dates"
    data["options"] = [o for o in data["options"] if o != "113107"] + ["113106"]
    return Policy.model_validate(data)


def _policies() -> dict[str, Policy]:
    return {
        "pseudonymize": load_policy("pseudonymize"),
        "anonymize": load_policy("anonymize"),
        "public": load_policy("public"),
        "full-dates": _full_dates(),  # dates kept: no date is a token
    }


POLICIES = _policies()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"), patients=4, images_per_series=2)


def _gathered(engine: Deidentifier, ds: Dataset) -> set[str]:
    run = engine._deidentify(ds)
    assert run is not None and run.tokens is not None
    return run.tokens


def _assert_same_tokens(engine: Deidentifier, path: Path | Dataset) -> set[str]:
    if isinstance(path, Dataset):
        original, walked = path, copy.deepcopy(path)
    else:
        original, walked = pydicom.dcmread(path), pydicom.dcmread(path)
    expected = engine.phi_tokens(original)
    gathered = _gathered(engine, walked)
    assert gathered == expected, (
        f"missing {sorted(expected - gathered)}, extra {sorted(gathered - expected)}"
    )
    return gathered


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_walk_gathers_the_same_tokens_as_phi_tokens_on_the_corpus(
    corpus: Corpus, policy: str
) -> None:
    engine = Deidentifier(POLICIES[policy], KEY)
    assert engine.cleans_text
    for path in corpus.files:
        tokens = _assert_same_tokens(engine, path)
        assert tokens  # every corpus object names its patient
    # The tokens a user expects gone from the descriptions are among them: kanji, kana, ID.
    patient = corpus.patients[0]
    first = next(p for p in corpus.files if p.read_bytes().count(patient.patient_id.encode()))
    tokens = _gathered(engine, pydicom.dcmread(first))
    assert {patient.kanji[0], patient.kana[0], patient.patient_id} <= tokens
    dated = any("令和" in t or "平成" in t for t in tokens)
    assert dated is (policy != "full-dates")


_CHARSET_FILES = sorted(Path(p).name for p in pydicom.data.get_charset_files("*.dcm"))


@pytest.mark.parametrize("name", _CHARSET_FILES)
def test_walk_gathers_the_same_tokens_in_every_character_set(name: str) -> None:
    """pydicom's character set files: ISO 2022 IR 87/159/149, UTF-8, Latin, Greek, Arabic,
    Hebrew, Cyrillic, and a character set declared inside a sequence item."""
    path = Path(pydicom.data.get_charset_files(name)[0])
    engine = Deidentifier(load_policy("pseudonymize"), KEY)
    tokens = _assert_same_tokens(engine, path)
    if name == "chrH31.dcm":  # ISO 2022 IR 87: Yamada^Tarou=山田^太郎=やまだ^たろう
        assert {"山田", "太郎", "やまだ", "たろう", "Yamada"} <= tokens


def _un_sequence(item: Dataset) -> bytes:
    """A sequence value as a sender that did not know the VR encodes it (UN, PS3.5 6.2.2):
    implicit VR little endian items."""
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, True
    write_dataset(body, item)
    data = body.getvalue()
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(data)) + data


def _tricky() -> Dataset:
    """Tokens where phi_tokens does not look (a private sequence kept by Retain Safe Private,
    a sequence encoded as UN) and where it does (a removed sequence, an emptied one, a
    cleaned one)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.5"
    ds.PatientName = "Hasegawa^Hanako=長谷川^花子=はせがわ^はなこ"
    ds.PatientID = "7001234"
    ds.StudyDate = "20240105"
    ds.StudyDescription = "CT for Hasegawa 長谷川 2024/1/5 Brightwater Okonkwo"
    other = Dataset()
    other.PatientID = "OTHER-99"
    ds.OtherPatientIDsSequence = Sequence([other])  # removed (X): its ID is still a token
    request = Dataset()
    request.RequestedProcedureID = "RP-5551"
    request.RequestedProcedureDescription = "for RP-5551"
    ds.RequestAttributesSequence = Sequence([request])  # cleaned (C)
    referenced = Dataset()
    referenced.PatientName = "Okonkwo^Jirou"
    value = _un_sequence(referenced)
    ds[0x00081140] = RawDataElement(Tag(0x00081140), "UN", len(value), value, 0, False, True)
    block = ds.private_block(0x0029, "RADDX TEST", create=True)
    inner = Dataset()
    inner.PatientName = "Brightwater^Ichirou"  # private: not a token
    block.add_new(0x04, "SQ", Sequence([inner]))
    return ds


def _safe_private_sequence(**overrides: str) -> Policy:
    """pseudonymize, keeping the private sequence (0029,xx04) of RADDX TEST."""
    data = load_policy("pseudonymize").model_dump(mode="json")
    data["safe_private"] = [{"group": "0029", "creator": "RADDX TEST", "element": "04", "vr": "SQ"}]
    data["overrides"] = {**data["overrides"], **overrides}
    return Policy.model_validate(data)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("emptied", [False, True])
def test_tokens_of_removed_emptied_and_private_sequences(syntax: str, emptied: bool) -> None:
    policy = _safe_private_sequence(**({"OtherPatientIDsSequence": "Z"} if emptied else {}))
    ds = _tricky()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    tokens = _assert_same_tokens(Deidentifier(policy, KEY), pydicom.dcmread(_encode(ds)))
    assert {"OTHER-99", "RP-5551", "長谷川", "2024/1/5"} <= tokens
    assert "Brightwater" not in tokens
    out = Deidentifier(policy, KEY).deidentify(pydicom.dcmread(_encode(ds)))
    assert str(out.StudyDescription).startswith("CT for * * * Brightwater")
    assert str(out.RequestAttributesSequence[0].RequestedProcedureDescription) == "for *"
    assert len(out.get("OtherPatientIDsSequence", [])) == 0
    kept = out.private_block(0x0029, "RADDX TEST")[0x04].value
    assert str(kept[0].PatientName) != "Brightwater^Ichirou"  # walked and replaced


def _encode(ds: Dataset) -> io.BytesIO:
    """Our writer: it copies the raw UN element as it stands (pydicom's would decode it)."""
    return io.BytesIO(encode_part10(ds))
