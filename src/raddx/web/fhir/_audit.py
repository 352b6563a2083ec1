"""The FHIR door's audit calls (ARCHITECTURE "Errors, logging, audit"): one per route.

Patients read or found: Patient Record, Read (PS3.15 A.5.3.14), one per patient answered.
ServiceRequests read or found: Order Record, Read (A.5.3.13); one placed: Order Record,
Create. ImagingStudy search: Query (A.5.3.10) with the FHIR URL, as QIDO-RS; a study read:
DICOM Instances Accessed, Read (A.5.3.6) through the HTTP doors' helper.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind
from starlette.requests import Request

from raddx.security import audit_events
from raddx.security.audit import EventActionCodeValues, PatientRef, record
from raddx.web import _audit as web_audit

__all__ = ["orders", "patients", "studies_found", "study_read"]


def _name(resource: dict[str, Any]) -> str | None:
    for name in resource.get("name") or []:
        text = "^".join(p for p in (name.get("family"), *(name.get("given") or [])) if p)
        if text:
            return text
    return None


def patients(request: Request, resources: Iterable[dict[str, Any]]) -> None:
    """Patient resources answered: one Patient Record (Read) each."""
    user = web_audit.requester(request)
    for resource in resources:
        ident = next(iter(resource.get("identifier") or []), {})
        record(
            audit_events.patient_record(
                action=EventActionCodeValues.READ,
                user=user,
                patient=PatientRef(str(ident.get("value") or resource["id"]), _name(resource)),
            )
        )


#: ServiceRequests answered (Read) or placed (Create): the HTTP doors' Order Record helper.
orders = web_audit.order_records


def studies_found(request: Request) -> None:
    """An ImagingStudy search: a Query event with the URL (Study Root C-FIND equivalent)."""
    web_audit.query(request, StudyRootQueryRetrieveInformationModelFind)


def study_read(request: Request, session_factory: Any, uid: str) -> None:
    """An ImagingStudy read: DICOM Instances Accessed (Read) for the study."""
    web_audit.studies_accessed(request, session_factory, [uid], action=EventActionCodeValues.READ)
