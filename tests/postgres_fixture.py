"""Throw-away PostgreSQL databases for tests.

ARCHITECTURE.md promises that the integration tests run against PostgreSQL as well as SQLite, so a
developer without a configured server should still get real PostgreSQL coverage, and CI must never
silently lose it. Fixtures:

``postgres_url``
    Session-scoped: one empty database per pytest process (per xdist worker), so workers running
    in parallel never see each other's tables.
``postgres_empty_url``
    Function-scoped: a brand-new empty database for one test, dropped afterwards.
``postgres_database_factory``
    Function-scoped callable creating as many empty databases as a test needs (two archives that
    exchange studies, an isolation check); all are dropped afterwards.

Each URL is a SQLAlchemy URL string with the ``postgresql+psycopg`` driver.

Where the server comes from, first that works:

1. ``RADDX_TEST_POSTGRES_URL`` (``.ci/run`` sets it). The fixtures create and drop their own
   databases on that server, so the role needs CREATEDB; the database named in the URL is only
   used as the maintenance connection.
2. A throw-away cluster started with ``.ci/pg-throwaway.sh`` when PostgreSQL server binaries are
   installed (initdb into a temp dir, trust auth, fsync off, about one second).
3. Neither: ``pytest.fail`` when ``RADDX_REQUIRE_POSTGRES=1`` (CI, where a missing server is a
   broken machine, not a reason to pass), ``pytest.skip`` with the reason otherwise.

Lifetime of a self-started cluster. Under pytest-xdist one cluster is shared by all workers: the
first worker that needs it starts it while holding a file lock in the run's shared temp dir (the
parent of each worker's basetemp) and records its URL there; the other workers read it. The
worker that started it does not stop it, neither at session end nor in an ``atexit`` handler: a
worker's session ends as soon as its own queue drains, while other workers may still be mid-test
on the cluster, and when the worker process exits after that is an execnet detail. Instead
``pg-throwaway.sh watch`` detaches a watchdog that stops the cluster and removes its directory
once the xdist controller process (the workers' parent, which outlives them all) exits; that also
covers a run killed by a signal. Without xdist the single pytest process stops the cluster at exit
and the watchdog is only the safety net.

The cluster directory comes from ``pg-throwaway.sh mktemp`` (/dev/shm when roomy, else /tmp), not
from pytest's basetemp: run as root, the server runs as the ``postgres`` user, which cannot enter
the 0700 basetemp; a short path keeps the Unix socket under its 107-byte limit; and on tmpfs
CREATE DATABASE is about 20 times faster than on a VM disk.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["postgres_database_factory", "postgres_empty_url", "postgres_url"]

URL_ENV = "RADDX_TEST_POSTGRES_URL"
REQUIRE_ENV = "RADDX_REQUIRE_POSTGRES"
DRIVER = "postgresql+psycopg"

_SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "pg-throwaway.sh"
_EXIT_NO_BINARIES = 3  # pg-throwaway.sh: no initdb/pg_ctl on this machine
_START_TIMEOUT_S = 180

# Per process: the server URL once found, or the reason there is none, so that a missing server
# costs one attempt per process rather than one per test.
_server_cache: dict[str, URL | str] = {}


class _Unavailable(Exception):
    """No PostgreSQL server can be used; the message says why."""


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV) == "1":
        # No traceback: the reason says it all, and it repeats for every PostgreSQL test.
        pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV}=1) but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _connect(url: URL) -> psycopg.Connection[TupleRow]:
    """Open an autocommit psycopg connection to *url* (CREATE/DROP DATABASE refuse transactions)."""
    params = {
        k: str(v) for k, v in url.translate_connect_args(username="user", database="dbname").items()
    }
    params.setdefault("dbname", "postgres")
    # Query parameters (?host=/run/postgresql, ?sslmode=...) are libpq options, as SQLAlchemy's
    # psycopg dialect treats them.
    params.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    params.setdefault("connect_timeout", "10")
    return psycopg.connect(make_conninfo(**params), autocommit=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on *path* so only one xdist worker starts the shared cluster."""
    import fcntl  # POSIX only, like pg-throwaway.sh; imported here so URL-only runs need neither

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    if bash is None or not _SCRIPT.is_file():
        raise _Unavailable(f"cannot start a throw-away cluster: need bash and {_SCRIPT}")
    return subprocess.run(
        [bash, str(_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )


def _stop_cluster(cluster_dir: str) -> None:
    _run_script("stop", cluster_dir, timeout=60)


def _start_cluster(*, owner_pid: int, stop_at_exit: bool) -> URL:
    """Start a throw-away cluster that is stopped when process *owner_pid* exits.

    Raises
    ------
    _Unavailable
        When there are no server binaries or the cluster does not come up.
    """
    if not _SCRIPT.is_file():
        raise _Unavailable(f"{_SCRIPT} is missing")
    made = _run_script("mktemp", timeout=30)
    if made.returncode != 0:
        raise _Unavailable(f"pg-throwaway.sh mktemp failed: {made.stderr.strip()}")
    cluster_dir = made.stdout.strip()
    # The watchdog goes first so that even a start that dies halfway is cleaned up.
    watch = _run_script("watch", str(owner_pid), cluster_dir, timeout=30)
    if watch.returncode != 0:
        _stop_cluster(cluster_dir)
        raise _Unavailable(f"pg-throwaway.sh watch failed: {watch.stderr.strip()}")
    try:
        done = _run_script("start", cluster_dir, timeout=_START_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        _stop_cluster(cluster_dir)
        raise _Unavailable(f"throw-away cluster did not start within {exc.timeout}s") from exc
    if done.returncode != 0:
        _stop_cluster(cluster_dir)
        if done.returncode == _EXIT_NO_BINARIES:
            raise _Unavailable(
                f"{URL_ENV} is not set and no PostgreSQL server binaries were found "
                "(install postgresql, or point PG_BINDIR at the directory holding initdb)"
            )
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise _Unavailable(f"pg-throwaway.sh start failed ({done.returncode}):\n{tail}")
    if stop_at_exit:
        atexit.register(_stop_cluster, cluster_dir)
    return make_url(done.stdout.strip().splitlines()[-1])


def _shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """Start the run's cluster once under a lock, or reuse the one another worker started."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _start_cluster(owner_pid=os.getpid(), stop_at_exit=True)
    shared = tmp_path_factory.getbasetemp().parent
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "run")
    state = shared / f"raddx-pg-{run}.json"
    with _locked(shared / f"raddx-pg-{run}.lock"):
        if state.exists():
            recorded = json.loads(state.read_text())
            if "error" in recorded:
                # Another worker already failed; repeating initdb per worker would only be slower.
                raise _Unavailable(recorded["error"])
            return make_url(recorded["url"])
        try:
            # The workers' parent is the xdist controller, which outlives every worker.
            url = _start_cluster(owner_pid=os.getppid(), stop_at_exit=False)
        except _Unavailable as exc:
            state.write_text(json.dumps({"error": str(exc)}))
            raise
        state.write_text(json.dumps({"url": url.render_as_string(hide_password=False)}))
        return url


def _locate_server(tmp_path_factory: pytest.TempPathFactory) -> URL:
    configured = os.environ.get(URL_ENV)
    if not configured:
        return _shared_cluster(tmp_path_factory)
    try:
        url = make_url(configured)
    except (ArgumentError, ValueError) as exc:  # ValueError: a non-numeric port
        raise _Unavailable(f"{URL_ENV} is not a valid URL: {exc}") from exc
    if not url.drivername.startswith("postgres"):
        raise _Unavailable(f"{URL_ENV} is not a PostgreSQL URL: {url.drivername}")
    return url


def _probe(url: URL) -> URL:
    """Check that *url* accepts connections, so an unreachable server is reported once, clearly."""
    try:
        with _connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise _Unavailable(f"cannot connect to {url}: {exc}") from exc
    return url


def _server_url(tmp_path_factory: pytest.TempPathFactory) -> URL:
    """The server to create test databases on; fails or skips the test when there is none."""
    if "server" not in _server_cache:
        try:
            _server_cache["server"] = _probe(_locate_server(tmp_path_factory))
        except _Unavailable as exc:
            _server_cache["server"] = str(exc)
    server = _server_cache["server"]
    if isinstance(server, str):
        _unavailable(server)
    return server


@contextlib.contextmanager
def _database(server: URL, prefix: str) -> Iterator[str]:
    """Create an empty UTF-8 database, yield its URL string, and drop it afterwards.

    ``TEMPLATE template0`` guarantees emptiness even if someone added objects to template1, and
    allows the explicit encoding (patient names must round-trip whatever the server's default).
    ``DROP ... WITH (FORCE)`` (PostgreSQL 13+) ends connections a test left open.
    """
    name = f"{prefix}_{_worker_id()}_{secrets.token_hex(4)}".lower()
    ident = sql.Identifier(name)
    with _connect(server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(ident))
    yield server.set(drivername=DRIVER, database=name).render_as_string(hide_password=False)
    with _connect(server) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


# The fixtures below depend only on pytest's own fixtures, so conftest.py may import any subset
# of them by name.


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an empty database private to this pytest process (xdist worker), for the session.

    Tests sharing it must clean up after themselves or tolerate each other's rows; use
    ``postgres_empty_url`` when a test needs a pristine database.
    """
    with _database(_server_url(tmp_path_factory), "raddx_test") as url:
        yield url


@pytest.fixture
def postgres_empty_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a new empty database for this test only (~10 ms to create on a tmpfs cluster)."""
    with _database(_server_url(tmp_path_factory), "raddx_fn") as url:
        yield url


@pytest.fixture
def postgres_database_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], str]]:
    """Callable returning the URL of a new empty database per call; all are dropped afterwards.

    For tests that need several databases at once, such as two archives exchanging studies.
    """
    server = _server_url(tmp_path_factory)
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(_database(server, "raddx_fn"))
