"""Ingest benchmark: raddx against Debian's Orthanc, fed by DCMTK ``storescu``.

The issue's performance target: store 300 synthetic 512 kB CT instances and 1,000 small
instances with ``storescu`` (one client, and two concurrent clients) into raddx and, in the
same run with the same files, into Orthanc; raddx must reach at least 1.0x Orthanc's rate for
both object sizes, with one and with two clients. Both servers acknowledge an instance only
after its file is durable and its index row is committed (Orthanc fdatasyncs every file and
commits its SQLite index; raddx fsyncs the blob and commits before answering Success).

Method (``../shared/reference/ingest-ceiling.md``): one run = a fresh server on empty storage,
``sync``, then the wall time of all ``storescu`` processes from spawn to exit, one association
per client. Rounds are interleaved (every configuration once per round, round robin) because
the host drifts between batches; the table reports medians. Everything runs inside one private
network namespace (``unshare -n``), so Orthanc, which binds every interface, is unreachable
from outside. DCMTK leaves Nagle's algorithm on unless ``TCP_NODELAY=1`` is in the
environment, on both ends: without it in Orthanc's own environment every run sits at ~20 inst/s.

Run as root from the repository::

    .venv/bin/python bench/ingest.py [--rounds N] [--ct N] [--small N] [--only raddx|orthanc]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, ClassVar, Protocol

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work"
#: Set in the environment of the re-executed script, so it knows it already runs in its own
#: network namespace and does not unshare again.
NETNS_MARKER = "RADDX_BENCH_NETNS"
#: Bump when the generated files change, so stale caches in bench/_work are not reused.
DATA_VERSION = "v1"
HOST = "127.0.0.1"
RADDX_AET, RADDX_PORT = "RADDX", 11112
ORTHANC_AET, ORTHANC_DICOM_PORT, ORTHANC_HTTP_PORT = "ORTHANC", 4242, 8042
CLIENT_AET = "BENCH"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
STORE_TIMEOUT = 600.0
#: DCMTK reads this for requestor *and* acceptor sockets; without it a DCMTK peer waits one
#: or two 40 ms delayed ACKs per instance (reference note §1).
NODELAY_ENV = {"TCP_NODELAY": "1"}
#: Python tracebacks and logging errors (raddx), glog-style error lines (Orthanc: "E1125 ...").
_ERROR_LINE = re.compile(r"Traceback|\b(ERROR|CRITICAL)\b|^E\d{4} ")


# --------------------------------------------------------------------------------------------
# Scenarios and results


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row of the table: an object kind sent by a number of concurrent clients."""

    kind: str  # "ct" or "small"
    clients: int

    @property
    def label(self) -> str:
        """The row label used in the report."""
        size = "512 kB" if self.kind == "ct" else "small"
        return f"{size} ×{self.clients} client{'s' if self.clients > 1 else ''}"


SCENARIOS = (Scenario("ct", 1), Scenario("small", 1), Scenario("ct", 2), Scenario("small", 2))


@dataclasses.dataclass
class RunResult:
    """The outcome of one timed run; ``error`` is set when the run must not be counted."""

    server: str
    scenario: Scenario
    round: int
    instances: int
    seconds: float
    stored: int
    error: str | None = None
    #: CPU seconds (user + system) the server's processes used during the timed part.
    server_cpu: float = 0.0
    #: Seconds from the stop signal until the server's process group was gone.
    stop_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Instances per second of wall time."""
        return self.instances / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_instance(self) -> float:
        """Server CPU per instance: tells CPU-bound (≈ cores × wall) from latency-bound."""
        return 1000 * self.server_cpu / self.instances if self.instances else 0.0


@dataclasses.dataclass(frozen=True)
class ClientFiles:
    """The generated files one client sends, and the SOP Instance UIDs they carry."""

    directory: Path
    sop_instance_uids: frozenset[str]


# --------------------------------------------------------------------------------------------
# Outside the namespace: tools and re-exec


def ensure_tools() -> None:
    """Install DCMTK and Orthanc when missing; this must happen before ``unshare -n`` cuts the
    network. The Orthanc package starts a system daemon, which we stop and disable: we run our
    own instance with our own configuration, and a second one would only compete for CPU."""
    missing = [tool for tool in ("storescu", "echoscu", "storescp") if not shutil.which(tool)]
    need_orthanc = not shutil.which("Orthanc") and not Path("/usr/sbin/Orthanc").exists()
    if missing or need_orthanc:
        if os.geteuid() != 0:
            sys.exit(f"bench: missing {missing or ['Orthanc']}; run as root to apt-get install")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        print("bench: installing orthanc dcmtk with apt-get", flush=True)
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "orthanc", "dcmtk"], check=True, env=env)
        with contextlib.suppress(OSError):
            subprocess.run(["update-rc.d", "orthanc", "disable"], check=False, capture_output=True)
        if shutil.which("systemctl"):
            subprocess.run(["systemctl", "disable", "orthanc"], check=False, capture_output=True)
    stop_system_orthanc()


def stop_system_orthanc() -> None:
    """Stop the Debian ``orthanc`` service if it runs: it would take CPU from the runs."""
    if not shutil.which("service") or not Path("/etc/init.d/orthanc").exists():
        return
    status = subprocess.run(["service", "orthanc", "status"], capture_output=True, check=False)
    if status.returncode == 0:
        print("bench: stopping the system orthanc service", flush=True)
        subprocess.run(["service", "orthanc", "stop"], check=False)


def reexec_in_netns() -> None:
    """Run this script again inside a fresh network namespace (root only): Orthanc binds every
    interface, and a private loopback also keeps other traffic out of the measurement."""
    if os.geteuid() != 0:
        sys.exit("bench: must run as root (unshare -n, apt-get)")
    env = {**os.environ, NETNS_MARKER: "1"}
    argv = ["unshare", "-n", "--", sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    sys.stdout.flush()
    os.execvpe("unshare", argv, env)


def loopback_up() -> None:
    """A new network namespace has only ``lo``, and it starts down."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


# --------------------------------------------------------------------------------------------
# Data generation


def _base_dataset(sop_class_uid: UID, study: str, series: str, sop: str, number: int) -> Dataset:
    """Patient/study/series/instance modules shared by both object kinds."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = UID(sop)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = "BENCH0001"
    ds.ReferringPhysicianName = ""
    ds.PatientName = "Bench^Ingest"
    ds.PatientID = "BENCH-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    return ds


def _ct(study: str, series: str, frame: str, sop: str, number: int, pixels: bytes) -> Dataset:
    """A 512×512 16-bit CT Image (≈512 kB), the typical cross-sectional slice."""
    ds = _base_dataset(CTImageStorage, study, series, sop, number)
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.FrameOfReferenceUID = frame
    ds.ImagePositionPatient = [-250, -250, -number * 1.25]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.SliceThickness = 1.25
    ds.KVP = 120
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = pixels
    return ds


def _small(study: str, series: str, sop: str, number: int, pixels: bytes) -> Dataset:
    """A 16×16 8-bit Secondary Capture (~1.4 kB): dose sheets, key images, scanned forms —
    the objects where per-instance overhead, not bandwidth, decides the rate."""
    ds = _base_dataset(SecondaryCaptureImageStorage, study, series, sop, number)
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.StudyDescription = "raddx ingest benchmark, small objects"
    ds.SeriesDescription = "Secondary capture 16x16"
    ds.InstitutionName = "raddx bench"
    ds.ImageComments = "synthetic " * 8
    ds.Rows = ds.Columns = 16
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = pixels
    return ds


def generate(kind: str, count: int, client: int) -> ClientFiles:
    """Write ``count`` files of one kind for one client, or reuse a complete earlier copy.

    Each client gets its own Study/Series/SOP Instance UIDs, so two concurrent clients store
    2×count distinct instances, as a PACS receiving two modalities would.
    """
    directory = WORK / "data" / f"{DATA_VERSION}-{kind}-{count}" / f"c{client}"
    manifest = directory.parent / f"c{client}.uids"
    if manifest.exists():
        cached = frozenset(manifest.read_text().split())
        if len(cached) == count and len(list(directory.glob("*.dcm"))) == count:
            return ClientFiles(directory, cached)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    uids: list[str] = []
    for number in range(1, count + 1):
        sop = generate_uid()
        if kind == "ct":
            ds = _ct(study, series, frame, sop, number, os.urandom(512 * 512 * 2))
        else:
            ds = _small(study, series, sop, number, os.urandom(16 * 16))
        ds.save_as(directory / f"{number:05d}.dcm", enforce_file_format=True)
        uids.append(sop)
    # The manifest is written last: its presence marks a complete directory.
    manifest.write_text("\n".join(uids) + "\n")
    return ClientFiles(directory, frozenset(uids))


def generate_all(ct: int, small: int) -> dict[tuple[str, int], ClientFiles]:
    """Both kinds for both clients; reused across rounds and invocations."""
    started = time.perf_counter()
    datasets = {
        (kind, client): generate(kind, count, client)
        for kind, count in (("ct", ct), ("small", small))
        for client in (0, 1)
    }
    sizes = {
        kind: statistics.mean(p.stat().st_size for p in datasets[(kind, 0)].directory.iterdir())
        for kind in ("ct", "small")
        if datasets[(kind, 0)].sop_instance_uids
    }
    print(
        f"bench: data ready in {time.perf_counter() - started:.1f} s "
        + ", ".join(f"{k}: mean {v / 1024:.1f} KiB/file" for k, v in sizes.items()),
        flush=True,
    )
    return datasets


# --------------------------------------------------------------------------------------------
# Servers


def _wait_until(what: str, probe: Callable[[], bool], proc: Proc) -> None:
    """Poll ``probe()`` until it is true; fail if the server dies or the timeout passes.
    Polling, never a fixed sleep: start-up time varies with the host and would either waste
    time or race."""
    deadline = time.monotonic() + READY_TIMEOUT
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise ServerError(f"{what} exited with {proc.popen.returncode} during start-up")
        if probe():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise ServerError(f"{what} not ready after {READY_TIMEOUT:.0f} s")


class ServerError(RuntimeError):
    """A server failed to start, stop or answer; the run is recorded as failed."""


@dataclasses.dataclass
class Proc:
    """A started server process and its log file."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


def _echo(aet: str, port: int) -> bool:
    """One C-ECHO with DCMTK, as the senders will connect."""
    result = subprocess.run(
        ["echoscu", "-aet", CLIENT_AET, "-aec", aet, "-to", "2", HOST, str(port)],
        capture_output=True,
        env={**os.environ, **NODELAY_ENV},
        check=False,
        timeout=30,
    )
    return result.returncode == 0


def _http_get(url: str, timeout: float = 2.0) -> bytes | None:
    """GET a loopback URL, or None when it is not (yet) answering."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()  # type: ignore[no-any-return]
    except (urllib.error.URLError, OSError):
        return None


def session_cpu_seconds(session: int) -> float:
    """User + system CPU of every live process in a session (the server and its forked
    workers, which we started with ``start_new_session``), from /proc/<pid>/stat."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may contain spaces and parentheses: split after the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process exited while we were looking
        # fields[0] is field 3 (state) of proc(5): session is field 6, utime 14, stime 15.
        if int(fields[3]) == session:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    """A free TCP port on loopback (inside the private namespace, nothing else races us)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _spawn(argv: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path) -> Proc:
    """Start a server in its own session, so that its workers form one process group that we
    can signal or reap as a whole, and a Ctrl-C on the bench does not reach it twice."""
    log = log_path.open("wb")
    popen = subprocess.Popen(
        list(argv), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Proc(popen, log_path, log)


def _stop(
    proc: Proc, sig: signal.Signals, name: str, problems: list[str], clean: tuple[int, ...] = (0,)
) -> float:
    """Signal the server, wait up to STOP_TIMEOUT, then SIGKILL its whole process group.
    Anything but a clean, timely exit is recorded as a problem: a PACS that hangs or crashes on
    shutdown loses in-flight work."""
    with contextlib.suppress(ProcessLookupError):
        proc.popen.send_signal(sig)
    started = time.monotonic()
    try:
        code = proc.popen.wait(STOP_TIMEOUT)
        if code not in clean:
            waited = time.monotonic() - started
            problems.append(f"{name}: exit code {code} after {sig.name} ({waited:.1f} s)")
    except subprocess.TimeoutExpired:
        problems.append(f"{name}: still running {STOP_TIMEOUT:.0f} s after {sig.name}; SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()
    # Workers that outlive their parent keep the port and the CPU: find and kill them.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, 0)
        problems.append(f"{name}: processes left in its group after the parent exited; SIGKILL")
        os.killpg(proc.popen.pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    proc.log.close()
    problems.extend(_log_findings(proc.log_path, name))
    return elapsed


def _log_findings(path: Path, name: str) -> list[str]:
    """Errors and tracebacks in a server's log: a run can be fast and complete while the
    server still logged failures that a user would hit."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    bad = [ln for ln in lines if _ERROR_LINE.search(ln)]
    if not bad:
        return []
    return [f"{name}: {len(bad)} error line(s) in {path.name}, first: {bad[0].strip()[:200]}"]


class Server(Protocol):
    """What the harness needs from a server under test."""

    name: str
    aet: str
    port: int

    @property
    def session(self) -> int:
        """Session id of the running server (its pid: it was started as a session leader)."""

    def start(self, scratch: Path, logs: Path) -> None:
        """Start on empty storage under ``scratch`` and return once it accepts C-ECHO."""

    def stored(self, expected: frozenset[str]) -> int:
        """How many of the ``expected`` instances the server has committed."""

    def stop(self, problems: list[str]) -> float:
        """Stop cleanly, appending anything abnormal to ``problems``; return the seconds the
        server took to exit."""


class Orthanc:
    """Debian's Orthanc with the reference configuration: SQLite index, no compression, no
    plug-ins (the package's folder ships worklist and serve-folders plug-ins we must not load)."""

    name = "Orthanc"
    aet = ORTHANC_AET
    port = ORTHANC_DICOM_PORT
    #: Settings a subclass adds to the reference configuration (e.g. query.py's Find/Get).
    extra_config: ClassVar[dict[str, object]] = {}

    def __init__(self) -> None:
        self.proc: Proc | None = None

    @property
    def session(self) -> int:
        """Session id of the running server (its pid: it was started as a session leader)."""
        assert self.proc is not None
        return self.proc.popen.pid

    def start(self, scratch: Path, logs: Path) -> None:
        """Write the configuration and start; ready when /system answers and C-ECHO works."""
        storage = scratch / "orthanc-db"
        storage.mkdir(parents=True)
        config = {
            "Name": "raddx-bench",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "StorageCompression": False,
            "Plugins": [],
            "HttpServerEnabled": True,
            "HttpPort": ORTHANC_HTTP_PORT,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": ORTHANC_AET,
            "DicomPort": ORTHANC_DICOM_PORT,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            **self.extra_config,
        }
        config_path = scratch / "orthanc.json"
        config_path.write_text(json.dumps(config, indent=2))
        env = {**_clean_env(), **NODELAY_ENV}
        self.proc = _spawn([_orthanc_binary(), str(config_path)], env, scratch, logs)
        proc = self.proc
        _wait_until(
            "Orthanc",
            lambda: (
                _http_get(f"http://{HOST}:{ORTHANC_HTTP_PORT}/system") is not None
                and _echo(self.aet, self.port)
            ),
            proc,
        )

    def stored(self, expected: frozenset[str]) -> int:
        """CountInstances from /statistics: Orthanc answers C-STORE after its commit."""
        body = _http_get(f"http://{HOST}:{ORTHANC_HTTP_PORT}/statistics", timeout=30)
        if body is None:
            raise ServerError("Orthanc /statistics did not answer")
        return int(json.loads(body)["CountInstances"])

    def stop(self, problems: list[str]) -> float:
        """SIGTERM is Orthanc's documented clean stop."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            return _stop(proc, signal.SIGTERM, self.name, problems)
        return 0.0


class Raddx:
    """``raddx serve`` configured only through RADDX_* variables, run from the scratch
    directory so that no raddx.toml of the developer's checkout is picked up."""

    name = "raddx"
    aet = RADDX_AET
    port = RADDX_PORT

    def __init__(self, extra_env: dict[str, str]) -> None:
        self.extra_env = extra_env
        self.proc: Proc | None = None
        self.data_dir: Path | None = None

    @property
    def session(self) -> int:
        """Session id of the running server (its pid: it was started as a session leader)."""
        assert self.proc is not None
        return self.proc.popen.pid

    def start(self, scratch: Path, logs: Path) -> None:
        """Start; ready when C-ECHO works and /healthz answers (HTTP comes up last)."""
        self.data_dir = scratch / "raddx-data"
        self.data_dir.mkdir(parents=True)
        http_port = _free_port()
        env = {
            **_clean_env(),
            **NODELAY_ENV,
            "RADDX_DATA_DIR": str(self.data_dir),
            "RADDX_DICOM_PORT": str(RADDX_PORT),
            "RADDX_HTTP_PORT": str(http_port),
            "RADDX_AE_TITLE": RADDX_AET,
            **self.extra_env,
        }
        self.proc = _spawn([*raddx_command(), "serve"], env, scratch, logs)
        proc = self.proc
        _wait_until(
            "raddx",
            lambda: (
                _echo(self.aet, self.port)
                and _http_get(f"http://{HOST}:{http_port}/healthz") is not None
            ),
            proc,
        )

    def stored(self, expected: frozenset[str]) -> int:
        """Rows of the ``instance`` table whose SOP Instance UID we sent; read-only, so the
        check cannot change what it measures."""
        assert self.data_dir is not None
        index = self.data_dir / "index.sqlite"
        if not index.exists():
            raise ServerError(f"raddx index {index} not found")
        db = sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=30)
        try:
            rows = {uid for (uid,) in db.execute("SELECT sop_instance_uid FROM instance")}
        finally:
            db.close()
        return len(rows & expected)

    def stop(self, problems: list[str]) -> float:
        """SIGINT, as Ctrl-C would; raddx must stop cleanly and promptly."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            return _stop(proc, signal.SIGINT, self.name, problems)
        return 0.0


class StorescpStandIn:
    """DCMTK ``storescp`` posing as raddx, to test the harness before raddx exists. It neither
    indexes nor fsyncs, so its numbers say nothing about raddx."""

    name = "raddx"
    aet = RADDX_AET
    port = RADDX_PORT

    def __init__(self) -> None:
        self.proc: Proc | None = None
        self.out: Path | None = None

    @property
    def session(self) -> int:
        """Session id of the running server (its pid: it was started as a session leader)."""
        assert self.proc is not None
        return self.proc.popen.pid

    def start(self, scratch: Path, logs: Path) -> None:
        """Start storescp writing into the scratch directory."""
        self.out = scratch / "storescp"
        self.out.mkdir(parents=True)
        argv = ["storescp", "-aet", RADDX_AET, "-od", str(self.out), "-uf", str(RADDX_PORT)]
        self.proc = _spawn(argv, {**_clean_env(), **NODELAY_ENV}, scratch, logs)
        proc = self.proc
        _wait_until("storescp", lambda: _echo(self.aet, self.port), proc)

    def stored(self, expected: frozenset[str]) -> int:
        """Files written (``-uf`` names them ``<modality>.<SOP Instance UID>``)."""
        assert self.out is not None
        return sum(1 for p in self.out.iterdir() if p.name.split(".", 1)[-1] in expected)

    def stop(self, problems: list[str]) -> float:
        """storescp has no graceful stop; SIGTERM is what its users send."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            return _stop(proc, signal.SIGTERM, "storescp", problems, clean=(0, -signal.SIGTERM))
        return 0.0


def _clean_env() -> dict[str, str]:
    """Our environment minus RADDX_* (a developer's shell must not change the server under
    test) and minus our namespace marker."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RADDX_")}


def _orthanc_binary() -> str:
    """Debian installs Orthanc in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("Orthanc") or "/usr/sbin/Orthanc"


def raddx_command() -> list[str]:
    """The ``raddx`` entry point next to this interpreter or in the repo's venv, else the
    module (for a venv whose scripts were not installed)."""
    for candidate in (Path(sys.executable).parent / "raddx", REPO / ".venv" / "bin" / "raddx"):
        if candidate.exists():
            return [str(candidate)]
    return [sys.executable, "-m", "raddx.cli"]


# --------------------------------------------------------------------------------------------
# One timed run


def run_once(
    server: Server,
    scenario: Scenario,
    round_number: int,
    datasets: dict[tuple[str, int], ClientFiles],
    keep: bool,
    problems: list[str],
) -> RunResult:
    """Fresh server on empty storage, ``sync``, then the wall time of the storescu processes
    from spawn to exit; afterwards check that every instance was committed."""
    sent = [datasets[(scenario.kind, client)] for client in range(scenario.clients)]
    expected = frozenset().union(*(d.sop_instance_uids for d in sent))
    tag = f"r{round_number}-{server.name}-{scenario.kind}x{scenario.clients}"
    scratch = WORK / "run" / tag
    logs = WORK / "logs"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    result = RunResult(server.name, scenario, round_number, len(expected), 0.0, 0)
    clients: list[subprocess.Popen[bytes]] = []
    client_logs: list[IO[bytes]] = []
    try:
        server.start(scratch, logs / f"{tag}.server.log")
        # Flush earlier runs' and the generator's dirty pages, so that this run does not pay
        # for someone else's writeback.
        os.sync()
        env = {**os.environ, **NODELAY_ENV}
        client_logs += [(logs / f"{tag}.storescu{i}.log").open("wb") for i in range(len(sent))]
        cpu_before = session_cpu_seconds(server.session)
        started = time.perf_counter()
        clients += [
            subprocess.Popen(
                [
                    "storescu",
                    "-aet",
                    CLIENT_AET,
                    "-aec",
                    server.aet,
                    "+sd",
                    HOST,
                    str(server.port),
                    str(d.directory),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for d, log in zip(sent, client_logs, strict=True)
        ]
        codes = [c.wait(STORE_TIMEOUT) for c in clients]
        result.seconds = time.perf_counter() - started
        result.server_cpu = session_cpu_seconds(server.session) - cpu_before
        result.stored = server.stored(expected)
        if any(codes):
            result.error = f"storescu exit codes {codes} (see {logs}/{tag}.storescu*.log)"
        if result.stored != result.instances:
            result.error = (result.error + "; " if result.error else "") + (
                f"LOST {result.instances - result.stored} of {result.instances} instances"
            )
    except (ServerError, OSError, subprocess.SubprocessError, sqlite3.Error) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        for client in clients:  # only after a timeout or error: a hung sender must not linger
            if client.poll() is None:
                client.kill()
                client.wait()
        for log in client_logs:
            log.close()
        stop_problems: list[str] = []
        result.stop_seconds = server.stop(stop_problems)
        problems.extend(f"{tag}: {p}" for p in stop_problems)
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    if result.error:
        problems.append(f"{tag}: {result.error}")
        print(f"bench: !!! {tag} FAILED: {result.error}", flush=True)
    else:
        print(
            f"bench: {tag:<24} {result.instances:>5} inst in {result.seconds:6.2f} s"
            f" = {result.rate:7.1f} inst/s; server CPU {result.cpu_ms_per_instance:.2f} ms/inst,"
            f" {result.server_cpu / result.seconds:.2f} cores",
            flush=True,
        )
    return result


# --------------------------------------------------------------------------------------------
# Report


def _first_line(argv: Sequence[str]) -> str:
    """The first non-empty line a tool prints for --version, or why we could not get it."""
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else "unknown"


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_report(servers: Sequence[Server], raddx_env: dict[str, str]) -> str:
    """Versions and hardware, because inst/s only compares within one machine and build."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    lines = [
        f"- machine: nproc={os.cpu_count()}, {cpu}, Linux {platform.release()}",
        f"- python {platform.python_version()} ({sys.executable})",
        f"- dcmtk: {_first_line(['storescu', '--version'])}",
        f"- orthanc: {_first_line([_orthanc_binary(), '--version'])}",
        f"- pydicom {_package_version('pydicom')}, pynetdicom {_package_version('pynetdicom')}",
        f"- raddx {_package_version('raddx')} (commit {commit}, working tree may differ)",
        f"- servers: {', '.join(type(s).__name__ for s in servers)}",
    ]
    if raddx_env:
        lines.append(f"- raddx env: {' '.join(f'{k}={v}' for k, v in raddx_env.items())}")
    return "\n".join(lines)


def _summary(results: Sequence[RunResult]) -> tuple[float, float, float] | None:
    """Median, min and max rate of the successful runs."""
    rates = [r.rate for r in results if r.error is None]
    if not rates:
        return None
    return statistics.median(rates), min(rates), max(rates)


def _cell(summary: tuple[float, float, float] | None, failed: int) -> str:
    if summary is None:
        return "FAILED" if failed else "–"
    median, low, high = summary
    text = f"{median:.0f} ({low:.0f}–{high:.0f})"
    return text + (f" +{failed} FAILED" if failed else "")


def table(results: Sequence[RunResult], rounds: int) -> str:
    """The markdown table: one row per scenario, medians over rounds with min–max."""
    head = [
        f"| scenario | instances | raddx inst/s (median of {rounds}, min–max) | Orthanc inst/s "
        "| ratio raddx/Orthanc | target ≥1.0× |",
        "|---|---|---|---|---|---|",
    ]
    rows = []
    for scenario in SCENARIOS:
        mine = [r for r in results if r.scenario == scenario]
        if not mine:
            continue
        cells = {}
        for name in ("raddx", "Orthanc"):
            runs = [r for r in mine if r.server == name]
            failed = sum(1 for r in runs if r.error)
            cells[name] = (_summary(runs), failed, bool(runs))
        raddx, orthanc = cells["raddx"][0], cells["Orthanc"][0]
        if raddx and orthanc and not cells["raddx"][1]:
            ratio = raddx[0] / orthanc[0]
            ratio_text, met = f"{ratio:.2f}×", "yes" if ratio >= 1.0 else "**no**"
        elif cells["raddx"][1]:
            ratio_text, met = "–", "**no** (failures)"
        else:
            ratio_text, met = "–", "–"
        rows.append(
            f"| {scenario.label} | {mine[0].instances} | {_cell(*cells['raddx'][:2])} "
            f"| {_cell(*cells['Orthanc'][:2])} | {ratio_text} | {met} |"
        )
    return "\n".join(head + rows)


# --------------------------------------------------------------------------------------------
# Main


def cpu_table(results: Sequence[RunResult]) -> str:
    """Server CPU per instance and cores busy (medians): whether a server is CPU-bound
    (cores ≈ nproc) or waits on latency (fsync, polling, Nagle)."""
    lines = [
        "| scenario | raddx CPU ms/inst | raddx cores busy | Orthanc CPU ms/inst "
        "| Orthanc cores busy |",
        "|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        cells = []
        for name in ("raddx", "Orthanc"):
            runs = [
                r for r in results if r.scenario == scenario and r.server == name and not r.error
            ]
            if runs:
                cells.append(f"{statistics.median(r.cpu_ms_per_instance for r in runs):.2f}")
                cells.append(f"{statistics.median(r.server_cpu / r.seconds for r in runs):.2f}")
            else:
                cells += ["–", "–"]
        if any(c != "–" for c in cells):
            lines.append(f"| {scenario.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line; ``--stand-in storescp`` is hidden (harness testing only)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--ct", type=int, default=300, help="512 kB CT files per client")
    parser.add_argument("--small", type=int, default=1000, help="small SC files per client")
    parser.add_argument("--only", choices=("raddx", "orthanc"), help="run one server only")
    parser.add_argument(
        "--keep", action="store_true", help="keep each run's server storage in bench/_work/run"
    )
    parser.add_argument(
        "--raddx-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for raddx serve, e.g. RADDX_DICOM_WORKERS=1 (repeatable)",
    )
    parser.add_argument("--stand-in", choices=("storescp",), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.ct < 1 or args.small < 1:
        parser.error("--rounds, --ct and --small must be at least 1")
    for item in args.raddx_env:
        if "=" not in item:
            parser.error(f"--raddx-env {item!r}: expected KEY=VALUE")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Outside the namespace: install, stop the system daemon, generate data, re-exec under
    ``unshare -n``. Inside: run the interleaved rounds and print the report."""
    args = parse_args(argv)
    if os.environ.get(NETNS_MARKER) != "1":
        ensure_tools()
        generate_all(args.ct, args.small)  # before unshare: a failure here is cheaper to see
        reexec_in_netns()
    loopback_up()
    datasets = generate_all(args.ct, args.small)
    raddx_env = dict(item.split("=", 1) for item in args.raddx_env)
    servers: list[Server] = []
    if args.only != "orthanc":
        servers.append(StorescpStandIn() if args.stand_in else Raddx(raddx_env))
    if args.only != "raddx":
        servers.append(Orthanc())
    shutil.rmtree(WORK / "logs", ignore_errors=True)
    shutil.rmtree(WORK / "run", ignore_errors=True)
    (WORK / "logs").mkdir(parents=True)

    results: list[RunResult] = []
    problems: list[str] = []
    # Other work on the host (a test suite, a build) skews every number: show it.
    load_before = os.getloadavg()[0]
    # Versions and commit as they are when the runs start (the checkout may move meanwhile).
    machine = machine_report(servers, raddx_env)
    started = time.perf_counter()
    for round_number in range(1, args.rounds + 1):
        # Alternate which server goes first, so neither always runs right after the other's
        # writeback or with a colder cache.
        order = servers if round_number % 2 else list(reversed(servers))
        for scenario in SCENARIOS:
            for server in order:
                results.append(
                    run_once(server, scenario, round_number, datasets, args.keep, problems)
                )
    elapsed = time.perf_counter() - started

    command = " ".join([".venv/bin/python bench/ingest.py", *sys.argv[1:]])
    print()
    print(f"## Ingest: raddx vs Orthanc (storescu, TCP_NODELAY=1 on both ends), `{command}`")
    print()
    print(machine)
    print(
        f"- {args.ct} CT (512 kB) and {args.small} small files per client; {args.rounds} "
        f"interleaved rounds, fresh server per run; bench time {elapsed:.0f} s; 1-min load "
        f"average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (ours included)"
    )
    if args.stand_in:
        print("- **raddx column is DCMTK storescp standing in for raddx (harness test)**")
    print()
    print(table(results, args.rounds))
    print()
    print(cpu_table(results))
    print()
    print(
        "Per run (inst/s): "
        + "; ".join(
            f"{r.scenario.kind}x{r.scenario.clients} {r.server} r{r.round}="
            + ("FAILED" if r.error else f"{r.rate:.0f}")
            for r in results
        )
    )
    for server in servers:
        stops = [r.stop_seconds for r in results if r.server == server.name]
        if stops:
            print(
                f"{server.name} stop (signal to exit): median {statistics.median(stops):.2f} s,"
                f" max {max(stops):.2f} s"
            )
    if problems:
        print()
        print("Problems:")
        for problem in problems:
            print(f"- {problem}")
    print(f"\nLogs: {WORK / 'logs'}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
