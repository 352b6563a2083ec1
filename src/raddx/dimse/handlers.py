"""DIMSE handlers: decode the request, call one domain service, return a status.

Bound to pynetdicom events in :mod:`raddx.dimse.server`. They hold no business logic: the
C-STORE handler only frames the received dataset as Part 10 and hands it to ingest.
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import cast

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from raddx.archive import IngestService
from raddx.archive.ingest import IngestOutcome
from raddx.dimse import _audit
from raddx.dimse.status import SUCCESS, status_dataset, status_for_error
from raddx.errors import RaddxError

__all__ = ["handle_association_end", "handle_echo", "handle_store", "store_received"]

log = logging.getLogger(__name__)


def handle_echo(event: Event) -> int:
    """C-ECHO (PS3.4 A.4): always Success (0x0000) while the archive runs."""
    return SUCCESS


def handle_association_end(event: Event) -> None:
    """EVT_RELEASED / EVT_ABORTED / EVT_CONN_CLOSE: record what the association stored
    (one audit event per study, :mod:`raddx.dimse._audit`)."""
    _audit.association_ended(event.assoc)


def handle_store(event: Event, ingest: IngestService) -> int | Dataset:
    """C-STORE (PS3.4 B.2) on a pynetdicom association: see :func:`store_received`.

    The request's raw Data Set is used without decoding or copying (never ``event.dataset``):
    decoding and re-encoding would cost time and could alter the bytes.
    """
    request = cast(C_STORE, event.request)
    assoc = event.assoc
    status, comment = store_received(
        ingest,
        cast(BytesIO, request.DataSet).getbuffer(),
        str(request.AffectedSOPClassUID),
        str(request.AffectedSOPInstanceUID),
        str(event.context.transfer_syntax),
        assoc.requestor.ae_title,
        assoc.acceptor.ae_title,
        host=assoc.requestor.address,
        audit_owner=assoc,
    )
    return SUCCESS if status == SUCCESS else status_dataset(status, comment)


def store_received(
    ingest: IngestService,
    dataset: memoryview,
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax_uid: str,
    calling_ae_title: str,
    called_ae_title: str,
    *,
    host: str | None = None,
    audit_owner: object | None = None,
) -> tuple[int, str | None]:
    """Keep one received C-STORE data set exactly as sent; return ``(status, Error Comment)``.

    Shared by both C-STORE paths (pynetdicom's event and :mod:`raddx.dimse.fast_path`), so
    they answer alike. Statuses (PS3.4 Table B.2-1, PS3.7 C): 0x0000 Success (also for an
    identical re-send); 0xC000 Cannot understand (not valid DICOM, truncated,
    missing/malformed UIDs); 0xA700 Out of resources (disk full); 0x0111 Duplicate SOP
    Instance (different bytes under a stored UID while the duplicate policy is ``reject``);
    0x0110 Processing failure (our bug; logged with traceback).

    Each outcome is counted for the association's audit record (:mod:`raddx.dimse._audit`;
    ``host`` and ``audit_owner`` identify the association on pynetdicom's engine).
    """
    try:
        result = ingest.store_dataset(
            dataset,
            sop_class_uid=sop_class_uid,
            sop_instance_uid=sop_instance_uid,
            transfer_syntax_uid=transfer_syntax_uid,
            source="dimse",
            calling_ae_title=calling_ae_title,
            called_ae_title=called_ae_title,
        )
    except RaddxError as exc:
        log.warning(
            "C-STORE refused calling_ae=%s sop_instance_uid=%s reason=%s",
            calling_ae_title,
            sop_instance_uid,
            exc,
        )
        _audit.instance_refused(calling_ae_title=calling_ae_title, host=host, owner=audit_owner)
        return status_for_error(exc), str(exc)
    except Exception:
        log.exception(
            "C-STORE failed calling_ae=%s sop_instance_uid=%s", calling_ae_title, sop_instance_uid
        )
        _audit.instance_refused(calling_ae_title=calling_ae_title, host=host, owner=audit_owner)
        return status_for_error(Exception()), "internal error; see server log"
    _audit.instance_stored(
        calling_ae_title=calling_ae_title,
        host=host,
        study_instance_uid=result.study_instance_uid,
        sop_class_uid=result.sop_class_uid,
        patient_id=result.patient_id,
        patient_name=result.patient_name,
        accession_number=result.accession_number,
        replaced=result.outcome is IngestOutcome.REPLACED,
        owner=audit_owner,
    )
    return SUCCESS, None
