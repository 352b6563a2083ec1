"""Where an HL7 order's CPU goes, in-process: ``bench/ris.py``'s OMG^O19 messages fed straight
to :class:`raddx.hl7.MessageHandler`, as ``raddx serve``'s HL7 door calls it (its own engine
with ``hl7_sqlite_synchronous``, the audit trail installed, the outbox worker routing).

No sockets and no second process, so the figures are CPU per message with little noise from
the host: the handler thread's CPU (``time.thread_time``) and the whole process's (audit
writer and outbox worker included). ``--profile cprofile`` or ``pyinstrument`` prints where
the handler's time goes; ``--sync NORMAL`` shows what the WAL flush costs.

Run from the repository (no root needed)::

    .venv/bin/python bench/hl7_profile.py [--orders 3000] [--sync FULL] [--profile cprofile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from raddx.config import load_settings
from raddx.hl7 import MessageHandler
from raddx.outbox.worker import OutboxWorker
from raddx.server import _hl7_sessions
from raddx.services import Services
from ris import order_message


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000, help="messages to handle")
    parser.add_argument("--warmup", type=int, default=200, help="messages before timing")
    parser.add_argument("--sync", default="FULL", help="hl7_sqlite_synchronous (FULL, NORMAL)")
    parser.add_argument("--no-audit", action="store_true", help="audit trail off")
    parser.add_argument("--no-outbox", action="store_true", help="no outbox worker")
    parser.add_argument("--profile", choices=("cprofile", "pyinstrument"), help="profile")
    parser.add_argument("--top", type=int, default=40, help="cProfile rows to print")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="raddx-hl7prof-") as tmp:
        settings = load_settings(
            data_dir=Path(tmp) / "data",
            hl7_sqlite_synchronous=args.sync,
            audit_enabled=not args.no_audit,
        )
        services = Services.from_settings(settings)
        engine, sessions = _hl7_sessions(settings, services)
        handler = MessageHandler(sessions, blobs=services.blobs)
        outbox = None if args.no_outbox else OutboxWorker(settings, services.session_factory)
        if outbox is not None:
            outbox.start()
        messages = [order_message(i) for i in range(args.warmup + args.orders)]
        try:
            for message in messages[: args.warmup]:
                _check(handler(message))
            timed = messages[args.warmup :]
            per: list[float] = []
            profiler: object = None
            if args.profile == "cprofile":
                profiler = cProfile.Profile()
                profiler.enable()
            elif args.profile == "pyinstrument":
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0002)
                profiler.start()
            wall0, proc0 = time.perf_counter(), time.process_time()
            for message in timed:
                t0 = time.thread_time()
                answer = handler(message)
                per.append(time.thread_time() - t0)
                _check(answer)
            wall, proc = time.perf_counter() - wall0, time.process_time() - proc0
            if isinstance(profiler, cProfile.Profile):
                profiler.disable()
            elif profiler is not None:
                profiler.stop()  # type: ignore[attr-defined]
        finally:
            if outbox is not None:
                outbox.stop()
            if engine is not None:
                engine.dispose()
            services.close()
    n = len(per)
    print(
        f"{n} OMG^O19, sync={args.sync}, audit={'off' if args.no_audit else 'on'}, "
        f"outbox={'off' if args.no_outbox else 'on'}"
    )
    print(
        f"handler thread CPU ms/msg: median {statistics.median(per) * 1000:.3f} "
        f"mean {statistics.fmean(per) * 1000:.3f}"
    )
    print(f"process CPU ms/msg (all threads): {proc / n * 1000:.3f}")
    print(f"wall ms/msg: {wall / n * 1000:.3f}  ({n / wall:.0f} msg/s in-process)")
    if isinstance(profiler, cProfile.Profile):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
    elif profiler is not None:
        print(profiler.output_text(unicode=True, color=False, show_all=False))  # type: ignore[attr-defined]
    return 0


def _check(answer: bytes) -> None:
    if b"MSA|AA|" not in answer:
        raise SystemExit(f"refused: {answer[:300]!r}")


if __name__ == "__main__":
    sys.exit(main())
