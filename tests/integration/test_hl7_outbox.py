"""The outbox on SQLite and PostgreSQL with a real MLLP listener: an order placed while the
destination is down stays pending and is delivered once the listener starts; an AE answer
fails the delivery with the peer's reason, and a retry (REST and CLI) sends it; ORU^R01 goes
out when a report is signed, in the destination's character set."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from helpers import free_port, start_http_server, wait_for
from mllp_peer import MllpPeer
from raddx.cli import app
from raddx.config import load_settings
from raddx.outbox import OutboxStatusValues, list_entries
from raddx.outbox.worker import OutboxWorker
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.services import Services

CHEST_CT = "6000000200020000" + "2800000000000000"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def services(tmp_path: Path, database_url: str, port: int) -> Iterator[Services]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        hl7_destinations=[
            {"name": "pacs", "host": "127.0.0.1", "port": port, "messages": ["omi"]},
            {
                "name": "ehr",
                "host": "127.0.0.1",
                "port": port,
                "messages": ["oru"],
                "charset": "UNICODE UTF-8",
            },
            {"name": "ehr-jis", "host": "127.0.0.1", "port": port, "messages": ["oru"]},
        ],
        outbox_retry_initial=0.05,
        outbox_retry_max=0.2,
        outbox_poll_interval=0.05,
        hl7_timeout=2,
    )
    svc = Services.from_settings(settings)
    yield svc
    svc.close()


@pytest.fixture
def worker(services: Services) -> Iterator[OutboxWorker]:
    w = OutboxWorker(services.settings, services.session_factory)
    w.start()
    yield w
    w.stop()


def _place(services: Services, placer: str = "ORD1") -> str:
    procedure = ProcedureCreate(
        modality="CT",
        scheduled_start_date="20261126",
        scheduled_start_time="0930",
        scheduled_station_ae_title="CT01",
        description="胸部CT 右肺 放射線施設",
        jj1017_code=CHEST_CT,
    )
    with services.session_factory() as session, session.begin():
        placed = place_order(
            OrderCreate(
                patient=PatientData(
                    "0012345",
                    "TOKYO-HP",
                    "Migita^Hodokoshi=右田^施=ミギタ^ホドコシ",
                    "19650401",
                    "F",
                ),
                procedures=(procedure,),
                placer_order_number=placer,
            ),
            session=session,
        )
    return placed.accession_number


def _entries(services: Services, status: OutboxStatusValues | None = None) -> list[object]:
    with services.session_factory() as session:
        return list(list_entries(session=session, status=status))


def test_destination_down_then_up(services: Services, worker: OutboxWorker, port: int) -> None:
    accession = _place(services)
    wait_for(lambda: any(e.attempts >= 2 for e in _entries(services)))  # type: ignore[attr-defined]
    (entry,) = _entries(services)
    assert entry.status == "pending" and entry.destination == "pacs"  # type: ignore[attr-defined]
    assert "cannot connect" in entry.last_error  # type: ignore[attr-defined]
    peer = MllpPeer(port).start()
    try:
        wait_for(lambda: bool(_entries(services, OutboxStatusValues.SENT)))
        (text,) = peer.messages()
    finally:
        peer.stop()
    segments = {s.split("|")[0]: s.split("|") for s in text.strip("\r").split("\r")}
    assert segments["MSH"][8] == "OMI^O23^OMI_O23" and segments["MSH"][17] == "~ISO IR87"
    assert segments["ORC"][1] == "NW"
    assert segments["OBR"][4] == f"{CHEST_CT}^胸部CT 右肺 放射線施設^JJ1017-32"
    assert segments["IPC"][1] == accession and segments["IPC"][9] == "CT01"
    assert segments["PID"][5].startswith("右田^施^^^^^L^I~ミギタ^ホドコシ^^^^^L^P")


def test_refused_then_retried(services: Services, worker: OutboxWorker, port: int) -> None:
    peer = MllpPeer(port, ack="AE", error="オーダ番号が不明です").start()
    server = start_http_server(services)
    try:
        _place(services)
        wait_for(lambda: bool(_entries(services, OutboxStatusValues.FAILED)))
        listed = httpx.get(f"{server.url}/api/hl7/outbox", params={"status": "failed"})
        assert listed.status_code == 200, listed.text
        (failed,) = listed.json()
        assert failed["attempts"] == 1 and "オーダ番号が不明です" in failed["last_error"]
        peer.ack = "AA"
        retried = httpx.post(f"{server.url}/api/hl7/outbox/{failed['id']}/retry")
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        wait_for(lambda: bool(_entries(services, OutboxStatusValues.SENT)))
        assert len(peer.received) == 2
        assert peer.received[0] == peer.received[1]  # the same bytes, same MSH-10
        again = httpx.post(f"{server.url}/api/hl7/outbox/{failed['id']}/retry")
        assert again.status_code == 409
        assert httpx.post(f"{server.url}/api/hl7/outbox/999999/retry").status_code == 404
        # The CLI sees the same outbox and refuses a retry of what was sent.
        db = ["--database-url", services.settings.resolved_database_url]
        shown = CliRunner().invoke(app, ["hl7", "outbox", *db])
        assert shown.exit_code == 0 and "\tsent\tomi:NW\tpacs\t" in shown.output
        refused = CliRunner().invoke(app, ["hl7", "retry", str(failed["id"]), *db])
        assert refused.exit_code == 1 and "was sent" in refused.output
    finally:
        server.stop()
        peer.stop()


def test_cli_retry_of_a_failed_delivery(services: Services, port: int) -> None:
    peer = MllpPeer(port, ack="AR").start()
    worker = OutboxWorker(services.settings, services.session_factory)
    try:
        _place(services)
        worker.run_once()
        (failed,) = _entries(services, OutboxStatusValues.FAILED)
        db = ["--database-url", services.settings.resolved_database_url]
        result = CliRunner().invoke(app, ["hl7", "retry", str(failed.id), *db])  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        assert "\tpending\tpacs" in result.output
        peer.ack = "AA"
        worker.run_once()
        assert [e.status for e in _entries(services)] == ["sent"]  # type: ignore[attr-defined]
    finally:
        peer.stop()


def _by_destination(services: Services) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for entry in reversed(_entries(services)):
        out.setdefault(entry.destination, []).append(entry)  # type: ignore[attr-defined]
    return out


def test_oru_when_a_report_is_signed_and_amended(
    services: Services, worker: OutboxWorker, port: int
) -> None:
    from raddx.reports import service as reports
    from raddx.reports.enum import ReportStatusValues
    from raddx.reports.record import PatientInfo, Person, ReportRecord, Sections

    peer = MllpPeer(port).start()
    try:
        record = ReportRecord(
            report_id="R1",
            version=1,
            status=ReportStatusValues.DRAFT,
            patient=PatientInfo(patient_id="0012345", name_kanji="右田^施"),
            created_at=dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC),
            sections=Sections(findings="右肺に結節。髙橋医師確認 ①", impression="肺癌疑い"),
        )
        with services.session_factory() as session, session.begin():
            reports.create(session=session, record=record)
        verifier = Person(name="放射^線子")
        with services.session_factory() as session, session.begin():
            reports.finalise(
                session=session,
                report_id="R1",
                verifier=verifier,
                at=dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC),
            )

        def settled() -> bool:
            return all(e.status != "pending" for e in _entries(services))  # type: ignore[attr-defined]

        wait_for(lambda: len(_entries(services)) == 2 and settled())
        first = _by_destination(services)
        assert [e.status for e in first["ehr"]] == ["sent"]  # type: ignore[attr-defined]
        # 髙 and ① are outside JIS X 0208: the ~ISO IR87 destination gets nothing garbled.
        (jis,) = first["ehr-jis"]
        assert jis.status == "failed" and "髙" in jis.last_error  # type: ignore[attr-defined]
        (raw,) = peer.received
        text = raw.decode("utf-8")  # the "ehr" destination wants UTF-8: 髙 and ① survive
        assert "|ORU^R01^ORU_R01|" in text and "|UNICODE UTF-8" in text
        assert "右肺に結節。髙橋医師確認 ①" in text
        obr = next(s for s in text.split("\r") if s.startswith("OBR")).split("|")
        assert obr[25] == "F"
        # An amendment goes to both, result status C; the JIS one is ISO-2022-JP.
        with services.session_factory() as session, session.begin():
            reports.amend(
                session=session,
                report_id="R1",
                verifier=verifier,
                at=dt.datetime(2026, 11, 26, 11, 0, tzinfo=dt.UTC),
                changes={"sections": Sections(findings="右肺に結節。", impression="肺癌疑い")},
            )
        wait_for(lambda: len(peer.received) == 3 and settled())
        amended = [b for b in peer.received[1:]]
        texts = sorted(b.decode("iso2022_jp" if b"\x1b$B" in b else "utf-8") for b in amended)
        for text in texts:
            obr = next(s for s in text.split("\r") if s.startswith("OBR")).split("|")
            assert obr[25] == "C" and obr[21] == "2"
        assert {"~ISO IR87" in t for t in texts} == {True, False}
        assert all("右肺に結節。" in t for t in texts)
    finally:
        peer.stop()


def test_cancel_follows_the_new_order(services: Services, port: int) -> None:
    from raddx.ris import OrderStatusValues, change_order_status, find_order

    peer = MllpPeer(port).start()
    worker = OutboxWorker(services.settings, services.session_factory)
    try:
        accession = _place(services)
        with services.session_factory() as session, session.begin():
            order = find_order(session=session, accession_number=accession)
            change_order_status(order, OrderStatusValues.CANCELLED, session=session)
        worker.run_once()
        controls = [m.split("\r")[2].split("|")[1] for m in peer.messages()]
        assert controls == ["NW", "CA"]  # in order, per destination
        assert peer.messages()[1].split("\r")[2].split("|")[5] == "CA"  # ORC-5
    finally:
        peer.stop()


def test_status_changes_and_added_steps_are_announced(services: Services, port: int) -> None:
    """Issue 6 leftovers: an order started (IP), a step added by hand, and a discontinued order
    each reach the modality/PACS as OMI^O23 (SC with ORC-5 IP, XO with both procedures, DC)."""
    from raddx.ris import OrderStatusValues, change_order_status, find_order
    from raddx.ris.worklist_items import add_step

    def status(target: OrderStatusValues) -> None:
        with services.session_factory() as session, session.begin():
            order = find_order(session=session, accession_number=accession)
            change_order_status(order, target, session=session)

    peer = MllpPeer(port).start()
    worker = OutboxWorker(services.settings, services.session_factory)
    try:
        accession = _place(services)
        worker.run_once()
        status(OrderStatusValues.IN_PROGRESS)
        worker.run_once()
        with services.session_factory() as session, session.begin():
            extra = ProcedureCreate(
                modality="CR", scheduled_start_date="20261126", scheduled_start_time="1000"
            )
            add_step(session=session, accession_number=accession, procedure=extra)
        worker.run_once()
        status(OrderStatusValues.DISCONTINUED)
        worker.run_once()
        orcs = [
            [s.split("|") for s in m.split("\r") if s.startswith("ORC")] for m in peer.messages()
        ]
        assert [(o[0][1], o[0][5], len(o)) for o in orcs] == [
            ("NW", "SC", 1),
            ("SC", "IP", 1),
            ("XO", "IP", 2),  # the step added by hand is the second procedure
            ("DC", "DC", 2),
        ]
        ipc = [s for s in peer.messages()[2].split("\r") if s.startswith("IPC")][1]
        assert ipc.split("|")[5] == "CR"  # IPC-5
    finally:
        peer.stop()


def test_nothing_lost_across_a_restart(services: Services, port: int) -> None:
    # Orders placed while no raddx serve runs (e.g. by raddx order add) wait in the index; a
    # worker started later, in a new process with new connections, routes and sends them.
    accessions = [_place(services, f"ORD{i}") for i in range(3)]
    waiting = _entries(services)
    assert [(e.destination, e.status) for e in waiting] == [(None, "pending")] * 3  # type: ignore[attr-defined]
    settings = services.settings
    services.close()
    reopened = Services.from_settings(settings)
    peer = MllpPeer(port).start()
    try:
        OutboxWorker(settings, reopened.session_factory).run_once()
        sent = [m.split("\r")[-2].split("|")[1] for m in peer.messages()]  # IPC-1
        assert sent == accessions
    finally:
        peer.stop()
        reopened.close()


def test_retry_refusals(services: Services) -> None:
    from raddx.errors import Conflict, NotFound
    from raddx.outbox import retry_entry

    _place(services)
    (event,) = _entries(services)
    with services.session_factory() as session, session.begin():
        with pytest.raises(Conflict, match="is an event"):
            retry_entry(session=session, entry_id=event.id)  # type: ignore[attr-defined]
        with pytest.raises(NotFound):
            retry_entry(session=session, entry_id=999999)


def test_events_no_destination_takes_are_unrouted_in_bulk(services: Services) -> None:
    # Z23 and MPPS events have no destination here (only OMI and ORU do): one pass marks
    # them unrouted, routes the OMI event of the order, and counts all of them.
    from raddx.outbox import OutboxEventValues, record_event

    accession = _place(services)
    with services.session_factory() as session, session.begin():
        for event in (OutboxEventValues.Z23, OutboxEventValues.MPPS):
            record_event(session=session, event=event, subject="1.2.3", action="COMPLETED")
    assert OutboxWorker(services.settings, services.session_factory).route() == 3
    with services.session_factory() as session:
        entries = list_entries(session=session, include_events=True)
    by_kind = {(e.event, e.destination): e.status for e in entries}
    assert by_kind == {
        ("omi", None): "routed",
        ("omi", "pacs"): "pending",
        ("z23", None): "unrouted",
        ("mpps", None): "unrouted",
    }
    assert [e.subject for e in entries if e.destination == "pacs"] == [accession]
