"""The HL7 v2 door over a real MLLP socket, on SQLite and PostgreSQL: a Japanese OMG^O19 in
ISO-2022-JP bytes is acknowledged and appears in the Modality Worklist (DCMTK findscu -W);
broken framing closes only that connection."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from helpers import run_tool, start_dimse_server
from hl7_samples import CHEST_CT, encode, omg, omg_parent_children
from raddx.hl7 import MessageHandler, MllpServer
from raddx.services import Services


@pytest.fixture
def mllp(services: Services) -> Iterator[tuple[str, int]]:
    server = MllpServer(MessageHandler(services.session_factory), "127.0.0.1", 0)
    server.start()
    yield server.address
    server.stop()


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=10)


def _exchange(sock: socket.socket, data: bytes) -> str:
    sock.sendall(b"\x0b" + data + b"\x1c\r")
    return _answer(sock)


def _answer(sock: socket.socket) -> str:
    received = b""
    while not received.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the answer"
        received += chunk
    assert received.startswith(b"\x0b")
    return received[1:-2].decode("iso2022_jp")


def _msa(answer: str) -> list[str]:
    return next(s.split("|") for s in answer.split("\r") if s.startswith("MSA"))


def test_orders_on_one_connection(mllp: tuple[str, int]) -> None:
    with _connect(mllp) as sock:
        assert _msa(_exchange(sock, encode(omg())))[1:3] == ["AA", "MSG0001"]
        assert _msa(_exchange(sock, encode(omg_parent_children())))[1] == "AA"
        assert _msa(_exchange(sock, encode(omg())))[1] == "AE"  # same placer number again


def test_frame_without_end_block(mllp: tuple[str, int]) -> None:
    with _connect(mllp) as sock:
        sock.sendall(b"\x0b" + encode(omg()))  # no <FS><CR>
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # closed, nothing acknowledged
    # A block cut short by the next start block is dropped; the next one is answered.
    with _connect(mllp) as sock:
        sock.sendall(b"\x0b" + encode(omg("CUT")))
        assert _msa(_exchange(sock, encode(omg("WHOLE"))))[1] == "AA"
        assert _msa(_exchange(sock, encode(omg("CUT", control="XO"))))[1] == "AE"  # never stored


def test_order_reaches_the_worklist(
    services: Services, mllp: tuple[str, int], dcmtk: Callable[[str], str], tmp_path: Path
) -> None:
    with _connect(mllp) as sock:
        assert _msa(_exchange(sock, encode(omg())))[1] == "AA"
    server = start_dimse_server(services)
    try:
        query = Dataset()
        query.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
        query.PatientName = "*=右田*"
        query.PatientID = ""
        query.AccessionNumber = ""
        query.RequestingPhysician = ""
        item = Dataset()
        item.Modality = "CT"
        item.ScheduledProcedureStepStartDate = "20261126"
        item.ScheduledProtocolCodeSequence = Sequence([])
        query.ScheduledProcedureStepSequence = Sequence([item])
        query_file = tmp_path / "query.dcm"
        query.save_as(query_file, implicit_vr=False, little_endian=True)
        host, port = server.address
        command = [dcmtk("findscu"), "-W", "-aec", "RADDX", "-X", "-od", str(tmp_path)]
        result = run_tool([*command, host, str(port), str(query_file)])
        assert result.returncode == 0, result.stderr
        (answer,) = [pydicom.dcmread(p) for p in tmp_path.glob("rsp*.dcm")]
    finally:
        server.stop()
    assert str(answer.PatientName) == "=右田^施=ミギタ^ホドコシ"
    assert answer.PatientID == "0012345"
    assert answer.RequestingPhysician == "放射線^花子"
    code = answer.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0]
    assert code.CodeValue == CHEST_CT[:16]
