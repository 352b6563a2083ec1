"""Study browser search on 100,000 studies (issue 10 §1/§3): REST ``GET /api/studies`` latency.

Issue 10's target: a study list search answers in < 300 ms on 100,000 studies.

Method: ``--studies`` studies (default 100,000) of ``--patients`` Japanese patients (kanji,
kana and romaji name groups, normalised as ingest does) are written straight into a fresh,
migrated index with bulk INSERTs (no C-STORE: the pixels are not what is measured), one
series each, spread over 2020-2026 and eight modalities; referring physicians in three
groups; 60 % of the studies carry a report (final, preliminary or draft, as the report store
writes ``report_version``/``report_study``). Then each typical search of the study browser is
sent ``--reps`` times through the whole HTTP application in process (FastAPI TestClient:
routing, authentication, the query engine, the capped count, JSON), with the UI's page size
(25) and default sort (newest first), and the median and p95 are printed against the target.

SQLite is measured as a fresh install has it (no ANALYZE); PostgreSQL after ANALYZE (what
autovacuum does after a bulk load), on ``--postgres-url`` or a throw-away cluster
(``.ci/pg-throwaway.sh``) when the server binaries are installed, else skipped.

    .venv/bin/python bench/study_search.py [--studies 100000] [--reps 15] [--only sqlite]
    .venv/bin/python bench/study_search.py --explain   # also print each query plan
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from raddx.archive.names import fuzzy_group, normalize_group
from raddx.config import load_settings
from raddx.db.models import Patient, ReportStudy, ReportVersion, Series, Study
from raddx.services import Services

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0
_SURNAMES = (
    ("山田", "やまだ", "Yamada"),
    ("佐藤", "さとう", "Sato"),
    ("鈴木", "すずき", "Suzuki"),
    ("高橋", "たかはし", "Takahashi"),
    ("田中", "たなか", "Tanaka"),
    ("伊藤", "いとう", "Ito"),
    ("渡辺", "わたなべ", "Watanabe"),
    ("中村", "なかむら", "Nakamura"),
    ("小林", "こばやし", "Kobayashi"),
    ("加藤", "かとう", "Kato"),
    ("吉田", "よしだ", "Yoshida"),
    ("山本", "やまもと", "Yamamoto"),
    ("松本", "まつもと", "Matsumoto"),
    ("井上", "いのうえ", "Inoue"),
    ("木村", "きむら", "Kimura"),
    ("林", "はやし", "Hayashi"),
)
_GIVEN = (
    ("太郎", "たろう", "Taro"),
    ("花子", "はなこ", "Hanako"),
    ("一郎", "いちろう", "Ichiro"),
    ("美咲", "みさき", "Misaki"),
    ("健", "けん", "Ken"),
    ("舞", "まい", "Mai"),
    ("翔", "しょう", "Sho"),
    ("陽子", "ようこ", "Yoko"),
)
_REFERRING = (
    ("内科", "ないか", "Naika"),
    ("外科", "げか", "Geka"),
    ("整形", "せいけい", "Seikei"),
    ("小児", "しょうに", "Shouni"),
)
_MODALITIES = ("CT", "CT", "CT", "MR", "MR", "CR", "DX", "US", "MG", "NM", "PT")
_STATUSES = ("final",) * 4 + ("preliminary", "draft")
_DAY0 = dt.date(2020, 1, 1)
_DAYS = (dt.date(2026, 11, 26) - _DAY0).days


def _name(groups: tuple[str, str, str], prefix: str) -> dict[str, Any]:
    """A person name's columns (verbatim, groups, normalised, fuzzy) under ``prefix``."""
    alphabetic, ideographic, phonetic = groups
    row: dict[str, Any] = {prefix: f"{alphabetic}={ideographic}={phonetic}"}
    for group, value in zip(("alphabetic", "ideographic", "phonetic"), groups, strict=True):
        row[f"{prefix}_{group}"] = value
        row[f"{prefix}_{group}_norm"] = normalize_group(value)
        row[f"{prefix}_{group}_fuzzy"] = fuzzy_group(value)
    return row


def _chunks(rows: Iterator[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def populate(engine: Engine, studies: int, patients: int) -> None:
    """Bulk-insert ``patients`` patients and ``studies`` studies (one series each, 60 % with
    a report) into a migrated, empty index."""
    rng = random.Random(10)
    now = dt.datetime.now(dt.UTC)

    def patient_rows() -> Iterator[dict[str, Any]]:
        for n in range(1, patients + 1):
            sur, given = _SURNAMES[n % len(_SURNAMES)], _GIVEN[(n // len(_SURNAMES)) % len(_GIVEN)]
            groups = (f"{sur[2]}^{given[2]}", f"{sur[0]}^{given[0]}", f"{sur[1]}^{given[1]}")
            yield {
                "id": n,
                "patient_id": f"P{n:07d}",
                "issuer_of_patient_id": "",
                **_name(groups, "patient_name"),
                "patient_birth_date": f"{1930 + n % 90}{1 + n % 12:02d}{1 + n % 28:02d}",
                "patient_sex": "MF"[n % 2],
                "created_at": now,
                "updated_at": now,
            }

    plan = [
        (rng.randrange(1, patients + 1), rng.randrange(_DAYS), rng.choice(_MODALITIES))
        for _ in range(studies)
    ]

    def study_rows() -> Iterator[dict[str, Any]]:
        for n, (patient, day, modality) in enumerate(plan, 1):
            date = (_DAY0 + dt.timedelta(days=day)).strftime("%Y%m%d")
            time_of_day = f"{8 + n % 10:02d}{n % 60:02d}00"
            referring = _REFERRING[n % len(_REFERRING)]
            yield {
                "id": n,
                "study_instance_uid": f"1.2.392.200036.9116.2.6.1.{n}",
                "patient_fk": patient,
                "study_date": date,
                "study_time": time_of_day,
                "study_date_time_utc": date + time_of_day,
                "accession_number": f"A{n:08d}",
                "study_id": str(n),
                "study_description": f"{modality} 検査",
                **_name(
                    (f"{referring[2]}^Sensei", f"{referring[0]}^先生", f"{referring[1]}^せんせい"),
                    "referring_physician_name",
                ),
                "modalities_in_study": modality,
                "sop_classes_in_study": "",
                "number_of_study_related_series": 1,
                "number_of_study_related_instances": 1,
                "study_size": 1000,
                "patient_conflict": False,
                "created_at": now,
                "updated_at": now,
            }

    def series_rows() -> Iterator[dict[str, Any]]:
        for n, (_, _, modality) in enumerate(plan, 1):
            yield {
                "id": n,
                "series_instance_uid": f"1.2.392.200036.9116.2.6.1.{n}.1",
                "study_fk": n,
                "modality": modality,
                "series_number": 1,
                "number_of_series_related_instances": 1,
                "series_size": 1000,
                "created_at": now,
                "updated_at": now,
            }

    reported = [n for n in range(1, studies + 1) if n % 10 < 6]

    def report_rows() -> Iterator[dict[str, Any]]:
        for r, n in enumerate(reported, 1):
            yield {
                "id": r,
                "report_id": f"R{n:08d}",
                "version": 1,
                "status": _STATUSES[n % len(_STATUSES)],
                "is_latest": True,
                "patient_id": f"P{plan[n - 1][0]:07d}",
                "issuer_of_patient_id": "",
                "accession_number": f"A{n:08d}",
                "modalities": plan[n - 1][2],
                "created_at": now,
                "record": "{}",
                "stored_at": now,
            }

    def report_study_rows() -> Iterator[dict[str, Any]]:
        for r, n in enumerate(reported, 1):
            yield {
                "report_version_fk": r,
                "study_instance_uid": f"1.2.392.200036.9116.2.6.1.{n}",
            }

    with engine.begin() as conn:
        for table, rows in (
            (Patient, patient_rows()),
            (Study, study_rows()),
            (Series, series_rows()),
            (ReportVersion, report_rows()),
            (ReportStudy, report_study_rows()),
        ):
            for chunk in _chunks(rows):
                conn.execute(insert(table), chunk)
        if engine.dialect.name == "postgresql":
            # Explicit ids were inserted: move the sequences past them.
            for table in ("patient", "study", "series", "report_version", "report_study"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


#: (label, query parameters) of the typical searches; the UI's page size and default sort.
SEARCHES: tuple[tuple[str, dict[str, str]], ...] = (
    ("patient name prefix in kana (やまだ*)", {"PatientName": "やまだ*"}),
    ("patient name prefix in kanji (山*)", {"PatientName": "山*"}),
    ("date range (one quarter)", {"StudyDate": "20260101-20260331"}),
    (
        "modality + date range (CT, 2025)",
        {"ModalitiesInStudy": "CT", "StudyDate": "20250101-20251231"},
    ),
    ("everything, newest first, page 1", {}),
    ("everything, newest first, page 500", {"offset": "12475"}),
    ("everything by patient name, page 1", {"sort": "PatientName"}),
    ("everything by patient name desc, page 500", {"sort": "-PatientName", "offset": "12475"}),
    ("everything by accession, page 1", {"sort": "AccessionNumber"}),
    ("referring physician in kana (ないか*)", {"ReferringPhysicianName": "ないか*"}),
    ("report status none, page 1", {"report_status": "none"}),
    (
        "report status draft + one month",
        {"report_status": "draft", "StudyDate": "20260301-20260331"},
    ),
    ("patient ID exact", {"PatientID": "P0012345"}),
)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(services: Services, reps: int) -> list[tuple[str, float, float, int | None, bool]]:
    """Each search ``reps`` times through the HTTP application: (label, median ms, p95 ms,
    total, total exact)."""
    from fastapi.testclient import TestClient

    from raddx.security import load_policy
    from raddx.security.tokens import create_token
    from raddx.web import create_app

    with services.session_factory() as s, s.begin():
        token = create_token(
            session=s,
            name="bench-browser",
            role="viewer",
            policy=load_policy(services.settings.security_policy_file),
        )
    results = []
    with TestClient(create_app(services)) as client:
        client.auth = ("token", token)
        for label, params in SEARCHES:
            query = {"limit": "25", "sort": "-StudyDate", **params}
            times = []
            body: dict[str, Any] = {}
            for _ in range(reps + 1):  # the first run warms caches and is not counted
                t0 = time.perf_counter()
                response = client.get("/api/studies", params=query)
                times.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                body = response.json()
            assert body["items"] or body["total"] <= int(params.get("offset", 0)), label
            times = times[1:]
            results.append(
                (label, statistics.median(times), _p95(times), body["total"], body["total_exact"])
            )
    return results


def _explain(services: Services) -> None:
    """Print the plan of each search's page query (``--explain``)."""
    from raddx.archive.query import Query
    from raddx.archive.query.service import _return_attributes, _statement
    from raddx.web.api.studies import _order_by

    engine = services.session_factory.kw["bind"]
    for label, params in SEARCHES:
        keys = {k: v for k, v in params.items() if k not in ("offset", "sort", "report_status")}
        query = Query(
            level="STUDY",
            information_model="STUDY_ROOT",
            keys={**keys, "PatientName": keys.get("PatientName", "")},
            order_by=_order_by(params.get("sort", "-StudyDate")),
            report_status=tuple(filter(None, [params.get("report_status")])),
            report_status_returned=True,
            limit=26,
            offset=int(params.get("offset", 0)),
        )
        stmt = _statement(query, _return_attributes(query))
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(prefix + sql).fetchall()
        print(f"\n-- {label}", file=sys.stderr)
        for row in rows:
            print("   ", row[-1], file=sys.stderr)


def _throwaway_postgres() -> tuple[str, str] | None:
    """(URL, cluster dir) of a throw-away cluster, or None without server binaries."""
    script = str(REPO / ".ci" / "pg-throwaway.sh")
    folder = subprocess.run([script, "mktemp"], capture_output=True, text=True, check=True)
    cluster = folder.stdout.strip()
    started = subprocess.run([script, "start", cluster], capture_output=True, text=True)
    if started.returncode == 3:
        return None
    if started.returncode != 0:
        raise RuntimeError(started.stderr)
    return started.stdout.strip(), cluster


def run(backend: str, url: str | None, args: argparse.Namespace) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix="raddx-bench-browser-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", database_url=url)
        services = Services.from_settings(settings)
        try:
            engine = services.session_factory.kw["bind"]
            t0 = time.perf_counter()
            populate(engine, args.studies, args.patients)
            print(
                f"{backend}: {args.studies} studies of {args.patients} patients loaded in "
                f"{time.perf_counter() - t0:.1f} s",
                file=sys.stderr,
            )
            if args.explain:
                _explain(services)
            return [(backend, *row) for row in measure(services, args.reps)]
        finally:
            services.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=40_000)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--postgres-url", help="a PostgreSQL database to fill (emptied first)")
    parser.add_argument("--explain", action="store_true", help="print each query plan")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rows: list[Any] = []
    if args.only != "postgres":
        rows += run("SQLite", None, args)
    if args.only != "sqlite":
        cluster = None
        url = args.postgres_url
        if url is None:
            started = _throwaway_postgres()
            if started is None:
                print("PostgreSQL: no server binaries; skipped", file=sys.stderr)
            else:
                url, cluster = started
        try:
            if url:
                rows += run("PostgreSQL", url, args)
        finally:
            if cluster:
                subprocess.run(
                    [str(REPO / ".ci" / "pg-throwaway.sh"), "stop", cluster], check=False
                )
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{args.studies:,} studies, {args.reps} reps, page size 25"
    )
    print("| database | search | median | p95 | total | target |\n|---|---|---|---|---|---|")
    for backend, label, median, p95, total, exact in rows:
        shown = f"{total:,}" if exact else f"> {total:,}"
        verdict = "ok" if p95 < TARGET_MS else "SLOW"
        print(
            f"| {backend} | {label} | {median:.1f} ms | {p95:.1f} ms | {shown} | "
            f"< {TARGET_MS:.0f} ms {verdict} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
