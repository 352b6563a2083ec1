"""What every benchmark shares: the servers under test (raddx serve and Debian's Orthanc),
their start/stop and readiness checks, the private network namespace, the synthetic objects
and the machine report. ``ingest.py``, ``query.py`` and ``dicomweb.py`` import it; each keeps
only its own data, measurement and table.
"""

from __future__ import annotations

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
)

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "_work"
#: Set in the environment of the re-executed script, so it knows it already runs in its own
#: network namespace and does not unshare again.
NETNS_MARKER = "RADDX_BENCH_NETNS"
HOST = "127.0.0.1"
RADDX_AET, RADDX_PORT = "RADDX", 11112
ORTHANC_AET, ORTHANC_DICOM_PORT, ORTHANC_HTTP_PORT = "ORTHANC", 4242, 8042
CLIENT_AET = "BENCH"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
#: DCMTK reads this for requestor *and* acceptor sockets; without it a DCMTK peer waits one
#: or two 40 ms delayed ACKs per instance (reference note §1).
NODELAY_ENV = {"TCP_NODELAY": "1"}
#: Python tracebacks and logging errors (raddx), glog-style error lines (Orthanc: "E1125 ...").
_ERROR_LINE = re.compile(r"Traceback|\b(ERROR|CRITICAL)\b|^E\d{4} ")


# --------------------------------------------------------------------------------------------
# Outside the namespace: tools and re-exec


def ensure_tools(*, dicomweb: bool = False) -> None:
    """Install DCMTK and Orthanc (with ``dicomweb``: its DICOMweb plug-in, Debian package
    ``orthanc-dicomweb``) when missing; this must happen before ``unshare -n`` cuts the
    network. The Orthanc package starts a system daemon, which we stop and disable: we run our
    own instance with our own configuration, and a second one would only compete for CPU."""
    missing = [tool for tool in ("storescu", "echoscu", "storescp") if not shutil.which(tool)]
    need_orthanc = not shutil.which("Orthanc") and not Path("/usr/sbin/Orthanc").exists()
    need_plugin = dicomweb and orthanc_dicomweb_plugin() is None
    if missing or need_orthanc or need_plugin:
        if os.geteuid() != 0:
            sys.exit(f"bench: missing {missing or ['Orthanc']}; run as root to apt-get install")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        packages = ["orthanc", "dcmtk", *(["orthanc-dicomweb"] if dicomweb else [])]
        print(f"bench: installing {' '.join(packages)} with apt-get", flush=True)
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", *packages], check=True, env=env)
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
    script = str(Path(sys.argv[0]).resolve())  # the benchmark being run, not this module
    argv = ["unshare", "-n", "--", sys.executable, script, *sys.argv[1:]]
    sys.stdout.flush()
    os.execvpe("unshare", argv, env)


def loopback_up() -> None:
    """A new network namespace has only ``lo``, and it starts down."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


# --------------------------------------------------------------------------------------------
# Synthetic objects


def base_dataset(sop_class_uid: UID, study: str, series: str, sop: str, number: int) -> Dataset:
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


def ct_dataset(
    study: str, series: str, frame: str, sop: str, number: int, pixels: bytes
) -> Dataset:
    """A 512×512 16-bit CT Image (≈512 kB), the typical cross-sectional slice."""
    ds = base_dataset(CTImageStorage, study, series, sop, number)
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


def small_dataset(study: str, series: str, sop: str, number: int, pixels: bytes) -> Dataset:
    """A 16×16 8-bit Secondary Capture (~1.4 kB): dose sheets, key images, scanned forms —
    the objects where per-instance overhead, not bandwidth, decides the rate."""
    ds = base_dataset(SecondaryCaptureImageStorage, study, series, sop, number)
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


# --------------------------------------------------------------------------------------------
# Servers


def wait_until(what: str, probe: Callable[[], bool], proc: Proc) -> None:
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


def echo(aet: str, port: int) -> bool:
    """One C-ECHO with DCMTK, as the senders will connect."""
    result = subprocess.run(
        ["echoscu", "-aet", CLIENT_AET, "-aec", aet, "-to", "2", HOST, str(port)],
        capture_output=True,
        env={**os.environ, **NODELAY_ENV},
        check=False,
        timeout=30,
    )
    return result.returncode == 0


def http_get(url: str, timeout: float = 2.0) -> bytes | None:
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


def free_port() -> int:
    """A free TCP port on loopback (inside the private namespace, nothing else races us)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def spawn(argv: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path) -> Proc:
    """Start a server in its own session, so that its workers form one process group that we
    can signal or reap as a whole, and a Ctrl-C on the bench does not reach it twice."""
    log = log_path.open("wb")
    popen = subprocess.Popen(
        list(argv), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return Proc(popen, log_path, log)


def stop_process(
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
        env = {**clean_env(), **NODELAY_ENV}
        self.proc = spawn([orthanc_binary(), str(config_path)], env, scratch, logs)
        proc = self.proc
        wait_until(
            "Orthanc",
            lambda: (
                http_get(f"http://{HOST}:{ORTHANC_HTTP_PORT}/system") is not None
                and echo(self.aet, self.port)
            ),
            proc,
        )

    def stored(self, expected: frozenset[str]) -> int:
        """CountInstances from /statistics: Orthanc answers C-STORE after its commit."""
        body = http_get(f"http://{HOST}:{ORTHANC_HTTP_PORT}/statistics", timeout=30)
        if body is None:
            raise ServerError("Orthanc /statistics did not answer")
        return int(json.loads(body)["CountInstances"])

    def stop(self, problems: list[str]) -> float:
        """SIGTERM is Orthanc's documented clean stop."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            return stop_process(proc, signal.SIGTERM, self.name, problems)
        return 0.0


class Raddx:
    """``raddx serve`` configured only through RADDX_* variables, run from the scratch
    directory so that no raddx.toml of the developer's checkout is picked up."""

    name = "raddx"
    aet = RADDX_AET
    port = RADDX_PORT

    def __init__(self, extra_env: dict[str, str]) -> None:
        self.extra_env = extra_env
        self.http_port = 0
        self.proc: Proc | None = None
        self.data_dir: Path | None = None
        #: An admin API token in the server's index (made at start).
        self.token = ""

    @property
    def session(self) -> int:
        """Session id of the running server (its pid: it was started as a session leader)."""
        assert self.proc is not None
        return self.proc.popen.pid

    def start(self, scratch: Path, logs: Path) -> None:
        """Start; ready when C-ECHO works and /healthz answers (HTTP comes up last)."""
        self.data_dir = scratch / "raddx-data"
        self.data_dir.mkdir(parents=True)
        http_port = self.http_port = free_port()
        env = {
            **clean_env(),
            **NODELAY_ENV,
            "RADDX_DATA_DIR": str(self.data_dir),
            "RADDX_DICOM_PORT": str(RADDX_PORT),
            "RADDX_HTTP_PORT": str(http_port),
            "RADDX_AE_TITLE": RADDX_AET,
            "RADDX_HL7_PORT": "0",  # the HL7 door is off unless a bench turns it on
            **self.extra_env,
        }
        # Deny by default (issue 9): the HTTP benches authenticate with an admin API token,
        # made with `raddx token create` before the server starts.
        made = subprocess.run(
            [*raddx_command(), "token", "create", "bench-http", "--role", "admin"],
            env=env,
            cwd=scratch,
            capture_output=True,
            text=True,
            check=True,
        )
        self.token = made.stdout.strip()
        self.proc = spawn([*raddx_command(), "serve"], env, scratch, logs)
        proc = self.proc
        wait_until(
            "raddx",
            lambda: (
                echo(self.aet, self.port)
                and http_get(f"http://{HOST}:{http_port}/healthz") is not None
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
            return stop_process(proc, signal.SIGINT, self.name, problems)
        return 0.0


def clean_env() -> dict[str, str]:
    """Our environment minus RADDX_* (a developer's shell must not change the server under
    test) and minus our namespace marker."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RADDX_")}


def orthanc_dicomweb_plugin() -> Path | None:
    """The DICOMweb plug-in library of Debian's ``orthanc-dicomweb`` (versioned file name)."""
    found = sorted(Path("/usr/lib/orthanc").glob("libOrthancDicomWeb.so*"))
    return found[-1] if found else None


def orthanc_binary() -> str:
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
        f"- orthanc: {_first_line([orthanc_binary(), '--version'])}",
        f"- pydicom {_package_version('pydicom')}, pynetdicom {_package_version('pynetdicom')}",
        f"- raddx {_package_version('raddx')} (commit {commit}, working tree may differ)",
        f"- servers: {', '.join(type(s).__name__ for s in servers)}",
    ]
    if raddx_env:
        lines.append(f"- raddx env: {' '.join(f'{k}={v}' for k, v in raddx_env.items())}")
    return "\n".join(lines)


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
