"""HL7 v2 message handlers: decode, call the RIS, answer (HL7 v2.5 2.9 original mode).

Accepted: OMG^O19 (answered ORG^O20), ORM^O01 (legacy, ORR^O02), OMI^O23 (ORI^O24),
ADT^A01/A04/A08 (patient create/update) and ADT^A40 (merge), answered ACK. Anything else is
rejected with AR. Errors are mapped once, here: a field we cannot use → AE with ERR naming
it; a domain NotFound → AE 204 (unknown key), Conflict → AE 205/207, a bug → AE 207 with the
traceback in the log. One message is one unit of work: it is stored whole or not at all.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.hl7.ack import AckCodeValues, ErrorCodeValues, HL7Error, Reply, build_reply
from raddx.hl7.charset import CharsetError, Header, decode, encode, read_header
from raddx.hl7.fields import component, patient_from_pid
from raddx.hl7.orders import OrderGroup, group_orders, order_create
from raddx.hl7.parsing import parse
from raddx.jobs import JobService
from raddx.ris import (
    OrderStatusValues,
    PatientData,
    UnknownJj1017Code,
    change_order_status,
    find_order,
    merge_patients,
    place_order,
    update_order,
    upsert_patient,
)
from raddx.ris.archive_merge import archive_has_patient, queue_archive_merge
from raddx.security import audit_events
from raddx.security.audit import (
    ActiveParticipant,
    EventActionCodeValues,
    EventOutcomeIndicatorValues,
    PatientRef,
    record,
)

__all__ = ["MessageHandler"]

log = logging.getLogger(__name__)

_E = ErrorCodeValues
#: Message type → the answer's MSH-9.
_ORDER_REPLIES = {
    ("OMG", "O19"): "ORG^O20^ORG_O20",
    ("ORM", "O01"): "ORR^O02^ORR_O02",
    ("OMI", "O23"): "ORI^O24^ORI_O24",
}
_ADT_UPDATE = frozenset({"A01", "A04", "A08"})
#: ORC-1 cancel / discontinue, and ORC-5 of a status change (SC), → order status.
_CONTROL_STATUS = {"CA": OrderStatusValues.CANCELLED, "DC": OrderStatusValues.DISCONTINUED}
_ORDER_STATUS = {
    "IP": OrderStatusValues.IN_PROGRESS,
    "CM": OrderStatusValues.COMPLETED,
    "CA": OrderStatusValues.CANCELLED,
    "DC": OrderStatusValues.DISCONTINUED,
}


class MessageHandler:
    """Turns one received message (bytes) into the answer (bytes).

    Parameters
    ----------
    session_factory
        Sessions on the index; one unit of work per message.
    jobs
        Runs the ``patient-merge`` job an ADT^A40 stores when the archive holds studies of
        the prior patient (:mod:`raddx.ris.archive_merge`: the stored objects are corrected
        in the background, after the ACK). Without it the job stays queued until a job
        service with the merge runner starts (``raddx serve`` resumes it at start).
    refuse_unknown_jj1017
        Refuse a new order whose JJ1017 code the hospital's master does not hold (AE, ERR
        at OBR-4; setting ``jj1017_refuse_unknown``); by default it is accepted.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Any],
        *,
        jobs: JobService | None = None,
        refuse_unknown_jj1017: bool = False,
    ) -> None:
        self._session_factory = session_factory
        self._jobs = jobs
        self._refuse_unknown_jj1017 = refuse_unknown_jj1017
        #: One session per MLLP connection thread, kept between the messages it commits
        #: (each message is still its own transaction): making a Session per message was a
        #: twentieth of an order's CPU (bench/ris.py). It holds no connection in between.
        self._sessions = threading.local()

    def __call__(self, data: bytes) -> bytes:
        """Answer ``data``; never raises for bad input (the answer says what was wrong)."""
        try:
            header = read_header(data)
        except CharsetError as exc:
            # Not even an MSH to answer to: an AR with an empty MSH echo.
            header = Header("|", ("MSH", "^~\\&"), "", "ascii")
            error = HL7Error(str(exc), location="MSH", code=_E.SEGMENT_SEQUENCE)
            return encode(build_reply(Reply("ACK", AckCodeValues.AR, error), header), header)
        reply = self._reply(data, header)
        if reply.ack is not AckCodeValues.AA:
            log.warning(
                "HL7 message refused type=%s control_id=%s ack=%s location=%s reason=%s",
                header.field(9),
                header.field(10),
                reply.ack.value,
                reply.error.location if reply.error else "",
                reply.error,
            )
        return encode(build_reply(reply, header), header)

    def _reply(self, data: bytes, header: Header) -> Reply:
        kind = header.field(9).split("^")
        message_type, trigger = kind[0], (kind[1] if len(kind) > 1 else "")
        answer_type = _ORDER_REPLIES.get((message_type, trigger), f"ACK^{trigger}^ACK")
        received = None
        try:
            text = decode(data, header)
            handler = self._handler(message_type, trigger)
            received = _Received(parse(text.replace("\n", "\r")))
            session = self._session()
            try:
                with session.begin():
                    segments = handler(received, session)
            except BaseException:
                # Refused or failed: the next message gets a new session, so nothing this
                # one attached (A40's after-commit job start) can fire on a later commit.
                self._sessions.session = None
                session.close()
                raise
            session.expunge_all()  # nothing of this message outlives its transaction
            _audit(header, message_type, trigger, received, EventOutcomeIndicatorValues.SUCCESS)
            return Reply(answer_type, AckCodeValues.AA, segments=segments)
        except HL7Error as exc:
            if received is not None:
                _audit(header, message_type, trigger, received, _REFUSED, str(exc))
            return Reply(answer_type, exc.ack, exc)
        except CharsetError as exc:
            return Reply(answer_type, AckCodeValues.AE, _error(exc, "MSH-18", _E.DATA_TYPE_ERROR))
        except Exception:
            log.exception("HL7 message failed type=%s control_id=%s", kind, header.field(10))
            error = HL7Error(
                "internal error; see server log", location="MSH", code=_E.APPLICATION_ERROR
            )
            return Reply(answer_type, AckCodeValues.AE, error)

    def _session(self) -> Session:
        session: Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = self._session_factory()
        return session

    def _handler(
        self, message_type: str, trigger: str
    ) -> Callable[[_Received, Session], list[str]]:
        if (message_type, trigger) in _ORDER_REPLIES:
            return functools.partial(_orders, refuse_unknown_jj1017=self._refuse_unknown_jj1017)
        if message_type == "ADT" and trigger in _ADT_UPDATE:
            return _adt_update
        if message_type == "ADT" and trigger == "A40":
            return functools.partial(_adt_merge, jobs=self._jobs)
        known = message_type in {"OMG", "ORM", "OMI", "ADT"}
        raise HL7Error(
            f"{message_type}^{trigger} is not processed by raddx",
            location="MSH-9",
            code=_E.UNSUPPORTED_EVENT_CODE if known else _E.UNSUPPORTED_MESSAGE_TYPE,
            ack=AckCodeValues.AR,
        )


class _Received:
    """A parsed message and its patient (PID), read once: the handler and the audit record
    both need the patient, and reading PID is a tenth of an order's CPU (``bench/ris.py``)."""

    __slots__ = ("_patient", "message")

    def __init__(self, message: Any) -> None:
        self.message = message
        self._patient: PatientData | None = None

    def patient(self) -> PatientData:
        """The PID segment's patient.

        Raises
        ------
        HL7Error
            No PID, PID-3 missing, PID-7 not a date (as :func:`patient_from_pid`).
        """
        if self._patient is None:
            self._patient = patient_from_pid(_pid(self.message))
        return self._patient


_REFUSED = EventOutcomeIndicatorValues.MINOR_FAILURE
#: ORC-1 order control codes (HL7 v2.5 Table 0119) that cancel or discontinue an order.
_ORDER_ENDS = frozenset({"CA", "OC", "DC", "OD"})


def _audit(
    header: Header,
    message_type: str,
    trigger: str,
    received: _Received,
    outcome: EventOutcomeIndicatorValues,
    description: str | None = None,
) -> None:
    """Order Record (orders) or Patient Record (ADT) for one message (PS3.15 A.5.3.13/14):
    the sender (MSH-3^MSH-4) as requestor; action C for a new order or patient (ADT^A01/A04),
    D for a cancelled order, U otherwise (ADT^A08 update, A40 merge, order changes)."""
    try:
        patient = received.patient()
    except HL7Error:
        return  # nobody to name; the refusal itself is in the log
    sender = "^".join(part for part in (header.field(3), header.field(4)) if part) or "HL7"
    user = ActiveParticipant(user_id=sender, user_is_requestor=True)
    ref = PatientRef(patient.patient_id, patient.patient_name)
    if message_type == "ADT":
        action = EventActionCodeValues.CREATE if trigger in ("A01", "A04") else _UPDATE
        record(
            audit_events.patient_record(
                action=action,
                user=user,
                patient=ref,
                outcome=outcome,
                outcome_description=description,
            )
        )
        return
    try:
        control = str(received.message.segment("ORC")[1]).strip()
    except (KeyError, IndexError):
        control = ""
    action = (
        EventActionCodeValues.CREATE
        if control == "NW"
        else EventActionCodeValues.DELETE
        if control in _ORDER_ENDS
        else _UPDATE
    )
    record(
        audit_events.order_record(
            action=action, user=user, patient=ref, outcome=outcome, outcome_description=description
        )
    )


_UPDATE = EventActionCodeValues.UPDATE


def _error(exc: Exception, location: str, code: ErrorCodeValues) -> HL7Error:
    return HL7Error(str(exc), location=location, code=code)


def _pid(message: Any) -> Any:
    try:
        return message.segment("PID")
    except KeyError:
        raise HL7Error("no PID segment", location="PID", code=_E.SEGMENT_SEQUENCE) from None


def _adt_update(received: _Received, session: Session) -> list[str]:
    upsert_patient(received.patient(), session=session)
    return []


def _adt_merge(received: _Received, session: Session, *, jobs: JobService | None) -> list[str]:
    """ADT^A40: the RIS's patient and orders move to the surviving patient in this
    message's unit of work, together with a queued job that moves the archive's stored
    studies afterwards (:mod:`raddx.ris.archive_merge`; the ACK does not wait for it). A
    prior patient known to neither is refused (AE, ERR at MRG-1)."""
    surviving = received.patient()
    try:
        mrg = received.message.segment("MRG")
    except KeyError:
        raise HL7Error("ADT^A40 without MRG", location="MRG", code=_E.SEGMENT_SEQUENCE) from None
    prior = component(mrg, 1)
    if not prior:
        raise HL7Error(
            "MRG-1 (prior patient ID) is empty", location="MRG-1", code=_E.REQUIRED_FIELD_MISSING
        )
    prior_issuer = component(mrg, 1, 4)
    try:
        target = merge_patients(
            surviving=surviving,
            prior_patient_id=prior,
            prior_issuer=prior_issuer,
            session=session,
        )
    except NotFound as exc:
        # Images may have arrived for a patient the RIS never had an order for.
        if not archive_has_patient(session=session, patient_id=prior, issuer=prior_issuer):
            raise _error(exc, "MRG-1", _E.UNKNOWN_KEY) from None
        target = upsert_patient(surviving, session=session)
    except Conflict as exc:
        raise _error(exc, "MRG-1", _E.APPLICATION_ERROR) from None
    job_id = queue_archive_merge(
        session=session, prior_patient_id=prior, prior_issuer=prior_issuer, surviving=target
    )
    if job_id is not None and jobs is not None:
        # Started only once the message (and the job row) is committed.
        event.listen(session, "after_commit", lambda _: _start_job(jobs, job_id), once=True)
    return []


def _start_job(jobs: JobService, job_id: int) -> None:
    """Start the committed merge job. The A40 is already stored and will be answered AA
    whatever happens here: a job that cannot start now is logged and stays queued, and the
    next start of ``raddx serve`` resumes it."""
    try:
        jobs.start(job_id)
    except Exception:
        log.exception("patient-merge job not started; it runs at the next start id=%d", job_id)


def _orders(
    received: _Received, session: Session, *, refuse_unknown_jj1017: bool = False
) -> list[str]:
    patient = received.patient()
    orders = group_orders(list(received.message))
    if not orders:
        raise HL7Error("no ORC segment", location="ORC", code=_E.SEGMENT_SEQUENCE)
    answer = []
    for order in orders:
        answer.append(_order(order, patient, session, refuse_unknown_jj1017))
    return answer


def _order(order: OrderGroup, patient: Any, session: Session, refuse_unknown: bool) -> str:
    control = order.control
    if control == "NW":
        try:
            placed = place_order(
                order_create(order, patient), session=session, refuse_unknown_jj1017=refuse_unknown
            )
        except UnknownJj1017Code as exc:
            raise _error(exc, "OBR-4", _E.TABLE_VALUE_NOT_FOUND) from None
        except Conflict as exc:
            raise _error(exc, "ORC-2", _E.DUPLICATE_KEY) from None
        except InvalidInput as exc:
            raise _error(exc, "ORC", _E.DATA_TYPE_ERROR) from None
        return f"ORC|OK|{order.placer}|{placed.filler_order_number}||SC"
    try:
        stored = find_order(
            placer_order_number=order.placer or None,
            filler_order_number=order.filler or None,
            session=session,
        )
    except NotFound as exc:
        raise _error(exc, "ORC-2", _E.UNKNOWN_KEY) from None
    try:
        if control == "XO":
            update_order(stored, changes=order_create(order, patient), session=session)
        elif control in _CONTROL_STATUS:
            change_order_status(stored, _CONTROL_STATUS[control], session=session)
        elif control == "SC" and order.order_status in _ORDER_STATUS:
            change_order_status(stored, _ORDER_STATUS[order.order_status], session=session)
        elif control == "SC":
            raise HL7Error(
                f"order status {order.order_status!r} is not IP, CM, CA or DC",
                location="ORC-5",
                code=_E.TABLE_VALUE_NOT_FOUND,
            )
        else:
            raise HL7Error(
                f"order control {control!r} is not NW, XO, CA, DC or SC",
                location="ORC-1",
                code=_E.TABLE_VALUE_NOT_FOUND,
            )
    except Conflict as exc:
        raise _error(exc, "ORC-1", _E.APPLICATION_ERROR) from None
    return f"ORC|OK|{order.placer}|{stored.filler_order_number}||{_ORC5[stored.status]}"


#: Order status → ORC-5 (HL7 Table 0038) in the answer.
_ORC5 = {
    OrderStatusValues.SCHEDULED.value: "SC",
    OrderStatusValues.IN_PROGRESS.value: "IP",
    OrderStatusValues.COMPLETED.value: "CM",
    OrderStatusValues.DISCONTINUED.value: "DC",
    OrderStatusValues.CANCELLED.value: "CA",
}
