"""FHIR ImagingStudy (JP Core ``JP_ImagingStudy_Radiology``) from the archive index, through
the one query engine (:mod:`raddx.archive.query`): search and read build a
:class:`~raddx.archive.query.Query` like C-FIND and QIDO-RS do, so matching, visibility of
soft-deleted studies and paging are theirs.

``ImagingStudy/<StudyInstanceUID>`` (a UID is a valid FHIR id). Each study lists its series
and instances, refers to the WADO-RS Endpoint (``Endpoint/dicom-wado-rs``: the DICOMweb
base URL, to which a client appends ``/studies/<uid>`` as R4's ImagingStudy notes say), to
its Patient and, when the RIS ordered it, to the ServiceRequest (``basedOn``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.archive.datetimes import offset_minutes
from raddx.archive.query import InformationModelValues, Query, QueryRetrieveLevelValues, find
from raddx.db.models import RisOrder, RisRequestedProcedure
from raddx.errors import NotFound
from raddx.reports.profile import FHIR
from raddx.ris.fhir._common import (
    ACSN,
    DCM,
    DICOM_UID,
    ENDPOINT_WADO_RS,
    JP_IMAGING_STUDY,
    DateRange,
    PatientKey,
    fhir_datetime,
)
from raddx.ris.fhir.patient import patient_keys_for

__all__ = [
    "ImagingStudySearch",
    "endpoint_resource",
    "imaging_study_resources",
    "read_imaging_study",
    "search_imaging_studies",
]

_L = QueryRetrieveLevelValues
_STUDY_ROOT = InformationModelValues.STUDY_ROOT
_STUDY_KEYS: dict[str, str | None] = {
    "PatientID": None,
    "IssuerOfPatientID": None,
    "StudyDate": None,
    "StudyTime": None,
    "AccessionNumber": None,
    "StudyDescription": None,
    "ModalitiesInStudy": None,
    "NumberOfStudyRelatedSeries": None,
    "NumberOfStudyRelatedInstances": None,
    "TimezoneOffsetFromUTC": None,
}


@dataclass(frozen=True, slots=True)
class ImagingStudySearch:
    """Search criteria, all of which must hold: the patient's identity, a Study Instance UID,
    an accession number, modalities (any of them in the study), StudyDate days."""

    patient: tuple[str, str] | None = None
    study_instance_uid: str | None = None
    accession_number: str | None = None
    modalities: tuple[str, ...] = ()
    started: DateRange | None = None


def _keys(search: ImagingStudySearch) -> dict[str, str | None]:
    keys = dict(_STUDY_KEYS)
    if search.patient is not None:
        keys["PatientID"], keys["IssuerOfPatientID"] = search.patient
    if search.study_instance_uid:
        keys["StudyInstanceUID"] = search.study_instance_uid
    if search.accession_number:
        keys["AccessionNumber"] = search.accession_number
    if search.modalities:
        keys["ModalitiesInStudy"] = "\\".join(search.modalities)
    if search.started is not None:
        keys["StudyDate"] = search.started.dicom()
    return keys


def search_imaging_studies(
    search: ImagingStudySearch, *, session: Session, offset: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """``(studies, more)``: one page of matching studies (query-engine answers) and whether
    another page follows."""
    if search.started is not None and search.started.empty:
        return [], False
    query = Query(
        level=_L.STUDY,
        information_model=_STUDY_ROOT,
        keys=_keys(search),
        limit=limit + 1,
        offset=offset,
    )
    answers = list(find(query, session=session))
    return answers[:limit], len(answers) > limit


def read_imaging_study(uid: str, *, session: Session) -> dict[str, Any]:
    """The study with Study Instance UID ``uid``.

    Raises
    ------
    NotFound
        Not stored (or soft-deleted).
    InvalidInput
        ``uid`` is not a UID.
    """
    studies, _ = search_imaging_studies(
        ImagingStudySearch(study_instance_uid=uid), session=session, offset=0, limit=1
    )
    if not studies:
        raise NotFound(f"no ImagingStudy/{uid}")
    return studies[0]


def _series_and_instances(uids: list[str], session: Session) -> dict[str, list[dict[str, Any]]]:
    """Study UID → its series, each with ``_instances``: two queries for a whole page of
    studies (UID list matching, PS3.4 C.2.2.2.2), not two per study."""
    uid_list = "\\".join(uids)
    series = find(
        Query(
            level=_L.SERIES,
            information_model=_STUDY_ROOT,
            keys={
                "StudyInstanceUID": uid_list,
                "Modality": None,
                "SeriesNumber": None,
                "SeriesDescription": None,
                "BodyPartExamined": None,
                "NumberOfSeriesRelatedInstances": None,
                "SeriesDate": None,
                "SeriesTime": None,
            },
        ),
        session=session,
    )
    by_series: dict[str, list[dict[str, Any]]] = {}
    for instance in find(
        Query(
            level=_L.IMAGE,
            information_model=_STUDY_ROOT,
            keys={"StudyInstanceUID": uid_list, "SOPClassUID": None, "InstanceNumber": None},
        ),
        session=session,
    ):
        item: dict[str, Any] = {
            "uid": instance["SOPInstanceUID"],
            "sopClass": {
                "system": "urn:ietf:rfc:3986",
                "code": f"urn:oid:{instance['SOPClassUID']}",
            },
        }
        if instance["InstanceNumber"] is not None:
            item["number"] = instance["InstanceNumber"]
        by_series.setdefault(instance["SeriesInstanceUID"], []).append(item)
    by_study: dict[str, list[dict[str, Any]]] = {}
    for item in series:
        by_study.setdefault(item["StudyInstanceUID"], []).append(
            {**item, "_instances": by_series.get(item["SeriesInstanceUID"], [])}
        )
    return by_study


def _offset(value: str | None, default: dt.timezone) -> dt.timezone:
    minutes = offset_minutes(value) if value else None
    return dt.timezone(dt.timedelta(minutes=minutes)) if minutes is not None else default


def imaging_study_resources(
    studies: list[Mapping[str, Any]], *, session: Session, tz: dt.timezone
) -> list[dict[str, Any]]:
    """The studies as ``JP_ImagingStudy_Radiology`` resources, with series and instances."""
    # basedOn: the requested procedure with the study's UID (the worklist gave it to the
    # modality), else every requested procedure of the order with its accession number.
    uids = [s["StudyInstanceUID"] for s in studies]
    accessions = [s["AccessionNumber"] for s in studies if s.get("AccessionNumber")]
    by_uid: dict[str, list[int]] = {}
    for uid, rp in session.execute(
        select(RisRequestedProcedure.study_instance_uid, RisRequestedProcedure.id).where(
            RisRequestedProcedure.study_instance_uid.in_(uids)
        )
    ):
        by_uid.setdefault(uid, []).append(rp)
    by_accession: dict[str, list[int]] = {}
    if accessions:
        for accession, rp in session.execute(
            select(RisOrder.accession_number, RisRequestedProcedure.id)
            .join(RisRequestedProcedure, RisRequestedProcedure.order_fk == RisOrder.id)
            .where(RisOrder.accession_number.in_(accessions))
            .order_by(RisRequestedProcedure.id)
        ):
            by_accession.setdefault(accession, []).append(rp)
    series = _series_and_instances(uids, session) if uids else {}
    patients = patient_keys_for(
        [(s.get("PatientID") or "", s.get("IssuerOfPatientID") or "") for s in studies],
        session=session,
    )
    return [
        _resource(
            s,
            tz,
            by_uid.get(s["StudyInstanceUID"]) or by_accession.get(s.get("AccessionNumber") or ""),
            patients[(s.get("PatientID") or "", s.get("IssuerOfPatientID") or "")],
            series.get(s["StudyInstanceUID"], []),
        )
        for s in studies
    ]


def _resource(
    study: Mapping[str, Any],
    default_tz: dt.timezone,
    request_ids: list[int] | None,
    key: PatientKey | None,
    series_of_study: list[dict[str, Any]],
) -> dict[str, Any]:
    uid = study["StudyInstanceUID"]
    tz = _offset(study.get("TimezoneOffsetFromUTC"), default_tz)
    identifiers: list[dict[str, Any]] = [{"system": DICOM_UID, "value": f"urn:oid:{uid}"}]
    if study.get("AccessionNumber"):
        identifiers.append(
            {
                "type": {"coding": [{"system": FHIR.accession_type_system, "code": ACSN}]},
                "value": study["AccessionNumber"],
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": uid,
        "meta": {"profile": [JP_IMAGING_STUDY]},
        "identifier": identifiers,
        "status": "available",
        "endpoint": [{"reference": f"Endpoint/{ENDPOINT_WADO_RS}"}],
        "numberOfSeries": study.get("NumberOfStudyRelatedSeries") or 0,
        "numberOfInstances": study.get("NumberOfStudyRelatedInstances") or 0,
    }
    # subject is 1..1 in R4; an identity we cannot name (never) falls back to the identifier.
    resource["subject"] = (
        {"reference": f"Patient/{key}"}
        if key is not None
        else {"identifier": {"system": FHIR.patient_id_system, "value": study.get("PatientID")}}
    )
    if request_ids:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{rp}"} for rp in request_ids]
    modalities = study.get("ModalitiesInStudy") or []
    if modalities:
        resource["modality"] = [{"system": DCM, "code": m} for m in modalities]
    started = fhir_datetime(study.get("StudyDate"), study.get("StudyTime"), tz)
    if started:
        resource["started"] = started
    if study.get("StudyDescription"):
        resource["description"] = study["StudyDescription"]
    series_list = []
    for series in series_of_study:
        item: dict[str, Any] = {
            "uid": series["SeriesInstanceUID"],
            "modality": {"system": DCM, "code": series.get("Modality") or "OT"},
            "numberOfInstances": series.get("NumberOfSeriesRelatedInstances") or 0,
        }
        if series.get("SeriesNumber") is not None:
            item["number"] = series["SeriesNumber"]
        if series.get("SeriesDescription"):
            item["description"] = series["SeriesDescription"]
        if series.get("BodyPartExamined"):
            item["bodySite"] = {"display": series["BodyPartExamined"]}
        series_started = fhir_datetime(series.get("SeriesDate"), series.get("SeriesTime"), tz)
        if series_started:
            item["started"] = series_started
        if series["_instances"]:
            item["instance"] = series["_instances"]
        series_list.append(item)
    if series_list:
        resource["series"] = series_list
    return resource


def endpoint_resource(dicomweb_base: str) -> dict[str, Any]:
    """Our WADO-RS service as an R4 Endpoint (connectionType ``dicom-wado-rs``)."""
    return {
        "resourceType": "Endpoint",
        "id": ENDPOINT_WADO_RS,
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
        },
        "name": "raddx DICOMweb WADO-RS",
        # No code of the R4 payload-type system names DICOM; R4's own examples use text.
        "payloadType": [{"text": "DICOM"}],
        "payloadMimeType": ["application/dicom"],
        "address": dicomweb_base,
    }
