"""The HL7 sender allow-list (issue 9) over a real MLLP socket: a message from a sending
facility (MSH-4) or host that is not allowed gets AR with an ERR saying why, nothing is
stored, and the connection stays open for the next message."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hl7_samples import encode, omg
from raddx.config import Settings, load_settings
from raddx.db.models import RisOrder
from raddx.hl7 import MessageHandler, MllpServer
from raddx.hl7.acceptance import SenderGate
from raddx.security import audit
from raddx.services import Services


def _serve(services: Services, settings: Settings) -> MllpServer:
    server = MllpServer(
        MessageHandler(services.session_factory),
        "127.0.0.1",
        0,
        gate=SenderGate(settings) or None,
    )
    server.start()
    return server


@pytest.fixture
def allowed(services: Services, tmp_path: Path) -> Iterator[tuple[str, int]]:
    settings = load_settings(data_dir=tmp_path / "x", hl7_allowed_facilities=["TOKYO-HP"])
    server = _serve(services, settings)
    yield server.address
    server.stop()


def _exchange(sock: socket.socket, data: bytes) -> str:
    sock.sendall(b"\x0b" + data + b"\x1c\r")
    received = b""
    while not received.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the answer"
        received += chunk
    return received[1:-2].decode("iso2022_jp")


def _segment(answer: str, name: str) -> list[str]:
    return next(s.split("|") for s in answer.split("\r") if s.startswith(name))


def _orders(services: Services) -> int:
    with services.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(RisOrder)) or 0)


def test_unknown_facility_refused_connection_kept(
    allowed: tuple[str, int], services: Services
) -> None:
    stranger = encode(omg(control_id="MSG0009").replace("|TOKYO-HP|", "|OSAKA-HP|", 1))
    with socket.create_connection(allowed, timeout=10) as sock, audit.capture() as events:
        answer = _exchange(sock, stranger)
        assert _segment(answer, "MSA")[1:3] == ["AR", "MSG0009"]
        err = _segment(answer, "ERR")
        assert err[2] == "MSH^1^4"
        assert "OSAKA-HP" in "|".join(err)
        assert _orders(services) == 0
        # Same connection: the allowed facility's order goes through.
        assert _segment(_exchange(sock, encode(omg())), "MSA")[1] == "AA"
    assert _orders(services) == 1
    assert any(e.event_id is audit.EventIDValues.SECURITY_ALERT for e in events)


def test_host_not_allowed(services: Services, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "x", hl7_allowed_hosts=["10.0.0.0/8"])
    server = _serve(services, settings)
    try:
        with socket.create_connection(server.address, timeout=10) as sock:
            answer = _exchange(sock, encode(omg()))
            assert _segment(answer, "MSA")[1] == "AR"
            assert _segment(answer, "ERR")[2] == "MSH"
            answer = _exchange(sock, encode(omg(control_id="MSG0002")))
            assert _segment(answer, "MSA")[1:3] == ["AR", "MSG0002"]
        assert _orders(services) == 0
    finally:
        server.stop()


def test_no_lists_no_gate(tmp_path: Path) -> None:
    assert not SenderGate(load_settings(data_dir=tmp_path))
