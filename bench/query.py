"""Query/retrieve benchmark: raddx against Debian's Orthanc, same index, same run.

Issue 4's target: with many studies indexed (generated metadata, tiny pixel data), raddx's
median and p95 latency of a study-level C-FIND by PatientID, by PatientName wildcard and by
StudyDate range is at or below Orthanc's, and its C-GET of a 300-instance study reaches at
least 1.0x Orthanc's instances/s.

Method: generate ``--studies`` studies of ``--per-study`` 16x16 Secondary Capture instances
(distinct PatientID, PatientName and StudyDate per study) plus one ``--big``-instance study;
start both servers on empty storage inside one private network namespace (``unshare -n``, as
``ingest.py``) and load the same files into each with one ``storescu +sd`` association. Each
C-FIND is timed in-process with pynetdicom over one open association per server (TCP_NODELAY on
its socket), from sending the request to the final response, ``--reps`` times per query with a
different key each repetition (the same sequence for both servers, interleaved rep by rep).
C-GET is timed as the wall time of a DCMTK ``getscu`` process (spawn included, for both
servers) writing into a temp dir. Server, readiness and tool helpers come from ``_common.py``.

Run as root from the repository::

    .venv/bin/python bench/query.py [--studies N] [--reps N] [--only raddx|orthanc]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

import _common as common

WORK = common.WORK
HOST = common.HOST
CLIENT_AET = common.CLIENT_AET
#: Bump when the generated files change, so stale caches in bench/_work are not reused.
DATA_VERSION = "q1"
BIG_PATIENT_ID = "QBIG"
LOAD_TIMEOUT = 3600.0
#: The study-level keys a viewer's study list asks for.
RETURN_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
)
#: StudyDate of study i is this ordinal + i days (2000-01-01 onwards).
_DATE_BASE = 730120


def _date(i: int) -> str:
    """StudyDate of small study ``i``: one day apart, so a range selects consecutive studies."""
    return datetime.date.fromordinal(_DATE_BASE + i).strftime("%Y%m%d")


# --------------------------------------------------------------------------------------------
# Data


@dataclasses.dataclass(frozen=True)
class IndexData:
    """The generated files: the small studies and the big one, with its Study Instance UID."""

    directory: Path
    instances: int
    big_study_uid: str


def generate(studies: int, per_study: int, big: int) -> IndexData:
    """Write the index data once, or reuse a complete earlier copy (a manifest marks it)."""
    directory = WORK / "data" / f"{DATA_VERSION}-{studies}x{per_study}-{big}"
    manifest = directory / "manifest.json"
    total = studies * per_study + big
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        if meta["instances"] == total:
            return IndexData(directory / "files", total, meta["big_study_uid"])
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "files").mkdir(parents=True)
    started = time.perf_counter()
    pixels = bytes(256)

    def write(i: int, pid: str, name: str, date: str, count: int) -> str:
        study, series = generate_uid(), generate_uid()
        for number in range(1, count + 1):
            ds = common.small_dataset(study, series, generate_uid(), number, pixels)
            ds.PatientID = pid
            ds.PatientName = name
            ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
            ds.AccessionNumber = f"QA{i:07d}"
            ds.StudyID = str(i)
            ds.save_as(directory / "files" / f"{pid}-{number:04d}.dcm", enforce_file_format=True)
        return study

    for i in range(studies):
        write(i, f"Q{i:06d}", f"FAM{i:06d}^GIVEN", _date(i), per_study)
    big_uid = write(studies, BIG_PATIENT_ID, "BIG^STUDY", "19990101", big)
    manifest.write_text(json.dumps({"instances": total, "big_study_uid": big_uid}))
    print(f"bench: generated {total} files in {time.perf_counter() - started:.1f} s", flush=True)
    return IndexData(directory / "files", total, big_uid)


# --------------------------------------------------------------------------------------------
# Servers


class OrthancQR(common.Orthanc):
    """ingest.py's Orthanc, plus C-FIND and C-GET allowed from any AE (ours is not declared)."""

    extra_config: ClassVar[dict[str, object]] = {
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
    }


def load(server: common.Server, data: IndexData, logs: Path) -> float:
    """One ``storescu +sd`` association with every file; returns the seconds it took."""
    started = time.perf_counter()
    with (logs / f"{server.name}.storescu.log").open("wb") as log:
        code = subprocess.run(
            [
                "storescu",
                "-aet",
                CLIENT_AET,
                "-aec",
                server.aet,
                "+sd",
                HOST,
                str(server.port),
                str(data.directory),
            ],
            env={**os.environ, **common.NODELAY_ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=LOAD_TIMEOUT,
            check=False,
        ).returncode
    if code:
        raise common.ServerError(f"{server.name}: storescu exit code {code}")
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Queries


@dataclasses.dataclass(frozen=True)
class Query:
    """One row of the table: a label and, per repetition, the matching key and the expected
    number of matches."""

    label: str
    make: Callable[[int], tuple[dict[str, str], int]]


def queries(studies: int) -> list[Query]:
    """PatientID exact, PatientName prefix wildcard (10 studies), StudyDate range (30 days)."""
    groups = max(studies // 10, 1)

    def by_id(rep: int) -> tuple[dict[str, str], int]:
        return {"PatientID": f"Q{(rep * 7919) % studies:06d}"}, 1

    def by_name(rep: int) -> tuple[dict[str, str], int]:
        g = (rep * 31) % groups
        return {"PatientName": f"FAM{g:05d}*"}, min(10, studies - 10 * g)

    def by_date(rep: int) -> tuple[dict[str, str], int]:
        first = (rep * 97) % max(studies - 30, 1)
        last = min(first + 29, studies - 1)
        return {"StudyDate": f"{_date(first)}-{_date(last)}"}, last - first + 1

    return [
        Query("C-FIND PatientID (1 match)", by_id),
        Query("C-FIND PatientName `FAM0nnnn*` (10 matches)", by_name),
        Query("C-FIND StudyDate range (30 matches)", by_date),
    ]


class FindClient:
    """One pynetdicom association kept open to a server; times each C-FIND round trip."""

    def __init__(self, server: common.Server) -> None:
        from pynetdicom import AE
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

        self.server = server
        self.model = StudyRootQueryRetrieveInformationModelFind
        ae = AE(ae_title=CLIENT_AET)
        ae.add_requested_context(self.model)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
        self.assoc = ae.associate(HOST, server.port, ae_title=server.aet)
        if not self.assoc.is_established:
            raise common.ServerError(f"{server.name}: C-FIND association rejected or aborted")
        sock = self.assoc.dul.socket.socket  # type: ignore[union-attr]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def find(self, keys: dict[str, str]) -> tuple[float, int]:
        """Seconds from request to final response, and the number of matches."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        for keyword in RETURN_KEYS:
            setattr(ds, keyword, "")
        for keyword, value in keys.items():
            setattr(ds, keyword, value)
        started = time.perf_counter()
        matches = 0
        final = None
        for status, identifier in self.assoc.send_c_find(ds, self.model):
            if status is None:
                raise common.ServerError(f"{self.server.name}: C-FIND timed out or aborted")
            if status.Status in (0xFF00, 0xFF01):
                matches += identifier is not None
            else:
                final = status.Status
        elapsed = time.perf_counter() - started
        if final != 0x0000:
            raise common.ServerError(f"{self.server.name}: C-FIND final status {final}")
        return elapsed, matches

    def close(self) -> None:
        """Release the association."""
        self.assoc.release()


def c_get(server: common.Server, study_uid: str, expected: int, logs: Path, rep: int) -> float:
    """Wall time of one ``getscu`` of the study into a temp dir; checks every file arrived."""
    with tempfile.TemporaryDirectory(dir=WORK) as out:
        started = time.perf_counter()
        with (logs / f"{server.name}.getscu{rep}.log").open("wb") as log:
            code = subprocess.run(
                [
                    "getscu",
                    "-aet",
                    CLIENT_AET,
                    "-aec",
                    server.aet,
                    "-S",
                    "-k",
                    "QueryRetrieveLevel=STUDY",
                    "-k",
                    f"StudyInstanceUID={study_uid}",
                    "-od",
                    out,
                    HOST,
                    str(server.port),
                ],
                env={**os.environ, **common.NODELAY_ENV},
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            ).returncode
        elapsed = time.perf_counter() - started
        got = len(os.listdir(out))
    if code or got != expected:
        raise common.ServerError(
            f"{server.name}: getscu exit code {code}, {got} of {expected} files"
        )
    return elapsed


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=2000, help="small studies (default 2000)")
    parser.add_argument("--per-study", type=int, default=10, help="instances per small study")
    parser.add_argument("--big", type=int, default=300, help="instances of the C-GET study")
    parser.add_argument("--reps", type=int, default=30, help="repetitions per C-FIND query")
    parser.add_argument("--get-reps", type=int, default=5, help="repetitions of the C-GET")
    parser.add_argument("--only", choices=("raddx", "orthanc"), help="run one server only")
    parser.add_argument(
        "--raddx-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for raddx serve (repeatable)",
    )
    args = parser.parse_args(argv)
    if min(args.studies, args.per_study, args.big, args.reps, args.get_reps) < 1:
        parser.error("counts must be at least 1")
    if args.studies < 40:
        parser.error("--studies must be at least 40 (the date range spans 30 studies)")
    for item in args.raddx_env:
        if "=" not in item:
            parser.error(f"--raddx-env {item!r}: expected KEY=VALUE")
    return args


def _ms(values: Sequence[float]) -> tuple[float, float]:
    return 1000 * statistics.median(values), 1000 * common.p95(values)


def main(argv: Sequence[str] | None = None) -> int:
    """Outside the namespace: install and generate, then re-exec under ``unshare -n``.
    Inside: start both servers, load, query, retrieve, print the report."""
    args = parse_args(argv)
    if os.environ.get(common.NETNS_MARKER) != "1":
        common.ensure_tools()
        generate(args.studies, args.per_study, args.big)
        common.reexec_in_netns()
    common.loopback_up()
    data = generate(args.studies, args.per_study, args.big)
    raddx_env = dict(item.split("=", 1) for item in args.raddx_env)
    servers: list[common.Server] = []
    if args.only != "orthanc":
        servers.append(common.Raddx(raddx_env))
    if args.only != "raddx":
        servers.append(OrthancQR())
    logs = WORK / "qlogs"
    run = WORK / "qrun"
    shutil.rmtree(logs, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)
    logs.mkdir(parents=True)
    problems: list[str] = []
    machine = common.machine_report(servers, raddx_env)
    load_before = os.getloadavg()[0]
    load_s: dict[str, float] = {}
    finds: dict[tuple[str, str], list[float]] = {}
    gets: dict[str, list[float]] = {}
    qs = queries(args.studies)
    started_servers: list[common.Server] = []
    clients: dict[str, FindClient] = {}
    try:
        for server in servers:
            scratch = run / server.name
            scratch.mkdir(parents=True)
            server.start(scratch, logs / f"{server.name}.server.log")
            started_servers.append(server)
            os.sync()
            load_s[server.name] = load(server, data, logs)
            print(
                f"bench: loaded {data.instances} instances into {server.name} in "
                f"{load_s[server.name]:.1f} s",
                flush=True,
            )
        os.sync()
        for server in servers:
            clients[server.name] = FindClient(server)
        for query in qs:
            for rep in range(-1, args.reps):  # rep -1 is a warm-up, not counted
                keys, expected = query.make(max(rep, 0) + 1000 * (rep < 0))
                order = servers if rep % 2 else list(reversed(servers))
                for server in order:
                    seconds, matches = clients[server.name].find(keys)
                    if matches != expected:
                        problems.append(
                            f"{server.name}: {query.label} {keys}: {matches} matches, "
                            f"expected {expected}"
                        )
                    if rep >= 0:
                        finds.setdefault((query.label, server.name), []).append(seconds)
            print(f"bench: {query.label} done", flush=True)
        for client in clients.values():
            client.close()
        clients.clear()
        for rep in range(-1, args.get_reps):
            order = servers if rep % 2 else list(reversed(servers))
            for server in order:
                seconds = c_get(server, data.big_study_uid, args.big, logs, rep)
                if rep >= 0:
                    gets.setdefault(server.name, []).append(seconds)
        print("bench: C-GET done", flush=True)
    except (common.ServerError, OSError, subprocess.SubprocessError) as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
        print(f"bench: !!! FAILED: {exc}", flush=True)
    finally:
        for client in clients.values():
            client.assoc.abort()
        for server in started_servers:
            stop_problems: list[str] = []
            server.stop(stop_problems)
            problems.extend(stop_problems)
        shutil.rmtree(run, ignore_errors=True)

    command = " ".join([".venv/bin/python bench/query.py", *sys.argv[1:]])
    print()
    print(f"## Query/retrieve: raddx vs Orthanc, `{command}`")
    print()
    print(machine)
    print(
        f"- {args.studies} studies × {args.per_study} + one {args.big}-instance study "
        f"({data.instances} instances) loaded with one storescu association: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in load_s.items())
    )
    print(
        f"- C-FIND: pynetdicom, one open association per server, TCP_NODELAY, {args.reps} reps "
        f"per query (+1 warm-up), servers interleaved; C-GET: getscu wall time incl. process "
        f"spawn, {args.get_reps} reps (+1 warm-up); 1-min load average {load_before:.2f} before"
    )
    print()
    print(
        "| query | raddx median / p95 | Orthanc median / p95 | ratio raddx/Orthanc "
        "(median, p95) | target met |"
    )
    print("|---|---|---|---|---|")
    failed = bool(problems)
    for query in qs:
        r, o = finds.get((query.label, "raddx")), finds.get((query.label, "Orthanc"))
        cells = [f"{_ms(v)[0]:.2f} / {_ms(v)[1]:.2f} ms" if v else "–" for v in (r, o)]
        if r and o:
            rm, rp = _ms(r)
            om, op = _ms(o)
            ok = rm <= om and rp <= op
            ratio, met = f"{rm / om:.2f}×, {rp / op:.2f}×", "yes" if ok else "**no**"
            failed |= not ok
        else:
            ratio, met = "–", "–"
        print(f"| {query.label} | {cells[0]} | {cells[1]} | {ratio} | {met} |")
    rates = {k: [args.big / s for s in v] for k, v in gets.items()}
    cells = [
        f"{statistics.median(rates[n]):.0f} inst/s (min {min(rates[n]):.0f})" if n in rates else "–"
        for n in ("raddx", "Orthanc")
    ]
    if "raddx" in rates and "Orthanc" in rates:
        ratio_v = statistics.median(rates["raddx"]) / statistics.median(rates["Orthanc"])
        ratio, met = f"{ratio_v:.2f}× throughput", "yes" if ratio_v >= 1.0 else "**no**"
        failed |= ratio_v < 1.0
    else:
        ratio, met = "–", "–"
    print(
        f"| C-GET {args.big}-instance study (getscu) | {cells[0]} | {cells[1]} | {ratio} | {met} |"
    )
    if problems:
        print("\nProblems:")
        for problem in problems[:50]:
            print(f"- {problem}")
    print(f"\nLogs: {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
