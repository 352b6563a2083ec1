"""Recording, listing and retrying outbox entries (the rows of ``outbox_message``).

Every function takes the caller's session and never commits (STYLE rule 8): an event is
recorded in the unit of work of the change it announces, so it exists exactly when the
change does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from raddx.db.models import OutboxMessage
from raddx.db.statements import statements
from raddx.errors import Conflict, NotFound

__all__ = [
    "OutboxEntry",
    "OutboxEventValues",
    "OutboxStatusValues",
    "list_entries",
    "record_event",
    "retry_entry",
]


class OutboxEventValues(StrEnum):
    """What an outbox entry announces (and so which destinations take it)."""

    #: OMI^O23 to modality/PACS: an order scheduled (NW), changed (XO) or cancelled (CA).
    OMI = "omi"
    #: OMI^Z23 performed-exam notification to the HIS: MPPS COMPLETED or DISCONTINUED.
    Z23 = "z23"
    #: ORU^R01 to the EHR: a report finalised, amended or given an addendum.
    ORU = "oru"
    #: An MPPS N-CREATE or N-SET forwarded to other DICOM AEs.
    MPPS = "mpps"


class OutboxStatusValues(StrEnum):
    """Where an entry is in its life."""

    #: Waiting: an event not yet routed, or a delivery not yet acknowledged (an unreachable
    #: peer keeps it here, retried with a growing delay).
    PENDING = "pending"
    #: The peer acknowledged it (HL7 AA/CA, DIMSE success).
    SENT = "sent"
    #: The peer refused it (HL7 AE/AR, a DIMSE failure status) or it could not be built;
    #: ``last_error`` says why; a person may retry it.
    FAILED = "failed"
    #: An event whose deliveries have been created (one row per destination).
    ROUTED = "routed"
    #: An event no configured destination takes.
    UNROUTED = "unrouted"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox row as the doors show it."""

    id: int
    event: str
    subject: str
    action: str
    destination: str | None
    status: str
    attempts: int
    last_error: str | None
    message_control_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime
    event_id: int | None

    @classmethod
    def from_row(cls, row: OutboxMessage) -> OutboxEntry:
        return cls(
            id=row.id,
            event=row.event,
            subject=row.subject,
            action=row.action,
            destination=row.destination,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            message_control_id=row.message_control_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            sent_at=row.sent_at,
            next_attempt_at=row.next_attempt_at,
            event_id=row.event_fk,
        )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: Built once: every order placed records an event (OMI^O23), and the order path runs at
#: hundreds per second; an ORM add + flush per event cost ~0.3 ms (profiled).
_TABLE = cast(Table, OutboxMessage.__table__)
_INSERT_EVENT = insert(_TABLE).returning(_TABLE.c.id)


def record_event(
    *,
    session: Session,
    event: OutboxEventValues,
    subject: str,
    action: str,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Record that ``subject`` (an accession number, ``report_id:version``, an MPPS SOP
    Instance UID) needs announcing; the worker routes and builds it later. Returns its id."""
    stamp = now()
    return int(
        statements(session).scalar(
            _INSERT_EVENT,
            {
                "event": event.value,
                "subject": subject,
                "action": action,
                "detail": json.dumps(dict(detail), ensure_ascii=False)
                if detail is not None
                else None,
                "destination": None,
                "status": OutboxStatusValues.PENDING.value,
                "attempts": 0,
                "next_attempt_at": stamp,
                "created_at": stamp,
                "updated_at": stamp,
            },
        )
    )


def list_entries(
    *,
    session: Session,
    status: OutboxStatusValues | None = None,
    include_events: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[OutboxEntry]:
    """Deliveries, newest first (with ``include_events`` also the routed events they came
    from, and events not yet routed are always shown as pending)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(OutboxMessage.status == status.value)
    if not include_events:
        query = query.where(
            OutboxMessage.status.not_in(
                (OutboxStatusValues.ROUTED.value, OutboxStatusValues.UNROUTED.value)
            )
        )
    return [OutboxEntry.from_row(row) for row in session.scalars(query)]


def retry_entry(*, session: Session, entry_id: int) -> OutboxEntry:
    """Send a failed (or waiting) delivery again at the worker's next pass.

    Raises
    ------
    NotFound
        No such entry.
    Conflict
        It was sent already, or it is an event rather than a delivery.
    """
    row = session.get(OutboxMessage, entry_id)
    if row is None:
        raise NotFound(f"no outbox entry {entry_id}")
    if row.destination is None:
        raise Conflict(f"outbox entry {entry_id} is an event, not a delivery; retry its deliveries")
    if row.status == OutboxStatusValues.SENT.value:
        raise Conflict(f"outbox entry {entry_id} was sent at {row.sent_at:%Y-%m-%d %H:%M:%S}")
    stamp = now()
    row.status = OutboxStatusValues.PENDING.value
    row.attempts = 0
    row.next_attempt_at = stamp
    row.updated_at = stamp
    session.flush()
    return OutboxEntry.from_row(row)
