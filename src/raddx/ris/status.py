"""Order status and its transitions: the one place these rules live (issue 6).

scheduled → in progress → completed / discontinued; a scheduled order may be cancelled (or
completed directly, when the HIS reports it so). Completed, discontinued and cancelled are
final. Each order status has the Scheduled Procedure Step Status (0040,0020) its worklist
items carry, following dcm4chee's PPS → SPS mapping (reference note §4.3).
"""

from __future__ import annotations

from enum import StrEnum

from raddx.errors import Conflict

__all__ = [
    "OrderStatusValues",
    "ScheduledProcedureStepStatusValues",
    "arrival_status",
    "check_step_cancel",
    "check_transition",
    "step_status",
]


class OrderStatusValues(StrEnum):
    """Status of an order (and of each of its requested procedures)."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"
    CANCELLED = "CANCELLED"


class ScheduledProcedureStepStatusValues(StrEnum):
    """ScheduledProcedureStepStatus (0040,0020) Defined Terms we use (PS3.3 C.4.10)."""

    SCHEDULED = "SCHEDULED"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    DISCONTINUED = "DISCONTINUED"
    CANCELED = "CANCELED"


_O = OrderStatusValues
_NEXT: dict[OrderStatusValues, frozenset[OrderStatusValues]] = {
    _O.SCHEDULED: frozenset({_O.IN_PROGRESS, _O.COMPLETED, _O.CANCELLED, _O.DISCONTINUED}),
    _O.IN_PROGRESS: frozenset({_O.COMPLETED, _O.DISCONTINUED}),
    _O.COMPLETED: frozenset(),
    _O.DISCONTINUED: frozenset(),
    _O.CANCELLED: frozenset(),
}
_STEP = {
    _O.SCHEDULED: ScheduledProcedureStepStatusValues.SCHEDULED,
    _O.IN_PROGRESS: ScheduledProcedureStepStatusValues.STARTED,
    _O.COMPLETED: ScheduledProcedureStepStatusValues.COMPLETED,
    _O.DISCONTINUED: ScheduledProcedureStepStatusValues.DISCONTINUED,
    _O.CANCELLED: ScheduledProcedureStepStatusValues.CANCELED,
}


def check_transition(current: OrderStatusValues, target: OrderStatusValues) -> None:
    """Allow ``current`` → ``target`` or raise; staying in the same status is allowed (an
    HL7 sender may repeat a status message).

    Raises
    ------
    Conflict
        The transition is not allowed (e.g. a completed order cannot be cancelled).
    """
    if current is target or target in _NEXT[current]:
        return
    raise Conflict(f"order status {current.value} cannot change to {target.value}")


def step_status(order_status: OrderStatusValues) -> ScheduledProcedureStepStatusValues:
    """The worklist items' ScheduledProcedureStepStatus for an order status."""
    return _STEP[order_status]


def arrival_status(current: OrderStatusValues) -> OrderStatusValues | None:
    """The status an order moves to when the first images of one of its studies arrive, or
    ``None`` to leave it.

    A SCHEDULED order is IN_PROGRESS: the exam is evidently under way even when the modality
    sends no MPPS (many do not); completing it is left to MPPS COMPLETED or the HIS, since
    images alone do not say the exam is finished. An order in any other status keeps it
    (late images of a completed exam do not reopen it; a cancelled order is not revived).
    """
    if current is OrderStatusValues.SCHEDULED:
        return OrderStatusValues.IN_PROGRESS
    return None


def check_step_cancel(current: ScheduledProcedureStepStatusValues) -> None:
    """Allow cancelling one worklist item: only a SCHEDULED step (a started one is
    discontinued by the modality's MPPS; an ended one stays as it ended).

    Raises
    ------
    Conflict
        The step is not SCHEDULED.
    """
    if current is not ScheduledProcedureStepStatusValues.SCHEDULED:
        raise Conflict(f"scheduled procedure step in status {current.value} cannot be cancelled")
