"""Helpers for tests: run DCMTK tools, poll for a condition, start a DIMSE server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from raddx.config import Settings
    from raddx.dimse import DimseServer
    from raddx.services import Services

__all__ = [
    "HttpServer",
    "ServeChild",
    "api_token",
    "bare_url",
    "basic_auth",
    "dcmtk_env",
    "free_port",
    "http_up",
    "run_tool",
    "start_dimse_server",
    "start_http_server",
    "start_serve",
    "stored_objects",
    "wait_for",
]


def dcmtk_env() -> dict[str, str]:
    """DCMTK reads TCP_NODELAY from the environment; without it each message waits ~40 ms."""
    return {**os.environ, "TCP_NODELAY": "1"}


def stored_objects(services: Services, study_uid: str) -> list[Any]:
    """The stored objects (decoded datasets) of one study, as the blob store holds them."""
    import io

    from pydicom import dcmread
    from sqlalchemy import select

    from raddx.db.models import Instance, Series, Study

    with services.session_factory() as session:
        keys = session.scalars(
            select(Instance.blob_key)
            .join(Series, Instance.series_fk == Series.id)
            .join(Study, Series.study_fk == Study.id)
            .where(Study.study_instance_uid == study_uid)
        ).all()
    return [dcmread(io.BytesIO(services.blobs.get(key))) for key in keys]


def free_port() -> int:
    """A TCP port free on loopback right now (for a server the test starts as a child process
    or a peer that must not listen; in-process servers bind port 0 themselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_tool(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=dcmtk_env(), check=False
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def http_up(base_url: str) -> bool:
    """Whether raddx's HTTP door at ``base_url`` answers its health check now."""
    import httpx

    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class ServeChild:
    """A ``raddx serve`` child process and where it listens (see :func:`start_serve`)."""

    process: subprocess.Popen[str]
    http_port: int
    dicom_port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_serve(data_dir: Path, log: Path, timeout: float = 60, **env: str) -> ServeChild:
    """Start ``raddx serve`` as an operator does, on free loopback ports (HL7 off unless
    ``RADDX_HL7_PORT`` is given, one DICOM worker unless ``RADDX_DICOM_WORKERS`` is), its output
    in ``log``; return once ``/healthz`` answers, or fail with that output if it exits first.
    Stop it with :func:`stop_serve`."""
    http_port, dicom_port = free_port(), free_port()
    child_env = {
        **os.environ,
        "RADDX_DATA_DIR": str(data_dir),
        "RADDX_DICOM_HOST": "127.0.0.1",
        "RADDX_DICOM_PORT": str(dicom_port),
        "RADDX_HTTP_PORT": str(http_port),
        "RADDX_HL7_HOST": "127.0.0.1",
        "RADDX_HL7_PORT": "0",
        "RADDX_DICOM_WORKERS": "1",
        **env,
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "raddx.cli", "serve"],
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    child = ServeChild(process, http_port, dicom_port, log)
    wait_for(lambda: http_up(child.base_url) or process.poll() is not None, timeout)
    if process.poll() is not None:
        raise AssertionError(f"raddx serve exited with {process.returncode}:\n{child.output()}")
    return child


def stop_serve(child: subprocess.Popen[str] | ServeChild, timeout: float = 30) -> str:
    """Stop a ``raddx serve`` child as an operator does (SIGINT) and return what it printed;
    fail the test, after killing it, when it does not stop within ``timeout`` seconds."""
    process = child.process if isinstance(child, ServeChild) else child
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"raddx serve did not stop within {timeout:g} s after SIGINT:\n{output}")
    if isinstance(child, ServeChild):
        return child.output()
    return output


def start_dimse_server(services: Services, settings: Settings | None = None) -> DimseServer:
    """A started DIMSE server on a free loopback port over ``services`` (stop it when done);
    ``settings`` overrides the services' own (e.g. a switched-off fast path)."""
    from raddx.dimse import DimseServer, listen_socket

    server = DimseServer(
        settings=settings or services.settings,
        ingest=services.ingest,
        sock=listen_socket("127.0.0.1", 0),
        session_factory=services.session_factory,
    )
    server.start()
    return server


def api_token(services: Services, role: str = "admin") -> str:
    """A new API token with ``role`` in the services' index (``raddx token create``)."""
    import itertools

    from raddx.security import load_policy
    from raddx.security.tokens import create_token, list_tokens

    policy = load_policy(services.settings.security_policy_file)
    with services.session_factory() as s, s.begin():
        taken = {t.name for t in list_tokens(session=s)}
        name = next(
            f"test-{role}-{n}" for n in itertools.count() if f"test-{role}-{n}" not in taken
        )
        return create_token(session=s, name=name, role=role, policy=policy)


def bare_url(url: str) -> str:
    """``url`` without userinfo: what the server sees, and builds its own links from."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


def basic_auth(url: str) -> tuple[str, str]:
    """The (user, password) in ``url``'s userinfo, for requests to links the server made."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.username or "", parts.password or ""


class HttpServer:
    """raddx's HTTP door served by uvicorn on a thread, on a free loopback port.

    Authentication is on (deny by default), as in production: ``url`` carries an admin API
    token as userinfo (``http://token:<token>@127.0.0.1:<port>``), which httpx, requests and
    dicomweb-client send as HTTP Basic; ``base_url`` is the bare address (what the server
    itself sees and answers with, e.g. in QIDO-RS RetrieveURL), and ``token`` the token.
    """

    def __init__(self, services: Services) -> None:
        import uvicorn

        from raddx.web import create_app

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        host, port = self._sock.getsockname()
        self.token = api_token(services)
        self.base_url = f"http://{host}:{port}"
        self.url = f"http://token:{self.token}@{host}:{port}"
        self.app = create_app(services)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> HttpServer:
        self._thread.start()
        wait_for(lambda: self._server.started or not self._thread.is_alive())
        if not self._server.started:
            raise AssertionError("uvicorn did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)
        self._sock.close()


def start_http_server(services: Services) -> HttpServer:
    """A started HTTP server over ``services`` (stop it when done); ``.url`` is its base."""
    return HttpServer(services).start()
