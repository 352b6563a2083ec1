"""Storage Commitment Push Model SCP (PS3.4 J.3): N-ACTION in, N-EVENT-REPORT back on the
same association or on a new one.

The handler decodes the request and asks :func:`raddx.archive.commitment.commit`; it only
builds the N-EVENT-REPORT and chooses where it goes, by the requestor's entry in
``remote_aes`` (matched by calling AE title, ``storage_commitment_report``):

* ``same_association`` (default, and for requestors not configured): right after the N-ACTION
  response, still inside the association's reactor (as pynetdicom's C-GET sends its C-STORE
  sub-operations), so the requestor must keep the association open until it arrives;
* ``new_association``: once the N-ACTION response is out, a background thread associates to
  the AE's host and port, proposing Storage Commitment Push Model with SCP/SCU Role Selection
  for the SCP role (PS3.4 J.3.3, PS3.7 D.3.3.4), sends the report and releases. Modalities that
  release right after the N-ACTION need this. A report that cannot be delivered is logged; the
  requestor asks again (PS3.4 J.3.3: commitment requests may be repeated).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context, build_role
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    StorageCommitmentPushModel,
    StorageCommitmentPushModelInstance,
)

from raddx.archive.commitment import CommitmentResult, commit
from raddx.archive.retrieve import RetrieveService
from raddx.config import RemoteAE, Settings, StorageCommitmentReportValues
from raddx.dimse.status import PROCESSING_FAILURE, SUCCESS

__all__ = ["commitment_contexts", "event_report", "handle_n_action", "send_report"]

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


def _after_response(event: Event, then: Any) -> None:
    """Call ``then()`` once this request's N-ACTION response has gone out."""
    dimse = event.assoc.dimse
    send = dimse.send_msg
    message_id = event.request.MessageID

    def send_msg(primitive: Any, context_id: int) -> None:
        send(primitive, context_id)
        if getattr(primitive, "MessageIDBeingRespondedTo", None) != message_id:
            return
        dimse.__dict__.pop("send_msg", None)
        then()

    dimse.send_msg = send_msg


def send_report(ae: AE, remote: RemoteAE, event_type: int, report: Dataset) -> bool:
    """Deliver an N-EVENT-REPORT on a new association to ``remote`` (PS3.4 J.3.3); return
    whether the peer answered Success. Failures are logged, never raised."""
    role = build_role(StorageCommitmentPushModel, scp_role=True)
    try:
        assoc = ae.associate(
            remote.host,
            remote.port,
            contexts=commitment_contexts(),
            ae_title=remote.ae_title,
            ext_neg=[role],
        )
    except Exception:
        log.warning("storage commitment report: association failed", exc_info=True)
        return False
    if not assoc.is_established:
        log.warning(
            "storage commitment report not delivered remote_ae=%s reason=association %s",
            remote.ae_title,
            "rejected" if assoc.is_rejected else "failed",
        )
        return False
    try:
        status, _ = assoc.send_n_event_report(
            report, event_type, StorageCommitmentPushModel, StorageCommitmentPushModelInstance
        )
    finally:
        if assoc.is_established:
            assoc.release()
    code = getattr(status, "Status", None)
    if code != SUCCESS:
        log.warning(
            "storage commitment report refused remote_ae=%s status=%s", remote.ae_title, code
        )
        return False
    log.info(
        "storage commitment report delivered remote_ae=%s transaction_uid=%s",
        remote.ae_title,
        report.TransactionUID,
    )
    return True


def _report_after_response(event: Event, event_type: int, report: Dataset) -> None:
    """Send the report on the requesting association once the N-ACTION response is out."""
    assoc = event.assoc

    def then() -> None:
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

    _after_response(event, then)


def _report_on_new_association(
    event: Event, remote: RemoteAE, event_type: int, report: Dataset
) -> None:
    """Send the report from a background thread once the N-ACTION response is out: the
    requesting association's reactor must not wait for another association."""
    ae = event.assoc.ae

    def then() -> None:
        threading.Thread(
            target=send_report,
            args=(ae, remote, event_type, report),
            name="storage-commitment-report",
            daemon=True,
        ).start()

    _after_response(event, then)


def _remote(settings: Settings | None, ae_title: str) -> RemoteAE | None:
    if settings is None:
        return None
    for remote in settings.remote_aes:
        if remote.ae_title.strip() == ae_title.strip():
            return remote
    return None


def handle_n_action(
    event: Event, retrieve_service: RetrieveService, settings: Settings | None = None
) -> tuple[int, None]:
    """N-ACTION Request Storage Commitment (PS3.4 J.3.2).

    The report goes where the requestor's ``remote_aes`` entry says (module docstring);
    without ``settings`` or an entry, on the same association.

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
    remote = _remote(settings, event.assoc.requestor.ae_title)
    new = StorageCommitmentReportValues.NEW_ASSOCIATION
    if remote is not None and remote.storage_commitment_report == new:
        _report_on_new_association(event, remote, event_type, report)
    else:
        _report_after_response(event, event_type, report)
    return SUCCESS, None
