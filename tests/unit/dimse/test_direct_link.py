"""DirectLink without sockets: the pynetdicom internals it relies on, P-DATA framing, command
decoding. Its network behaviour is tested against real peers in
tests/integration/test_dimse_retrieve.py (getscu, storescp killed mid-transfer, C-CANCEL)."""

from __future__ import annotations

import inspect
import socket
import struct
from io import BytesIO
from types import SimpleNamespace

import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_FIND_RSP
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.service_class import QueryRetrieveServiceClass
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from raddx.dimse._direct_link import DirectLink, supports_direct


def test_pynetdicom_internals_the_link_relies_on() -> None:
    """A pynetdicom upgrade that moves any of these breaks the link: fail here first."""
    reactor = inspect.getsource(DULServiceProvider.run_reactor)
    assert "self.artim_timer.expired" in reactor  # checked at the start of every loop
    assert reactor.index("artim_timer.expired") < reactor.index("_is_transport_event")
    assert "time.sleep(self._run_loop_delay)" in reactor  # read at every idle sleep
    assert "self.socket.ready" in inspect.getsource(DULServiceProvider._is_transport_event)
    for name in ("_decode_pdu", "send_pdu"):
        assert callable(getattr(DULServiceProvider, name))
    assert callable(DIMSEServiceProvider.receive_primitive)
    assert isinstance(DIMSEServiceProvider.maximum_pdu_size, property)
    for name in ("_get_valid_context", "_check_received_status"):
        assert callable(getattr(Association, name))
    init = inspect.getsource(Association.__init__)
    assert "_reactor_checkpoint" in init and "_is_paused" in init
    dul_init = inspect.getsource(DULServiceProvider.__init__)
    for attribute in ("_recv_pdu", "event_queue", "_idle_timer", "artim_timer"):
        assert attribute in dul_init
    # The SCPs send every sub-operation through the association's send_c_store.
    assert "self.assoc.send_c_store(dataset" in inspect.getsource(
        QueryRetrieveServiceClass._get_scp
    )
    assert "store_assoc.send_c_store(" in inspect.getsource(QueryRetrieveServiceClass._move_scp)


def _link(peer_max_pdu: int) -> DirectLink:
    assoc = SimpleNamespace(dimse=SimpleNamespace(maximum_pdu_size=peer_max_pdu))
    return DirectLink(assoc)  # type: ignore[arg-type]


def _unframe(stream: bytes) -> list[tuple[int, int, bytes, int]]:
    """(context ID, control header, fragment, PDU length) per PDU."""
    out = []
    pos = 0
    while pos < len(stream):
        pdu_type, _, length = struct.unpack_from(">BBI", stream, pos)
        assert pdu_type == 0x04
        item_length, context_id, control = struct.unpack_from(">IBB", stream, pos + 6)
        assert item_length == length - 4  # one PDV per PDU
        out.append((context_id, control, stream[pos + 12 : pos + 6 + length], length))
        pos += 6 + length
    return out


@pytest.mark.parametrize(
    ("peer_max_pdu", "command_pdus", "dataset_pdus"),
    [
        (16 + 6, 2, 4),  # 30-byte command, 50-byte data set in 16-byte fragments
        (0, 1, 1),  # 0: the peer sets no limit (PS3.8 D.1)
        (1000, 1, 1),
    ],
)
def test_p_data_framing(peer_max_pdu: int, command_pdus: int, dataset_pdus: int) -> None:
    command, dataset = bytes(range(30)), bytes(range(100, 150))
    pdus = _unframe(_link(peer_max_pdu)._p_data_pdus(7, command, dataset))
    assert len(pdus) == command_pdus + dataset_pdus
    assert {context_id for context_id, *_ in pdus} == {7}
    controls = [control for _, control, _, _ in pdus]
    # PS3.8 E.2: bit 0 command/data set, bit 1 last fragment.
    assert controls == [0x01] * (command_pdus - 1) + [0x03] + [0x00] * (dataset_pdus - 1) + [0x02]
    assert b"".join(f for _, c, f, _ in pdus if c & 1) == command
    assert b"".join(f for _, c, f, _ in pdus if not c & 1) == dataset
    if peer_max_pdu:
        assert max(length for *_, length in pdus) <= peer_max_pdu


def test_only_live_plain_tcp_associations_get_a_direct_link() -> None:
    assert not supports_direct(SimpleNamespace(is_established=True))  # a unit-test stand-in
    assoc = Association(AE(), "requestor")
    assert not supports_direct(assoc)  # not established


def test_find_response_bytes_equal_pynetdicoms() -> None:
    """The hand-framed Pending C-FIND response is byte for byte what pynetdicom sends."""
    identifier = b"\x08\x00\x52\x00\x06\x00STUDY " + bytes(range(40))
    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = 5
    rsp.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    rsp.Status = 0xFF00
    rsp.Identifier = BytesIO(identifier)
    message = C_FIND_RSP()
    message.primitive_to_message(rsp)
    expected = b"".join(P_DATA_TF(p).encode() for p in message.encode_msg(3, 16384))

    ours, peer = socket.socketpair()
    try:
        link = _link(16384)
        link._inner = SimpleNamespace(socket=ours)
        link._open = True
        link._send_msg = lambda *_: pytest.fail("handed to pynetdicom")
        rsp.Identifier = BytesIO(identifier)
        link._send_find_response(rsp, 3)
        peer.settimeout(5)
        received = b""
        while len(received) < len(expected):
            received += peer.recv(65536)
    finally:
        ours.close()
        peer.close()
    assert received == expected
