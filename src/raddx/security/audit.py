"""The audit trail's front door: :func:`record`, called once by every door per access.

ARCHITECTURE.md: "Every access to patient data through any door calls
``security.audit.record(...)`` once". A door builds an :class:`AuditEvent` (plain frozen
values: no XML, no I/O) and hands it over; :func:`record` only puts it on a queue, so the
request path pays microseconds. The installed :class:`~raddx.security.audit_log.AuditTrail`
turns queued events into DICOM PS3.15 A.5 messages (:mod:`raddx.security.atna`), appends them
to the hash-chained log and forwards them to a syslog collector, in its own thread.

The codes are those of PS3.15 A.5.3 (event, event type and role IDs, DCM coding scheme,
PS3.16 Annex D) and RFC 3881 (participant object ID types), carried over with their meanings.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from typing import Protocol

__all__ = [
    "ActiveParticipant",
    "AuditEvent",
    "AuditSink",
    "Code",
    "EventActionCodeValues",
    "EventIDValues",
    "EventOutcomeIndicatorValues",
    "EventTypeCodeValues",
    "MediaTypeValues",
    "ParticipantObject",
    "PatientRef",
    "RoleIDCodeValues",
    "StudyRef",
    "capture",
    "install",
    "record",
    "uninstall",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value (PS3.15 A.5.1 CodedValueType: csd-code, codeSystemName, originalText)."""

    code: str
    scheme: str
    meaning: str


class _Coded(Enum):
    """An enumeration whose members are :class:`Code` values."""

    @property
    def code(self) -> Code:
        value: Code = self.value
        return value


class EventIDValues(_Coded):
    """EventID (PS3.15 A.5.3, CID 400 "Audit Event ID")."""

    APPLICATION_ACTIVITY = Code("110100", "DCM", "Application Activity")
    AUDIT_LOG_USED = Code("110101", "DCM", "Audit Log Used")
    BEGIN_TRANSFERRING_DICOM_INSTANCES = Code("110102", "DCM", "Begin Transferring DICOM Instances")
    DICOM_INSTANCES_ACCESSED = Code("110103", "DCM", "DICOM Instances Accessed")
    DICOM_INSTANCES_TRANSFERRED = Code("110104", "DCM", "DICOM Instances Transferred")
    DICOM_STUDY_DELETED = Code("110105", "DCM", "DICOM Study Deleted")
    EXPORT = Code("110106", "DCM", "Export")
    IMPORT = Code("110107", "DCM", "Import")
    NETWORK_ENTRY = Code("110108", "DCM", "Network Entry")
    ORDER_RECORD = Code("110109", "DCM", "Order Record")
    PATIENT_RECORD = Code("110110", "DCM", "Patient Record")
    PROCEDURE_RECORD = Code("110111", "DCM", "Procedure Record")
    QUERY = Code("110112", "DCM", "Query")
    SECURITY_ALERT = Code("110113", "DCM", "Security Alert")
    USER_AUTHENTICATION = Code("110114", "DCM", "User Authentication")


class EventTypeCodeValues(_Coded):
    """EventTypeCode (PS3.15 A.5.3, CID 401 "Audit Event Type Code")."""

    APPLICATION_START = Code("110120", "DCM", "Application Start")
    APPLICATION_STOP = Code("110121", "DCM", "Application Stop")
    LOGIN = Code("110122", "DCM", "Login")
    LOGOUT = Code("110123", "DCM", "Logout")
    ATTACH = Code("110124", "DCM", "Attach")
    DETACH = Code("110125", "DCM", "Detach")
    NODE_AUTHENTICATION = Code("110126", "DCM", "Node Authentication")
    EMERGENCY_OVERRIDE_STARTED = Code("110127", "DCM", "Emergency Override Started")
    NETWORK_CONFIGURATION = Code("110128", "DCM", "Network Configuration")
    SECURITY_CONFIGURATION = Code("110129", "DCM", "Security Configuration")
    HARDWARE_CONFIGURATION = Code("110130", "DCM", "Hardware Configuration")
    SOFTWARE_CONFIGURATION = Code("110131", "DCM", "Software Configuration")
    USE_OF_RESTRICTED_FUNCTION = Code("110132", "DCM", "Use of Restricted Function")
    AUDIT_RECORDING_STOPPED = Code("110133", "DCM", "Audit Recording Stopped")
    AUDIT_RECORDING_STARTED = Code("110134", "DCM", "Audit Recording Started")
    OBJECT_SECURITY_ATTRIBUTES_CHANGED = Code("110135", "DCM", "Object Security Attributes Changed")
    SECURITY_ROLES_CHANGED = Code("110136", "DCM", "Security Roles Changed")
    USER_SECURITY_ATTRIBUTES_CHANGED = Code("110137", "DCM", "User security Attributes Changed")
    EMERGENCY_OVERRIDE_STOPPED = Code("110138", "DCM", "Emergency Override Stopped")
    REMOTE_SERVICE_OPERATION_STARTED = Code("110139", "DCM", "Remote Service Operation Started")
    REMOTE_SERVICE_OPERATION_STOPPED = Code("110140", "DCM", "Remote Service Operation Stopped")
    LOCAL_SERVICE_OPERATION_STARTED = Code("110141", "DCM", "Local Service Operation Started")
    LOCAL_SERVICE_OPERATION_STOPPED = Code("110142", "DCM", "Local Service Operation Stopped")


class RoleIDCodeValues(_Coded):
    """RoleIDCode of an active participant (PS3.15 A.5.3, CID 402 "Audit Active Participant
    Role ID Code")."""

    APPLICATION = Code("110150", "DCM", "Application")
    APPLICATION_LAUNCHER = Code("110151", "DCM", "Application Launcher")
    DESTINATION = Code("110152", "DCM", "Destination Role ID")
    SOURCE = Code("110153", "DCM", "Source Role ID")
    DESTINATION_MEDIA = Code("110154", "DCM", "Destination Media")
    SOURCE_MEDIA = Code("110155", "DCM", "Source Media")


class MediaTypeValues(_Coded):
    """MediaType of a media participant (PS3.15 A.5.3.4/A.5.3.5, CID 405 "Media Type Code")."""

    USB_DISK_EMULATION = Code("110030", "DCM", "USB Disk Emulation")
    EMAIL = Code("110031", "DCM", "Email")
    CD = Code("110032", "DCM", "CD")
    DVD = Code("110033", "DCM", "DVD")
    URI = Code("110037", "DCM", "URI")
    FILM = Code("110010", "DCM", "Film")
    PAPER_DOCUMENT = Code("110038", "DCM", "Paper Document")


class EventActionCodeValues(StrEnum):
    """EventActionCode (PS3.15 A.5.1; RFC 3881 5.1.2)."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


class EventOutcomeIndicatorValues(IntEnum):
    """EventOutcomeIndicator (PS3.15 A.5.1; RFC 3881 5.1.4)."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


#: Network access point type codes (PS3.15 A.5.1): a host name, or an IP address.
NAP_MACHINE_NAME = "1"
NAP_IP_ADDRESS = "2"


def _nap_type(host: str) -> str:
    """``2`` for a dotted IPv4 or an IPv6 literal, ``1`` (machine name) otherwise."""
    if ":" in host or host.replace(".", "").isdigit():
        return NAP_IP_ADDRESS
    return NAP_MACHINE_NAME


@dataclass(frozen=True, slots=True)
class ActiveParticipant:
    """Someone or something taking part (PS3.15 A.5.1 ActiveParticipant).

    Parameters
    ----------
    user_id
        The user name, or for a DICOM node its AE title (PS3.15 A.5.2.2: "the AE Title").
    user_is_requestor
        Whether this participant started the event.
    role
        Its role (:class:`RoleIDCodeValues`), where PS3.15 A.5.3 names one for the event.
    host
        Its network address (IP or host name), if known.
    user_name, alternative_user_id
        A display name; for a process, e.g. its process id.
    media_type
        For Destination/Source Media participants (:class:`MediaTypeValues`).
    """

    user_id: str
    user_is_requestor: bool = False
    role: RoleIDCodeValues | None = None
    host: str | None = None
    user_name: str | None = None
    alternative_user_id: str | None = None
    media_type: MediaTypeValues | None = None

    def __post_init__(self) -> None:
        if not self.user_id:
            raise ValueError("user_id: an active participant needs a UserID")

    @property
    def host_type(self) -> str | None:
        """NetworkAccessPointTypeCode for :attr:`host`."""
        return None if self.host is None else _nap_type(self.host)


@dataclass(frozen=True, slots=True)
class PatientRef:
    """A patient taking part (PS3.15 A.5.3: TypeCode 1 Person, role 1 Patient, ID type 2)."""

    patient_id: str
    patient_name: str | None = None


@dataclass(frozen=True, slots=True)
class StudyRef:
    """A study taking part (TypeCode 2 System, role 3 Report, ID type 110180 Study Instance
    UID), with the SOP classes of its instances and their counts (PS3.15 A.5.2.5)."""

    study_instance_uid: str
    sop_classes: tuple[tuple[str, int], ...] = ()
    accession_number: str | None = None
    anonymized: bool | None = None
    life_cycle: str | None = None


@dataclass(frozen=True, slots=True)
class ParticipantObject:
    """Any other participant object (query, audit log, user account, order ...).

    ``query`` is stored base64-encoded in ParticipantObjectQuery (PS3.15 A.5.3.10: the
    C-FIND identifier, or the QIDO-RS request URL); ``details`` are (type, bytes) pairs.
    """

    object_id: str
    id_type: Code
    type_code: str | None = None
    type_code_role: str | None = None
    name: str | None = None
    query: bytes | None = None
    details: tuple[tuple[str, bytes], ...] = ()
    life_cycle: str | None = None

    def __post_init__(self) -> None:
        if not self.object_id:
            raise ValueError("object_id: a participant object needs an ID")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One auditable event, as a door sees it (PS3.15 A.5.1 EventIdentification + parts).

    Parameters
    ----------
    event_id, action
        What happened (:class:`EventIDValues`) and how (:class:`EventActionCodeValues`),
        exactly as PS3.15 A.5.3 fixes them for the event.
    outcome
        :class:`EventOutcomeIndicatorValues`; a refusal is ``MINOR_FAILURE``, an error of ours
        ``SERIOUS_FAILURE``.
    event_types
        EventTypeCode(s) where the event has them (login/logout, start/stop, alerts).
    participants
        The peers. With ``local`` (the default) raddx itself is added as a participant from
        the trail's identity (AE title, host, process id), in ``local_role`` if given.
    patients, studies, objects
        Participant objects.
    outcome_description
        Free text saying why the outcome is not success (never PHI beyond the IDs above).
    time
        When it happened, timezone-aware UTC (set at construction).

    Raises
    ------
    ValueError
        ``time`` is naive (audit times must be unambiguous, MHLW guideline "trusted time").
    """

    event_id: EventIDValues
    action: EventActionCodeValues
    outcome: EventOutcomeIndicatorValues = EventOutcomeIndicatorValues.SUCCESS
    event_types: tuple[EventTypeCodeValues, ...] = ()
    participants: tuple[ActiveParticipant, ...] = ()
    local_role: RoleIDCodeValues | None = None
    local: bool = True
    patients: tuple[PatientRef, ...] = ()
    studies: tuple[StudyRef, ...] = ()
    objects: tuple[ParticipantObject, ...] = ()
    outcome_description: str | None = None
    time: dt.datetime = field(default_factory=_utcnow)

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("time: must be timezone-aware")

    @property
    def user(self) -> str | None:
        """The requesting participant's UserID (the indexed "user" of the log)."""
        for participant in self.participants:
            if participant.user_is_requestor:
                return participant.user_id
        return None

    @property
    def patient_id(self) -> str | None:
        """The first patient's ID (the indexed "patient" of the log)."""
        return self.patients[0].patient_id if self.patients else None


class AuditSink(Protocol):
    """Where :func:`record` puts events: :class:`raddx.security.audit_log.AuditTrail`."""

    def submit(self, event: AuditEvent) -> None: ...


_sinks: list[AuditSink] = []
_listeners: list[Callable[[AuditEvent], None]] = []
_lock = threading.Lock()


def record(event: AuditEvent) -> None:
    """Audit one event: the one call every door makes per access to patient data.

    Never blocks on I/O and never raises into the door: the event is queued for the installed
    trail's writer thread (a few microseconds). Without an installed trail (a unit test of a
    door, a tool that opened no database) the event only reaches :func:`capture` listeners.
    """
    for listener in _listeners:
        listener(event)
    if _sinks:
        try:
            _sinks[-1].submit(event)
        except Exception:  # the audit trail must never take a door down; say so loudly
            log.exception("audit event could not be queued event_id=%s", event.event_id.name)


def install(sink: AuditSink) -> None:
    """Make ``sink`` receive every recorded event (the last installed one wins)."""
    with _lock:
        _sinks.append(sink)


def uninstall(sink: AuditSink) -> None:
    """Stop sending events to ``sink`` (the previously installed one takes over)."""
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)


@contextmanager
def capture() -> Iterator[list[AuditEvent]]:
    """Collect every event recorded while the block runs (tests, ``raddx audit`` tools)."""
    events: list[AuditEvent] = []
    with _lock:
        _listeners.append(events.append)
    try:
        yield events
    finally:
        with _lock:
            _listeners.remove(events.append)
