"""The load board that spreads associations over the pre-forked DIMSE workers."""

from __future__ import annotations

import os
import socket
import time

from raddx.dimse.balance import DEFER_SECONDS, LoadBoard, left_to_another


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


def test_busier_worker_accepts_itself_when_nobody_else_does() -> None:
    """A pending connection is left to the idler worker, but never for longer than the
    deferral: if no other worker takes it, the busier one gets it after the wait."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.setblocking(False)
        board = LoadBoard(2)
        board.publish(0, 1)  # worker 0 busier than the idle worker 1
        with socket.create_connection(listening.getsockname()):
            started = time.monotonic()
            assert left_to_another(listening, board, 0) is False  # nobody took it
            assert time.monotonic() - started >= DEFER_SECONDS * 0.9
            assert left_to_another(listening, board, 1) is False  # not busier: no wait
            client, _ = listening.accept()
            client.close()
            assert left_to_another(listening, board, 0) is True  # taken: move on
