"""Latency tuning of pynetdicom 3.0.4 internals (private API; the version is pinned).

pynetdicom polls: the DUL reactor sleeps ``_run_loop_delay`` (1 ms) whenever its socket and
queues are idle, and the association reactor sleeps a fixed 1 ms per loop. Each C-STORE
round trip waits through both, which made the polling sleeps ~80 % of an association
thread's wall time in our profile (``../shared/reference/ingest-ceiling.md`` §3) and capped a
stock SCP at ~220 small objects/s. Shortening them is the largest single gain (+60–115 %).
The cost is idle CPU per open association, hence a setting (``dicom_poll_interval``).

``tests/unit/dimse/test_tuning.py`` fails if a pynetdicom upgrade moves these internals.
"""

from __future__ import annotations

import socket
import time
import types
from typing import Any

import pynetdicom
import pynetdicom.association as _association
import pynetdicom.dul as _dul

__all__ = ["apply_reactor_tuning", "set_nodelay"]


_STOCK_ASSOCIATION_SLEEP = 0.001
_applied: dict[str, float] = {}


def apply_reactor_tuning(poll_interval: float) -> None:
    """Make both pynetdicom reactors sleep ``poll_interval`` seconds instead of 1 ms.

    Idempotent; a later call changes the interval.
    """
    if pynetdicom.__version__ != "3.0.4":  # pragma: no cover - guarded by the pin
        raise RuntimeError(
            f"raddx's reactor tuning targets pynetdicom 3.0.4, found {pynetdicom.__version__}"
        )
    _applied["poll"] = poll_interval
    if "patched" in _applied:
        return
    _applied["patched"] = 1.0

    def _sleep(seconds: float) -> None:
        # Only the association reactor's fixed 1 ms poll is shortened; every other sleep
        # in the module (timeouts, waits for the peer) keeps its length.
        time.sleep(_applied["poll"] if seconds == _STOCK_ASSOCIATION_SLEEP else seconds)

    shim = types.SimpleNamespace(
        **{k: getattr(time, k) for k in dir(time) if not k.startswith("_")}
    )
    shim.sleep = _sleep
    _association.time = shim  # type: ignore[attr-defined]

    original_init = _dul.DULServiceProvider.__init__

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._run_loop_delay = _applied["poll"]

    _dul.DULServiceProvider.__init__ = _init  # type: ignore[method-assign]


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle: DIMSE is request/response, and Nagle + delayed ACK stalls every small
    message by ~40 ms (``../shared/reference/pacs-anchors.md`` §2)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
