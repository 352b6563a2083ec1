"""The outbox: messages raddx owes other systems, kept in the index until delivered.

A domain change that must be announced (an order placed, changed or cancelled; an MPPS
completed or discontinued; a report signed; an MPPS to forward) records an *event* with
:func:`record_event` in the same unit of work as the change. The outbound worker
(:class:`raddx.outbox.worker.OutboxWorker`, started by ``raddx serve``) routes each event to
the configured destinations, builds the message for each, delivers it with retries and keeps
its state (pending, sent, failed + last error) for ``raddx hl7 outbox`` and
``GET /api/hl7/outbox``.
"""

from __future__ import annotations

from raddx.outbox.events import (
    OutboxEntry,
    OutboxEventValues,
    OutboxStatusValues,
    list_entries,
    record_event,
    retry_entry,
)

__all__ = [
    "OutboxEntry",
    "OutboxEventValues",
    "OutboxStatusValues",
    "list_entries",
    "record_event",
    "retry_entry",
]
