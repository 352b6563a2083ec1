"""deid/_writer.py: our Part 10 encoder writes what pydicom's writer writes.

Named test_deid_writer because tests/unit/archive/ has Part 10 tests of its own. Every
case is a real file from pydicom's test data (explicit and implicit VR, encapsulated pixel
data, nested and private sequences, ISO 2022 and UTF-8 text, big endian), read, changed the
way the engine changes it, and written by both writers.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage

from raddx.archive.part10 import IMPLEMENTATION_CLASS_UID
from raddx.deid import Deidentifier, ProjectKey, load_policy
from raddx.deid._writer import encode_part10

DATA = Path(pydicom.__file__).parent / "data"
CASES = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR little endian
    "JPEG2000.dcm",  # encapsulated pixel data (undefined length)
    "nested_priv_SQ.dcm",  # private sequences inside sequences
    "rtplan.dcm",  # deep reference sequences
    "reportsi.dcm",  # SR content tree
    "MR_small_bigendian.dcm",  # big endian: left to pydicom's writer
    "charset_files/chrH31.dcm",  # ISO 2022 IR 87
    "charset_files/chrSQEncoding1.dcm",  # a character set declared inside a sequence item
    "charset_files/chrX1.dcm",  # ISO_IR 192
]


def _read(name: str) -> Dataset:
    """A test file; pydicom's character set samples are bare datasets, so they get the SOP
    UIDs that make them instances."""
    folder = "" if name.startswith("charset_files/") else "test_files"
    ds = pydicom.dcmread(DATA / folder / name)
    if "SOPInstanceUID" not in ds:
        ds.SOPClassUID = SecondaryCaptureImageStorage
        ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    return ds


def _pydicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("name", CASES)
def test_untouched_file_reads_back_as_read(name: str) -> None:
    back = pydicom.dcmread(io.BytesIO(encode_part10(_read(name))))
    assert back == _read(name)


def test_file_meta_names_raddx_and_the_dataset_uids() -> None:
    ds = pydicom.dcmread(DATA / "test_files" / "CT_small.dcm")  # has a TIFF preamble
    data = encode_part10(ds)
    back = pydicom.dcmread(io.BytesIO(data))
    assert data[:128] == bytes(128)
    assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert back.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert back.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID


def test_a_dataset_without_sop_uids_is_refused() -> None:
    ds = pydicom.dcmread(DATA / "test_files" / "CT_small.dcm")
    del ds.SOPInstanceUID
    with pytest.raises(ValueError, match="not a composite instance"):
        encode_part10(ds)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("policy", ["basic", "pseudonymize"])
def test_deidentified_file_reads_back_as_pydicom_writes_it(name: str, policy: str) -> None:
    key = ProjectKey(b"raddx test project key 0001")
    ours = Deidentifier(load_policy(policy), key).deidentify(_read(name))
    theirs = Deidentifier(load_policy(policy), key).deidentify(_read(name))
    back = pydicom.dcmread(io.BytesIO(encode_part10(ours)))
    reference = pydicom.dcmread(io.BytesIO(_pydicom_bytes(theirs)))
    assert back == reference
    for keyword in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"):
        assert back.file_meta[keyword].value == reference.file_meta[keyword].value
    assert back.PatientIdentityRemoved == "YES"
