"""C-CANCEL of a C-FIND (PS3.4 C.4.1.2.3) on the fast path, SQLite and PostgreSQL.

The C-CANCEL-RQ is sent by a raw peer in the same write as its C-FIND-RQ, so it is certainly
waiting before the second match: a real client's cancel (after the first Pending response)
can arrive after a fast server has already sent every answer.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicom_factory import make_dataset, to_part10
from raddx.dimse._command_codec import encode_command
from raddx.services import Services
from raw_peer import RawPeer, p_data

STUDIES = 200
MODEL = StudyRootQueryRetrieveInformationModelFind


def _query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = "CANCEL1"
    ds.StudyInstanceUID = ""
    return ds


def _store_studies(services: Services) -> None:
    for _ in range(STUDIES):
        services.ingest.store(to_part10(make_dataset(patient_id="CANCEL1")), source="test")


def _find_rq(message_id: int) -> bytes:
    return encode_command(
        [
            (0x0002, "UI", MODEL),
            (0x0100, "US", 0x0020),
            (0x0110, "US", message_id),
            (0x0700, "US", 0),
            (0x0800, "US", 0x0001),
        ]
    )


def _cancel_rq(message_id: int) -> bytes:
    return encode_command(
        [(0x0100, "US", 0x0FFF), (0x0120, "US", message_id), (0x0800, "US", 0x0101)]
    )


def _statuses(peer: RawPeer) -> list[int]:
    statuses: list[int] = []
    while not statuses or statuses[-1] in (0xFF00, 0xFF01):
        command, identifier = peer.read_message()
        statuses.append(int(command.Status))
        if command.Status == 0xFF00:
            assert identifier is not None and identifier.PatientID == "CANCEL1"
    return statuses


# On the fast path only: pynetdicom's C-FIND SCP (associations that also propose C-MOVE or
# commitment) does not honour a C-CANCEL-RQ that arrives in the same write as its request (it
# answered all 200 matches here); its cancel after the first Pending response is covered with
# C-GET in test_dimse_retrieve.py. See the stop note of 2026-11-26.
def test_cancel_stops_the_answers(services: Services, dimse_server: tuple[str, int]) -> None:
    _store_studies(services)
    peer = RawPeer(dimse_server[1], abstract=MODEL)
    identifier = RawPeer.dataset_bytes(_query())
    peer.sock.sendall(
        p_data((1, 0x03, _find_rq(9)), (1, 0x02, identifier)) + p_data((1, 0x03, _cancel_rq(9)))
    )
    cancelled = _statuses(peer)
    # A cancel for a request no longer outstanding is ignored; the next query is whole.
    peer.sock.sendall(p_data((1, 0x03, _cancel_rq(9))))
    peer.sock.sendall(p_data((1, 0x03, _find_rq(10)), (1, 0x02, identifier)))
    complete = _statuses(peer)
    peer.release()
    assert cancelled[-1] == 0xFE00
    assert cancelled.count(0xFF00) <= 1
    assert complete == [0xFF00] * STUDIES + [0x0000]
