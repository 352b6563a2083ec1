"""The hash-chained audit log on SQLite and PostgreSQL: batching writer, verify, search,
syslog/TLS export to a real collector on loopback."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from audit_schema import assert_valid
from helpers import wait_for
from raddx.config import load_settings
from raddx.db.models import AuditRecord
from raddx.security import audit
from raddx.security import audit_events as ev
from raddx.security.audit import ActiveParticipant, EventActionCodeValues, PatientRef, StudyRef
from raddx.security.audit_log import AuditFilter, search, verify
from raddx.services import Services
from syslog_collector import Collector as _Collector

USER = ActiveParticipant(user_id="yamada", user_is_requestor=True, host="127.0.0.1")


def _transfer(patient_id: str) -> audit.AuditEvent:
    return ev.instances_transferred(
        action=EventActionCodeValues.CREATE,
        peer=ActiveParticipant(user_id="CT01", user_is_requestor=True, host="127.0.0.1"),
        received=True,
        patient=PatientRef(patient_id, "Test^Patient"),
        studies=[StudyRef("1.2.3.4", sop_classes=(("1.2.840.10008.5.1.4.1.1.2", 1),))],
    )


def _rows(services: Services) -> list[AuditRecord]:
    with Session(services.engine) as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def test_records_are_chained_in_order_and_valid(services: Services) -> None:
    for n in range(25):
        audit.record(_transfer(f"P{n}"))
    assert services.audit.flush()
    rows = _rows(services)
    assert [r.patient_id for r in rows] == [f"P{n}" for n in range(25)]
    assert [r.seq for r in rows] == list(range(1, 26))
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert_valid(rows[0].xml.encode())
    assert rows[0].event_id == "110104" and rows[0].user_id == "CT01"
    assert verify(services.engine).ok
    assert verify(services.engine).records == 25


def test_close_writes_what_is_queued(settings) -> None:  # type: ignore[no-untyped-def]
    services = Services.from_settings(settings)
    for n in range(50):
        audit.record(_transfer(f"P{n}"))
    services.close()  # no flush(): close must drain the queue
    again = Services.from_settings(settings)
    try:
        assert verify(again.engine).records == 50
    finally:
        again.close()


@pytest.mark.parametrize("tamper", ["edit", "delete_middle", "delete_newest", "relink"])
def test_verify_finds_the_first_broken_link(services: Services, tamper: str) -> None:
    for n in range(10):
        audit.record(_transfer(f"P{n}"))
    assert services.audit.flush()
    with Session(services.engine) as session, session.begin():
        if tamper == "edit":  # change who was involved, keep the stored hash
            session.execute(update(AuditRecord).where(AuditRecord.seq == 4).values(patient_id="X"))
        elif tamper == "delete_middle":
            session.execute(delete(AuditRecord).where(AuditRecord.seq == 4))
        elif tamper == "delete_newest":
            session.execute(delete(AuditRecord).where(AuditRecord.seq >= 9))
        else:  # edit the XML and recompute this row's hash: the next row's link breaks
            from raddx.security.audit_log import row_hash

            row = session.get(AuditRecord, 4)
            assert row is not None
            row.xml = row.xml.replace("P3", "P9")
            row.hash = row_hash(row.prev_hash, row)
    report = verify(services.engine)
    assert not report.ok
    assert (
        report.broken_seq
        == {"edit": 4, "delete_middle": 4, "delete_newest": 9, "relink": 5}[tamper]
    )


def test_search_filters_and_pages(services: Services) -> None:
    audit.record(_transfer("P1"))
    audit.record(ev.user_authentication(user=USER, login=True))
    audit.record(_transfer("P2"))
    assert services.audit.flush()
    with Session(services.engine) as session:
        by_patient = list(search(session, AuditFilter(patient_id="P2")))
        by_user = list(search(session, AuditFilter(user_id="yamada")))
        by_event = list(search(session, AuditFilter(event_id="110104", limit=1, offset=1)))
        future = list(
            search(
                session,
                AuditFilter(since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)),
            )
        )
        window = list(
            search(
                session,
                AuditFilter(
                    since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
                    until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                ),
            )
        )
    assert [r.patient_id for r in by_patient] == ["P2"]
    assert [r.event_id for r in by_user] == ["110114"]
    assert [r.patient_id for r in by_event] == ["P2"]
    assert future == []
    assert len(window) == 3


# -- syslog over TLS (RFC 5424 / RFC 5425) to a real collector ------------------------------


@pytest.fixture
def collector() -> Iterator[tuple[_Collector, trustme.CA]]:
    ca = trustme.CA()
    server = _Collector(ca)
    yield server, ca
    server.close()


def test_messages_reach_a_tls_syslog_collector(tmp_path, collector) -> None:  # type: ignore[no-untyped-def]
    server, ca = collector
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings = load_settings(
        data_dir=tmp_path / "data",
        audit_syslog_host="127.0.0.1",
        audit_syslog_port=server.port,
        audit_syslog_ca_file=ca_file,
    )
    services = Services.from_settings(settings)
    try:
        audit.record(_transfer("P-SYSLOG"))
        assert services.audit.flush()
        wait_for(lambda: len(server.frames) == 1)
        with Session(services.engine) as session:
            stored = session.scalars(select(AuditRecord)).one()
    finally:
        services.close()
    header, _, xml = server.frames[0].partition(b" <?xml")
    fields = header.split(b" ", 6)
    assert fields[0] == b"<85>1"
    assert fields[5] == b"IHE+RFC-3881"
    # Structured data: the record's place in the hash chain, an anchor held by the collector.
    assert fields[6] == f'[raddx-chain@32473 seq="1" hash="{stored.hash}"]'.encode()
    root = assert_valid(b"<?xml" + xml)
    assert root.find("EventIdentification/EventID").get("csd-code") == "110104"


def test_collector_down_then_up_gets_the_backlog_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there yet
    settings = load_settings(
        data_dir=tmp_path / "data",
        audit_syslog_host="127.0.0.1",
        audit_syslog_port=port,
        audit_syslog_ca_file=ca_file,
    )
    services = Services.from_settings(settings)
    try:
        for n in range(3):
            audit.record(_transfer(f"P{n}"))
        assert services.audit.flush()  # the log has them although the collector is down
        assert verify(services.engine).records == 3
        server = _Collector.__new__(_Collector)
        cert = ca.issue_cert("127.0.0.1")
        server.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(server.context)
        server.listener = socket.create_server(("127.0.0.1", port))
        server.port, server.frames = port, []
        threading.Thread(target=server._serve, daemon=True).start()
        wait_for(lambda: len(server.frames) == 3, timeout=60)
        order = [next(n for n in range(3) if f"P{n}".encode() in f) for f in server.frames]
        assert order == [0, 1, 2]
        server.close()
    finally:
        services.close()


def test_untrusted_collector_certificate_is_not_sent_to(tmp_path, collector) -> None:  # type: ignore[no-untyped-def]
    server, _ = collector
    other_ca = trustme.CA()
    ca_file = tmp_path / "other-ca.pem"
    other_ca.cert_pem.write_to_path(str(ca_file))
    settings = load_settings(
        data_dir=tmp_path / "data",
        audit_syslog_host="127.0.0.1",
        audit_syslog_port=server.port,
        audit_syslog_ca_file=ca_file,
    )
    services = Services.from_settings(settings)
    try:
        audit.record(_transfer("P-SECRET"))
        assert services.audit.flush()
        sender = services.audit.sender
        assert sender is not None
        assert not sender.wait_idle(1.0)  # still pending: the handshake keeps failing
        assert server.frames == []
    finally:
        services.audit.close(timeout=5)
        services.close()


def test_an_event_that_cannot_be_built_does_not_stop_the_writer(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import raddx.security.audit_log as audit_log

    real = audit_log.to_xml

    def flaky(event: audit.AuditEvent, source: object) -> bytes:
        if event.patient_id == "BAD":
            raise RuntimeError("simulated bug")
        return real(event, source)  # type: ignore[arg-type]

    monkeypatch.setattr(audit_log, "to_xml", flaky)
    audit.record(_transfer("BAD"))
    audit.record(_transfer("GOOD"))
    assert services.audit.flush()
    assert [r.patient_id for r in _rows(services)] == ["GOOD"]
