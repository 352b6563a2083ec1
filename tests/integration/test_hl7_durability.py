"""An accepted HL7 message is on disk before its ACK (issue 6): ``raddx serve``'s HL7 door
commits with ``hl7_sqlite_synchronous`` (FULL by default) even though the archive's index
runs with ``sqlite_synchronous = NORMAL``; choosing NORMAL for the door is a documented
setting, not the default."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hl7_samples import encode, omg
from raddx.config import Settings, load_settings
from raddx.hl7 import MessageHandler, MllpServer
from raddx.server import HL7_WAL_AUTOCHECKPOINT, _hl7_sessions
from raddx.services import Services

_FULL, _NORMAL = 2, 1  # PRAGMA synchronous answers


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Iterator[Services]:
    svc = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    yield svc
    svc.close()


def _synchronous(factory: object) -> int:
    with factory() as session:  # type: ignore[operator]
        return int(session.execute(text("PRAGMA synchronous")).scalar_one())


def test_orders_commit_with_full_sync_by_default(sqlite_services: Services) -> None:
    settings = sqlite_services.settings
    assert settings.sqlite_synchronous == "NORMAL"
    assert settings.hl7_sqlite_synchronous == "FULL"
    engine, factory = _hl7_sessions(settings, sqlite_services)
    assert engine is not None
    try:
        assert _synchronous(sqlite_services.session_factory) == _NORMAL
        assert _synchronous(factory) == _FULL
        server = MllpServer(MessageHandler(factory), "127.0.0.1", 0)
        server.start()
        try:
            with socket.create_connection(server.address, timeout=10) as sock:
                sock.sendall(b"\x0b" + encode(omg()) + b"\x1c\r")
                answer = b""
                while not answer.endswith(b"\x1c\r"):
                    chunk = sock.recv(65536)
                    assert chunk, "connection closed before the answer"
                    answer += chunk
        finally:
            server.stop()
        assert b"MSA|AA|MSG0001" in answer
        with sqlite_services.session_factory() as session:  # the archive's side sees it
            placer = text("SELECT count(*) FROM ris_order WHERE placer_order_number = 'ORD0001'")
            assert session.execute(placer).scalar_one() == 1
    finally:
        engine.dispose()


def test_normal_sync_is_a_setting(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", hl7_sqlite_synchronous="normal")
    svc = Services.from_settings(settings)
    try:
        engine, factory = _hl7_sessions(settings, svc)
        assert engine is None and factory is svc.session_factory
        assert _synchronous(factory) == _NORMAL
    finally:
        svc.close()


def test_unknown_sync_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OFF, NORMAL, FULL or EXTRA"):
        Settings(data_dir=tmp_path, hl7_sqlite_synchronous="SOMETIMES")


def test_the_door_checkpoints_later_but_keeps_the_wal_bounded(
    sqlite_services: Services,
) -> None:
    # An order's commit that checkpoints makes its ACK wait for the database file's flush:
    # the door's connections leave checkpoints to the index's other writers up to 4000 WAL
    # pages, and still checkpoint past that when nothing else writes.
    settings = sqlite_services.settings
    engine, factory = _hl7_sessions(settings, sqlite_services)
    assert engine is not None
    try:
        with factory() as session:
            autocheckpoint = text("PRAGMA wal_autocheckpoint")
            assert session.execute(autocheckpoint).scalar_one() == HL7_WAL_AUTOCHECKPOINT
        with sqlite_services.session_factory() as session:
            assert session.execute(autocheckpoint).scalar_one() == 1000  # SQLite's default
        handler = MessageHandler(factory)
        orders = 250  # ~35 WAL pages each: ~35 MB of log if nothing checkpointed
        for i in range(orders):
            answer = handler(encode(omg(f"ORD{i:04d}", control_id=f"MSG{i:04d}")))
            assert b"MSA|AA|" in answer
        wal = Path(settings.resolved_database_url.removeprefix("sqlite:///") + "-wal")
        assert wal.stat().st_size < 24 * 1024 * 1024
        with sqlite_services.session_factory() as session:
            count = text("SELECT count(*) FROM ris_order")
            assert session.execute(count).scalar_one() == orders
    finally:
        engine.dispose()
