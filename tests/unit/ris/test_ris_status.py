"""Order status transitions (raddx.ris.status)."""

from __future__ import annotations

import pytest

from raddx.errors import Conflict
from raddx.ris.status import OrderStatusValues as S
from raddx.ris.status import check_transition, step_status


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.SCHEDULED, S.IN_PROGRESS),
        (S.SCHEDULED, S.CANCELLED),
        (S.SCHEDULED, S.COMPLETED),  # the HIS may report completion directly
        (S.IN_PROGRESS, S.COMPLETED),
        (S.IN_PROGRESS, S.DISCONTINUED),
        (S.COMPLETED, S.COMPLETED),  # repeated status message
    ],
)
def test_allowed(current: S, target: S) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.COMPLETED, S.CANCELLED),
        (S.CANCELLED, S.SCHEDULED),
        (S.IN_PROGRESS, S.CANCELLED),  # started: discontinue, not cancel
        (S.DISCONTINUED, S.IN_PROGRESS),
    ],
)
def test_refused(current: S, target: S) -> None:
    with pytest.raises(Conflict, match=f"{current.value} cannot change to {target.value}"):
        check_transition(current, target)


def test_step_status_follows_order() -> None:
    assert step_status(S.IN_PROGRESS).value == "STARTED"
    assert step_status(S.CANCELLED).value == "CANCELED"
