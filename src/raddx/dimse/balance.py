"""Spreading associations over the pre-forked DIMSE workers.

All workers wait on one listening socket, and whichever wakes first accepts. With few
senders that is often the same worker: in ``bench/ingest.py`` both storescu clients regularly
landed in one process, which then served them under one GIL while the other core idled
(287 vs 510 inst/s in two rounds of the same run). So each worker publishes how many
associations it is serving in a small shared-memory board, made by the parent before it
forks; a worker that is busier than another one waits :data:`DEFER_SECONDS` before accepting,
which lets the idler worker (woken by the same connection) take it. If nobody does, the
busier worker accepts after the wait: a connection is never left waiting longer than that.
"""

from __future__ import annotations

import ctypes
import multiprocessing

__all__ = ["DEFER_SECONDS", "LoadBoard"]

#: How long a busier worker leaves a new connection to the others.
DEFER_SECONDS = 0.003


class LoadBoard:
    """Associations in progress per worker (slot), readable by every worker.

    Each slot is written only by its own process; reads of other slots may be a moment old,
    which is fine for a placement heuristic.
    """

    def __init__(self, workers: int) -> None:
        self._counts = multiprocessing.RawArray(ctypes.c_int, max(workers, 1))

    def __len__(self) -> int:
        return len(self._counts)

    def publish(self, slot: int, load: int) -> None:
        """Record that worker ``slot`` now serves ``load`` associations."""
        self._counts[slot] = load

    def load(self, slot: int) -> int:
        return int(self._counts[slot])

    def busier_than_another(self, slot: int) -> bool:
        """Whether some other worker serves fewer associations than worker ``slot``."""
        mine = self._counts[slot]
        return any(count < mine for i, count in enumerate(self._counts) if i != slot)
