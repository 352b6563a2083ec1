"""The radiologist's reading list on a large archive (issue 10 §4): ``reading_list()`` latency.

Issue 10's list target (< 300 ms for a search on 100,000 studies) applied to the reading list.

Method: ``--studies`` studies (default 100,000) of one tenth as many patients are written
straight into a fresh, migrated SQLite index with bulk INSERTs; 60 % of them carry a final
report and 10 % a preliminary one (``report_version``/``report_study`` rows as the report
store writes them). Then one page (50 items, as the UI asks) of the default list, of a
modality filter and of a deep page (offset 20,000) is asked ``--reps`` times each through
:func:`raddx.reports.reading_list.reading_list`; the median and the slowest are printed.

    .venv/bin/python bench/reading_list.py [--studies 100000] [--reps 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from raddx.config import load_settings
from raddx.db.models import Patient, ReportStudy, ReportVersion, Study
from raddx.reports.reading_list import reading_list
from raddx.services import Services


def _fill(services: Services, studies: int) -> None:
    now = dt.datetime.now(dt.UTC)
    patients = max(1, studies // 10)
    reported = int(studies * 0.7)
    with services.session_factory.begin() as s:
        s.execute(
            insert(Patient),
            [
                {
                    "patient_id": f"P{i}",
                    "issuer_of_patient_id": "",
                    "patient_name": f"Yamada^Taro{i}=山田^太郎=やまだ^たろう",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(patients)
            ],
        )
        s.execute(
            insert(Study),
            [
                {
                    "study_instance_uid": f"1.2.392.1.{i}",
                    "patient_fk": 1 + i % patients,
                    "study_date": f"2026{1 + i % 12:02d}{1 + i % 28:02d}",
                    "study_time": "101010",
                    "accession_number": f"A{i}",
                    "modalities_in_study": "MR" if i % 3 == 0 else "CT",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(studies)
            ],
        )
        s.execute(
            insert(ReportVersion),
            [
                {
                    "report_id": f"R{i}",
                    "version": 1,
                    "status": "final" if i < studies * 0.6 else "preliminary",
                    "is_latest": True,
                    "patient_id": f"P{i % patients}",
                    "issuer_of_patient_id": "",
                    "accession_number": f"A{i}",
                    "study_date": None,
                    "modalities": "CT",
                    "created_at": now,
                    "verified_at": None,
                    "content_sha256": None,
                    "record": "{}",
                    "stored_at": now,
                }
                for i in range(reported)
            ],
        )
        s.execute(
            insert(ReportStudy),
            [
                {"report_version_fk": i + 1, "study_instance_uid": f"1.2.392.1.{i}"}
                for i in range(reported)
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        services = Services.from_settings(load_settings(data_dir=Path(tmp) / "data"))
        try:
            started = time.perf_counter()
            _fill(services, args.studies)
            print(f"{args.studies} studies written in {time.perf_counter() - started:.1f} s")
            print(f"{'page':<24} {'median ms':>10} {'max ms':>8}  (target < 300 ms)")
            for name, kwargs in (
                ("default (unreported…)", {}),
                ("modality=MR", {"modality": "MR"}),
                ("offset=20000", {"offset": 20_000}),
            ):
                times = []
                for _ in range(args.reps):
                    with services.session_factory() as session:
                        t = time.perf_counter()
                        items = reading_list(session=session, limit=50, **kwargs)  # type: ignore[arg-type]
                        times.append((time.perf_counter() - t) * 1000)
                    assert len(items) == 50
                print(f"{name:<24} {statistics.median(times):>10.0f} {max(times):>8.0f}")
        finally:
            services.close()


if __name__ == "__main__":
    main()
