"""``GET /api/system/status`` (permission ``system.read``: admin and service, no patient
data) and ``GET /api/hl7/destinations`` (``hl7.read``): what the administration pages show
about the database, the storage disk, the job and outbound queues and the ports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from helpers import api_token
from raddx.config import load_settings
from raddx.outbox import OutboxEventValues, record_event
from raddx.outbox.worker import OutboxWorker
from raddx.services import Services
from raddx.web import create_app


def _client(services: Services, role: str = "admin") -> TestClient:
    return TestClient(
        create_app(services), headers={"Authorization": f"Bearer {api_token(services, role)}"}
    )


def test_status_reports_database_disk_queues_and_ports(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        dicom_port=11113,
        hl7_destinations=[
            {"name": "his", "host": "127.0.0.1", "port": 1, "messages": ["z23", "oru"]}
        ],
    )
    services = Services.from_settings(settings)
    try:
        with services.session_factory() as s, s.begin():
            record_event(session=s, event=OutboxEventValues.ORU, subject="R1:1", action="F")
        # Routed to "his", the delivery cannot be built (no such report): failed, for a
        # person to look at.
        assert OutboxWorker(settings, services.session_factory).route() == 1
        client = _client(services)
        status = client.get("/api/system/status")
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["ok"] is True
        assert body["database"] == {"ok": True, "dialect": "sqlite", "error": None}
        disk = body["storage"]
        assert disk["ok"] and disk["writable"] and disk["path"] == str(services.blobs.root)
        assert 0 < disk["free_bytes"] <= disk["total_bytes"]
        assert body["ports"]["dicom"] == 11113
        assert body["jobs"] == {}
        assert body["outbox"] == {"pending": 0, "failed": 1, "oldest_pending_at": None}
        now = dt.datetime.now(dt.UTC)
        assert abs(dt.datetime.fromisoformat(body["server_time"]) - now).total_seconds() < 60

        [his] = client.get("/api/hl7/destinations").json()
        assert his["name"] == "his" and his["messages"] == ["z23", "oru"]
        assert his["charset"] == "~ISO IR87" and his["tls"] is False
    finally:
        services.close()


def test_status_is_for_admin_and_service_only(tmp_path: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        assert _client(services, "service").get("/api/system/status").status_code == 200
        for role in ("viewer", "auditor", "radiologist"):
            refused = _client(services, role).get("/api/system/status")
            assert refused.status_code == 403 and "system.read" in refused.json()["detail"]
        assert _client(services, "technologist").get("/api/hl7/destinations").json() == []
    finally:
        services.close()


def test_a_missing_storage_directory_is_reported(tmp_path: Path) -> None:
    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    try:
        root = services.blobs.root
        moved = root.with_name("moved-away")
        root.rename(moved)
        try:
            body = _client(services).get("/api/system/status").json()
        finally:
            moved.rename(root)
        assert body["ok"] is False
        assert body["storage"]["error"] == "not a directory"
        assert body["database"]["ok"] is True
    finally:
        services.close()


def test_status_reports_running_and_stopped_workers(tmp_path: Path) -> None:
    """What ``raddx serve`` registers (app.state.workers): a live DICOM listener and the
    outbound worker are running; once the worker stops it says so."""
    from helpers import start_dimse_server

    services = Services.from_settings(load_settings(data_dir=tmp_path / "data"))
    dimse = start_dimse_server(services)
    outbox = OutboxWorker(services.settings, services.session_factory)
    outbox.start()
    try:
        client = _client(services)
        client.app.state.workers = {"dicom": dimse, "outbox": outbox}  # type: ignore[attr-defined]
        assert client.get("/api/system/status").json()["workers"] == {
            "dicom": "running",
            "outbox": "running",
        }
        outbox.stop()
        assert client.get("/api/system/status").json()["workers"]["outbox"] == "stopped"
    finally:
        outbox.stop()
        dimse.stop()
        services.close()
