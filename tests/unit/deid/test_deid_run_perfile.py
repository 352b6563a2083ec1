"""Per-file work of a run: whole files under their final names whatever was left in the
folder, cleaned descriptions remembered, the truncation check on raw values."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from deid_corpus import build_corpus
from dicom_factory import make_dataset, to_part10
from raddx.deid import Deidentifier, ProjectKey, load_policy, run
from raddx.deid._integrity import truncation_reason
from raddx.deid._writer import encode_part10
from raddx.deid.clean import Scrubber, name_tokens


def test_a_leftover_temporary_name_does_not_stop_the_write(tmp_path: Path) -> None:
    """A crashed run whose PID we now have may have left our next temporary names behind:
    the file is still written whole, and the leftover is not touched."""
    following = next(run._TEMPORARY) + 1
    leftovers = [tmp_path / f".tmp-{os.getpid()}-{following + i}.dcm" for i in range(3)]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    target = tmp_path / "1.2.3.dcm"

    run._write_atomically(b"DICM" * 1000, target)

    assert target.read_bytes() == b"DICM" * 1000
    assert oct(target.stat().st_mode & 0o777) == "0o600"  # as mkstemp made them
    assert all(p.read_bytes() == b"half a file" for p in leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, *(p.name for p in leftovers)]
    )


def test_series_folder_is_created_with_its_first_file(tmp_path: Path) -> None:
    target = tmp_path / "study" / "series" / "1.2.3.dcm"
    run._write_atomically(b"x" * 10, target)
    assert target.read_bytes() == b"x" * 10
    assert [p.name for p in target.parent.iterdir()] == ["1.2.3.dcm"]


def test_scrubber_gives_the_same_text_the_second_time() -> None:
    """Descriptions repeat in every instance of a series: the remembered result is the one
    a first cleaning gives, for short and long texts alike."""
    scrubber = Scrubber(name_tokens("Yamada^Tarou=山田^太郎"))
    long = "山田様 " + "x" * 2000
    texts = ["CT for Yamada", "no name here", "山田太郎様", long]
    first = [scrubber.clean(t) for t in texts]
    assert first == ["CT for *", "no name here", "*様", "*様 " + "x" * 2000]
    assert [scrubber.clean(t) for t in texts] == first
    assert Scrubber(name_tokens("Yamada^Tarou=山田^太郎")).clean("CT for Yamada") == "CT for *"


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        (None, None),
        ("1", None),
        ("2", "truncated: pixel data has 128 of 256 bytes"),
        ("3 ", "truncated: pixel data has 128 of 384 bytes"),
    ],
)
def test_truncation_reason_reads_the_image_size_as_pydicom_does(
    syntax: str, frames: str | None, reason: str | None
) -> None:
    """Rows, Columns, frames and bits are read from the raw values (they stay raw for the
    writer); a multi-frame image with one frame of pixel data is still caught."""
    ds = make_dataset(pixel_bytes=128)
    if frames is not None:
        ds.NumberOfFrames = frames
    read = pydicom.dcmread(io.BytesIO(to_part10(ds, syntax)))
    assert truncation_reason(read) == reason
    assert all(isinstance(read.get_item(t), RawDataElement) for t in (0x00280010, 0x7FE00010))


def test_truncation_reason_without_rows_names_the_missing_attribute() -> None:
    ds = make_dataset(sop_class="1.2.840.10008.5.1.4.1.1.66")  # Raw Data: not an image class
    del ds.Rows
    read = pydicom.dcmread(io.BytesIO(to_part10(ds)))
    with pytest.raises(AttributeError, match="Rows"):
        truncation_reason(read)


@pytest.mark.parametrize("policy", ["basic", "pseudonymize", "anonymize"])
def test_a_run_writes_what_the_engine_alone_gives(tmp_path: Path, policy: str) -> None:
    """`raddx deid run` and the engine API give the same bytes. They did not: the runner's
    risk check decoded SOP Class UID, and the engine, which reads it raw to find the IOD,
    then resolved X/D, X/Z… without the attribute Types (InstitutionName kept as a dummy
    where the CT IOD lets it be removed)."""
    corpus = build_corpus(tmp_path / "in", patients=1, images_per_series=1)
    key = ProjectKey(b"raddx test project key 0001")
    run.deidentify_paths(
        corpus.files, out_dir=tmp_path / "out", quarantine_dir=tmp_path / "q",
        policy=load_policy(policy), key=key,
    )  # fmt: skip
    engine = Deidentifier(load_policy(policy), key)
    for path in corpus.files:
        alone = engine.deidentify(pydicom.dcmread(path))
        written = tmp_path / "out" / alone.StudyInstanceUID / alone.SeriesInstanceUID
        expected = encode_part10(alone)
        assert (written / f"{alone.SOPInstanceUID}.dcm").read_bytes() == expected, path
    ct = next(p for p in corpus.files if pydicom.dcmread(p).Modality == "CT")
    assert "InstitutionName" not in engine.deidentify(pydicom.dcmread(ct))  # Type 3: X


@pytest.mark.parametrize(
    "patient_id", ["7001234", "7001234 ", " 7001234", "70\\01", "７００１２３４", ""]
)
def test_pseudonym_does_not_depend_on_what_was_decoded_before(patient_id: str) -> None:
    """The patient identity is read from the raw bytes when they are plain ASCII; it must be
    the string pydicom decodes, or one patient would get two pseudonyms and date offsets."""
    source = make_dataset(charset="ISO_IR 192")
    source.PatientID = patient_id
    source.IssuerOfPatientID = "SHIBA "
    data = to_part10(source)
    engine = Deidentifier(load_policy("pseudonymize"), ProjectKey(b"raddx test project key 0001"))
    raw = engine.deidentify(pydicom.dcmread(io.BytesIO(data)))
    decoded = pydicom.dcmread(io.BytesIO(data))
    _ = decoded.PatientID, decoded.IssuerOfPatientID  # decoded by an earlier reader
    after = engine.deidentify(decoded)
    assert raw.PatientID == after.PatientID
    assert raw.StudyDate == after.StudyDate  # the same date offset
