"""The RIS and archive as FHIR R4 resources (JP Core where it applies; issue 6 §7).

Patient (:mod:`.patient`), ServiceRequest (:mod:`.service_request`, and orders placed as a
ServiceRequest in :mod:`.order`), ImagingStudy with its WADO-RS Endpoint
(:mod:`.imaging_study`) and the CapabilityStatement (:mod:`.capability`). Resources are
built as plain JSON; tests validate them with ``fhir.resources``. The HTTP door
(``raddx.web.fhir``) parses search parameters into the search objects here, calls these
functions and wraps the results in Bundles.
"""

from __future__ import annotations

from raddx.ris.fhir._common import DateRange, PatientKey
from raddx.ris.fhir.capability import SEARCH_PARAMETERS, capability_statement
from raddx.ris.fhir.imaging_study import (
    ImagingStudySearch,
    endpoint_resource,
    imaging_study_resources,
    read_imaging_study,
    search_imaging_studies,
)
from raddx.ris.fhir.order import order_from_service_request
from raddx.ris.fhir.patient import (
    PatientSearch,
    identity_of,
    patient_resource,
    read_patient,
    search_patients,
)
from raddx.ris.fhir.service_request import (
    ServiceRequestSearch,
    read_service_request,
    search_service_requests,
    service_request_resource,
)

__all__ = [
    "SEARCH_PARAMETERS",
    "DateRange",
    "ImagingStudySearch",
    "PatientKey",
    "PatientSearch",
    "ServiceRequestSearch",
    "capability_statement",
    "endpoint_resource",
    "identity_of",
    "imaging_study_resources",
    "order_from_service_request",
    "patient_resource",
    "read_imaging_study",
    "read_patient",
    "read_service_request",
    "search_imaging_studies",
    "search_patients",
    "search_service_requests",
    "service_request_resource",
]
