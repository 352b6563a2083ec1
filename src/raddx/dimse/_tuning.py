"""Latency tuning of pynetdicom 3.0.4 internals (private API; the version is pinned).

pynetdicom polls: the DUL reactor sleeps ``_run_loop_delay`` (1 ms) whenever its socket and
queues are idle, and the association reactor sleeps a fixed 1 ms per loop. Each C-STORE
round trip waits through both, which made the polling sleeps ~80 % of an association
thread's wall time in our profile (``../shared/reference/ingest-ceiling.md`` §3) and capped a
stock SCP at ~220 small objects/s. Shortening them is the largest single gain (+60–115 %).

Short polls cost idle CPU: at 0.2 ms, every open but idle association kept ~13 % of a core
busy (same note), and modalities often hold associations open. So the poll is adaptive, per
reactor thread: it stays at ``dicom_poll_interval`` while messages flow and backs off to
``_IDLE_POLL`` once the thread has found nothing to do for ``_IDLE_AFTER`` seconds. An idle
association then costs about as much as pynetdicom's stock 1 ms poll; the first message after
a pause waits at most ``_IDLE_POLL`` extra.

``tests/unit/dimse/test_tuning.py`` fails if a pynetdicom upgrade moves these internals.
"""

from __future__ import annotations

import socket
import threading
import time
import types
from collections.abc import Callable

import pynetdicom
import pynetdicom.association as _association
import pynetdicom.dul as _dul

__all__ = ["AdaptivePoll", "apply_reactor_tuning", "current_poll", "set_nodelay"]

_STOCK_POLL = 0.001  # both reactors' stock idle sleep
#: A reactor that has polled in vain this long is idle; it then polls this slowly.
_IDLE_AFTER = 0.05
_IDLE_POLL = 0.002
#: A wake-up followed by another sleep within this time did no work in between.
_BUSY_GAP = 0.0001


class AdaptivePoll:
    """Per-thread polling sleep: ``fast`` while there is traffic, ``idle`` after a quiet spell.

    A reactor calls :meth:`sleep` only when it found nothing to do; if it comes back to sleep
    almost immediately after waking, nothing happened in between. ``clock`` and ``sleeper`` are
    injectable for tests.
    """

    def __init__(
        self,
        fast: float,
        *,
        idle: float = _IDLE_POLL,
        idle_after: float = _IDLE_AFTER,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self.fast = fast
        self.idle = max(idle, fast)
        self.idle_after = idle_after
        self._clock = clock
        self._sleeper = sleeper
        self._state = threading.local()

    def sleep(self) -> float:
        """Sleep one poll interval; return the interval used."""
        state = self._state
        now = self._clock()
        woke = getattr(state, "woke", None)
        if woke is None or now - woke > _BUSY_GAP:
            state.quiet_since = now  # work happened since the last wake-up
        delay = self.idle if now - state.quiet_since >= self.idle_after else self.fast
        self._sleeper(delay)
        state.woke = self._clock()
        return delay


_poll: dict[str, AdaptivePoll] = {}


def apply_reactor_tuning(poll_interval: float) -> None:
    """Make both pynetdicom reactors poll every ``poll_interval`` seconds while busy
    (instead of 1 ms), backing off when idle. Idempotent; a later call changes the interval.
    """
    if pynetdicom.__version__ != "3.0.4":  # pragma: no cover - guarded by the pin
        raise RuntimeError(
            f"raddx's reactor tuning targets pynetdicom 3.0.4, found {pynetdicom.__version__}"
        )
    first = "current" not in _poll
    _poll["current"] = AdaptivePoll(poll_interval)
    if not first:
        return

    def _sleep(seconds: float) -> None:
        # Only the reactors' idle polls are replaced; every other sleep in these modules
        # (timeouts, waits for the peer) keeps its length.
        if seconds == _STOCK_POLL:
            _poll["current"].sleep()
        else:
            time.sleep(seconds)

    for module in (_association, _dul):
        shim = types.SimpleNamespace(
            **{k: getattr(time, k) for k in dir(time) if not k.startswith("_")}
        )
        shim.sleep = _sleep
        module.time = shim  # type: ignore[attr-defined]


def current_poll() -> AdaptivePoll:
    """The active poll policy (for tests and diagnostics)."""
    return _poll["current"]


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle: DIMSE is request/response, and Nagle + delayed ACK stalls every small
    message by ~40 ms (``../shared/reference/pacs-anchors.md`` §2)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
