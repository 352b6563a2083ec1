"""De-identification benchmark: raddx against dicognito and the pydicom read+write ceiling.

Research notes ``../shared/reference/deidentification.md`` §5: same seeded PHI corpus (the test
suite's ``tests/deid_corpus.py``), same output disk, same Python, page cache warm, timing
around read → de-identify → write only (for raddx: the whole run, with its risk checks,
atomic writes, input hashes and manifest). Each configuration runs ``--rounds`` times, rounds
interleaved; the table shows the median files/s and MB/s, the median files per CPU second
(this process and its workers: the load-independent figure on a shared host), and the leak
findings of our verifier (``raddx deid verify``) on each tool's output under the
``pseudonymize`` policy.

dicognito is the peer named in issue 8 (install it into the venv: ``pip install dicognito``);
it keeps private attributes by default, so it is also run with ``remove_private_tags()``.

Run from the repository::

    .venv/bin/python bench/deid.py [--patients 40] [--images 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from deid_corpus import build_corpus
from raddx.deid import ProjectKey, deidentify_paths, load_policy, verify_paths

KEY = b"raddx benchmark project key 0001"
Tool = Callable[[list[Path], Path], None]


def _pydicom_ceiling(files: list[Path], out: Path) -> None:
    for index, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.save_as(out / f"{index}.dcm")


def _raddx(files: list[Path], out: Path, *, jobs: int = 1) -> None:
    """The whole ``raddx deid run`` path: risk checks, atomic writes, input hashes, manifest;
    with ``jobs`` > 1 through its own process pool (``raddx deid run --jobs``)."""
    deidentify_paths(
        files,
        out_dir=out,
        quarantine_dir=out.with_name(out.name + "-quarantine"),
        policy=load_policy("pseudonymize"),
        key=ProjectKey(KEY),
        jobs=jobs,
    )


def _files_with_leaks(inputs: Path, out: Path) -> int:
    """Our verifier on each folder that has its own manifest (dates are paired through it)."""
    policy = load_policy("pseudonymize")
    folders = [m.parent for m in out.rglob("manifest.json")] or [out]
    leaking: set[Path] = set()
    for folder in folders:
        report = verify_paths([inputs], folder, policy=policy)
        leaking |= {f.output for f in report.findings if f.where != "required"}
    return len(leaking)


def _dicognito_2_processes(files: list[Path], out: Path) -> None:
    """dicognito has no process pool: two processes, each with its own Anonymizer over half
    the files (its UIDs and names then differ between the halves: throughput only)."""
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_dicognito, [files[0::2], files[1::2]], [out, out]))


def _dicognito(files: list[Path], out: Path, *, remove_private: bool = False) -> None:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer()  # one for the whole set: required for its consistency
    for path in files:
        ds = pydicom.dcmread(path)
        anonymizer.anonymize(ds)
        if remove_private:
            ds.remove_private_tags()
        ds.save_as(out / f"{ds.SOPInstanceUID}.dcm")


def _tools() -> dict[str, Tool]:
    tools: dict[str, Tool] = {
        "pydicom read+write (ceiling)": _pydicom_ceiling,
        "raddx pseudonymize, 1 process": _raddx,
        "raddx pseudonymize, --jobs 2": lambda f, o: _raddx(f, o, jobs=2),
    }
    try:
        importlib.metadata.version("dicognito")
    except importlib.metadata.PackageNotFoundError:
        print("dicognito not installed: pip install dicognito", file=sys.stderr)
    else:
        tools["dicognito"] = _dicognito
        tools["dicognito + remove_private_tags"] = lambda f, o: _dicognito(
            f, o, remove_private=True
        )
        tools["dicognito, 2 processes"] = _dicognito_2_processes
    return tools


def _cpu_seconds(times: os.times_result) -> float:
    """CPU time of this process and of its children that have ended (pool workers are
    joined before a tool returns), user + system: what the other load on a shared host
    does not inflate much, unlike the wall clock."""
    return times.user + times.system + times.children_user + times.children_system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--images", type=int, default=12, help="images per series")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-leak-check",
        action="store_true",
        help="skip our verifier on each output (it takes minutes on outputs that leak)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="raddx-bench-deid-"))
    try:
        corpus = build_corpus(work / "in", patients=args.patients, images_per_series=args.images)
        files = corpus.files
        size = sum(p.stat().st_size for p in files)
        for path in files:  # warm the page cache
            path.read_bytes()
        tools = _tools()
        times: dict[str, list[float]] = {name: [] for name in tools}
        cpu: dict[str, list[float]] = {name: [] for name in tools}
        for round_no in range(args.rounds):
            # Interleaved, and in reverse order every other round: a host that drifts
            # during the run does not favour whoever goes first.
            order = list(tools.items())
            for name, tool in order if round_no % 2 == 0 else reversed(order):
                out = work / "out" / name.replace(" ", "_")
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(out.with_name(out.name + "-quarantine"), ignore_errors=True)
                out.mkdir(parents=True)
                started, before = time.perf_counter(), os.times()
                tool(files, out)
                times[name].append(time.perf_counter() - started)
                cpu[name].append(_cpu_seconds(os.times()) - _cpu_seconds(before))
        print(
            f"corpus: {len(files)} files, {size / 1e6:.1f} MB; {platform.processor() or '?'}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, pydicom "
            f"{pydicom.__version__}; median of {args.rounds} rounds\n"
        )
        rate = {name: len(files) / statistics.median(times[name]) for name in tools}
        per_cpu = {name: len(files) / statistics.median(cpu[name]) for name in tools}
        peer = rate.get("dicognito")
        peer_cpu = per_cpu.get("dicognito")
        print(
            f"| {'tool':<34} | files/s | MB/s | × dicognito | files/CPU-s | × dicognito (CPU) "
            "| files with leaks |"
        )
        print(
            f"|{'-' * 36}|---------|------|-------------|-------------|-------------------"
            "|------------------|"
        )
        for name in tools:
            out = work / "out" / name.replace(" ", "_")
            leaks = "–"
            if not name.startswith("pydicom") and not args.no_leak_check:
                leaks = str(_files_with_leaks(work / "in", out))
            ratio = f"{rate[name] / peer:.2f}×" if peer else "–"
            cpu_ratio = f"{per_cpu[name] / peer_cpu:.2f}×" if peer_cpu else "–"
            print(
                f"| {name:<34} | {rate[name]:7.0f} | {rate[name] * size / len(files) / 1e6:4.1f} "
                f"| {ratio:>11} | {per_cpu[name]:11.0f} | {cpu_ratio:>17} | {leaks:>16} |"
            )
        one, two = rate["raddx pseudonymize, 1 process"], rate["raddx pseudonymize, --jobs 2"]
        print(f"\nraddx --jobs 2 over 1 process: {two / one:.2f}× (target ≥ 1.7×)")
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"load average at the end: {load} ({os.cpu_count()} cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
