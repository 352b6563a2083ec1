"""Storage Commitment Push Model SCP (PS3.4 J.3): N-ACTION in, N-EVENT-REPORT back on the
same association.

The handler decodes the request and asks :func:`raddx.archive.commitment.commit`; it only
builds the N-EVENT-REPORT. The report goes out right after the N-ACTION response, still inside
the association's reactor (as pynetdicom's C-GET sends its C-STORE sub-operations), so the
requestor must keep the association open until it arrives (PS3.4 J.3.3: the SCU accepts the
report on the requesting association when it is still open). Sending it on a new association
later is not implemented yet.
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    StorageCommitmentPushModel,
    StorageCommitmentPushModelInstance,
)

from raddx.archive.commitment import CommitmentResult, commit
from raddx.archive.retrieve import RetrieveService
from raddx.dimse.status import PROCESSING_FAILURE, SUCCESS

__all__ = ["commitment_contexts", "event_report", "handle_n_action"]

log = logging.getLogger(__name__)

#: PS3.4 J.3.2.1.1: Action Type ID 1, Request Storage Commitment.
REQUEST_STORAGE_COMMITMENT = 1
#: PS3.4 J.3.3.1: Event Type ID 1 (all committed) and 2 (failures exist).
ALL_COMMITTED = 1
FAILURES_EXIST = 2
#: PS3.7 C.4: N-ACTION statuses (besides the shared ones in raddx.dimse.status).
NO_SUCH_ACTION_TYPE = 0x0123
MISSING_ATTRIBUTE = 0x0120
INVALID_ARGUMENT_VALUE = 0x0115


def commitment_contexts() -> list[PresentationContext]:
    """Storage Commitment Push Model in the uncompressed syntaxes."""
    return [
        build_context(StorageCommitmentPushModel, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ]


def event_report(transaction_uid: str, result: CommitmentResult) -> tuple[int, Dataset]:
    """The N-EVENT-REPORT Event Type ID and Event Information (PS3.4 Table J.3-2)."""
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    if result.committed:
        ds.ReferencedSOPSequence = []
        for sop_class, uid in result.committed:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = uid
            ds.ReferencedSOPSequence.append(item)
    if result.failed:
        ds.FailedSOPSequence = []
        for sop_class, uid, reason in result.failed:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = uid
            item.FailureReason = reason
            ds.FailedSOPSequence.append(item)
    return (FAILURES_EXIST if result.failed else ALL_COMMITTED), ds


def _requested(info: Dataset) -> list[tuple[str, str]]:
    return [
        (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
        for item in info.ReferencedSOPSequence
    ]


def _report_after_response(event: Event, event_type: int, report: Dataset) -> None:
    """Send the report once this request's N-ACTION response has gone out."""
    assoc = event.assoc
    dimse = assoc.dimse
    send = dimse.send_msg
    message_id = event.request.MessageID

    def send_msg(primitive: Any, context_id: int) -> None:
        send(primitive, context_id)
        if getattr(primitive, "MessageIDBeingRespondedTo", None) != message_id:
            return
        dimse.__dict__.pop("send_msg", None)
        try:
            assoc.send_n_event_report(
                report,
                event_type,
                StorageCommitmentPushModel,
                StorageCommitmentPushModelInstance,
            )
        except Exception:  # the requestor went away: it asks again (PS3.4 J.3.3)
            log.warning(
                "storage commitment report not delivered calling_ae=%s",
                assoc.requestor.ae_title,
                exc_info=True,
            )

    dimse.send_msg = send_msg


def handle_n_action(event: Event, retrieve_service: RetrieveService) -> tuple[int, None]:
    """N-ACTION Request Storage Commitment (PS3.4 J.3.2).

    Statuses (PS3.7 C.4, PS3.4 J.3.2.1.2): 0x0000 Success (the result follows in an
    N-EVENT-REPORT with Event Type 1 or 2); 0x0123 No such action type; 0x0120 Missing
    attribute (no Transaction UID or Referenced SOP Sequence); 0x0110 Processing failure
    (our fault; logged).
    """
    if event.action_type != REQUEST_STORAGE_COMMITMENT:
        return NO_SUCH_ACTION_TYPE, None
    try:
        info = event.action_information
        transaction_uid = str(info.get("TransactionUID", "") or "")
        if not transaction_uid or "ReferencedSOPSequence" not in info:
            return MISSING_ATTRIBUTE, None
        result = commit(_requested(info), retrieve_service=retrieve_service)
    except Exception:
        log.exception("storage commitment failed calling_ae=%s", event.assoc.requestor.ae_title)
        return PROCESSING_FAILURE, None
    log.info(
        "storage commitment calling_ae=%s transaction_uid=%s committed=%d failed=%d",
        event.assoc.requestor.ae_title,
        transaction_uid,
        len(result.committed),
        len(result.failed),
    )
    event_type, report = event_report(transaction_uid, result)
    _report_after_response(event, event_type, report)
    return SUCCESS, None
