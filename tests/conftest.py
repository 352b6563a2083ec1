"""Shared fixtures: settings on a temp dir, the index on SQLite and PostgreSQL, a live DIMSE
server on a free loopback port, and the DCMTK tools."""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from helpers import start_dimse_server, start_http_server
from postgres_fixture import (  # noqa: F401 - fixtures re-exported for all tests
    postgres_database_factory,
    postgres_empty_url,
    postgres_url,
)
from raddx.config import Settings, load_settings
from raddx.services import Services

# httpx's default timeout (5 s for connect/read/write/pool) is shorter than a request can take
# on a loaded 2-core CI machine with xdist workers, the server and PostgreSQL all competing:
# such a test fails on the clock, not on what it checks. Every test client (httpx.get/post,
# httpx.Client; dicomweb-client uses requests) gets 60 s unless it sets its own. The default
# is one shared Timeout object in httpx (the signatures' default), so it is changed in place.
_HTTPX_DEFAULT = inspect.signature(httpx.Client.__init__).parameters["timeout"].default
for _phase in ("connect", "read", "write", "pool"):
    setattr(_HTTPX_DEFAULT, _phase, 60.0)
assert httpx.Client().timeout.read == 60.0, "httpx changed how its default timeout is kept"

DCMTK_TOOLS = ("echoscu", "storescu", "dcmsend", "findscu", "movescu", "getscu", "storescp")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings must come from the test, never from the developer's raddx.toml or env."""
    for name in list(os.environ):
        if name.startswith("RADDX_") and not name.startswith(("RADDX_TEST_", "RADDX_REQUIRE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RADDX_CONFIG", str(tmp_path / "absent-raddx.toml"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The index URL: every test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite'}"
    return str(request.getfixturevalue("postgres_empty_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, fsync=True)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = Services.from_settings(settings)
    yield svc
    svc.close()


@pytest.fixture
def dimse_server(services: Services) -> Iterator[tuple[str, int]]:
    """A live C-ECHO/C-STORE/C-FIND SCP on 127.0.0.1:<free port>; yields (host, port)."""
    server = start_dimse_server(services)
    yield server.address
    server.stop()


@pytest.fixture
def http_url(services: Services) -> Iterator[str]:
    """A live raddx HTTP door (uvicorn) on 127.0.0.1:<free port>; yields its base URL."""
    server = start_http_server(services)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def dcmtk() -> Callable[[str], str]:
    """Absolute path of a DCMTK tool. pynetdicom installs same-named scripts (echoscu,
    storescu…) into the venv, so the tools are looked up outside it."""
    paths: dict[str, str] = {}
    for tool in DCMTK_TOOLS:
        found = shutil.which(tool, path="/usr/bin:/usr/local/bin")
        if found is None:
            pytest.fail(f"DCMTK tool {tool!r} not found: install Debian's dcmtk (see README)")
        paths[tool] = found
    return paths.__getitem__
