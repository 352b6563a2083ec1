"""``raddx serve``: the configured doors in one process group, shut down cleanly.

Process model: the parent migrates the index, binds the DICOM socket, then forks
``dicom_workers - 1`` DIMSE worker processes that share that socket. The parent itself also
serves DIMSE (in a thread) and HTTP (uvicorn, main thread). Forking happens before any
thread or database connection exists, so children inherit no locks or connections.

Ctrl-C (SIGINT to the whole terminal process group) or SIGTERM to the parent stops
everything: the parent stops HTTP, stops accepting associations, aborts open ones, then
sends SIGTERM to the workers and waits for them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from sqlalchemy import Engine, event
from sqlalchemy.orm import sessionmaker

from raddx.config import Settings
from raddx.db import make_engine, make_session_factory
from raddx.dimse import DimseServer, listen_socket
from raddx.dimse.balance import LoadBoard
from raddx.hl7 import MessageHandler, MllpServer
from raddx.hl7.acceptance import SenderGate
from raddx.jobs import JobService
from raddx.outbox.worker import OutboxWorker
from raddx.security import audit, audit_events
from raddx.security.tls import check_tls_settings, server_context
from raddx.services import Services
from raddx.web import create_app

__all__ = ["configure_logging", "serve"]

log = logging.getLogger("raddx.server")


def configure_logging(level: int = logging.INFO) -> None:
    """key=value logs on stderr; pynetdicom's per-association chatter only at WARNING."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class _Stop(Exception):
    """Raised in the main thread by our SIGTERM handler."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def _worker(settings: Settings, sock: socket.socket, board: LoadBoard, slot: int) -> None:
    """A forked DIMSE worker: serve until SIGTERM/SIGINT, then exit without returning."""
    code = 0
    try:
        services = Services.from_settings(settings, migrate=False)
        server = DimseServer(
            settings=settings,
            ingest=services.ingest,
            sock=sock,
            session_factory=services.session_factory,
            board=board,
            slot=slot,
        )
        stopping = threading.Event()

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            if not stopping.is_set():
                stopping.set()
                # shutdown() waits for serve_forever to return: call it from another thread.
                threading.Thread(target=server.stop, daemon=True).start()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        server.serve_forever()
        services.close()
    except BaseException:
        log.exception("DIMSE worker failed")
        code = 1
    finally:
        os._exit(code)


def serve(settings: Settings) -> int:
    """Run until interrupted; return the process exit code.

    Raises
    ------
    ValueError
        An unusable TLS configuration (:func:`raddx.security.tls.check_tls_settings`).
    """
    check_tls_settings(settings)
    services = Services.from_settings(settings, migrate=True)  # migrate once, before forking
    try:
        if settings.startup_sweep:
            _startup_sweep(services)
    finally:
        services.close()
    # tls_only: the plain DICOM port is not opened (and no plain worker is forked).
    sock = None if settings.tls_only else listen_socket(settings.dicom_host, settings.dicom_port)
    workers = (settings.dicom_workers or os.cpu_count() or 1) if sock is not None else 1
    board = LoadBoard(workers)  # shared memory: made before forking
    children: list[int] = []
    for slot in range(1, workers):
        pid = os.fork()
        if pid == 0:
            assert sock is not None  # workers exist only for the plain port
            _worker(settings, sock, board, slot)
        children.append(pid)

    signal.signal(signal.SIGTERM, _raise_stop)
    services = Services.from_settings(settings, migrate=False)
    audit.record(audit_events.application_activity(start=True))
    dimse = None
    if sock is not None:
        dimse = DimseServer(
            settings=settings,
            ingest=services.ingest,
            sock=sock,
            session_factory=services.session_factory,
            board=board if workers > 1 else None,
            slot=0,
        )
        dimse.start()
    dimse_tls = _start_dimse_tls(settings, services)
    host, port = dimse.address if dimse is not None else ("off", 0)
    # The app first: its job service runs the HL7 door's patient-merge jobs.
    app = _web_app(settings, services)
    hl7_engine, hl7_sessions = _hl7_sessions(settings, services)
    mllp = _start_mllp(settings, services, hl7_sessions, app.state.jobs)
    mllp_tls = _start_mllp(settings, services, hl7_sessions, app.state.jobs, tls=True)
    outbox = OutboxWorker(settings, services.session_factory)  # HL7 out, MPPS forwarding
    outbox.start()
    # What /api/system/status reports as running or stopped (the forked DICOM workers are
    # not watched from here: the parent's listener stands for the port).
    app.state.workers = {
        name: worker
        for name, worker in (
            ("dicom", dimse),
            ("dicom_tls", dimse_tls),
            ("hl7", mllp),
            ("hl7_tls", mllp_tls),
            ("outbox", outbox),
        )
        if worker is not None
    }
    http = _HttpDoors(settings, app)
    log.info(
        "raddx ready ae_title=%s dicom=%s:%d dicom_tls=%s http=%s https=%s hl7=%s "
        "dicom_workers=%d storage=%s",
        settings.ae_title,
        host,
        port,
        f"{dimse_tls.address[0]}:{dimse_tls.address[1]}" if dimse_tls is not None else "off",
        "off" if settings.tls_only else f"{settings.http_host}:{settings.http_port}",
        f"{settings.http_host}:{settings.https_port}" if settings.https_port else "off",
        f"{mllp.address[0]}:{mllp.address[1]}" if mllp is not None else "off",
        workers,
        settings.resolved_storage_path,
    )
    try:
        http.run()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        log.info("raddx stopping")
        with contextlib.suppress(KeyboardInterrupt, _Stop):
            http.stop()
            if dimse is not None:
                dimse.stop()
            if dimse_tls is not None:
                dimse_tls.stop()
            if mllp is not None:
                mllp.stop()
            if mllp_tls is not None:
                mllp_tls.stop()
            if hl7_engine is not None:
                hl7_engine.dispose()
            outbox.stop()
            _stop_children(children)
            if sock is not None:
                sock.close()
            audit.record(audit_events.application_activity(start=False))
            services.close()  # writes the queued audit events first
    log.info("raddx stopped")
    return 0


def _web_app(settings: Settings, services: Services) -> Any:
    """The HTTP door's app. On first start (no user yet) print the one-time setup code on
    the console: whoever started the server creates the first admin with it (issue 9; there
    is no default password anywhere)."""
    app = create_app(services)
    code = app.state.setup_code
    if code is not None:
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
        print(
            "raddx: no user exists yet. Create the administrator with this one-time code:\n"
            f"  setup code: {code}\n"
            f"  curl -X POST http://{host}:{settings.http_port}/api/auth/setup "
            "-H 'Content-Type: application/json' \\\n"
            f'    -d \'{{"code": "{code}", "name": "admin", "password": "<13+ characters>"}}\'\n'
            "  (or on this machine: raddx user add admin --role admin)",
            file=sys.stderr,
            flush=True,
        )
    return app


def _hl7_sessions(
    settings: Settings, services: Services
) -> tuple[Engine | None, sessionmaker[Any]]:
    """Sessions for the HL7 door: on SQLite through their own engine whose commits use
    ``hl7_sqlite_synchronous`` (FULL by default: an acknowledged order is on disk, whatever
    ``sqlite_synchronous`` the archive's index runs with). Returns that engine too, to be
    disposed at stop (``None``: the services' sessions are used as they are)."""
    if (
        services.engine.dialect.name != "sqlite"
        or settings.hl7_sqlite_synchronous == settings.sqlite_synchronous
    ):
        return None, services.session_factory
    engine = make_engine(
        settings.resolved_database_url, sqlite_synchronous=settings.hl7_sqlite_synchronous
    )
    event.listen(engine, "connect", _later_checkpoints)
    return engine, make_session_factory(engine)


#: WAL pages past which an HL7 door's commit checkpoints (SQLite's default: 1000).
HL7_WAL_AUTOCHECKPOINT = 4000


def _later_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    """SQLite checkpoints inside the commit that takes the WAL past ``wal_autocheckpoint``
    pages, and that order's ACK waits for the database file's flush (~8 ms on the bench's
    disk, every ~28 orders at 35 pages each). Past 4000 on the door's connections, the
    index's other writers (audit trail, outbox, ingest: 1000) do most checkpoints, off the
    order path; the door still checkpoints when nothing else writes, so the WAL stays
    bounded (~16 MB). Durability is unchanged: each commit flushes its own WAL frames."""
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={HL7_WAL_AUTOCHECKPOINT}")


def _start_mllp(
    settings: Settings,
    services: Services,
    session_factory: sessionmaker[Any],
    jobs: JobService,
    *,
    tls: bool = False,
) -> MllpServer | None:
    """The HL7 v2 door (orders, ADT) in this process, unless ``hl7_port`` is 0. Only the
    parent serves it: one listener is plenty for an order feed. ``tls``: the MLLP over TLS
    listener on ``hl7_tls_port``; ``tls_only`` leaves the plain port closed."""
    port = settings.hl7_tls_port if tls else (0 if settings.tls_only else settings.hl7_port)
    if port == 0:
        return None
    server = MllpServer(
        MessageHandler(
            session_factory,
            jobs=jobs,
            refuse_unknown_jj1017=settings.jj1017_refuse_unknown,
        ),
        settings.hl7_host,
        port,
        ssl_context=server_context(settings) if tls else None,
        gate=SenderGate(settings) or None,
    )
    server.start()
    return server


def _start_dimse_tls(settings: Settings, services: Services) -> DimseServer | None:
    """The DICOM TLS door (``dicom_tls_port``) in this process, on pynetdicom."""
    if not settings.dicom_tls_port:
        return None
    server = DimseServer(
        settings=settings,
        ingest=services.ingest,
        sock=listen_socket(settings.dicom_host, settings.dicom_tls_port),
        session_factory=services.session_factory,
        ssl_context=server_context(settings),
    )
    server.start()
    return server


class _HttpDoors:
    """HTTP (``http_port``, unless ``tls_only``) and HTTPS (``https_port``) on one app.

    The first runs in the main thread (uvicorn handles Ctrl-C there), the other in a thread.
    """

    def __init__(self, settings: Settings, app: object) -> None:
        self._servers: list[uvicorn.Server] = []
        if not settings.tls_only:
            self._servers.append(
                uvicorn.Server(
                    uvicorn.Config(
                        app,  # type: ignore[arg-type]
                        host=settings.http_host,
                        port=settings.http_port,
                        log_level="warning",
                        lifespan="off",
                    )
                )
            )
        if settings.https_port:
            context = server_context(settings)
            self._servers.append(
                uvicorn.Server(
                    uvicorn.Config(
                        app,  # type: ignore[arg-type]
                        host=settings.http_host,
                        port=settings.https_port,
                        log_level="warning",
                        lifespan="off",
                        ssl_context_factory=lambda config, default: context,
                    )
                )
            )
        self._threads: list[threading.Thread] = []

    def run(self) -> None:
        """Serve until interrupted (returns when the main server stops)."""
        if not self._servers:  # DICOM/HL7 only: wait for the signal
            while True:
                time.sleep(3600)
        main, *others = self._servers
        for server in others:
            thread = threading.Thread(target=server.run, daemon=True, name="https")
            thread.start()
            self._threads.append(thread)
        main.run()

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=10)


#: At start nothing of this server is in flight; a younger file may belong to another raddx
#: process sharing the storage (e.g. ``raddx import``).
_STARTUP_SWEEP_GRACE = 60.0


def _startup_sweep(services: Services) -> None:
    """Reconcile blobs and index after a possible crash (see ``raddx.archive.sweep``)."""
    from raddx.archive import sweep_orphans

    report = sweep_orphans(
        session_factory=services.session_factory,
        blobs=services.blobs,
        ingest=services.ingest,
        grace_seconds=min(_STARTUP_SWEEP_GRACE, services.settings.orphan_grace_seconds),
    )
    if report.recovered or report.orphan_blobs or report.temp_files or report.missing_blobs:
        log.warning(
            "startup sweep recovered=%d removed_blobs=%d removed_temp=%d missing_blobs=%d",
            report.recovered,
            report.orphan_blobs,
            report.temp_files,
            report.missing_blobs,
        )


def _stop_children(children: list[int], timeout: float = 15.0) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    remaining = set(children)
    while remaining and time.monotonic() < deadline:
        for pid in list(remaining):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                remaining.discard(pid)
        if remaining:
            time.sleep(0.05)
    for pid in remaining:
        log.warning("DIMSE worker did not stop in time; killing pid=%d", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
