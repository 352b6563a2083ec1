"""The MLLP client against a real listener on loopback: ISO-2022-JP bytes whose kanji collide
with the HL7 delimiters arrive exactly; AE/AR answers, refused connections, silent peers and
characters outside the message's character set each end in the error the caller can act on."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from hl7_samples import IR87, UTF8, msh, pid
from mllp_peer import MllpPeer
from raddx.hl7.charset import CharsetError
from raddx.hl7.client import AckError, DeliveryError, send_message

#: 放 線 施 右 in JIS X 0208 contain the bytes | ~ \ & (reference note §2.5).
COLLIDING = "放射線科^右^施設"


@pytest.fixture
def peer() -> Iterator[MllpPeer]:
    server = MllpPeer().start()
    yield server
    server.stop()


def _message(control: str, charset: str = IR87, text: str = COLLIDING) -> str:
    obr = f"OBR|1|ORD1|ACC1|6000000200020000^{text}^JJ1017"
    return "\r".join([msh("OMI^Z23^OMI_Z23", control, charset), pid(), obr]) + "\r"


def test_iso2022jp_with_colliding_kanji_arrives_exactly(peer: MllpPeer) -> None:
    message = _message("C1")
    ack = send_message("127.0.0.1", peer.port, message)
    assert (ack.code, ack.control_id) == ("AA", "C1")
    (raw,) = peer.received
    assert raw == message.encode("iso2022_jp")
    # The delimiter bytes really are inside the kanji: a split before decoding would cut them.
    assert raw.count(b"|") > message.count("|")
    assert raw.count(b"~") > message.count("~") and raw.count(b"&") > 0
    (text,) = peer.messages()
    obr = text.split("\r")[2].split("|")
    assert obr[4].split("^")[1:] == ["放射線科", "右", "施設", "JJ1017"]
    assert text == message
    assert "右田^施^^^^^L^I" in text.split("\r")[1]


def test_utf8_message(peer: MllpPeer) -> None:
    message = _message("C2", UTF8, "髙橋 ① 放射線")  # outside JIS X 0208: fine in UTF-8
    assert send_message("127.0.0.1", peer.port, message).code == "AA"
    assert peer.received == [message.encode("utf-8")]


def test_character_outside_ir87_is_refused_before_sending(peer: MllpPeer) -> None:
    with pytest.raises(CharsetError, match="髙"):
        send_message("127.0.0.1", peer.port, _message("C3", IR87, "髙橋"))
    assert peer.received == []


@pytest.mark.parametrize("code", ["AE", "AR"])
def test_refusal_carries_the_peers_reason(peer: MllpPeer, code: str) -> None:
    peer.ack, peer.error = code, "患者IDがありません"
    with pytest.raises(AckError) as info:
        send_message("127.0.0.1", peer.port, _message("C4"))
    assert info.value.code == code
    assert "患者IDがありません" in str(info.value) and "PID^1^3" in str(info.value)


def test_connection_refused_is_a_delivery_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    with pytest.raises(DeliveryError, match="cannot connect"):
        send_message("127.0.0.1", port, _message("C5"), timeout=2)


def test_silent_peer_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError, match="no acknowledgement"):
            send_message("127.0.0.1", listener.getsockname()[1], _message("C6"), timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_answer_for_another_message_is_not_taken(peer: MllpPeer) -> None:
    # A peer that answers with someone else's control ID has not acknowledged ours.
    peer_answer = peer._answer

    def wrong(block: bytes) -> bytes:
        return peer_answer(block).replace(b"MSA|AA|C7", b"MSA|AA|OTHER")

    peer._server._handler = wrong
    with pytest.raises(DeliveryError, match="OTHER"):
        send_message("127.0.0.1", peer.port, _message("C7"))


def test_tls(tmp_path: Path) -> None:
    # MLLP over TLS: a TLS listener with a certificate from a test CA; the client verifies it.
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while not data.endswith(b"\x1c\r"):
                chunk = tls.recv(65536)
                if not chunk:
                    return
                data += chunk
            received.append(data)
            tls.sendall(b"\x0bMSH|^~\\&|PEER\rMSA|AA|C8\r\x1c\r")
        conn, _ = listener.accept()  # the untrusting client: its handshake fails
        with conn, contextlib.suppress(ssl.SSLError, OSError):
            server_context.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        ack = send_message("localhost", port, _message("C8"), ssl_context=client_context)
        assert ack.code == "AA"
        assert received == [b"\x0b" + _message("C8").encode("iso2022_jp") + b"\x1c\r"]
        # A client that does not trust the CA refuses the peer.
        with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED"):
            send_message(
                "localhost", port, _message("C9"), ssl_context=ssl.create_default_context()
            )
    finally:
        thread.join(5)
        listener.close()
