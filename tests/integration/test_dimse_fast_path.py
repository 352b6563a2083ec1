"""The DIMSE fast path (``raddx.dimse.fast_path``): which associations take it, that it
answers like the pynetdicom path, and what it does with peers that break the protocol.

Well-behaved peers (DCMTK, pynetdicom) are covered by ``test_dimse_store.py``, whose storage
associations all run on the fast path. Here a raw socket peer sends hand-made PDUs to reach
the cases real tools never produce: fragments in odd places, unaccepted contexts, a peer that
vanishes mid data set.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from sqlalchemy import func, select

from dicom_factory import JAPANESE_NAME, make_dataset, to_part10
from helpers import start_dimse_server, wait_for
from raddx.archive.part10 import read_file_meta
from raddx.db.models import Instance
from raddx.dimse import DimseServer
from raddx.dimse._command_codec import encode_command
from raddx.services import Services
from raw_peer import RawPeer, associate_rq_bytes, p_data


@pytest.fixture
def server(services: Services) -> Iterator[DimseServer]:
    dimse = start_dimse_server(services)
    yield dimse
    dimse.stop()


def _fast_active(server: DimseServer) -> int:
    fast_path = server._server.fast_path
    assert fast_path is not None
    return fast_path.active_count


def _instance_count(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def _blob_files(services: Services) -> list[str]:
    return [str(p) for p in services.blobs.root.rglob("*") if p.is_file()]


def _image(**kwargs: object) -> Dataset:
    """A new image with File Meta (pynetdicom picks the context from its transfer syntax)."""
    ds = make_dataset(**kwargs)  # type: ignore[arg-type]
    to_part10(ds)
    return ds


def _dataset_bytes(ds: Dataset) -> bytes:
    data = to_part10(ds)
    return data[read_file_meta(data).dataset_offset :]


def _store_rq(ds: Dataset, message_id: int = 1) -> bytes:
    return encode_command(
        [
            (0x00000002, "UI", ds.SOPClassUID),
            (0x00000100, "US", 0x0001),
            (0x00000110, "US", message_id),
            (0x00000700, "US", 0),
            (0x00000800, "US", 0x0001),
            (0x00001000, "UI", ds.SOPInstanceUID),
        ]
    )


# -- which path --------------------------------------------------------------------------


def test_query_and_get_association_runs_on_the_fast_path(
    server: DimseServer, services: Services
) -> None:
    """A workstation proposing C-FIND with fuzzy matching and C-GET with storage in the SCP
    role: served on the fast path, with the role and the extended negotiation answered."""
    ds = _image(patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう", charset="ISO_IR 192")
    services.ingest.store(to_part10(ds), source="test")
    ae = AE(ae_title="WORKSTATION")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    fuzzy = SOPClassExtendedNegotiation()
    fuzzy.sop_class_uid = StudyRootQueryRetrieveInformationModelFind
    fuzzy.service_class_application_information = b"\x00\x00\x01"
    received: list[str] = []

    def on_store(event: Any) -> int:
        received.append(event.dataset.SOPInstanceUID)
        return 0x0000

    assoc = ae.associate(
        *server.address,
        ae_title="RADDX",
        ext_neg=[build_role(CTImageStorage, scp_role=True), fuzzy],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    try:
        assert _fast_active(server) == 1
        assert assoc.acceptor.sop_class_extended == {
            StudyRootQueryRetrieveInformationModelFind: b"\x00\x00\x01"
        }
        query = Dataset()
        query.SpecificCharacterSet = "ISO_IR 192"
        query.QueryRetrieveLevel = "STUDY"
        query.PatientName = "ヤマダ*"  # katakana finds the hiragana group with fuzzy matching
        query.StudyInstanceUID = ""
        answers = [
            identifier
            for status, identifier in assoc.send_c_find(
                query, StudyRootQueryRetrieveInformationModelFind
            )
            if status.Status == 0xFF00
        ]
        assert [a.StudyInstanceUID for a in answers] == [ds.StudyInstanceUID]
        get = Dataset()
        get.QueryRetrieveLevel = "STUDY"
        get.StudyInstanceUID = ds.StudyInstanceUID
        finals = [
            status
            for status, _ in assoc.send_c_get(get, StudyRootQueryRetrieveInformationModelGet)
            if status.Status != 0xFF00
        ]
        assert finals[-1].Status == 0x0000
        assert finals[-1].NumberOfCompletedSuboperations == 1
        assert received == [ds.SOPInstanceUID]
    finally:
        assoc.release()


def test_retrieve_ae_title_is_ours_whatever_the_peer_called(
    server: DimseServer, services: Services
) -> None:
    """The Called AE Title is not checked by default; RetrieveAETitle in the answers is still
    this archive's own title (where to send the C-MOVE/C-GET), not what the peer called."""
    services.ingest.store(to_part10(_image(patient_id="RAET1")), source="test")
    ae = AE(ae_title="WORKSTATION")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate(*server.address, ae_title="ANY-SCP")
    assert assoc.is_established
    try:
        assert _fast_active(server) == 1
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.PatientID = "RAET1"
        query.RetrieveAETitle = ""
        answers = [
            identifier
            for status, identifier in assoc.send_c_find(
                query, StudyRootQueryRetrieveInformationModelFind
            )
            if status.Status == 0xFF00
        ]
    finally:
        assoc.release()
    assert [a.RetrieveAETitle for a in answers] == ["RADDX"]


def test_store_only_association_runs_on_the_fast_path(
    server: DimseServer, services: Services
) -> None:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(*server.address, ae_title="RADDX")
    assert assoc.is_established
    try:
        assert _fast_active(server) == 1
        assert server._server.active_associations == []
        ds = _image(patient_name=JAPANESE_NAME, charset="ISO_IR 192")
        assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    wait_for(lambda: _fast_active(server) == 0)
    with services.session_factory() as session:
        stored = session.scalars(select(Instance)).one()
        assert stored.sop_instance_uid == ds.SOPInstanceUID
        assert stored.calling_ae_title == "MODALITY"


def test_association_that_also_moves_goes_to_pynetdicom_and_answers_alike(
    server: DimseServer, services: Services
) -> None:
    """A workstation proposing storage and C-MOVE together is served by pynetdicom; a refused
    object gets the same status and Error Comment on both paths."""
    bad = _image()
    del bad.StudyInstanceUID
    statuses = []
    for extra in ([], [StudyRootQueryRetrieveInformationModelMove]):
        ae = AE(ae_title="WORKSTATION")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        for abstract in extra:
            ae.add_requested_context(abstract)
        assoc = ae.associate(*server.address, ae_title="RADDX")
        assert assoc.is_established
        try:
            assert _fast_active(server) == (0 if extra else 1)
            status = assoc.send_c_store(bad)
            statuses.append((int(status.Status), str(status.ErrorComment)))
            good = _image()
            assert assoc.send_c_store(good).Status == 0x0000
        finally:
            assoc.release()
    assert statuses[0] == statuses[1]
    assert statuses[0][0] == 0xC000 and "StudyInstanceUID" in statuses[0][1]
    assert _instance_count(services) == 2


def test_fast_path_can_be_switched_off(services: Services) -> None:
    settings = services.settings.model_copy(update={"dicom_fast_path": False})
    dimse = start_dimse_server(services, settings)
    try:
        assert dimse._server.fast_path is None
        ae = AE()
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate(*dimse.address, ae_title="RADDX")
        assert assoc.is_established
        assert assoc.send_c_store(_image()).Status == 0x0000
        assoc.release()
    finally:
        dimse.stop()
    assert _instance_count(services) == 1


# -- framing ----------------------------------------------------------------------------


def test_fragments_in_odd_places_are_reassembled_byte_for_byte(
    server: DimseServer, services: Services
) -> None:
    ds = _image(pixel_bytes=5000)
    command, data = _store_rq(ds), _dataset_bytes(ds)
    peer = RawPeer(server.address[1])
    # Command in two PDUs; data set as three PDVs in one PDU, then a fourth in another.
    peer.send_pdu((1, 0x01, command[:10]))
    peer.send_pdu((1, 0x03, command[10:]))
    peer.send_pdu((1, 0x00, data[:7]), (1, 0x00, data[7:3000]), (1, 0x00, data[3000:4000]))
    peer.send_pdu((1, 0x02, data[4000:]))
    response, _ = peer.read_response()
    peer.release()
    assert response.Status == 0x0000
    assert response.MessageIDBeingRespondedTo == 1
    assert response.AffectedSOPInstanceUID == ds.SOPInstanceUID
    key = next(iter(services.blobs.list_blobs())).key
    stored = services.blobs.get(key)
    assert stored[read_file_meta(stored).dataset_offset :] == data


def test_response_is_fragmented_to_the_peers_maximum_pdu_length(server: DimseServer) -> None:
    ds = _image()
    peer = RawPeer(server.address[1], max_pdu=32)
    peer.send_pdu((1, 0x03, _store_rq(ds, message_id=9)))
    peer.send_pdu((1, 0x02, _dataset_bytes(ds)))
    response, lengths = peer.read_response()
    peer.release()
    assert response.Status == 0x0000 and response.MessageIDBeingRespondedTo == 9
    assert len(lengths) > 1 and max(lengths) <= 32


# -- broken peers --------------------------------------------------------------------------


def test_pdv_on_an_unaccepted_context_aborts_and_keeps_nothing(
    server: DimseServer, services: Services
) -> None:
    ds = _image()
    peer = RawPeer(server.address[1])
    peer.send_pdu((1, 0x03, _store_rq(ds)))
    peer.send_pdu((3, 0x02, _dataset_bytes(ds)))
    pdu_type, body = peer.read_pdu()
    peer.close()
    assert pdu_type == 0x07  # A-ABORT
    assert body[2:4] == b"\x02\x02"  # service provider, unexpected PDU
    wait_for(lambda: _fast_active(server) == 0)
    assert _instance_count(services) == 0
    assert _blob_files(services) == []


@pytest.mark.parametrize("how", ["disconnect", "abort"])
def test_peer_gone_mid_data_set_keeps_nothing_and_server_carries_on(
    server: DimseServer, services: Services, how: str
) -> None:
    ds = _image(pixel_bytes=20000)
    data = _dataset_bytes(ds)
    peer = RawPeer(server.address[1])
    peer.send_pdu((1, 0x03, _store_rq(ds)))
    peer.send_pdu((1, 0x00, data[: len(data) // 2]))
    if how == "abort":
        peer.sock.sendall(b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00")
    peer.close()
    wait_for(lambda: _fast_active(server) == 0)
    assert _instance_count(services) == 0
    assert _blob_files(services) == []
    # The next association is served normally.
    again = RawPeer(server.address[1])
    again.send_pdu((1, 0x03, _store_rq(ds)))
    again.send_pdu((1, 0x02, data))
    assert again.read_response()[0].Status == 0x0000
    again.release()
    assert _instance_count(services) == 1


@pytest.mark.parametrize(
    "pdu",
    [
        pytest.param(b"\x01\x00\x00\x00\x00\x02\x00\x01", id="second A-ASSOCIATE-RQ"),
        pytest.param(b"\x04\x00\x00\x00\x00\x04\x00\x00\x00\x01", id="PDV shorter than header"),
        pytest.param(b"\x04\x00\x00\x00\x00\x06\x00\x00\x00\x09\x01\x02", id="PDV overruns PDU"),
        pytest.param(
            b"\x04\x00\x00\x00\x00\x0a\x00\x00\x00\x06\x01\x02abcd", id="data, no command"
        ),
    ],
)
def test_malformed_pdus_abort_the_association(server: DimseServer, pdu: bytes) -> None:
    peer = RawPeer(server.address[1])
    peer.sock.sendall(pdu)
    pdu_type, _ = peer.read_pdu()
    peer.close()
    assert pdu_type == 0x07
    wait_for(lambda: _fast_active(server) == 0)


def test_garbled_command_set_aborts(server: DimseServer, services: Services) -> None:
    peer = RawPeer(server.address[1])
    peer.send_pdu((1, 0x03, b"\x00\x00\x00\x01\xff\xff\xff\x7f"))  # length beyond the set
    assert peer.read_pdu()[0] == 0x07
    peer.close()
    assert _instance_count(services) == 0


def test_second_request_while_a_find_is_outstanding_aborts(
    server: DimseServer, services: Services
) -> None:
    """Only one operation at a time is negotiated: a C-ECHO-RQ sent while a C-FIND is still
    answering breaks PS3.7 and ends the association (A-ABORT), nothing else is answered."""
    for _ in range(3):
        services.ingest.store(to_part10(_image(patient_id="BUSY1")), source="test")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "BUSY1"
    query.StudyInstanceUID = ""
    find_rq = encode_command(
        [
            (0x0002, "UI", StudyRootQueryRetrieveInformationModelFind),
            (0x0100, "US", 0x0020),
            (0x0110, "US", 1),
            (0x0700, "US", 0),
            (0x0800, "US", 0x0001),
        ]
    )
    echo_rq = encode_command(
        [
            (0x0002, "UI", StudyRootQueryRetrieveInformationModelFind),
            (0x0100, "US", 0x0030),
            (0x0110, "US", 2),
            (0x0800, "US", 0x0101),
        ]
    )
    peer = RawPeer(server.address[1], abstract=StudyRootQueryRetrieveInformationModelFind)
    peer.sock.sendall(
        p_data((1, 0x03, find_rq), (1, 0x02, RawPeer.dataset_bytes(query)))
        + p_data((1, 0x03, echo_rq))
    )
    pdu_types = []
    while not pdu_types or pdu_types[-1] == 0x04:
        pdu_types.append(peer.read_pdu()[0])
    peer.close()
    assert pdu_types[-1] == 0x07  # A-ABORT
    assert len(pdu_types) <= 2  # at most the first match went out before the check


def test_store_request_without_data_set_is_refused_with_a_comment(server: DimseServer) -> None:
    ds = _image()
    command = encode_command(
        [
            (0x00000002, "UI", ds.SOPClassUID),
            (0x00000100, "US", 0x0001),
            (0x00000110, "US", 4),
            (0x00000700, "US", 0),
            (0x00000800, "US", 0x0101),
            (0x00001000, "UI", ds.SOPInstanceUID),
        ]
    )
    peer = RawPeer(server.address[1])
    peer.send_pdu((1, 0x03, command))
    response, _ = peer.read_response()
    peer.release()
    assert response.Status == 0xC000
    assert "without a data set" in response.ErrorComment


def test_stop_aborts_open_fast_path_associations(services: Services) -> None:
    dimse = start_dimse_server(services)
    ae = AE()
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(*dimse.address, ae_title="RADDX")
    assert assoc.is_established
    dimse.stop()
    wait_for(lambda: assoc.is_aborted)


def test_association_limit_rejects_with_local_limit_exceeded(server: DimseServer) -> None:
    server._ae.maximum_associations = 1
    first = RawPeer(server.address[1])
    peer = socket.create_connection(server.address, timeout=20)
    rq = RawPeer.__new__(RawPeer)
    rq.sock = peer
    peer.sendall(associate_rq_bytes())
    pdu_type, body = rq.read_pdu()
    peer.close()
    first.release()
    assert pdu_type == 0x03  # A-ASSOCIATE-RJ
    assert body[1:4] == b"\x02\x03\x02"  # transient, service provider (presentation), limit


def test_repeated_identical_requests_are_negotiated_once(
    server: DimseServer, services: Services
) -> None:
    """A sender that opens one association per image sends the same A-ASSOCIATE-RQ bytes
    each time; the negotiation is reused (and still correct for each association)."""
    for _ in range(3):
        ds = _image()
        peer = RawPeer(server.address[1])
        peer.send_pdu((1, 0x03, _store_rq(ds)))
        peer.send_pdu((1, 0x02, _dataset_bytes(ds)))
        assert peer.read_response()[0].Status == 0x0000
        peer.release()
    fast_path = server._server.fast_path
    assert fast_path is not None and len(fast_path._plans) == 1
    assert _instance_count(services) == 3


def test_cancel_request_is_ignored_and_the_association_goes_on(
    server: DimseServer, services: Services
) -> None:
    """C-CANCEL-RQ (PS3.7 9.3.2.3) carries MessageIDBeingRespondedTo, not a MessageID; there
    is nothing to cancel in storage, so it gets no answer and the next store works."""
    cancel = encode_command(
        [(0x00000100, "US", 0x0FFF), (0x00000120, "US", 1), (0x00000800, "US", 0x0101)]
    )
    ds = _image()
    peer = RawPeer(server.address[1])
    peer.send_pdu((1, 0x03, cancel))
    peer.send_pdu((1, 0x03, _store_rq(ds, message_id=2)))
    peer.send_pdu((1, 0x02, _dataset_bytes(ds)))
    response, _ = peer.read_response()
    peer.release()
    assert response.Status == 0x0000 and response.MessageIDBeingRespondedTo == 2
    assert _instance_count(services) == 1
