"""Spreading associations over the pre-forked DIMSE workers.

All workers wait on one listening socket, and whichever wakes first accepts. With few
senders that is often the same worker: in ``bench/ingest.py`` both storescu clients regularly
landed in one process, which then served them under one GIL while the other core idled
(287 vs 510 inst/s in two rounds of the same run). So each worker publishes how many
associations it is serving in a small shared-memory board, made by the parent before it
forks; a worker that is busier than another one leaves a new connection to the others for up
to :data:`DEFER_SECONDS` (:func:`left_to_another`); normally the idler worker, woken by the
same connection, takes it within a fraction of a millisecond. If nobody does (that worker is
stuck), the busier one accepts after the wait: a connection is never left longer than that.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import select
import socket
import time

__all__ = ["DEFER_SECONDS", "LoadBoard", "left_to_another"]

#: How long a busier worker leaves a new connection to the others, at most.
DEFER_SECONDS = 0.05
_CHECK_EVERY = 0.001


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


def left_to_another(listening: socket.socket, board: LoadBoard, slot: int) -> bool:
    """Wait while another worker may take the pending connection; ``True`` if one did.

    Returns ``False`` at once when this worker is not busier than another, and after
    :data:`DEFER_SECONDS` when the connection is still waiting (the caller accepts it).
    """
    deadline = time.monotonic() + DEFER_SECONDS
    while board.busier_than_another(slot) and time.monotonic() < deadline:
        time.sleep(_CHECK_EVERY)
        readable, _, _ = select.select([listening], [], [], 0)
        if not readable:
            return True
    return False
