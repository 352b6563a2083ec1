"""The load board that spreads associations over the pre-forked DIMSE workers."""

from __future__ import annotations

import os

from raddx.dimse.balance import LoadBoard


def test_busier_worker_is_the_one_that_defers() -> None:
    board = LoadBoard(3)
    assert not any(board.busier_than_another(slot) for slot in range(3))  # all idle: no wait
    board.publish(0, 1)
    assert board.busier_than_another(0)
    assert not board.busier_than_another(1) and not board.busier_than_another(2)
    board.publish(1, 1)
    board.publish(2, 1)
    assert not board.busier_than_another(0)  # equal load: whoever wakes first takes it


def test_board_is_shared_with_forked_workers() -> None:
    board = LoadBoard(2)
    pid = os.fork()
    if pid == 0:  # the worker publishes; the parent must see it
        board.publish(1, 5)
        os._exit(0)
    os.waitpid(pid, 0)
    assert board.load(1) == 5
    assert board.busier_than_another(1) and not board.busier_than_another(0)
