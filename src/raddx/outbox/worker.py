"""The outbound worker: routes outbox events to destinations, builds and delivers messages.

One thread in ``raddx serve`` (one per index: two servers on one PostgreSQL would both send).
Each pass:

1. **Route** every pending event: one delivery row per configured destination that takes
   its kind (``hl7_destinations[].messages``; ``mpps_forward_aes`` for MPPS), each holding
   the exact bytes to send — built now, in the destination's character set. An event no
   destination takes is marked ``unrouted``; one whose message cannot be built (e.g. a name
   outside JIS X 0208 for a ``~ISO IR87`` destination) gives a ``failed`` delivery saying why.
2. **Deliver**, per destination in order of creation (an OMI^O23 ``CA`` never overtakes its
   ``NW``): the oldest pending delivery whose time has come is sent. Acknowledged → ``sent``;
   refused (HL7 AE/AR, a DIMSE failure status) → ``failed`` with the reason, and the next
   one goes; unreachable → stays ``pending``, retried after ``outbox_retry_initial`` seconds,
   doubling to ``outbox_retry_max``, and the destination's later messages wait behind it.

No session is held while talking to a peer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raddx.config import HL7Destination, OutboundMessageValues, Settings
from raddx.db.models import OutboxMessage
from raddx.errors import NotFound
from raddx.hl7.client import AckError, DeliveryError, send_message
from raddx.outbox.events import OutboxEventValues, OutboxStatusValues, now

__all__ = ["OutboxWorker"]

log = logging.getLogger(__name__)

_S = OutboxStatusValues
_E = OutboxEventValues


class _Refused(Exception):
    """The message cannot be built or the peer refused it: retrying will not help."""


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    event: str
    destination: str
    payload: bytes
    attempts: int


def control_id(delivery_id: int) -> str:
    """MSH-10 of a delivery: stable across retries, unique per message."""
    return f"RADDX{delivery_id:010d}"


class OutboxWorker:
    """Routes and delivers outbox entries on a background thread.

    Parameters
    ----------
    settings
        Destinations, retry timing, our sender identity.
    session_factory
        Sessions on the index.
    """

    def __init__(self, settings: Settings, session_factory: sessionmaker[Any]) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (returns at once)."""
        self._thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current delivery and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("outbox pass failed")
            self._wake.wait(self._settings.outbox_poll_interval)
            self._wake.clear()

    def run_once(self) -> None:
        """One pass: route new events, then deliver what is due."""
        self.route()
        self.deliver()

    # -- routing ----------------------------------------------------------------------

    def _hl7_destinations(self, event: str) -> list[HL7Destination]:
        kind = OutboundMessageValues(event)
        return [d for d in self._settings.hl7_destinations if kind in d.messages]

    def route(self) -> int:
        """Create the deliveries of every pending event; returns how many events."""
        with self._sessions() as session, session.begin():
            events = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.destination.is_(None),
                    OutboxMessage.status == _S.PENDING.value,
                )
                .order_by(OutboxMessage.id)
                .limit(500)
            ).all()
            for event in events:
                self._route_one(event, session)
        return len(events)

    def _route_one(self, event: OutboxMessage, session: Session) -> None:
        stamp = now()
        if event.event == _E.MPPS.value:
            targets: list[tuple[str, Callable[[int], bytes]]] = [
                (title.strip(), lambda _id: (event.detail or "").encode("utf-8"))
                for title in self._settings.mpps_forward_aes
            ]
        else:
            targets = [
                (d.name, _hl7_builder(event, d, self._settings, session))
                for d in self._hl7_destinations(event.event)
            ]
        event.status = (_S.ROUTED if targets else _S.UNROUTED).value
        event.updated_at = stamp
        for name, build in targets:
            row = OutboxMessage(
                event=event.event,
                subject=event.subject,
                action=event.action,
                destination=name,
                event_fk=event.id,
                status=_S.PENDING.value,
                attempts=0,
                next_attempt_at=stamp,
                created_at=stamp,
                updated_at=stamp,
            )
            session.add(row)
            session.flush()
            if event.event != _E.MPPS.value:
                row.message_control_id = control_id(row.id)
            try:
                row.payload = build(row.id)
            except (_Refused, ValueError, NotFound) as exc:
                row.status = _S.FAILED.value
                row.last_error = f"cannot build the message: {exc}"
                log.warning(
                    "outbox message not built id=%d event=%s reason=%s", row.id, row.event, exc
                )
        session.flush()

    # -- delivery ---------------------------------------------------------------------

    def deliver(self) -> int:
        """Send what is due, per destination in order; returns how many were sent."""
        sent = 0
        with self._sessions() as session:
            keys = session.execute(
                select(OutboxMessage.event, OutboxMessage.destination)
                .where(
                    OutboxMessage.destination.is_not(None),
                    OutboxMessage.status == _S.PENDING.value,
                )
                .distinct()
            ).all()
        queues = {(e == _E.MPPS.value, str(d)) for e, d in keys}
        for is_mpps, destination in sorted(queues):
            while not self._stop.is_set():
                due = self._next_due(is_mpps, destination)
                if due is None:
                    break
                outcome = self._send(due)
                if outcome is None:
                    sent += 1
                elif outcome is DeliveryError:
                    break  # the destination is down: its later messages wait
        return sent

    def _next_due(self, is_mpps: bool, destination: str) -> _Due | None:
        with self._sessions() as session:
            kind = (
                OutboxMessage.event == _E.MPPS.value
                if is_mpps
                else OutboxMessage.event != _E.MPPS.value
            )
            row = session.scalars(
                select(OutboxMessage)
                .where(
                    kind,
                    OutboxMessage.destination == destination,
                    OutboxMessage.status == _S.PENDING.value,
                )
                .order_by(OutboxMessage.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            due_at = row.next_attempt_at
            if due_at.tzinfo is None:  # SQLite gives back naive UTC
                due_at = due_at.replace(tzinfo=dt.UTC)
            if due_at > now():
                return None
            return _Due(row.id, row.event, destination, row.payload or b"", row.attempts)

    def _send(self, due: _Due) -> type[Exception] | None:
        error: str | None = None
        outcome: type[Exception] | None = None
        try:
            if due.event == _E.MPPS.value:
                self._forward_mpps(due)
            else:
                self._send_hl7(due)
        except (AckError, _Refused) as exc:
            error, outcome = str(exc), _Refused
        except DeliveryError as exc:
            error, outcome = str(exc), DeliveryError
        except Exception as exc:  # a bug or an unexpected peer: keep it, say so, go on
            log.exception("outbox delivery failed id=%d", due.id)
            error, outcome = f"internal error: {exc}", _Refused
        with self._sessions() as session, session.begin():
            row = session.get(OutboxMessage, due.id)
            assert row is not None
            stamp = now()
            row.attempts = due.attempts + 1
            row.updated_at = stamp
            row.last_error = error
            if outcome is None:
                row.status = _S.SENT.value
                row.sent_at = stamp
            elif outcome is DeliveryError:
                delay = min(
                    self._settings.outbox_retry_initial * 2 ** min(due.attempts, 30),
                    self._settings.outbox_retry_max,
                )
                row.next_attempt_at = stamp + dt.timedelta(seconds=delay)
            else:
                row.status = _S.FAILED.value
        level = logging.INFO if outcome is None else logging.WARNING
        log.log(
            level,
            "outbox delivery id=%d event=%s destination=%s outcome=%s reason=%s",
            due.id,
            due.event,
            due.destination,
            "sent" if outcome is None else "retry" if outcome is DeliveryError else "failed",
            error or "",
        )
        return outcome

    def _send_hl7(self, due: _Due) -> None:
        destination = next(
            (d for d in self._settings.hl7_destinations if d.name == due.destination), None
        )
        if destination is None:
            raise DeliveryError(f"HL7 destination {due.destination!r} is no longer configured")
        context = None
        if destination.tls:
            cafile = str(destination.tls_ca_file) if destination.tls_ca_file else None
            context = ssl.create_default_context(cafile=cafile)
        send_message(
            destination.host,
            destination.port,
            due.payload,
            timeout=self._settings.hl7_timeout,
            ssl_context=context,
        )

    def _forward_mpps(self, due: _Due) -> None:
        from raddx.dimse.mpps_forward import ForwardRefused, forward_mpps
        from raddx.remotes import RemoteAERegistry

        try:
            remote = RemoteAERegistry(self._settings, self._sessions).get(due.destination)
        except NotFound as exc:
            raise DeliveryError(str(exc)) from None
        request = json.loads(due.payload.decode("utf-8"))
        try:
            forward_mpps(
                remote.remote,
                operation=request["operation"],
                sop_instance_uid=request["sop_instance_uid"],
                dataset=request["dataset"],
                calling_ae_title=self._settings.ae_title,
                timeout=self._settings.hl7_timeout,
            )
        except ForwardRefused as exc:
            raise _Refused(str(exc)) from None


def _hl7_builder(
    event: OutboxMessage, destination: HL7Destination, settings: Settings, session: Session
) -> Callable[[int], bytes]:
    """A function delivery id → the message bytes for ``destination``."""
    from raddx.hl7.charset import CharsetError
    from raddx.hl7.client import encode_message
    from raddx.hl7.outbound import Sender, build_omi_o23
    from raddx.hl7.z23 import build_omi_z23
    from raddx.ris.snapshot import order_snapshot, performed_step_snapshot

    sender = Sender(settings.hl7_sending_application, settings.hl7_sending_facility)
    detail = json.loads(event.detail) if event.detail else {}

    def build(delivery_id: int) -> bytes:
        cid = control_id(delivery_id)
        if event.event == _E.OMI.value:
            order = order_snapshot(session=session, accession_number=event.subject)
            text = build_omi_o23(
                order, control=event.action, control_id=cid, destination=destination, sender=sender
            )
        elif event.event == _E.Z23.value:
            step = performed_step_snapshot(session=session, sop_instance_uid=event.subject)
            text = build_omi_z23(
                step, detail, control_id=cid, destination=destination, sender=sender
            )
        elif event.event == _E.ORU.value:
            return _oru(event, destination, settings, session, cid)
        else:
            raise _Refused(f"unknown event {event.event!r}")
        try:
            return encode_message(text)[0]
        except CharsetError as exc:
            raise _Refused(str(exc)) from None

    return build


def _oru(
    event: OutboxMessage,
    destination: HL7Destination,
    settings: Settings,
    session: Session,
    cid: str,
) -> bytes:
    """ORU^R01 of one signed report version (``subject`` ``report_id:version``), built by the
    report format module in the destination's character set, MSH-5/6/10 set for it."""
    from raddx.reports import store
    from raddx.reports.formats.hl7v2 import to_oru

    report_id, _, version = event.subject.rpartition(":")
    record = store.load(session=session, report_id=report_id, version=int(version))
    data = to_oru(
        record,
        charset=destination.charset.value,
        sending_facility=settings.hl7_sending_facility,
    )
    codec = "iso2022_jp" if destination.charset.value == "~ISO IR87" else "utf-8"
    text = data.decode(codec)
    head, sep, rest = text.partition("\r")
    fields = head.split("|")
    fields += [""] * max(0, 11 - len(fields))
    fields[2] = settings.hl7_sending_application  # MSH-3
    fields[4] = destination.receiving_application  # MSH-5
    fields[5] = destination.receiving_facility  # MSH-6
    fields[9] = cid  # MSH-10: the delivery's id, stable across retries
    return ("|".join(fields) + sep + rest).encode(codec)
