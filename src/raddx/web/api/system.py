"""``/api/system/status`` and ``/api/hl7/destinations``: the state of this raddx for its
operators (the administration pages, issue 10 §5), beyond ``/healthz``'s yes or no.

``system.read`` holds no patient data (the service role may hold it for remote
maintenance); the HL7 destinations are read with ``hl7.read``, like the outbox they feed.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field

from raddx import __version__
from raddx.system import database_status, disk_status, job_counts, outbox_backlog
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("administration")


class DatabaseStatusPublic(BaseModel):
    ok: bool
    dialect: str = Field(description="sqlite or postgresql.")
    error: str | None = None


class DiskStatusPublic(BaseModel):
    path: str = Field(description="The blob store's root directory.")
    ok: bool
    writable: bool
    total_bytes: int | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    error: str | None = None


class OutboxBacklogPublic(BaseModel):
    pending: int = Field(description="Deliveries not yet acknowledged by their peer.")
    failed: int = Field(description="Deliveries a peer refused: a person retries them.")
    oldest_pending_at: dt.datetime | None = None


class PortsPublic(BaseModel):
    """The doors' listening ports as configured (0 = off)."""

    http: int
    https: int
    dicom: int
    dicom_tls: int
    hl7: int
    hl7_tls: int


class SystemStatusPublic(BaseModel):
    """What an operator checks first: is everything up, is the disk filling, are queues
    draining."""

    ok: bool = Field(description="Database reachable and storage writable.")
    version: str
    server_time: dt.datetime = Field(description="This server's clock (UTC).")
    ae_title: str
    database: DatabaseStatusPublic
    storage: DiskStatusPublic
    jobs: dict[str, int] = Field(description="Jobs per state (queued, running, done…).")
    outbox: OutboxBacklogPublic
    ports: PortsPublic
    workers: dict[str, Literal["running", "stopped"]] = Field(
        description="This process's listeners and background workers (dicom, dicom_tls, hl7, "
        "hl7_tls, outbox) as `raddx serve` started them; empty when the HTTP door runs alone."
    )
    security_enforced: bool
    audit_enabled: bool


class HL7DestinationPublic(BaseModel):
    """A configured outbound HL7 v2 destination (raddx.toml ``hl7_destinations``)."""

    name: str
    host: str
    port: int
    messages: list[str] = Field(description="z23, omi and/or oru.")
    charset: str = Field(description="MSH-18.")
    receiving_application: str
    receiving_facility: str
    tls: bool


@endpoint(router, "GET", "/system/status", action="system.read", response_model=SystemStatusPublic)
def system_status(services: ServicesDep, request: Request) -> SystemStatusPublic:
    """The index, the storage disk (size, free), the job and outbound queues, the ports and
    whether each listener and worker thread still runs."""
    settings = services.settings
    workers = getattr(request.app.state, "workers", {})
    database = database_status(services.engine)
    storage = disk_status(services.blobs.root)
    jobs: dict[str, int] = {}
    backlog = OutboxBacklogPublic(pending=0, failed=0)
    if database.ok:
        with services.session_factory() as session:
            jobs = job_counts(session=session)
            found = outbox_backlog(session=session)
        backlog = OutboxBacklogPublic(
            pending=found.pending, failed=found.failed, oldest_pending_at=found.oldest_pending_at
        )
    return SystemStatusPublic(
        ok=database.ok and storage.ok,
        version=__version__,
        server_time=dt.datetime.now(dt.UTC),
        ae_title=settings.ae_title,
        database=DatabaseStatusPublic(
            ok=database.ok, dialect=database.dialect, error=database.error
        ),
        storage=DiskStatusPublic(
            path=storage.path,
            ok=storage.ok,
            writable=storage.writable,
            total_bytes=storage.total_bytes,
            used_bytes=storage.used_bytes,
            free_bytes=storage.free_bytes,
            error=storage.error,
        ),
        jobs=jobs,
        outbox=backlog,
        ports=PortsPublic(
            http=settings.http_port,
            https=settings.https_port,
            dicom=settings.dicom_port,
            dicom_tls=settings.dicom_tls_port,
            hl7=settings.hl7_port,
            hl7_tls=settings.hl7_tls_port,
        ),
        workers={
            name: "running" if worker.running else "stopped" for name, worker in workers.items()
        },
        security_enforced=settings.security_enforced,
        audit_enabled=settings.audit_enabled,
    )


@endpoint(
    router,
    "GET",
    "/hl7/destinations",
    action="hl7.read",
    response_model=list[HL7DestinationPublic],
)
def hl7_destinations(services: ServicesDep) -> list[HL7DestinationPublic]:
    """Where raddx sends HL7 v2 messages, in routing order; read-only (they change with
    raddx.toml, like the configured remote AEs)."""
    return [
        HL7DestinationPublic(
            name=d.name,
            host=d.host,
            port=d.port,
            messages=[m.value for m in d.messages],
            charset=d.charset.value,
            receiving_application=d.receiving_application,
            receiving_facility=d.receiving_facility,
            tls=d.tls,
        )
        for d in services.settings.hl7_destinations
    ]
