"""The FHIR R4 door under ``/fhir`` (issue 6 §7; JP Core where it applies).

``GET /fhir/metadata`` (CapabilityStatement), Patient and ServiceRequest read/search,
``POST /fhir/ServiceRequest`` (an order), ImagingStudy read/search with the WADO-RS
Endpoint. JSON only (``application/fhir+json``); errors are OperationOutcomes. The resources
are built by :mod:`raddx.ris.fhir`; this package parses FHIR's search syntax, pages, and
wraps results in Bundles.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from raddx.ris.fhir import capability_statement
from raddx.web.fhir import imaging_study, patient, service_request
from raddx.web.fhir._route import MEDIA_TYPE, endpoint, fhir_router
from raddx.web.fhir._search import base_url

__all__ = ["MEDIA_TYPE", "MODULES", "PREFIX", "router"]

PREFIX = "/fhir"

_metadata = fhir_router("fhir")


@endpoint(_metadata, "GET", "/metadata", action="fhir.read")
def metadata(request: Request) -> dict[str, Any]:
    """The CapabilityStatement: resources, interactions and search parameters we answer."""
    return capability_statement(base_url(request))


#: The resource modules; each has a ``router`` (tests enumerate them to check every route).
MODULES = (patient, service_request, imaging_study)

router = APIRouter(prefix=PREFIX)
router.include_router(_metadata)
for _module in MODULES:
    router.include_router(_module.router)
