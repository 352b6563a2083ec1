"""The CapabilityStatement of ``/fhir`` (R4 ``metadata``): what each resource supports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from raddx import __version__
from raddx.ris.fhir._common import JP_IMAGING_STUDY, JP_PATIENT

__all__ = ["SEARCH_PARAMETERS", "capability_statement"]

#: Resource type → (name, type, documentation) of each search parameter we answer.
SEARCH_PARAMETERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "Patient": (
        ("_id", "token", "Patient id (r<n> RIS, a<n> archive)."),
        ("identifier", "token", "[system|]patient ID (system urn:oid:<issuer>)."),
        ("name", "string", "Any name group (kanji, kana, alphabetic); starts-with, :exact."),
        ("birthdate", "date", "eq/ge/le/gt/lt with YYYY, YYYY-MM or YYYY-MM-DD."),
        ("gender", "token", "male, female, other, unknown."),
    ),
    "ServiceRequest": (
        ("_id", "token", "Requested procedure id."),
        ("patient", "reference", "Patient/<id>."),
        ("subject", "reference", "Same as patient."),
        ("identifier", "token", "Accession, placer, filler or requested procedure number."),
        ("status", "token", "active, completed, revoked (comma = any of them)."),
        ("authored", "date", "The order's creation day (eq/ge/le/gt/lt)."),
        ("code", "token", "[system|]JJ1017-32 code."),
    ),
    "ImagingStudy": (
        ("_id", "token", "Study Instance UID."),
        ("patient", "reference", "Patient/<id>."),
        ("subject", "reference", "Same as patient."),
        ("identifier", "token", "urn:oid:<Study UID> or the accession number."),
        ("accession", "token", "Accession number (raddx extension of the R4 parameters)."),
        ("started", "date", "StudyDate (eq/ge/le/gt/lt)."),
        ("modality", "token", "[system|]DICOM modality; comma = any of them."),
    ),
}
_PROFILES = {"Patient": JP_PATIENT, "ImagingStudy": JP_IMAGING_STUDY}


def capability_statement(base_url: str) -> dict[str, Any]:
    """The server's CapabilityStatement (kind ``instance``, JSON only)."""
    resources: list[dict[str, Any]] = []
    for type_, params in SEARCH_PARAMETERS.items():
        interactions = [{"code": "read"}, {"code": "search-type"}]
        if type_ == "ServiceRequest":
            interactions.append({"code": "create"})
        resource: dict[str, Any] = {
            "type": type_,
            "interaction": interactions,
            "searchParam": [{"name": n, "type": t, "documentation": d} for n, t, d in params],
        }
        if type_ in _PROFILES:
            resource["supportedProfile"] = [_PROFILES[type_]]
        resources.append(resource)
    resources.append({"type": "Endpoint", "interaction": [{"code": "read"}]})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": dt.date.today().isoformat(),
        "kind": "instance",
        "software": {"name": "raddx", "version": __version__},
        "implementation": {"description": "raddx PACS/RIS FHIR API", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{"mode": "server", "resource": resources}],
    }
