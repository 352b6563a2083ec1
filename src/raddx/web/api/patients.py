"""``/api/patients``: list and get patients (PATIENT level, Patient Root)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from raddx.errors import InvalidInput
from raddx.web.api._listing import Limit, Offset, fetch_one, fetch_page
from raddx.web.api._models import Page, PatientPublic
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("patients")

_RETURNED = {
    "PatientName": None,
    "IssuerOfPatientID": None,
    "PatientBirthDate": None,
    "PatientSex": None,
    "NumberOfPatientRelatedStudies": None,
}
_MATCHING = " Matched as in C-FIND/QIDO-RS: `*` and `?` wildcards, ranges for dates."


@endpoint(router, "GET", "/patients", action="archive.read", response_model=Page[PatientPublic])
def list_patients(
    services: ServicesDep,
    request: Request,
    limit: Limit = 100,
    offset: Offset = 0,
    patient_id: Annotated[
        str | None, Query(alias="PatientID", description="PatientID." + _MATCHING)
    ] = None,
    patient_name: Annotated[
        str | None,
        Query(
            alias="PatientName",
            description="Any component group (alphabetic, ideographic, phonetic), "
            "case-insensitive." + _MATCHING,
        ),
    ] = None,
    birth_date: Annotated[
        str | None, Query(alias="PatientBirthDate", description="YYYYMMDD or a range.")
    ] = None,
    fuzzy: Annotated[
        bool, Query(alias="fuzzymatching", description="Fuzzy person-name matching.")
    ] = False,
) -> Page[PatientPublic]:
    """Patients with at least one visible study, in index order."""
    keys = {
        **_RETURNED,
        "PatientID": patient_id,
        "PatientName": patient_name,
        "PatientBirthDate": birth_date,
    }
    items, next_url = fetch_page(
        services, request, level="PATIENT", keys=keys, limit=limit, offset=offset, fuzzy=fuzzy
    )
    return Page[PatientPublic](
        items=[PatientPublic(**i) for i in items], limit=limit, offset=offset, next=next_url
    )


@endpoint(
    router, "GET", "/patients/{patient_id}", action="archive.read", response_model=PatientPublic
)
def get_patient(
    services: ServicesDep,
    patient_id: Annotated[str, Path(min_length=1, max_length=64, description="PatientID.")],
) -> PatientPublic:
    """One patient by PatientID (exact; wildcard characters are refused)."""
    if any(c in patient_id for c in "*?\\"):
        raise InvalidInput(f"PatientID {patient_id!r} holds a wildcard or backslash")
    keys = {**_RETURNED, "PatientID": patient_id}
    return PatientPublic(
        **fetch_one(services, level="PATIENT", keys=keys, what=f"patient {patient_id!r}")
    )
