"""The reactor tuning patches private pynetdicom internals; these tests fail loudly if an
upgrade moves them, instead of letting ingest silently fall back to 1 ms polling."""

from __future__ import annotations

import inspect

import pynetdicom
import pynetdicom.association as association
import pynetdicom.dul as dul
import pytest

from raddx.dimse._tuning import AdaptivePoll, apply_reactor_tuning, current_poll


def test_pinned_pynetdicom_version() -> None:
    assert pynetdicom.__version__ == "3.0.4"


def test_the_patched_sleeps_are_still_where_we_expect_them() -> None:
    assert "time.sleep(0.001)" in inspect.getsource(association.Association._run_reactor)
    assert "time.sleep(self._run_loop_delay)" in inspect.getsource(
        dul.DULServiceProvider.run_reactor
    )
    provider = dul.DULServiceProvider(association.Association.__new__(association.Association))
    assert provider._run_loop_delay == 0.001


def test_both_reactors_use_the_adaptive_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_reactor_tuning(0.0003)
    calls: list[str] = []
    monkeypatch.setattr(current_poll(), "sleep", lambda: calls.append("poll") or 0.0003)
    slept: list[float] = []
    import time

    monkeypatch.setattr(time, "sleep", slept.append)
    association.time.sleep(0.001)  # the association reactor's poll
    dul.time.sleep(0.001)  # the DUL reactor's poll (its _run_loop_delay)
    association.time.sleep(0.1)  # any other wait keeps its length
    assert calls == ["poll", "poll"]
    assert slept == [0.1]


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_adaptive_poll_is_fast_while_busy_and_backs_off_when_idle() -> None:
    clock = _FakeClock()
    poll = AdaptivePoll(0.0002, idle=0.002, idle_after=0.05, clock=clock, sleeper=clock.sleep)
    # Idle: consecutive polls with nothing in between → after 50 ms it polls every 2 ms.
    delays = [poll.sleep() for _ in range(400)]
    assert delays[0] == 0.0002
    assert delays[-1] == 0.002
    assert sum(1 for d in delays if d == 0.0002) == pytest.approx(250, abs=2)
    # Work (time passing between wake-up and the next poll) brings the fast poll back at once.
    clock.now += 0.003
    assert poll.sleep() == 0.0002
