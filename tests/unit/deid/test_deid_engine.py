"""deid/engine.py on the seeded PHI corpus: no leak, references intact, UIDs a stable bijection.

Named test_deid_engine (not test_engine) because tests/unit/db/test_engine.py exists and pytest
imports test modules by basename.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from deid_corpus import DEVICE_TOKENS, Corpus, build_corpus
from dicom_factory import make_dataset, to_part10
from raddx.deid import Deidentifier, Policy, ProjectKey, is_well_known, load_policy
from raddx.deid.clean import Scrubber, bounded_bytes, date_spellings

KEY = ProjectKey(b"raddx test project key 0001")
POLICIES = ["basic", "pseudonymize", "anonymize"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


_CACHE: dict[tuple[int, str, bytes], dict[str, tuple[Dataset, bytes]]] = {}


def _run(corpus: Corpus, policy: str, key: ProjectKey = KEY) -> dict[str, tuple[Dataset, bytes]]:
    """De-identify every file; original SOPInstanceUID → (re-read output, its bytes).

    Memoised per corpus, policy and key (tests only read the results); the stability test
    bypasses the cache by building its second run directly."""
    cache_key = (id(corpus), policy, key.secret)
    if cache_key not in _CACHE:
        _CACHE[cache_key] = _fresh_run(corpus, policy, key)
    return _CACHE[cache_key]


def _fresh_run(
    corpus: Corpus, policy: str, key: ProjectKey = KEY
) -> dict[str, tuple[Dataset, bytes]]:
    engine = Deidentifier(load_policy(policy), key)
    out = {}
    for path in corpus.files:
        ds = pydicom.dcmread(path)
        original = ds.SOPInstanceUID
        engine.deidentify(ds)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        out[original] = (pydicom.dcmread(io.BytesIO(data)), data)
    return out


def _strings(ds: Dataset) -> list[str]:
    values = []
    for elem in ds.iterall():
        if elem.VR != "SQ" and not isinstance(elem.value, bytes) and elem.value is not None:
            values.append(str(elem.value))
    return values


def _must_remove(corpus: Corpus, sop: str, policy: str) -> set[str]:
    patient = next(p for p in corpus.patients if p.birth_date in corpus.dates[sop])
    tokens = patient.tokens()
    if policy != "pseudonymize":
        tokens |= DEVICE_TOKENS
    for date in corpus.dates[sop]:
        tokens |= {t for t in date_spellings(date) if len(t) >= 6}
    return tokens


@pytest.mark.parametrize("policy", POLICIES)
def test_no_injected_token_survives_in_values_or_bytes(corpus: Corpus, policy: str) -> None:
    out = _run(corpus, policy)
    leaks = []
    for sop, (ds, data) in out.items():
        tokens = _must_remove(corpus, sop, policy)
        scrubber = Scrubber(tokens)
        text = "\n".join(_strings(ds) + _strings(ds.file_meta))
        leaks += [(sop, "value", t) for t in scrubber.find(text)]
        for token in tokens:
            forms = {token.encode("utf-8")}
            if not token.isascii():
                forms.add(token.encode("iso2022_jp").removesuffix(b"\x1b(B"))
            pattern = b"|".join(bounded_bytes(token, f) for f in forms)
            if re.search(pattern, data, re.IGNORECASE):
                leaks.append((sop, "bytes", token))
    assert leaks == []


@pytest.mark.parametrize("policy", POLICIES)
def test_references_resolve_to_the_mapped_instances(corpus: Corpus, policy: str) -> None:
    out = _run(corpus, policy)
    mapped = {sop: ds.SOPInstanceUID for sop, (ds, _) in out.items()}
    output_uids = set(mapped.values())
    for sop, expected in corpus.references.items():
        ds = out[sop][0]
        found = {
            e.value for e in ds.iterall() if e.keyword == "ReferencedSOPInstanceUID"
        } & output_uids
        assert found == {mapped[r] for r in expected}, sop
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_uid_mapping_is_a_stable_bijection(corpus: Corpus) -> None:
    first = _run(corpus, "pseudonymize")
    second = _fresh_run(corpus, "pseudonymize", ProjectKey(KEY.secret))
    other_key = _run(corpus, "pseudonymize", ProjectKey(b"another project key 0002"))

    def uid_map(out: dict[str, tuple[Dataset, bytes]]) -> dict[str, str]:
        return {sop: ds.SOPInstanceUID for sop, (ds, _) in out.items()} | {
            sop + "/study": ds.StudyInstanceUID for sop, (ds, _) in out.items()
        }

    a, b, c = uid_map(first), uid_map(second), uid_map(other_key)
    assert a == b
    assert len(set(a.values())) == len({v for k, v in a.items() if "/" not in k}) + len(
        {v for k, v in a.items() if "/" in k}
    )
    assert not set(a.values()) & set(c.values())
    for ds, _ in first.values():
        for elem in ds.iterall():
            if elem.VR == "UI" and elem.value:
                for uid in elem.value if elem.VM > 1 else [elem.value]:
                    assert len(uid) <= 64
                    assert is_well_known(uid) or uid.startswith("2.25."), (elem.keyword, uid)
                    assert uid not in corpus.uids


def test_uids_are_injective_across_the_corpus(corpus: Corpus) -> None:
    engine = Deidentifier(load_policy("basic"), KEY)
    mapped = {engine.uids.map(u) for u in corpus.uids}
    assert len(mapped) == len(corpus.uids)


@pytest.mark.parametrize("policy", POLICIES)
def test_required_attributes(corpus: Corpus, policy: str) -> None:
    chosen = load_policy(policy)
    expected_codes = ["113100", *[o.value for o in chosen.options]]
    for ds, _ in _run(corpus, policy).values():
        assert ds.PatientIdentityRemoved == "YES"
        assert "PS3.15 2026d Table E.1-1" in ds.DeidentificationMethod
        assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == expected_codes
        assert {i.CodingSchemeDesignator for i in ds.DeidentificationMethodCodeSequence} == {"DCM"}
        expected = {"basic": "REMOVED"}.get(policy, "MODIFIED")
        assert ds.LongitudinalTemporalInformationModified == expected
        assert not any(e.tag.is_private for e in ds.iterall())


def test_dates_shift_by_one_offset_per_patient(corpus: Corpus) -> None:
    out = _run(corpus, "pseudonymize")
    offsets: dict[str, set[int]] = {}
    for sop, (ds, _) in out.items():
        original = max(corpus.dates[sop])  # the study date; the birth date is decades earlier
        shifted = dt.datetime.strptime(ds.StudyDate, "%Y%m%d")
        days = (dt.datetime.strptime(original, "%Y%m%d") - shifted).days
        offsets.setdefault(str(ds.PatientID), set()).add(days)
        assert ds.StudyTime in ("101010", "111111")  # whole-day shifts keep times
        if "AcquisitionDateTime" in ds:
            assert ds.AcquisitionDateTime.endswith("101010.000000+0900")
    assert all(len(v) == 1 for v in offsets.values())
    assert all(30 <= next(iter(v)) <= 3650 for v in offsets.values())
    assert len(offsets) == len(corpus.patients)


def test_pseudonym_is_per_patient_and_keyed(corpus: Corpus) -> None:
    out = _run(corpus, "pseudonymize")
    ids = {str(ds.PatientID) for ds, _ in out.values()}
    assert len(ids) == len(corpus.patients)
    assert all(str(ds.PatientName) == str(ds.PatientID) for ds, _ in out.values())


def test_clean_descriptors_keep_what_is_not_phi(corpus: Corpus) -> None:
    ds, _ = next(iter(_run(corpus, "pseudonymize").values()))
    assert ds.StudyDescription.startswith("胸部CT")
    assert ds.SeriesDescription.endswith("axial")
    assert ds.Manufacturer == "RADDX TEST"


def test_japanese_iso2022_input_is_written_as_utf8_without_escapes(corpus: Corpus) -> None:
    jis = [p for p in corpus.files if b"ISO 2022 IR 87" in p.read_bytes()]
    assert jis
    engine = Deidentifier(load_policy("pseudonymize"), KEY)
    for path in jis:
        ds = engine.deidentify(pydicom.dcmread(path))
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        assert b"\x1b" not in buffer.getvalue()
        assert pydicom.dcmread(io.BytesIO(buffer.getvalue())).SpecificCharacterSet == "ISO_IR 192"


def test_keeping_the_original_charset_leaves_no_orphan_escape(corpus: Corpus) -> None:
    policy = load_policy("pseudonymize").model_copy(update={"output_charset": "keep"})
    engine = Deidentifier(policy, KEY)
    path = next(p for p in corpus.files if b"ISO 2022 IR 87" in p.read_bytes())
    ds = engine.deidentify(pydicom.dcmread(path))
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    # every switch to JIS X 0208 is switched back to ASCII (PS3.5 6.1.2.5.3)
    switches = list(re.finditer(rb"\x1b\$B[^\x1b]*", data))
    assert switches
    assert all(data[m.end() : m.end() + 3] == b"\x1b(B" for m in switches)
    back = pydicom.dcmread(io.BytesIO(data))
    assert back.StudyDescription.startswith("胸部CT")


def test_pydicom_japanese_file_round_trips(tmp_path: Path) -> None:
    # PS3.5 H.3.1 example as shipped by pydicom (ISO 2022 IR 87, three PN groups)
    path = pydicom.data.get_charset_files("chrH31.dcm")[0]
    ds = Deidentifier(load_policy("basic"), KEY).deidentify(pydicom.dcmread(path))
    ds.save_as(tmp_path / "out.dcm", enforce_file_format=True)
    data = (tmp_path / "out.dcm").read_bytes()
    for token in ("Yamada", "山田".encode("iso2022_jp").removesuffix(b"\x1b(B"), "やまだ"):
        raw = token if isinstance(token, bytes) else token.encode()
        assert raw not in data


def test_sr_content_is_dummied_in_basic_but_codes_survive(corpus: Corpus) -> None:
    sr_sop = next(s for s in corpus.references if len(corpus.references[s]) > 2)
    ds, _ = _run(corpus, "basic")[sr_sop]
    text, name, when, _image = ds.ContentSequence
    assert text.TextValue == "ANONYMIZED"
    assert str(name.PersonName) == "ANONYMIZED"
    assert when.Date == "19000101"
    assert text.ConceptNameCodeSequence[0].CodeMeaning == "Finding"


@pytest.mark.parametrize(
    ("age", "expected"), [("095Y", "090Y"), ("090Y", "090Y"), ("089Y", "089Y"), ("100M", "100M")]
)
def test_age_top_coding(age: str, expected: str) -> None:
    data = load_policy("anonymize").model_dump(mode="json") | {"age_top_code": 90}
    ds = pydicom.dcmread(io.BytesIO(to_part10(make_dataset())))
    ds.PatientAge = age
    out = Deidentifier(Policy.model_validate(data), ProjectKey.random()).deidentify(ds)
    assert out.PatientAge == expected  # Retain Patient Characteristics keeps the age
