"""Audit trail cost (issue 9): what a door pays per ``security.audit.record(...)`` call, and
what the batching writer sustains (XML building, hash chain, one transaction per batch).

Run: ``.venv/bin/python bench/audit.py [--events N] [--database-url URL]`` (default: a
throw-away SQLite index in a temporary directory, as ``raddx serve`` uses by default).

Target (issue 9): audit writes never block the request path for more than 1 ms median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from raddx.config import load_settings
from raddx.security import audit
from raddx.security import audit_events as ev
from raddx.security.audit import ActiveParticipant, EventActionCodeValues, PatientRef, StudyRef
from raddx.security.audit_log import verify
from raddx.services import Services

CT = "1.2.840.10008.5.1.4.1.1.2"


def _event(n: int) -> audit.AuditEvent:
    """A typical C-STORE study event (what the DIMSE door records per study)."""
    return ev.instances_transferred(
        action=EventActionCodeValues.CREATE,
        peer=ActiveParticipant(user_id="CT01", user_is_requestor=True, host="192.0.2.10"),
        received=True,
        patient=PatientRef(f"P{n:07d}", "Yamada^Taro=山田^太郎=やまだ^たろう"),
        studies=[StudyRef(f"1.2.392.200036.9116.2.6.1.{n}", sop_classes=((CT, 300),))],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=4, help="door threads recording at once")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", database_url=args.database_url)
        services = Services.from_settings(settings)
        try:
            events = [_event(n) for n in range(args.events)]
            per_thread = args.events // args.threads
            timings: list[list[float]] = [[] for _ in range(args.threads)]

            def door(index: int) -> None:
                mine = timings[index]
                clock = time.perf_counter_ns
                for event in events[index * per_thread : (index + 1) * per_thread]:
                    start = clock()
                    audit.record(event)
                    mine.append((clock() - start) / 1000)

            started = time.perf_counter()
            threads = [threading.Thread(target=door, args=(i,)) for i in range(args.threads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            submitted = time.perf_counter() - started
            assert services.audit.flush(timeout=600)
            written = time.perf_counter() - started
            report = verify(services.engine)
        finally:
            services.close()
    calls = sorted(t for mine in timings for t in mine)
    total = len(calls)
    print(f"database: {settings.resolved_database_url.split(':')[0]}")
    print(f"events: {total} from {args.threads} door threads")
    median, p99, worst = statistics.median(calls), calls[int(total * 0.99) - 1], calls[-1]
    print(
        f"record() on the calling thread: median {median:.2f} µs, p99 {p99:.2f} µs, "
        f"max {worst:.0f} µs"
    )
    print(f"submitted in {submitted:.2f} s; all committed after {written:.2f} s")
    print(f"writer throughput: {total / written:,.0f} events/s (XML + hash chain + commit)")
    print(f"chain verified: {report.ok} ({report.records} records)")


if __name__ == "__main__":
    main()
