"""Outbound HL7 is delivered at least once (issue 6): a ``raddx serve`` killed after the
receiver acknowledged a message but before the outbox recorded it as sent delivers it again
after the restart — with the same MSH-10 (and the same bytes), so the receiver can discard
the duplicate. A real kill -9 of a child process, a real MLLP listener, SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from mllp_peer import MllpPeer
from raddx.config import load_settings
from raddx.hl7.charset import read_header
from raddx.outbox import OutboxStatusValues, list_entries
from raddx.outbox.worker import OutboxWorker
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.services import Services

# The child delivers the outbox and SIGKILLs itself the moment the peer's ACK is in, before
# the delivery is recorded: no cleanup code of ours runs.
_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from raddx.config import load_settings
    from raddx.services import Services
    from raddx.outbox.worker import OutboxWorker
    settings = load_settings(**json.loads(sys.argv[1]))
    services = Services.from_settings(settings, migrate=False)
    OutboxWorker._record = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    OutboxWorker(settings, services.session_factory).run_once()
    """
)


def _settings(tmp_path: Path, database_url: str, port: int) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "database_url": database_url,
        "hl7_destinations": [
            {"name": "pacs", "host": "127.0.0.1", "port": port, "messages": ["omi"]}
        ],
        "hl7_timeout": 10,
    }


def test_redelivery_after_a_crash_keeps_msh_10(tmp_path: Path, database_url: str) -> None:
    peer = MllpPeer().start()
    try:
        config = _settings(tmp_path, database_url, peer.port)
        services = Services.from_settings(load_settings(**config))
        try:
            with services.session_factory() as session, session.begin():
                place_order(
                    OrderCreate(
                        patient=PatientData(
                            "0012345", "TOKYO-HP", "Migita^Hodokoshi=右田^施=ミギタ^ホドコシ"
                        ),
                        procedures=(
                            ProcedureCreate(
                                modality="CT",
                                scheduled_start_date="20261126",
                                description="胸部CT 右肺 放射線施設",  # '&' '|' '\\' in JIS
                            ),
                        ),
                        placer_order_number="ORD-CRASH",
                    ),
                    session=session,
                )
            child = subprocess.run(
                [sys.executable, "-c", _CHILD, json.dumps(config)],
                capture_output=True,
                timeout=120,
            )
            assert child.returncode == -signal.SIGKILL, child.stderr.decode()
            assert len(peer.received) == 1  # the peer has it and acknowledged it ...
            with services.session_factory() as session:
                (delivery,) = [e for e in list_entries(session=session) if e.destination == "pacs"]
            assert delivery.status == "pending"  # ... but the outbox never heard
            first_id = delivery.message_control_id

            # The restarted server (a new worker, new connections) delivers it again.
            OutboxWorker(services.settings, services.session_factory).run_once()
            with services.session_factory() as session:
                (delivery,) = list_entries(session=session, status=OutboxStatusValues.SENT)
        finally:
            services.close()
    finally:
        peer.stop()
    first, again = peer.received
    assert read_header(first).field(10) == read_header(again).field(10) == first_id
    assert first_id == f"RADDX{delivery.id:010d}"
    assert first == again  # the same bytes: MSH-7 too, so a byte-wise check also works
    assert "右田^施" in peer.messages()[1]
