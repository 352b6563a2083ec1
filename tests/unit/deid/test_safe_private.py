"""deid/safe_private.py and the Retain Safe Private Option in the engine (PS3.15 E.3.10)."""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from raddx.deid import Deidentifier, Policy, ProjectKey, load_policy
from raddx.deid._generate_safe_private import (
    build_table,
    rows_digest,
    rows_from_csv,
    rows_from_docbook,
    rows_from_json,
)
from raddx.deid._writer import encode_part10
from raddx.deid.safe_private import SafePrivateEntry, load_safe_private

KEY = ProjectKey(b"raddx test project key 0001")
PRIVATE_UID = "1.2.826.0.1.3680043.10.999.77"


def _policy(**changes: Any) -> Policy:
    """pseudonymize + Retain Safe Private, with a policy entry for a private UID and date."""
    data = load_policy("pseudonymize").model_dump(mode="json")  # has retain_safe_private
    data["safe_private"] = [
        {"group": "0029", "creator": "RADDX TEST", "element": "01", "vr": "UI"},
        {"group": "0029", "creator": "RADDX TEST", "element": "xx02", "vr": "DA"},
        {"group": "0029", "creator": "RADDX TEST", "element": "03", "vr": "LO", "action": "X"},
    ]
    data.update(changes)
    return Policy.model_validate(data)


def _dataset(syntax: str = ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    ds.PatientName = "Hasegawa^Hanako"
    ds.PatientID = "7001234"
    ds.StudyDate = "20240105"
    siemens = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    siemens.add_new(0x0C, "IS", "1000")  # B Value: Table E.3.10-1
    siemens.add_new(0x10, "LO", "Hasegawa")  # same creator, not on the list
    other = ds.private_block(0x0019, "ACME PHI 1.0", create=True)
    other.add_new(0x0C, "LO", "Hasegawa^Hanako")  # the safe element number, wrong creator
    ds.add_new(0x0019120C, "LO", "7001234")  # a block nobody reserved (orphan)
    ours = ds.private_block(0x0029, "RADDX TEST", create=True)
    ours.add_new(0x01, "UI", PRIVATE_UID)
    ours.add_new(0x02, "DA", "20240105")
    ours.add_new(0x03, "LO", "Hasegawa")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))  # raw elements, as from a file


def _deidentified(policy: Policy, syntax: str = ExplicitVRLittleEndian) -> Dataset:
    ds = Deidentifier(policy, KEY).deidentify(_dataset(syntax))
    return pydicom.dcmread(io.BytesIO(encode_part10(ds)))


def test_vendored_table_names_its_source_and_has_the_known_rows() -> None:
    table = load_safe_private()
    assert "Table E.3.10-1" in table.source
    assert len(table) >= 80
    entry = table.lookup(0x0019, "SIEMENS MR HEADER", 0x100C)
    assert entry is not None and entry.vr == "IS"
    assert table.lookup(0x0019, "SIEMENS MR HEADER ", 0x0C) is entry  # LO padding ignored
    assert table.lookup(0x0019, "siemens mr header", 0x0C) is None  # creators are exact


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_only_listed_elements_under_their_creator_are_kept(syntax: str) -> None:
    out = _deidentified(_policy(), syntax)
    assert out[0x0019100C].value == 1000  # IS read back as a number
    assert out[0x00190010].value == "SIEMENS MR HEADER"
    for gone in (0x00191010, 0x00190011, 0x0019110C, 0x0019120C, 0x00291003):
        assert gone not in out, f"{gone:08X}"
    assert b"Hasegawa" not in encode_part10(out)
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert "113111" in codes


def test_policy_entries_remap_private_uids_and_shift_private_dates() -> None:
    out = _deidentified(_policy())
    assert out[0x00291001].value.startswith("2.25.")
    assert out[0x00291002].value == out.StudyDate != "20240105"  # the patient's one offset


def test_without_the_option_every_private_attribute_goes() -> None:
    out = _deidentified(load_policy("anonymize"))
    assert not any(elem.tag.is_private for elem in out)


def test_private_dates_are_removed_when_dates_are() -> None:
    basic = _policy(options=["retain_safe_private"], overrides={}, key="project")
    out = _deidentified(basic)
    assert 0x00291002 not in out
    assert out[0x0019100C].value == 1000


def test_safe_private_entries_need_the_option() -> None:
    data = _policy().model_dump(mode="json")
    data["options"] = [o for o in data["options"] if o != "113111"]
    with pytest.raises(ValueError, match="need the retain_safe_private option"):
        Policy.model_validate(data)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"group": "0018", "creator": "X", "element": "01", "vr": "LO"}, "not private"),
        ({"group": "0019", "creator": "X", "element": "100", "vr": "LO"}, "element"),
        ({"group": "0019", "creator": "X", "element": "01", "vr": "LO", "action": "P"}, "K, X"),
    ],
)
def test_bad_safe_private_rules_are_refused(rule: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _policy(safe_private=[rule])


def test_entry_checks_its_group_and_creator() -> None:
    with pytest.raises(ValueError, match="not a private group"):
        SafePrivateEntry(group=0x0018, creator="X", element=1, vr="LO")
    with pytest.raises(ValueError, match="Private Creator"):
        SafePrivateEntry(group=0x0019, creator=" ", element=1, vr="LO")


def test_generator_takes_the_flagged_csv_rows_and_refuses_public_groups() -> None:
    row = {"Group": "0019", "Element": "xx0c", "Private Creator": "SIEMENS MR HEADER",
           "VR": "IS", "VM": "1", "Meaning": "B Value"}  # fmt: skip
    rows = rows_from_csv(
        [row | {"IsInDICOMRetainSafePrivateTags": "True"},
         row | {"Element": "xx0d", "IsInDICOMRetainSafePrivateTags": "False"}]
    )  # fmt: skip
    table = build_table(rows, "2025b", "test")
    assert table["entries"] == [
        {"group": "0019", "creator": "SIEMENS MR HEADER", "element": "0C", "vr": "IS",
         "vm": "1", "meaning": "B Value"}
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a private element"):
        build_table(rows_from_csv([row | {"Group": "0018"}]), "2025b", "test")
    with pytest.raises(ValueError, match="repeated"):
        build_table(rows + rows, "2025b", "test")


_DOCBOOK = """<?xml version="1.0" encoding="utf-8"?>
<book xmlns="http://docbook.org/ns/docbook" xmlns:xml="http://www.w3.org/XML/1998/namespace">
 <table xml:id="table_E.3.10-1"><caption>Safe Private Attributes</caption>
  <thead><tr><th><para>Data Element</para></th><th><para>Private Creator</para></th>
   <th><para>VR</para></th><th><para>VM</para></th><th><para>Meaning</para></th></tr></thead>
  <tbody>
   <tr><td><para>(0043,xx27)</para></td><td><para>GEMS_PARM_01</para></td><td><para>SH</para></td>
    <td><para>1</para></td><td><para>Scan Pitch Ratio in the form
    "n.nnn:1"</para></td></tr>
   <tr><td><para>(2001,xx0a)</para></td><td><para>Philips Imaging DD 001</para></td>
    <td><para>IS</para></td><td><para>1</para></td><td><para>Image Plane Number</para></td></tr>
  </tbody></table>
 <table xml:id="table_E.3.10-2"><tbody><tr><td><para>(0009,xx01)</para></td></tr></tbody></table>
</book>"""


def test_generator_reads_the_docbook_table() -> None:
    table = build_table(rows_from_docbook(_DOCBOOK.encode()), "2026d", "docbook")
    assert [(e["group"], e["creator"], e["element"], e["meaning"]) for e in table["entries"]] == [
        ("0043", "GEMS_PARM_01", "27", 'Scan Pitch Ratio in the form "n.nnn:1"'),
        ("2001", "Philips Imaging DD 001", "0A", "Image Plane Number"),
    ]
    with pytest.raises(ValueError, match="no table"):
        rows_from_docbook(_DOCBOOK.replace("E.3.10-1", "E.3.10-9").encode())


def test_generator_refuses_an_edited_transcription() -> None:
    rows = [{"tag": "(0019,xx0C)", "private_creator": "SIEMENS MR HEADER", "vr": "IS",
             "vm": "1", "meaning": "B Value"}]  # fmt: skip
    doc = {"rows": rows, "content_sha256": rows_digest(rows)}
    assert rows_from_json(doc) == rows
    edited = {"rows": [rows[0] | {"private_creator": "ACME"}], "content_sha256": rows_digest(rows)}
    with pytest.raises(ValueError, match="content_sha256"):
        rows_from_json(edited)


@pytest.mark.parametrize(
    ("group", "creator", "element", "vr"),
    [
        (0x0043, "GEMS_PARM_01", 0x27, "SH"),  # scan pitch ratio
        (0x0043, "GEMS_PARM_01", 0x39, "IS"),  # b value
        (0x0045, "GEMS_HELIOS_01", 0x01, "SS"),
        (0x0019, "SIEMENS MR HEADER", 0x0C, "IS"),  # diffusion b value
        (0x0019, "SIEMENS MR HEADER", 0x27, "FD"),  # B matrix
        (0x2001, "Philips Imaging DD 001", 0x03, "FL"),  # diffusion b factor
        (0x2005, "Philips MR Imaging DD 001", 0x0E, "FL"),  # scale slope
        (0x7053, "Philips PET Private Group", 0x00, "DS"),  # SUV factor
        (0x2001, "Philips Imaging DD 001", 0xFF, "UN"),  # OW/OB: bytes kept as they are
        (0x0119, "SIEMENS Ultrasound SC2000", 0x11, "UN"),  # no VR in the table
    ],
)
def test_vendored_table_has_the_known_rows(group: int, creator: str, element: int, vr: str) -> None:
    entry = load_safe_private().lookup(group, creator, element)
    assert entry is not None and entry.vr == vr


def test_vendored_table_is_the_whole_2026d_table() -> None:
    table = load_safe_private()
    assert table.edition == "2026d" and len(table) == 479
    # The CSA headers are not in Table E.3.10-1: they hold free text, so they never stay.
    assert table.lookup(0x0029, "SIEMENS CSA HEADER", 0x10) is None


def _vendor_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.2"
    ds.PatientName = "Hasegawa^Hanako"
    ds.PatientID = "7001234"
    ge = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    ge.add_new(0x27, "SH", "0.984:1")
    ge.add_new(0x28, "OB", b"Hasegawa")  # same creator, not in the table
    philips = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    philips.add_new(0x03, "FL", 1000.0)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def test_vendor_rows_stay_only_with_retain_safe_private() -> None:
    policy = load_policy("pseudonymize")
    kept = pydicom.dcmread(
        io.BytesIO(encode_part10(Deidentifier(policy, KEY).deidentify(_vendor_dataset())))
    )
    assert kept[0x00431027].value == "0.984:1"
    assert kept[0x20011003].value == 1000.0
    assert 0x00431028 not in kept
    assert "PS3.15 2026d Table E.3.10-1" in kept.DeidentificationMethod
    assert "113111" in [item.CodeValue for item in kept.DeidentificationMethodCodeSequence]
    gone = pydicom.dcmread(
        io.BytesIO(
            encode_part10(Deidentifier(load_policy("anonymize"), KEY).deidentify(_vendor_dataset()))
        )
    )
    assert not any(elem.tag.is_private for elem in gone)
    assert "113111" not in [item.CodeValue for item in gone.DeidentificationMethodCodeSequence]


def test_kept_private_blocks_are_described_as_safe() -> None:
    source = _vendor_dataset()
    stale = Dataset()
    stale.PrivateGroupReference = 0x0043
    stale.PrivateCreatorReference = "GEMS_PARM_01"
    stale.BlockIdentifyingInformationStatus = "MIXED"
    stale.NonidentifyingPrivateElements = [0x27]
    source.PrivateDataElementCharacteristicsSequence = [stale]
    out = pydicom.dcmread(
        io.BytesIO(encode_part10(Deidentifier(load_policy("pseudonymize"), KEY).deidentify(source)))
    )
    described = {
        (item.PrivateGroupReference, item.PrivateCreatorReference): item
        for item in out.PrivateDataElementCharacteristicsSequence
    }
    assert set(described) == {(0x0043, "GEMS_PARM_01"), (0x2001, "Philips Imaging DD 001")}
    assert {item.BlockIdentifyingInformationStatus for item in described.values()} == {"SAFE"}
    assert "NonidentifyingPrivateElements" not in described[(0x0043, "GEMS_PARM_01")]


def test_no_description_when_no_private_attribute_is_left() -> None:
    source = _vendor_dataset()
    stale = Dataset()
    stale.PrivateGroupReference = 0x0043
    stale.PrivateCreatorReference = "GEMS_PARM_01"
    stale.BlockIdentifyingInformationStatus = "SAFE"
    source.PrivateDataElementCharacteristicsSequence = [stale]
    out = Deidentifier(load_policy("anonymize"), KEY).deidentify(source)
    assert "PrivateDataElementCharacteristicsSequence" not in out


def _declaring_dataset() -> Dataset:
    """Private blocks no table knows, described by the sender's own (0008,0300)."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.3"
    ds.PatientName = "Hasegawa^Hanako"
    ds.PatientID = "7001234"
    mixed = ds.private_block(0x0011, "ACME MIXED", create=True)
    mixed.add_new(0x10, "SH", "HELICAL")
    mixed.add_new(0x11, "LO", "Hasegawa Hanako")  # identifying: the sender says D
    mixed.add_new(0x12, "DS", "1.5")
    mixed.add_new(0x13, "LO", "Hasegawa")  # not mentioned: removed
    safe = ds.private_block(0x0013, "ACME SAFE", create=True)
    safe.add_new(0x10, "LO", "KERNEL B30")
    unsafe = ds.private_block(0x0015, "ACME UNSAFE", create=True)
    unsafe.add_new(0x10, "LO", "KERNEL B31")
    items = []
    for group, creator, status in (
        (0x0011, "ACME MIXED", "MIXED"),
        (0x0013, "ACME SAFE", "SAFE"),
        (0x0015, "ACME UNSAFE", "UNSAFE"),
    ):
        item = Dataset()
        item.PrivateGroupReference = group
        item.PrivateCreatorReference = creator
        item.BlockIdentifyingInformationStatus = status
        items.append(item)
    items[0].NonidentifyingPrivateElements = [0x10, 0x12]
    step = Dataset()
    step.IdentifyingPrivateElements = [0x11]
    step.DeidentificationAction = "D"
    items[0].DeidentificationActionSequence = [step]
    ds.PrivateDataElementCharacteristicsSequence = items
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _honouring(honour: bool) -> Policy:
    data = load_policy("pseudonymize").model_dump(mode="json")
    return Policy.model_validate(data | {"honour_private_characteristics": honour})


def test_the_inputs_private_characteristics_are_honoured_when_the_policy_says_so() -> None:
    written = encode_part10(Deidentifier(_honouring(True), KEY).deidentify(_declaring_dataset()))
    out = pydicom.dcmread(io.BytesIO(written))
    assert out[0x00111010].value == "HELICAL"  # MIXED, listed non-identifying
    assert out[0x00111012].value == "1.5"
    assert 0x00111011 in out and b"Hasegawa" not in written  # the declared D action
    assert 0x00111013 not in out  # MIXED but not listed: removed
    assert out[0x00131010].value == "KERNEL B30"  # a SAFE block is kept whole
    assert 0x00151010 not in out and 0x00150010 not in out  # UNSAFE: block and creator gone
    described = {
        item.PrivateCreatorReference: item.BlockIdentifyingInformationStatus
        for item in out.PrivateDataElementCharacteristicsSequence
    }
    assert described == {"ACME MIXED": "SAFE", "ACME SAFE": "SAFE"}  # what is left is safe


def test_the_inputs_private_characteristics_are_ignored_by_default() -> None:
    out = Deidentifier(_honouring(False), KEY).deidentify(_declaring_dataset())
    assert not any(elem.tag.group in (0x0011, 0x0013, 0x0015) for elem in out)


def test_honouring_needs_retain_safe_private() -> None:
    data = load_policy("anonymize").model_dump(mode="json")
    with pytest.raises(ValueError, match="retain_safe_private"):
        Policy.model_validate(data | {"honour_private_characteristics": True})


def test_malformed_declarations_declare_nothing() -> None:
    source = _declaring_dataset()
    for item in source.PrivateDataElementCharacteristicsSequence:
        item.PrivateGroupReference = 0x0010  # even: not a private group
    out = Deidentifier(_honouring(True), KEY).deidentify(source)
    assert not any(elem.tag.group in (0x0011, 0x0013, 0x0015) for elem in out)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_a_declared_safe_block_in_implicit_vr_keeps_no_original_uid_name_or_date(
    syntax: str,
) -> None:
    """A block the sender declares SAFE, holding a UID, a date and a sequence with a name.
    Explicit VR: kept and processed (UID remapped, date shifted, the name in the item
    replaced). Implicit VR: nothing says what the bytes are (no private dictionary entry for
    this creator), so none is kept: as bytes, the original UID, date and name went out."""
    ds = _declaring_dataset()
    safe = ds.private_block(0x0013, "ACME SAFE")
    safe.add_new(0x11, "UI", "1.2.826.0.1.3680043.10.999.3")
    safe.add_new(0x12, "DA", "20240105")
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.10.999.3"
    inner.PatientName = "Hasegawa^Hanako"
    safe.add_new(0x13, "SQ", [inner])
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    source = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    out = Deidentifier(_honouring(True), KEY).deidentify(source)
    written = encode_part10(out)
    for original in (b"1.2.826.0.1.3680043.10.999.3", b"20240105", b"Hasegawa"):
        assert original not in written
    if syntax == ExplicitVRLittleEndian:
        assert out[0x00131011].value.startswith("2.25.")
        assert out[0x00131013].value[0].ReferencedSOPInstanceUID.startswith("2.25.")
        assert out[0x00131010].value == "KERNEL B30"
    else:  # even its harmless text: bytes of unknown VR are not kept (creator gone too)
        assert not any(t in out for t in (0x00130010, 0x00131010, 0x00131011, 0x00131013))
