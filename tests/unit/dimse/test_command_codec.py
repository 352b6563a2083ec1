"""The hand encoder must produce exactly pydicom's bytes for every command set we send."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, generate_uid
from pynetdicom.dsutils import encode as pydicom_encode

from raddx.dimse._command_codec import (
    decode_command,
    encode_command,
    encode_command_set,
    p_data_pdus,
)


def _store_rsp(status: int, comment: str | None = None, uid_odd: bool = False) -> Dataset:
    ds = Dataset()
    ds.CommandGroupLength = 0
    ds.AffectedSOPClassUID = CTImageStorage
    ds.CommandField = 0x8001
    ds.MessageIDBeingRespondedTo = 7
    ds.CommandDataSetType = 0x0101
    ds.Status = status
    ds.AffectedSOPInstanceUID = "1.2.3" if uid_odd else generate_uid()
    if comment is not None:
        ds.ErrorComment = comment
    return ds


def _echo_rsp() -> Dataset:
    ds = Dataset()
    ds.CommandGroupLength = 0
    ds.AffectedSOPClassUID = "1.2.840.10008.1.1"
    ds.CommandField = 0x8030
    ds.MessageIDBeingRespondedTo = 1
    ds.CommandDataSetType = 0x0101
    ds.Status = 0
    return ds


@pytest.mark.parametrize(
    "ds",
    [
        _store_rsp(0x0000),
        _store_rsp(0xC000, "StudyInstanceUID is missing"),  # even-length comment
        _store_rsp(0xA700, "storage is full"),  # odd-length comment: padded with a space
        _store_rsp(0x0000, uid_odd=True),  # odd-length UID: padded with NUL
        _echo_rsp(),
    ],
)
def test_same_bytes_as_pydicom(ds: Dataset) -> None:
    assert encode_command_set(ds) == pydicom_encode(ds, True, True)


def test_unhandled_content_falls_back() -> None:
    ds = _store_rsp(0)
    ds.OffendingElement = [0x00100010]  # AT: left to pydicom
    assert encode_command_set(ds) is None
    other = Dataset()
    other.PatientName = "not a command set"
    assert encode_command_set(other) is None


@pytest.mark.parametrize(
    "ds",
    [
        _store_rsp(0x0000),
        _store_rsp(0xA700, "storage is full"),
        _store_rsp(0x0000, uid_odd=True),
        _echo_rsp(),
    ],
)
def test_encode_command_computes_group_length_like_pydicom(ds: Dataset) -> None:
    """The fast path builds responses from (tag, VR, value) without a Dataset; the bytes,
    Command Group Length included, must equal what pydicom writes after pynetdicom sets it."""
    expected = pydicom_encode(ds, True, True)
    assert expected is not None
    ds.CommandGroupLength = len(expected) - 12
    elements = [(int(e.tag), e.VR, e.value) for e in ds if e.tag != 0x00000000]
    assert encode_command(elements) == pydicom_encode(ds, True, True)


def test_encode_command_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        encode_command([(0x00000901, "AT", [0x00100010])])


def test_decode_command_round_trip_and_garbage() -> None:
    command = encode_command([(0x0100, "US", 0x8001), (0x0120, "US", 5), (0x0900, "US", 0xA700)])
    fields = decode_command(command)
    assert fields is not None
    assert fields[0x0100] == (0x8001).to_bytes(2, "little")
    assert int.from_bytes(fields[0x0900], "little") == 0xA700
    assert decode_command(command[:-1]) is None  # truncated
    assert decode_command(b"\x08\x00" + command[2:]) is None  # not group 0000


def test_p_data_pdus_fragment_each_part_to_the_peer_maximum() -> None:
    """One PDV per PDU, the last fragment of each part flagged; the command set first."""
    pdus = p_data_pdus(3, [(b"C" * 15, True), (b"D" * 25, False)], peer_max_pdu=16)
    seen, pos = [], 0
    while pos < len(pdus):
        assert pdus[pos] == 0x04
        length = int.from_bytes(pdus[pos + 2 : pos + 6], "big")
        assert length <= 16
        item_length = int.from_bytes(pdus[pos + 6 : pos + 10], "big")
        assert item_length == length - 4 and pdus[pos + 10] == 3
        seen.append((pdus[pos + 11], pdus[pos + 12 : pos + 6 + length]))
        pos += 6 + length
    assert [control for control, _ in seen] == [0x01, 0x03, 0x00, 0x00, 0x02]
    assert b"".join(v for c, v in seen if c & 1) == b"C" * 15
    assert b"".join(v for c, v in seen if not c & 1) == b"D" * 25
    unlimited = p_data_pdus(1, [(b"C" * 10, True)], peer_max_pdu=0)
    assert len(unlimited) == 6 + 6 + 10  # one PDU
