"""The reactor tuning patches private pynetdicom internals; these tests fail loudly if an
upgrade moves them, instead of letting ingest silently fall back to 1 ms polling."""

from __future__ import annotations

import pynetdicom
import pynetdicom.association as association
import pynetdicom.dul as dul

from raddx.dimse._tuning import apply_reactor_tuning


def test_pinned_pynetdicom_version() -> None:
    assert pynetdicom.__version__ == "3.0.4"


def test_dul_reactor_delay_is_shortened() -> None:
    apply_reactor_tuning(0.0002)
    provider = dul.DULServiceProvider.__new__(dul.DULServiceProvider)
    dul.DULServiceProvider.__init__(
        provider, association.Association.__new__(association.Association)
    )
    assert provider._run_loop_delay == 0.0002


def test_association_reactor_sleep_is_shortened_and_others_kept(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    apply_reactor_tuning(0.0003)
    slept: list[float] = []
    import time

    monkeypatch.setattr(time, "sleep", slept.append)
    association.time.sleep(0.001)  # the reactor's fixed poll
    association.time.sleep(0.1)  # any other wait keeps its length
    assert slept == [0.0003, 0.1]
