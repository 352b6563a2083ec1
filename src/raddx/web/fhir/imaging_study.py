"""``/fhir/ImagingStudy`` (JP_ImagingStudy_Radiology) and ``/fhir/Endpoint``: stored studies
with series, instances and the DICOMweb WADO-RS endpoint, searched through the archive's
query engine (patient, identifier, accession, started, modality)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from raddx.errors import InvalidInput, NotFound
from raddx.ris.fhir import (
    ImagingStudySearch,
    endpoint_resource,
    identity_of,
    imaging_study_resources,
    read_imaging_study,
    search_imaging_studies,
)
from raddx.ris.fhir._common import DICOM_UID, ENDPOINT_WADO_RS
from raddx.web.deps import ServicesDep
from raddx.web.fhir import _audit
from raddx.web.fhir._common import Count, Offset, page_size, site_timezone
from raddx.web.fhir._route import endpoint, fhir_router
from raddx.web.fhir._search import date_range, literal, searchset, split_token
from raddx.web.fhir.patient import parse_key

__all__ = ["router"]

router = fhir_router("fhir")


@endpoint(router, "GET", "/ImagingStudy/{uid}", action="fhir.read")
def read(services: ServicesDep, request: Request, uid: str) -> dict[str, Any]:
    """A stored study by Study Instance UID."""
    with services.session_factory() as session:
        try:
            study = read_imaging_study(uid, session=session)
        except InvalidInput:
            raise NotFound(f"no ImagingStudy/{uid}") from None
        (resource,) = imaging_study_resources([study], session=session, tz=site_timezone(services))
    _audit.study_read(request, services.session_factory, uid)
    return resource


@endpoint(router, "GET", "/ImagingStudy", action="fhir.read")
def search(
    services: ServicesDep,
    request: Request,
    count: Count = None,
    offset: Offset = 0,
    id_: Annotated[str | None, Query(alias="_id")] = None,
    patient: Annotated[str | None, Query(description="Patient/<id>.")] = None,
    subject: Annotated[str | None, Query(description="Patient/<id>.")] = None,
    identifier: Annotated[
        str | None, Query(description="urn:oid:<Study Instance UID> or an accession number.")
    ] = None,
    accession: Annotated[str | None, Query(description="Accession number.")] = None,
    started: Annotated[list[str] | None, Query(description="eq/ge/le/gt/lt + date.")] = None,
    modality: Annotated[str | None, Query(description="[system|]CT; CT,MR = any.")] = None,
) -> dict[str, Any]:
    """Studies matching every parameter given, in index order."""
    size = page_size(services, count)
    _audit.studies_found(request)
    uid = id_
    accession_number = accession
    if identifier:
        system, value = split_token(identifier)
        if value.startswith("urn:oid:") or system == DICOM_UID:
            uid = value.removeprefix("urn:oid:")
        else:
            accession_number = value
    modalities = tuple(split_token(m)[1] for m in modality.split(",")) if modality else ()
    for value in (uid, accession_number, *modalities):
        if value is not None:
            literal(value, "identifier/accession/modality/_id")
    with services.session_factory() as session:
        reference = patient or subject
        criteria = ImagingStudySearch(
            patient=identity_of(parse_key(reference), session=session) if reference else None,
            study_instance_uid=uid,
            accession_number=accession_number,
            modalities=modalities,
            started=date_range(started or [], "started"),
        )
        studies, more = search_imaging_studies(criteria, session=session, offset=offset, limit=size)
        resources = imaging_study_resources(studies, session=session, tz=site_timezone(services))
    return searchset(request, "ImagingStudy", resources, offset=offset, count=size, more=more)


@endpoint(router, "GET", "/Endpoint/{endpoint_id}", action="fhir.read")
def read_endpoint(request: Request, endpoint_id: str) -> dict[str, Any]:
    """The DICOMweb WADO-RS service the ImagingStudy resources refer to."""
    if endpoint_id != ENDPOINT_WADO_RS:
        raise NotFound(f"no Endpoint/{endpoint_id}")
    return endpoint_resource(str(request.base_url).rstrip("/") + "/dicom-web")
