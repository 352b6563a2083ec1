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

Delivery is **at least once**: a process that ends after the peer acknowledged a message but
before step 2 recorded it sends the message again at the next start. The receiver can tell:
the bytes are built once at routing, with MSH-10 = :func:`control_id` of the delivery, so every
retry and every redelivery of one delivery carries the same MSH-10 (and MSH-7); a receiver
discards a control ID it has already processed from this sender
(``tests/integration/test_hl7_outbox_redelivery.py`` kills a worker in that window).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from raddx.config import HL7Destination, OutboundMessageValues, Settings
from raddx.db.models import OutboxMessage
from raddx.errors import NotFound
from raddx.hl7.client import AckError, DeliveryError, MllpClient
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

    @property
    def running(self) -> bool:
        """True while its background thread works (the status page reports it)."""
        return self._thread is not None and self._thread.is_alive()

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

    def _takes(self, kind: OutboxEventValues) -> bool:
        """Whether any configured destination takes events of ``kind``."""
        if kind is _E.MPPS:
            return bool(self._settings.mpps_forward_aes)
        return bool(self._hl7_destinations(kind.value))

    def _hl7_destinations(self, event: str) -> list[HL7Destination]:
        kind = OutboundMessageValues(event)
        return [d for d in self._settings.hl7_destinations if kind in d.messages]

    def route(self) -> int:
        """Create the deliveries of every pending event; returns how many events.

        Two phases in one transaction, so a batch costs two flushes rather than several per
        event: all delivery rows are inserted (their ids become MSH-10), then each message is
        built, an event's order or MPPS read once for all its destinations.
        """
        with self._sessions() as session, session.begin():
            stamp = now()
            idle = [kind.value for kind in _E if not self._takes(kind)]
            # Kinds no destination takes are marked in one statement: every order placed
            # records an OMI event, and loading and updating each through the ORM cost the
            # served process ~0.1 ms per order when no modality takes OMI^O23 (bench/ris.py).
            unrouted = 0
            if idle:
                result = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.destination.is_(None),
                        OutboxMessage.status == _S.PENDING.value,
                        OutboxMessage.event.in_(idle),
                    )
                    .values(status=_S.UNROUTED.value, updated_at=stamp)
                    .execution_options(synchronize_session=False)
                )
                unrouted = max(int(getattr(result, "rowcount", 0)), 0)
            events = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.destination.is_(None),
                    OutboxMessage.status == _S.PENDING.value,
                )
                .order_by(OutboxMessage.id)
                .limit(500)
            ).all()
            planned: list[tuple[OutboxMessage, Callable[[int], bytes]]] = []
            cache: dict[int, Any] = {}
            for event in events:
                for name, build in self._targets(event, session, cache):
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
                    planned.append((row, build))
                event.status = (
                    _S.ROUTED if any(r.event_fk == event.id for r, _ in planned) else _S.UNROUTED
                ).value
                event.updated_at = stamp
            session.flush()
            with session.no_autoflush:
                for row, build in planned:
                    self._build(row, build)
        return len(events) + unrouted

    def _targets(
        self, event: OutboxMessage, session: Session, cache: dict[int, Any]
    ) -> list[tuple[str, Callable[[int], bytes]]]:
        if event.event == _E.MPPS.value:
            payload = (event.detail or "").encode("utf-8")
            return [(t.strip(), lambda _id: payload) for t in self._settings.mpps_forward_aes]
        return [
            (d.name, _hl7_builder(event, d, self._settings, session, cache))
            for d in self._hl7_destinations(event.event)
        ]

    @staticmethod
    def _build(row: OutboxMessage, build: Callable[[int], bytes]) -> None:
        if row.event != _E.MPPS.value:
            row.message_control_id = control_id(row.id)
        try:
            row.payload = build(row.id)
        except (_Refused, ValueError, NotFound) as exc:
            row.status = _S.FAILED.value
            row.last_error = f"cannot build the message: {exc}"
            log.warning("outbox message not built id=%d event=%s reason=%s", row.id, row.event, exc)

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
            if is_mpps:
                sent += self._mpps_queue(destination)
            else:
                sent += asyncio.run(self._hl7_queue(destination))
        return sent

    def _mpps_queue(self, destination: str) -> int:
        sent = 0
        while not self._stop.is_set():
            due = self._next_due(True, destination)
            if due is None:
                break
            try:
                self._forward_mpps(due)
                outcome, error = None, None
            except Exception as exc:
                outcome, error = self._classify(exc, due)
            self._record(due, outcome, error)
            if outcome is None:
                sent += 1
            elif outcome is DeliveryError:
                break  # the AE is down: its later messages wait
        return sent

    async def _hl7_queue(self, name: str) -> int:
        """Deliver one HL7 destination's due messages in order over one connection."""
        destination = next((d for d in self._settings.hl7_destinations if d.name == name), None)
        client = None
        if destination is not None:
            context = None
            if destination.tls:
                cafile = str(destination.tls_ca_file) if destination.tls_ca_file else None
                context = ssl.create_default_context(cafile=cafile)
            client = MllpClient(
                destination.host,
                destination.port,
                timeout=self._settings.hl7_timeout,
                ssl_context=context,
            )
        sent = 0
        try:
            while not self._stop.is_set():
                due = self._next_due(False, name)
                if due is None:
                    break
                try:
                    if client is None:
                        raise DeliveryError(f"HL7 destination {name!r} is no longer configured")
                    await client.send(due.payload)
                    outcome, error = None, None
                except Exception as exc:
                    outcome, error = self._classify(exc, due)
                    if client is not None and outcome is not _Refused:
                        await client.close()  # a bad or missing answer: start afresh
                self._record(due, outcome, error)
                if outcome is None:
                    sent += 1
                elif outcome is DeliveryError:
                    break  # the destination is down: its later messages wait
        finally:
            if client is not None:
                await client.close()
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

    @staticmethod
    def _classify(exc: Exception, due: _Due) -> tuple[type[Exception], str]:
        """Refused (the peer said no, or the message is unusable) or worth retrying."""
        if isinstance(exc, (AckError, _Refused)):
            return _Refused, str(exc)
        if isinstance(exc, DeliveryError):
            return DeliveryError, str(exc)
        # A bug or an unexpected peer: keep the message, say so, go on with the next.
        log.exception("outbox delivery failed id=%d", due.id, exc_info=exc)
        return _Refused, f"internal error: {exc}"

    def _record(self, due: _Due, outcome: type[Exception] | None, error: str | None) -> None:
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
        log.log(
            logging.INFO if outcome is None else logging.WARNING,
            "outbox delivery id=%d event=%s destination=%s outcome=%s reason=%s",
            due.id,
            due.event,
            due.destination,
            "sent" if outcome is None else "retry" if outcome is DeliveryError else "failed",
            error or "",
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
    event: OutboxMessage,
    destination: HL7Destination,
    settings: Settings,
    session: Session,
    cache: dict[int, Any],
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
            if event.id not in cache:
                cache[event.id] = order_snapshot(session=session, accession_number=event.subject)
            order = cache[event.id]
            text = build_omi_o23(
                order, control=event.action, control_id=cid, destination=destination, sender=sender
            )
        elif event.event == _E.Z23.value:
            if event.id not in cache:
                cache[event.id] = performed_step_snapshot(
                    session=session, sop_instance_uid=event.subject
                )
            step = cache[event.id]
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
