"""Report exchange benchmark (issue 7): export of N generated reports (Japanese text) as an
exchange package and its re-import into a fresh index, reports/s each way and peak memory.

"reports/s" is wall-clock; "per CPU s" divides by the process's CPU time, which is what to
compare across runs on a machine shared with other work. Each phase runs in its own process
so that its peak resident set size (``ru_maxrss``) is its own; running with two sizes
(``--sizes 1000 10000``) shows whether memory stays flat in the number of reports
(streaming) or grows with it. Setup (not timed): a SQLite index with N
stored reports (inserted through the report store) and a second index holding the N studies
they belong to (rows inserted directly, as ingest would leave them), so that import does the
full work of matching each report to its study.

There is no peer tool to compare with (the JIRA tools are Windows applications we cannot
run); the table shows the issue's targets instead.

Run from the repository::

    .venv/bin/python bench/reports.py [--sizes 1000 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"export": 500.0, "import": 300.0}


def _services(root: Path):  # type: ignore[no-untyped-def]
    from raddx.config import load_settings
    from raddx.services import Services

    return Services.from_settings(
        load_settings(data_dir=root, database_url=f"sqlite:///{root / 'index.sqlite'}")
    )


def _seed_reports(root: Path, n: int) -> None:
    from raddx.reports import store
    from raddx.reports.samples import sample_record

    services = _services(root)
    try:
        with services.session_factory.begin() as session:
            for i in range(1, n + 1):
                store.insert_version(session=session, record=sample_record(i))
    finally:
        services.close()


def _seed_studies(root: Path, n: int) -> None:
    from sqlalchemy import insert

    from raddx.db.models import Patient, Study

    services = _services(root)
    now = dt.datetime.now(dt.UTC)
    try:
        with services.session_factory.begin() as session:
            patients = {}
            for i in range(1, n + 1):
                pid = f"P{i % 9973:06d}"
                if pid not in patients:
                    patients[pid] = len(patients) + 1
            session.execute(
                insert(Patient),
                [
                    {
                        "id": k,
                        "patient_id": p,
                        "issuer_of_patient_id": "",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p, k in patients.items()
                ],
            )
            session.execute(
                insert(Study),
                [
                    {
                        "study_instance_uid": f"1.2.392.200036.9116.2.6.1.{1000 + i}",
                        "patient_fk": patients[f"P{i % 9973:06d}"],
                        "accession_number": f"A{i:08d}",
                        "study_date": "20240401",
                        "modalities_in_study": "CT",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(1, n + 1)
                ],
            )
    finally:
        services.close()


def _phase(name: str, work: Path, n: int) -> dict[str, float]:
    """Run in a child process: one timed phase; prints a JSON line."""
    from raddx.reports import ReportSelection
    from raddx.reports.package import export_package, import_reports

    package = work / "package.zip"
    if name == "export":
        services = _services(work / "source")
        started, cpu = time.perf_counter(), time.process_time()
        summary = export_package(
            session_factory=services.session_factory, selection=ReportSelection(), target=package
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert summary.reports == n, summary
    else:
        services = _services(work / "target")
        started, cpu = time.perf_counter(), time.process_time()
        result = import_reports(
            session_factory=services.session_factory,
            source=package,
            result_path=work / "result.csv",
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert dict(result.counts) == {"imported": n}, result.counts
    services.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "elapsed": elapsed,
        "rate": n / elapsed,
        "cpu_rate": n / cpu,
        "peak_mib": peak_mib,
        "package_mib": package.stat().st_size / 2**20,
    }


def _run_child(name: str, work: Path, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--work", str(work), "--n", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--child", choices=["export", "import"])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_phase(args.child, args.work, args.n)))
        return
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="raddx-bench-reports-") as tmp:
            work = Path(tmp)
            _seed_reports(work / "source", n)
            _seed_studies(work / "target", n)
            for phase in ("export", "import"):
                rows.append((phase, n, _run_child(phase, work, n)))
    print(f"report exchange package, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    print(
        f"{'phase':<8}{'reports':>9}{'seconds':>9}{'reports/s':>11}{'per CPU s':>11}{'target':>8}"
        f"{'peak RSS MiB':>14}{'package MiB':>13}"
    )
    for phase, n, r in rows:
        print(
            f"{phase:<8}{n:>9}{r['elapsed']:>9.1f}{r['rate']:>11.0f}{r['cpu_rate']:>11.0f}"
            f"{TARGETS[phase]:>8.0f}"
            f"{r['peak_mib']:>14.0f}{r['package_mib']:>13.1f}"
        )


if __name__ == "__main__":
    main()
