"""DICOMweb benchmark: raddx against Debian's Orthanc with its DICOMweb plug-in, same run.

Issue 5's target, raddx at or above Orthanc on every row:

* **STOW-RS**: ``--ct`` synthetic 512 kB CT instances of one study, ``--batch`` instances per
  ``multipart/related; type="application/dicom"`` request, one client on one keep-alive
  connection; instances/s and MB/s of the whole upload (every request must answer 200).
* **QIDO-RS**: study search latency, median and p95 over ``--reps`` requests per query with a
  different key each time (same sequence for both servers, interleaved): by PatientID (1
  match), by PatientName prefix wildcard (10 matches), by StudyDate range (30 matches). The
  index holds ``--studies`` one-instance studies loaded with ``storescu`` as in ``query.py``,
  plus the STOW-RS study.
* **WADO-RS**: retrieve of the whole STOW-RS study (``Accept: multipart/related;
  type="application/dicom"``), MB/s of body received, ``--wado-reps`` times.
* **Rendered**: ``/frames/1/rendered`` latency (``Accept: image/jpeg``) of instances of the
  study; "n/a" for a server that answers 404/405/406 (not implemented).

Both servers run on empty storage inside one private network namespace (``unshare -n``, as
``ingest.py``); HTTP is timed in-process with httpx, one keep-alive client per server, from
sending the request to the last byte of the answer. Server, namespace and data helpers come
from ``_common.py``, the QIDO data and its keys from ``query.py``.

Run as root from the repository::

    .venv/bin/python bench/dicomweb.py [--ct N] [--studies N] [--reps N] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
import query

#: Bump when the generated files change, so stale caches in bench/_work are not reused.
DATA_VERSION = "w1"
BOUNDARY = "raddx-bench-boundary-7c1f0d2e"
HTTP_TIMEOUT = 600.0
#: A status that means "this server does not offer the resource" rather than a failure.
_NOT_OFFERED = frozenset({404, 405, 406, 501})


# --------------------------------------------------------------------------------------------
# Data


@dataclasses.dataclass(frozen=True)
class CtStudy:
    """The STOW-RS / WADO-RS study: its files in instance order and its UIDs."""

    files: list[Path]
    study_uid: str
    series_uid: str
    sop_uids: list[str]

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes (what a retrieve must carry at least)."""
        return sum(p.stat().st_size for p in self.files)


def generate_ct(count: int) -> CtStudy:
    """``count`` 512 kB CT files of one study, written once and reused (manifest last)."""
    directory = common.WORK / "data" / f"{DATA_VERSION}-ct-{count}"
    manifest = directory / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        cached = [directory / "files" / f"{n:05d}.dcm" for n in range(1, count + 1)]
        if all(p.exists() for p in cached):
            return CtStudy(cached, meta["study"], meta["series"], meta["sops"])
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "files").mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    sops: list[str] = []
    files: list[Path] = []
    for number in range(1, count + 1):
        sop = generate_uid()
        # Random 12-bit values: incompressible like real noise, and a valid window for render.
        pixels = (np.frombuffer(os.urandom(512 * 512 * 2), "<u2") & 0x0FFF).tobytes()
        ds = common.ct_dataset(study, series, frame, sop, number, pixels)
        ds.PatientID, ds.PatientName = "WEBCT", "WEB^CT"
        path = directory / "files" / f"{number:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        sops.append(sop)
        files.append(path)
    manifest.write_text(json.dumps({"study": study, "series": series, "sops": sops}))
    return CtStudy(files, study, series, sops)


def stow_bodies(study: CtStudy, batch: int) -> list[tuple[bytes, int]]:
    """The multipart bodies of the upload, built before timing: (body, instances)."""
    bodies = []
    for first in range(0, len(study.files), batch):
        chunk = study.files[first : first + batch]
        parts = [
            f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes()
            for p in chunk
        ]
        bodies.append((b"\r\n".join(parts) + f"\r\n--{BOUNDARY}--\r\n".encode(), len(chunk)))
    return bodies


# --------------------------------------------------------------------------------------------
# Servers


class OrthancWeb(common.Orthanc):
    """``ingest.py``'s Orthanc plus the DICOMweb plug-in at /dicom-web (Debian's
    ``orthanc-dicomweb``) and C-STORE from our loader."""

    extra_config: ClassVar[dict[str, object]] = {
        "Plugins": [str(common.orthanc_dicomweb_plugin())],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }


def web_base(server: common.Server) -> str:
    """The DICOMweb root URL of a started server."""
    if isinstance(server, common.Raddx):
        # httpx sends URL userinfo as HTTP Basic: the token authenticates every request.
        return f"http://token:{server.token}@{common.HOST}:{server.http_port}/dicom-web"
    return f"http://{common.HOST}:{common.ORTHANC_HTTP_PORT}/dicom-web"


# --------------------------------------------------------------------------------------------
# Measurements


@dataclasses.dataclass
class Measured:
    """Results of one server: seconds per repetition for each row, and whether it is offered."""

    stow_seconds: float = 0.0
    stow_cpu: float = 0.0
    qido: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    wado: list[float] = dataclasses.field(default_factory=list)
    wado_bytes: int = 0
    wado_cpu: float = 0.0
    rendered: list[float] = dataclasses.field(default_factory=list)
    rendered_offered: bool = True


def stow(
    client: httpx.Client, base: str, bodies: list[tuple[bytes, int]], problems: list[str]
) -> float:
    """Wall time of every STOW-RS request in order; each must store all its instances."""
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
        "Accept": "application/dicom+json",
    }
    started = time.perf_counter()
    for body, count in bodies:
        response = client.post(f"{base}/studies", content=body, headers=headers)
        if response.status_code != 200:
            problems.append(f"{base}: STOW-RS {response.status_code}: {response.text[:200]}")
            continue
        stored = response.json().get("00081199", {}).get("Value", [])
        if len(stored) != count:
            problems.append(f"{base}: STOW-RS stored {len(stored)} of {count}")
    return time.perf_counter() - started


def qido(client: httpx.Client, base: str, keys: dict[str, str]) -> tuple[float, int]:
    """Seconds for one study search, and the number of matches."""
    started = time.perf_counter()
    # "*" left literal (RFC 3986 allows it in a query): Orthanc's DICOMweb plug-in does not
    # decode %2A, and its wildcard search then matches nothing.
    url = f"{base}/studies?{urllib.parse.urlencode(keys, safe='*')}"
    response = client.get(url, headers={"Accept": "application/dicom+json"})
    body = response.content
    elapsed = time.perf_counter() - started
    if response.status_code == 204:
        return elapsed, 0
    if response.status_code != 200:
        raise common.ServerError(f"{base}: QIDO-RS {keys} answered {response.status_code}")
    return elapsed, len(json.loads(body))


def wado_study(client: httpx.Client, base: str, study_uid: str) -> tuple[float, int]:
    """Seconds to receive the whole study as multipart/related, and the bytes received."""
    accept = 'multipart/related; type="application/dicom"'
    received = 0
    started = time.perf_counter()
    with client.stream(
        "GET", f"{base}/studies/{study_uid}", headers={"Accept": accept}
    ) as response:
        if response.status_code != 200:
            raise common.ServerError(f"{base}: WADO-RS study answered {response.status_code}")
        for chunk in response.iter_raw():
            received += len(chunk)
    return time.perf_counter() - started, received


def rendered(client: httpx.Client, url: str) -> tuple[float, int]:
    """Seconds for one rendered frame (JPEG), and the HTTP status."""
    started = time.perf_counter()
    response = client.get(url, headers={"Accept": "image/jpeg"})
    _ = response.content
    elapsed = time.perf_counter() - started
    if response.status_code == 200 and not response.content.startswith(b"\xff\xd8"):
        raise common.ServerError(f"{url}: rendered answer is not a JPEG")
    return elapsed, response.status_code


def _interleaved(servers: Sequence[common.Server], rep: int) -> Iterator[common.Server]:
    """Alternate which server goes first, so neither always gets the warmer cache."""
    yield from (servers if rep % 2 else list(reversed(servers)))


# --------------------------------------------------------------------------------------------
# Report


def _ms(values: Sequence[float]) -> tuple[float, float]:
    return 1000 * statistics.median(values), 1000 * common.p95(values)


@dataclasses.dataclass(frozen=True)
class Row:
    """One table row: both cells, the ratio text and whether raddx meets the target."""

    label: str
    raddx: str
    orthanc: str
    ratio: str
    met: bool | None


def _latency_row(label: str, mine: list[float] | None, theirs: list[float] | None) -> Row:
    cells = [f"{_ms(v)[0]:.2f} / {_ms(v)[1]:.2f} ms" if v else "n/a" for v in (mine, theirs)]
    if not mine or not theirs:
        return Row(label, cells[0], cells[1], "–", None)
    (rm, rp), (om, op) = _ms(mine), _ms(theirs)
    return Row(label, cells[0], cells[1], f"{rm / om:.2f}×, {rp / op:.2f}×", rm <= om and rp <= op)


def _rate_row(label: str, mine: float | None, theirs: float | None, unit: str) -> Row:
    cells = [f"{v:.1f} {unit}" if v else "n/a" for v in (mine, theirs)]
    if not mine or not theirs:
        return Row(label, cells[0], cells[1], "–", None)
    return Row(label, cells[0], cells[1], f"{mine / theirs:.2f}×", mine >= theirs)


def rows(args: argparse.Namespace, results: dict[str, Measured], ct: CtStudy) -> list[Row]:
    """The table, in the issue's order."""
    r, o = results.get("raddx"), results.get("Orthanc")
    mb = ct.total_bytes / 1e6

    def stow_rate(m: Measured | None) -> float | None:
        return len(ct.files) / m.stow_seconds if m and m.stow_seconds else None

    def wado_rate(m: Measured | None) -> float | None:
        if not m or not m.wado:
            return None
        return m.wado_bytes / 1e6 / statistics.median(m.wado)

    table = [
        _rate_row(
            f"STOW-RS {len(ct.files)} × 512 kB, {args.batch} per request ({mb:.0f} MB)",
            stow_rate(r),
            stow_rate(o),
            "inst/s",
        )
    ]
    for q in query.queries(args.studies):
        label = q.label.replace("C-FIND", "QIDO-RS study search by")
        table.append(
            _latency_row(
                label, r.qido.get(q.label) if r else None, o.qido.get(q.label) if o else None
            )
        )
    table.append(
        _rate_row(
            f"WADO-RS study retrieve, {len(ct.files)} instances (median of {args.wado_reps})",
            wado_rate(r),
            wado_rate(o),
            "MB/s",
        )
    )
    table.append(
        _latency_row(
            "rendered frame `/frames/1/rendered` (JPEG)",
            r.rendered if r and r.rendered_offered else None,
            o.rendered if o and o.rendered_offered else None,
        )
    )
    return table


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line; ``--quick`` shrinks every size for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ct", type=int, default=300, help="512 kB instances STOWed (300)")
    parser.add_argument("--batch", type=int, default=10, help="instances per STOW request")
    parser.add_argument("--studies", type=int, default=2000, help="studies in the QIDO index")
    parser.add_argument("--reps", type=int, default=30, help="requests per QIDO query")
    parser.add_argument("--wado-reps", type=int, default=5, help="WADO-RS study retrieves")
    parser.add_argument("--render-reps", type=int, default=30, help="rendered frames")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", choices=("raddx", "orthanc"), help="run one server only")
    parser.add_argument(
        "--raddx-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for raddx serve (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ct, args.studies, args.reps = min(args.ct, 50), min(args.studies, 200), 10
        args.wado_reps, args.render_reps = min(args.wado_reps, 3), 10
    if min(args.ct, args.batch, args.reps, args.wado_reps, args.render_reps) < 1:
        parser.error("counts must be at least 1")
    if args.studies < 40:
        parser.error("--studies must be at least 40 (the date range spans 30 studies)")
    for item in args.raddx_env:
        if "=" not in item:
            parser.error(f"--raddx-env {item!r}: expected KEY=VALUE")
    return args


def _measure(
    servers: Sequence[common.Server],
    clients: dict[str, httpx.Client],
    args: argparse.Namespace,
    ct: CtStudy,
    results: dict[str, Measured],
    problems: list[str],
) -> None:
    """Every row for every server, interleaved rep by rep where the row repeats."""
    bodies = stow_bodies(ct, args.batch)
    for server in _interleaved(servers, 1):
        os.sync()
        cpu = common.session_cpu_seconds(server.session)
        results[server.name].stow_seconds = stow(
            clients[server.name], web_base(server), bodies, problems
        )
        results[server.name].stow_cpu = common.session_cpu_seconds(server.session) - cpu
        print(f"bench: STOW-RS {server.name} {results[server.name].stow_seconds:.2f} s", flush=True)
    del bodies
    for q in query.queries(args.studies):
        for rep in range(-1, args.reps):  # rep -1 is a warm-up, not counted
            keys, expected = q.make(max(rep, 0) + 1000 * (rep < 0))
            for server in _interleaved(servers, rep):
                seconds, matches = qido(clients[server.name], web_base(server), keys)
                if matches != expected:
                    problems.append(f"{server.name}: QIDO {keys}: {matches}, expected {expected}")
                if rep >= 0:
                    results[server.name].qido.setdefault(q.label, []).append(seconds)
        print(f"bench: QIDO-RS {q.label} done", flush=True)
    for rep in range(-1, args.wado_reps):
        for server in _interleaved(servers, rep):
            cpu = common.session_cpu_seconds(server.session)
            seconds, size = wado_study(clients[server.name], web_base(server), ct.study_uid)
            if size < ct.total_bytes:
                problems.append(f"{server.name}: WADO-RS {size} bytes < {ct.total_bytes}")
            if rep >= 0:
                results[server.name].wado.append(seconds)
                results[server.name].wado_bytes = size
                results[server.name].wado_cpu += common.session_cpu_seconds(server.session) - cpu
    print("bench: WADO-RS done", flush=True)
    for rep in range(-1, args.render_reps):
        sop = ct.sop_uids[max(rep, 0) * 7 % len(ct.sop_uids)]
        for server in _interleaved(servers, rep):
            measured = results[server.name]
            if not measured.rendered_offered:
                continue
            url = (
                f"{web_base(server)}/studies/{ct.study_uid}/series/{ct.series_uid}"
                f"/instances/{sop}/frames/1/rendered"
            )
            seconds, status = rendered(clients[server.name], url)
            if status in _NOT_OFFERED:
                measured.rendered_offered = False
                print(f"bench: {server.name} has no rendered frames ({status})", flush=True)
            elif status != 200:
                problems.append(f"{server.name}: rendered answered {status}")
            elif rep >= 0:
                measured.rendered.append(seconds)
    print("bench: rendered done", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Outside the namespace: install and generate, then re-exec under ``unshare -n``.
    Inside: start both servers, load the QIDO index, run every row, print the report."""
    args = parse_args(argv)
    if os.environ.get(common.NETNS_MARKER) != "1":
        common.ensure_tools(dicomweb=True)
        query.generate(args.studies, 1, 1)
        generate_ct(args.ct)
        common.reexec_in_netns()
    common.loopback_up()
    index = query.generate(args.studies, 1, 1)
    ct = generate_ct(args.ct)
    raddx_env = dict(item.split("=", 1) for item in args.raddx_env)
    servers: list[common.Server] = []
    if args.only != "orthanc":
        servers.append(common.Raddx(raddx_env))
    if args.only != "raddx":
        servers.append(OrthancWeb())
    logs, run = common.WORK / "wlogs", common.WORK / "wrun"
    shutil.rmtree(logs, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)
    logs.mkdir(parents=True)
    problems: list[str] = []
    machine = common.machine_report(servers, raddx_env)
    load_before = os.getloadavg()[0]
    results = {s.name: Measured() for s in servers}
    started_servers: list[common.Server] = []
    clients: dict[str, httpx.Client] = {}
    try:
        for server in servers:
            (run / server.name).mkdir(parents=True)
            server.start(run / server.name, logs / f"{server.name}.server.log")
            started_servers.append(server)
            seconds = query.load(server, index, logs)
            print(f"bench: loaded {index.instances} into {server.name} in {seconds:.1f} s")
            clients[server.name] = httpx.Client(timeout=HTTP_TIMEOUT)
        _measure(servers, clients, args, ct, results, problems)
    except (common.ServerError, OSError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
        print(f"bench: !!! FAILED: {exc}", flush=True)
    finally:
        for client in clients.values():
            client.close()
        for server in started_servers:
            stop_problems: list[str] = []
            server.stop(stop_problems)
            problems.extend(stop_problems)
        shutil.rmtree(run, ignore_errors=True)

    command = " ".join([".venv/bin/python bench/dicomweb.py", *sys.argv[1:]])
    print(f"\n## DICOMweb: raddx vs Orthanc + DICOMweb plug-in, `{command}`\n")
    print(machine)
    print(f"- orthanc-dicomweb {_deb_version('orthanc-dicomweb')}")
    print(
        f"- {args.studies} one-instance studies in the index (storescu) + the {args.ct}-instance "
        f"STOW-RS study; QIDO {args.reps} reps per query, WADO-RS {args.wado_reps}, rendered "
        f"{args.render_reps} (+1 warm-up each), servers interleaved; httpx, one keep-alive "
        f"connection per server; 1-min load average {load_before:.2f} before"
    )
    cpu = [
        f"{name}: STOW {m.stow_cpu / max(len(ct.files), 1) * 1000:.2f} ms CPU/inst, "
        f"WADO {m.wado_cpu / max(len(m.wado), 1):.2f} s CPU/retrieve"
        for name, m in results.items()
    ]
    print(f"- server CPU: {'; '.join(cpu)}\n")
    print("| row | raddx | Orthanc | ratio raddx/Orthanc | target met |")
    print("|---|---|---|---|---|")
    failed = bool(problems)
    for row in rows(args, results, ct):
        met = "–" if row.met is None else "yes" if row.met else "**no**"
        failed |= row.met is False
        print(f"| {row.label} | {row.raddx} | {row.orthanc} | {row.ratio} | {met} |")
    if problems:
        print("\nProblems:")
        for problem in problems[:50]:
            print(f"- {problem}")
    print(f"\nLogs: {logs}")
    return 1 if failed else 0


def _deb_version(package: str) -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "not installed"


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
