from __future__ import annotations

import glob
import io
import os
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicom_factory import make_dataset, to_part10
from raddx.archive.part10 import (
    IMPLEMENTATION_CLASS_UID,
    Part10Error,
    build_part10,
    check_structure,
    looks_unframed,
    read_file_meta,
    unframed_object,
)

_TEST_FILES = os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm"))
_CHARSET_FILES = os.path.dirname(pydicom.data.get_charset_files("chrH31.dcm")[0])
# Files pydicom ships as deliberately broken or without a Part 10 header.
_BROKEN = {
    "ExplVR_BigEndNoMeta.dcm",
    "ExplVR_LitEndNoMeta.dcm",
    "MR_truncated.dcm",
    "meta_missing_tsyntax.dcm",
    "no_meta.dcm",
    "rtplan_truncated.dcm",
    "rtstruct.dcm",
}
_GOOD = sorted(
    p
    for p in glob.glob(f"{_TEST_FILES}/*.dcm") + glob.glob(f"{_CHARSET_FILES}/*.dcm")
    if os.path.basename(p) not in _BROKEN
)


@pytest.mark.parametrize("path", _GOOD, ids=os.path.basename)
def test_every_pydicom_test_file_is_structurally_whole(path: str) -> None:
    data = Path(path).read_bytes()
    check_structure(data, read_file_meta(data))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("MR_truncated.dcm", "truncated"),
        ("rtplan_truncated.dcm", "truncated"),
        ("no_meta.dcm", "no 'DICM' prefix"),
        ("meta_missing_tsyntax.dcm", "no Transfer Syntax UID"),
    ],
)
def test_pydicom_broken_files_are_refused_with_reason(name: str, message: str) -> None:
    data = Path(os.path.join(_TEST_FILES, name)).read_bytes()
    with pytest.raises(Part10Error, match=message):
        check_structure(data, read_file_meta(data))


@pytest.mark.parametrize(
    "transfer_syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian],
)
@pytest.mark.parametrize("cut", [1, 2, 7, 100, 131])
def test_truncated_anywhere_in_pixel_data_is_detected(transfer_syntax: str, cut: int) -> None:
    data = to_part10(make_dataset(pixel_bytes=512), transfer_syntax)
    meta = read_file_meta(data)
    check_structure(data, meta)
    with pytest.raises(Part10Error, match="truncated"):
        check_structure(data[:-cut], meta)


def test_truncated_encapsulated_pixel_data_is_detected() -> None:
    data = Path(os.path.join(_TEST_FILES, "JPEG2000.dcm")).read_bytes()
    meta = read_file_meta(data)
    for cut in (1, 8, 500):
        with pytest.raises(Part10Error, match=r"truncated|delimiter"):
            check_structure(data[:-cut], meta)


def test_truncated_deflated_dataset_is_detected() -> None:
    data = to_part10(make_dataset(pixel_bytes=4096), DeflatedExplicitVRLittleEndian)
    meta = read_file_meta(data)
    check_structure(data, meta)
    with pytest.raises(Part10Error, match="deflated"):
        check_structure(data[: meta.dataset_offset + 20], meta)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no 'DICM' prefix"),
        (b"hello world, not DICOM" * 20, "no 'DICM' prefix"),
        (b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00ZZ\x00\x00", "no valid VR"),
        (b"\0" * 128 + b"DICM", "no Transfer Syntax UID"),
    ],
)
def test_not_dicom(data: bytes, message: str) -> None:
    with pytest.raises(Part10Error, match=message):
        read_file_meta(data)


def test_garbage_after_the_meta_header_is_refused() -> None:
    data = to_part10(make_dataset())
    meta = read_file_meta(data)
    garbage = data[: meta.dataset_offset] + zlib.compress(b"noise" * 100)
    with pytest.raises(Part10Error):
        check_structure(garbage, meta)


def test_build_part10_wraps_dataset_bytes_unchanged() -> None:
    """What C-STORE receives (the dataset) is kept byte for byte behind our File Meta."""
    ds = make_dataset(charset="\\ISO 2022 IR 87", patient_name="Yamada^Tarou=山田^太郎")
    original = to_part10(ds, ImplicitVRLittleEndian)
    original_meta = read_file_meta(original)
    dataset_bytes = original[original_meta.dataset_offset :]
    built = build_part10(
        dataset_bytes,
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=ds.SOPInstanceUID,
        transfer_syntax_uid=ImplicitVRLittleEndian,
        source_ae_title="MODALITY1",
    )
    meta = read_file_meta(built)
    assert built[meta.dataset_offset :] == dataset_bytes
    assert meta.transfer_syntax_uid == ImplicitVRLittleEndian
    assert meta.media_storage_sop_instance_uid == ds.SOPInstanceUID
    check_structure(built, meta)
    read = pydicom.dcmread(io.BytesIO(built))
    assert read.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert read.file_meta.SourceApplicationEntityTitle == "MODALITY1"
    assert read.PatientName.ideographic == "山田^太郎"


# -- objects without the preamble (STOW-RS clients, pydicom dcmwrite of in-memory datasets)


def _without_meta(ds: pydicom.Dataset, transfer_syntax: str) -> bytes:
    data = to_part10(ds, transfer_syntax)
    return data[read_file_meta(data).dataset_offset :]


@pytest.mark.parametrize(
    ("name", "transfer_syntax", "found"),
    [
        ("ExplVR_LitEndNoMeta.dcm", None, ExplicitVRLittleEndian),
        ("rtstruct.dcm", None, ImplicitVRLittleEndian),  # implicit VR: no VR letters at byte 4
        # Big endian cannot be recognised (starts 00 08), only named by the sender.
        ("ExplVR_BigEndNoMeta.dcm", ExplicitVRBigEndian, ExplicitVRBigEndian),
    ],
)
def test_pydicom_files_without_meta_are_recognised(
    name: str, transfer_syntax: str | None, found: str
) -> None:
    data = Path(pydicom.data.get_testdata_file(name)).read_bytes()
    unframed = unframed_object(data, transfer_syntax_uid=transfer_syntax)
    assert unframed is not None
    assert unframed.transfer_syntax_uid == found
    assert bytes(unframed.dataset) == data
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    assert unframed.sop_instance_uid == ds.SOPInstanceUID
    assert unframed.sop_class_uid == ds.SOPClassUID


def test_meta_without_preamble_uses_its_transfer_syntax() -> None:
    """What dicomweb-client sends: pydicom's dcmwrite of a dataset with file_meta, no
    preamble, and a meta group of just the Transfer Syntax UID."""
    ds = make_dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    data = buffer.getvalue()
    assert data[:2] == b"\x02\x00"
    unframed = unframed_object(data)
    assert unframed is not None
    assert unframed.transfer_syntax_uid == ImplicitVRLittleEndian
    assert unframed.sop_instance_uid == ds.SOPInstanceUID
    assert bytes(unframed.dataset) == _without_meta(ds, ImplicitVRLittleEndian)


def test_part10_file_is_not_unframed() -> None:
    assert unframed_object(to_part10(make_dataset())) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "starts with neither"),
        (b"this is not DICOM at all", "starts with neither"),
        # Looks like a dataset at first, then the lengths do not add up.
        (b"\x08\x00\x16\x00UI\x40\x001.2.3", "truncated"),
        (b"\x02\x00\x10\x00ZZ\x00\x00", "not explicit VR"),
        (b"\x02\x00\x10\x00UI\x04\x00abcd", "no dataset"),
    ],
)
def test_unframed_garbage_is_refused_with_reason(data: bytes, message: str) -> None:
    with pytest.raises(Part10Error, match=message):
        unframed_object(data)


def test_bare_dataset_with_compressed_pixels_needs_a_named_syntax() -> None:
    data = Path(pydicom.data.get_testdata_file("JPEG2000.dcm")).read_bytes()
    meta = read_file_meta(data)
    dataset = data[meta.dataset_offset :]
    with pytest.raises(Part10Error, match="transfer syntax cannot be known"):
        unframed_object(dataset)
    named = unframed_object(dataset, transfer_syntax_uid=meta.transfer_syntax_uid)
    assert named is not None and named.transfer_syntax_uid == meta.transfer_syntax_uid


def test_bare_dataset_without_sop_instance_uid_is_refused() -> None:
    ds = make_dataset()
    del ds.SOPInstanceUID
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    with pytest.raises(Part10Error, match="no SOPInstanceUID"):
        unframed_object(_strip_meta(buffer.getvalue()))


def _strip_meta(data: bytes) -> bytes:
    """The dataset of a preamble-less file (its meta group read as if preceded by one)."""
    return data[read_file_meta(b"\0" * 128 + b"DICM" + data).dataset_offset - 132 :]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x02\x00\x00\x00UL\x04\x00", True),
        (b"\x08\x00\x05\x00CS\x0a\x00", True),
        (b"\x08\x00\x05\x00\x0a\x00\x00\x00", True),  # implicit VR
        (b"PK\x03\x04\x00\x00\x00\x00", False),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00", False),  # group 2 but no VR: not a meta group
        (b"\x08\x00", False),
    ],
)
def test_looks_unframed(head: bytes, expected: bool) -> None:
    assert looks_unframed(head) is expected
