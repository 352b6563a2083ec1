"""``/fhir/Patient``: read and search (identifier, name in kanji/kana/alphabet, birthdate,
gender)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from raddx.errors import InvalidInput, NotFound
from raddx.reports.profile import FHIR
from raddx.ris.fhir import (
    PatientKey,
    PatientSearch,
    patient_resource,
    read_patient,
    search_patients,
)
from raddx.web.deps import ServicesDep
from raddx.web.fhir import _audit
from raddx.web.fhir._common import Count, Offset, page_size
from raddx.web.fhir._route import endpoint, fhir_router
from raddx.web.fhir._search import date_range, literal, searchset, split_token

__all__ = ["parse_key", "router"]

router = fhir_router("fhir")

_GENDER = {"male": "M", "female": "F", "other": "O", "unknown": "unknown"}


def parse_key(value: str) -> PatientKey:
    """A Patient id from a path; a malformed one is simply not a resource we have (404)."""
    try:
        return PatientKey.parse(value)
    except InvalidInput:
        raise NotFound(f"no Patient/{value}") from None


def _issuer(system: str | None) -> str | None:
    if system is None:
        return None
    if system in ("", FHIR.patient_id_system):
        return ""
    return system.removeprefix("urn:oid:")


def _name_pattern(value: str, exact: bool) -> str:
    # Words of a FHIR name search may fall in different PN components (family^given).
    words = [w for w in value.replace("\u3000", " ").split(" ") if w]
    if exact:
        return "^".join(words)
    return "*" + "*".join(words) + "*"


@endpoint(router, "GET", "/Patient/{patient_id}", action="fhir.read")
def read(services: ServicesDep, request: Request, patient_id: str) -> dict[str, Any]:
    """A patient (JP_Patient); ``r<n>`` from the RIS, ``a<n>`` from the archive."""
    with services.session_factory() as session:
        resource = patient_resource(read_patient(parse_key(patient_id), session=session))
    _audit.patients(request, [resource])
    return resource


@endpoint(router, "GET", "/Patient", action="fhir.read")
def search(
    services: ServicesDep,
    request: Request,
    count: Count = None,
    offset: Offset = 0,
    id_: Annotated[str | None, Query(alias="_id")] = None,
    identifier: Annotated[str | None, Query(description="[system|]patient ID.")] = None,
    name: Annotated[
        str | None, Query(description="Any name group contains these words (漢字, カナ, alpha).")
    ] = None,
    name_exact: Annotated[str | None, Query(alias="name:exact")] = None,
    birthdate: Annotated[list[str] | None, Query(description="eq/ge/le/gt/lt + date.")] = None,
    gender: Annotated[str | None, Query(description="male, female, other, unknown.")] = None,
) -> dict[str, Any]:
    """Patients matching every parameter given (searchset Bundle, paged)."""
    size = page_size(services, count)
    if gender is not None and gender not in _GENDER:
        raise InvalidInput(f"gender {gender!r} is not male, female, other or unknown")
    ident = None
    if identifier:
        system, value = split_token(identifier)
        ident = (_issuer(system), value)
    text = name_exact if name_exact is not None else name
    if text is not None:
        literal(text, "name")
    criteria = PatientSearch(
        identifier=ident,
        name=_name_pattern(text, name_exact is not None) if text else None,
        birth_date=date_range(birthdate or [], "birthdate"),
        gender=_GENDER[gender] if gender else None,
    )
    with services.session_factory() as session:
        if id_ is not None:
            try:
                rows = [read_patient(parse_key(id_), session=session)]
            except NotFound:
                rows = []
            total, rows = len(rows), rows[offset : offset + size]
        else:
            total, rows = search_patients(criteria, session=session, offset=offset, limit=size)
        resources = [patient_resource(r) for r in rows]
    _audit.patients(request, resources)
    return searchset(
        request,
        "Patient",
        resources,
        offset=offset,
        count=size,
        more=offset + size < total,
        total=total,
    )
