"""``/api/hl7/outbox``: what raddx owes other systems over HL7 v2 (and forwarded MPPS), and
retrying a failed delivery (``raddx.outbox``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel

from raddx.outbox import OutboxEntry, OutboxStatusValues, list_entries, retry_entry
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("hl7")


class OutboxEntryOut(BaseModel):
    """One delivery (or an event not yet routed: ``destination`` null)."""

    id: int
    event: str
    action: str
    subject: str
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
    def of(cls, entry: OutboxEntry) -> OutboxEntryOut:
        """The door's view of a domain entry: the same fields, read by name."""
        return cls.model_validate(entry, from_attributes=True)


@endpoint(router, "GET", "/hl7/outbox", action="hl7.read", response_model=list[OutboxEntryOut])
def list_outbox(
    services: ServicesDep,
    status: Annotated[OutboxStatusValues | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[OutboxEntryOut]:
    """Deliveries newest first: pending (with attempts and the last error while a peer is
    down), sent, failed (the peer's refusal)."""
    with services.session_factory() as session:
        entries = list_entries(session=session, status=status, limit=limit, offset=offset)
    return [OutboxEntryOut.of(e) for e in entries]


@endpoint(
    router,
    "POST",
    "/hl7/outbox/{entry_id}/retry",
    action="hl7.write",
    response_model=OutboxEntryOut,
)
def retry_outbox(
    services: ServicesDep, entry_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> OutboxEntryOut:
    """Send a failed delivery again (404 unknown id, 409 already sent or an event)."""
    with services.session_factory() as session, session.begin():
        entry = retry_entry(session=session, entry_id=entry_id)
    return OutboxEntryOut.of(entry)
