"""MPPS SCP (PS3.4 F.7): N-CREATE and N-SET on Modality Performed Procedure Step.

The handlers read the attributes the rules need, call :mod:`raddx.ris.mpps` in one unit of
work and map its errors once (PS3.4 F.7.2.1.2, F.7.2.2.2; PS3.7 C):

* 0x0000 Success;
* 0x0120 Missing attribute / 0x0121 Missing attribute value: a Type 1 attribute of Table
  F.7.2-1 (PerformedProcedureStepID, PerformedStationAETitle, start date/time, status,
  Modality, ScheduledStepAttributesSequence with a StudyInstanceUID) absent or empty;
* 0x0106 Invalid attribute value: N-CREATE not IN PROGRESS, an unknown status, COMPLETED
  without end date/time, a malformed date; with ``validation_mode = strict`` also a step
  ending (COMPLETED or DISCONTINUED) without the final-state attributes of Table F.7.2-1
  (end date/time, at least one PerformedSeriesSequence item; F.7.2.2.2) — lenient mode
  accepts it with a logged warning;
* 0x0105 No such attribute: an N-SET carrying an attribute whose N-SET usage is "Not
  allowed" in Table F.7.2-1 (``raddx.ris.mpps_attributes``), tags in
  AttributeIdentifierList; nothing is changed (as dcm4che answers);
* 0x0111 Duplicate SOP Instance: a second N-CREATE for one SOP Instance UID;
* 0x0112 No such SOP Instance: N-SET of an unknown step;
* 0x0110 Processing failure with Error ID 0xA710: N-SET of a COMPLETED or DISCONTINUED step
  (as dcm4che answers; the step is left unchanged); without Error ID: our failure (logged).

Served by pynetdicom (an association proposing MPPS does not take the fast path).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.dimse_primitives import N_CREATE, N_SET
from pynetdicom.events import Event
from sqlalchemy.orm import sessionmaker

from raddx.dimse import _audit as dimse_audit
from raddx.dimse.mpps_forward import event_detail
from raddx.dimse.status import status_dataset
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.hl7.z23 import billing_from_dataset
from raddx.outbox import OutboxEventValues, record_event
from raddx.ris.mpps import (
    ScheduledStepReference,
    StepFinished,
    create_performed_step,
    set_performed_step,
)
from raddx.ris.mpps_attributes import AttributeNotAllowed, check_n_set_attributes

__all__ = ["handle_n_create", "handle_n_set"]

log = logging.getLogger(__name__)

SUCCESS = 0x0000
NO_SUCH_ATTRIBUTE = 0x0105
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_SOP_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
#: dcm4che's Error ID for "Performed Procedure Step Object may no longer be updated".
_NO_LONGER_UPDATABLE = 0xA710

_TYPE_1 = (
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepStatus",
    "Modality",
)


class _Missing(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _required(ds: Dataset, keyword: str) -> str:
    if keyword not in ds:
        raise _Missing(MISSING_ATTRIBUTE, f"{keyword} is missing")
    value = _text(ds, keyword)
    if not value:
        raise _Missing(MISSING_ATTRIBUTE_VALUE, f"{keyword} is empty")
    return value


def _references(ds: Dataset) -> list[ScheduledStepReference]:
    if "ScheduledStepAttributesSequence" not in ds:
        raise _Missing(MISSING_ATTRIBUTE, "ScheduledStepAttributesSequence is missing")
    items = list(ds.ScheduledStepAttributesSequence)
    if not items:
        raise _Missing(MISSING_ATTRIBUTE_VALUE, "ScheduledStepAttributesSequence is empty")
    return [
        ScheduledStepReference(
            study_instance_uid=_required(item, "StudyInstanceUID"),
            scheduled_procedure_step_id=_text(item, "ScheduledProcedureStepID") or None,
            accession_number=_text(item, "AccessionNumber") or None,
        )
        for item in items
    ]


def _forward(session: Any, forward: bool, operation: str, uid: str, ds: Dataset) -> None:
    """Queue the request for the AEs MPPS is forwarded to (issue 6 §5), in the same unit of
    work: only what we accepted is forwarded, and the outbox worker sends it later."""
    if forward:
        record_event(
            session=session,
            event=OutboxEventValues.MPPS,
            subject=uid,
            action=operation,
            detail=event_detail(operation, uid, ds),
        )


def _series_items(ds: Dataset) -> int | None:
    """Items of the PerformedSeriesSequence in ``ds``; ``None`` if it carries none."""
    if "PerformedSeriesSequence" not in ds:
        return None
    return len(ds.PerformedSeriesSequence or [])


def handle_n_create(
    event: Event, session_factory: sessionmaker[Any], forward: bool = False
) -> tuple[Any, Dataset | None]:
    """pynetdicom's ``EVT_N_CREATE`` handler for MPPS (statuses in the module docstring);
    ``forward``: queue the request for ``mpps_forward_aes``."""
    request = cast(N_CREATE, event.request)
    calling = event.assoc.requestor.ae_title
    try:
        attributes = event.attribute_list
        uid = str(request.AffectedSOPInstanceUID or "") or generate_uid(prefix=None)
        values = {k: _required(attributes, k) for k in _TYPE_1}
        references = _references(attributes)
        with session_factory() as session, session.begin():
            create_performed_step(
                sop_instance_uid=uid,
                status=values["PerformedProcedureStepStatus"],
                references=references,
                performed_procedure_step_id=values["PerformedProcedureStepID"],
                performed_station_ae_title=values["PerformedStationAETitle"],
                start_date=values["PerformedProcedureStepStartDate"],
                start_time=values["PerformedProcedureStepStartTime"],
                modality=values["Modality"],
                session=session,
                performed_series=_series_items(attributes) or 0,
            )
            _forward(session, forward, "N-CREATE", uid, attributes)
    except _Missing as exc:
        return _refused(exc.status, str(exc), calling), None
    except InvalidInput as exc:
        return _refused(INVALID_ATTRIBUTE_VALUE, str(exc), calling), None
    except Conflict as exc:
        return _refused(DUPLICATE_SOP_INSTANCE, str(exc), calling), None
    except Exception:
        log.exception("MPPS N-CREATE failed calling_ae=%s", calling)
        return status_dataset(PROCESSING_FAILURE, "internal error; see server log"), None
    dimse_audit.procedure_step(
        calling_ae_title=calling,
        host=event.assoc.requestor.address,
        dataset=attributes,
        created=True,
    )
    if not request.AffectedSOPInstanceUID:
        attributes.AffectedSOPInstanceUID = uid  # pynetdicom moves it into the response
    return SUCCESS, attributes


def handle_n_set(
    event: Event, session_factory: sessionmaker[Any], forward: bool = False, strict: bool = False
) -> tuple[Any, Dataset | None]:
    """pynetdicom's ``EVT_N_SET`` handler for MPPS (statuses in the module docstring);
    ``forward``: queue the request for ``mpps_forward_aes``; ``strict``: refuse a step that
    ends without the final-state attributes (``validation_mode = strict``)."""
    calling = event.assoc.requestor.ae_title
    try:
        changes = event.modification_list
        check_n_set_attributes(element.tag for element in changes)
        uid = str(cast(N_SET, event.request).RequestedSOPInstanceUID)
        with session_factory() as session, session.begin():
            set_performed_step(
                sop_instance_uid=uid,
                status=_text(changes, "PerformedProcedureStepStatus") or None,
                end_date=_text(changes, "PerformedProcedureStepEndDate") or None,
                end_time=_text(changes, "PerformedProcedureStepEndTime") or None,
                session=session,
                billing=billing_from_dataset(changes),
                performed_series=_series_items(changes),
                strict=strict,
            )
            _forward(session, forward, "N-SET", uid, changes)
    except AttributeNotAllowed as exc:
        refused = _refused(NO_SUCH_ATTRIBUTE, str(exc), calling)
        refused.AttributeIdentifierList = list(exc.tags)
        return refused, None
    except StepFinished as exc:
        status = _refused(PROCESSING_FAILURE, str(exc), calling)
        status.ErrorID = _NO_LONGER_UPDATABLE
        return status, None
    except NotFound as exc:
        return _refused(NO_SUCH_SOP_INSTANCE, str(exc), calling), None
    except InvalidInput as exc:
        return _refused(INVALID_ATTRIBUTE_VALUE, str(exc), calling), None
    except Exception:
        log.exception("MPPS N-SET failed calling_ae=%s", calling)
        return status_dataset(PROCESSING_FAILURE, "internal error; see server log"), None
    dimse_audit.procedure_step(
        calling_ae_title=calling,
        host=event.assoc.requestor.address,
        dataset=changes,
        created=False,
    )
    return SUCCESS, changes


def _refused(status: int, comment: str, calling: str) -> Dataset:
    log.warning("MPPS refused calling_ae=%s status=0x%04x reason=%s", calling, status, comment)
    return status_dataset(status, comment)
