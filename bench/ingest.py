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
import dataclasses
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CLIENT_AET,
    HOST,
    NETNS_MARKER,
    NODELAY_ENV,
    RADDX_AET,
    RADDX_PORT,
    WORK,
    Orthanc,
    Proc,
    Raddx,
    Server,
    ServerError,
    clean_env,
    ct_dataset,
    echo,
    ensure_tools,
    loopback_up,
    machine_report,
    reexec_in_netns,
    session_cpu_seconds,
    small_dataset,
    spawn,
    stop_process,
    wait_until,
)

#: Bump when the generated files change, so stale caches in bench/_work are not reused.
DATA_VERSION = "v1"
STORE_TIMEOUT = 600.0


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
# Data generation


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
            ds = ct_dataset(study, series, frame, sop, number, os.urandom(512 * 512 * 2))
        else:
            ds = small_dataset(study, series, sop, number, os.urandom(16 * 16))
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
# Stand-in server (harness testing)


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
        self.proc = spawn(argv, {**clean_env(), **NODELAY_ENV}, scratch, logs)
        proc = self.proc
        wait_until("storescp", lambda: echo(self.aet, self.port), proc)

    def stored(self, expected: frozenset[str]) -> int:
        """Files written (``-uf`` names them ``<modality>.<SOP Instance UID>``)."""
        assert self.out is not None
        return sum(1 for p in self.out.iterdir() if p.name.split(".", 1)[-1] in expected)

    def stop(self, problems: list[str]) -> float:
        """storescp has no graceful stop; SIGTERM is what its users send."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            return stop_process(
                proc, signal.SIGTERM, "storescp", problems, clean=(0, -signal.SIGTERM)
            )
        return 0.0


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
