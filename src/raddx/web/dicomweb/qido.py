"""QIDO-RS, the Search transaction (PS3.18 10.6): query parameters → a neutral
:class:`~raddx.archive.query.Query`, the engine's answers → DICOM JSON.

The door only translates. Matching (wildcards, ranges, UID lists, fuzzy person names,
sequence items) is :mod:`raddx.archive.query`'s, shared with C-FIND: a search for studies is
a STUDY-level Study Root query, a search for patients a PATIENT-level Patient Root query.

Query parameters (PS3.18 8.3.4): ``{attributeID}={value}`` with a keyword, an eight-digit
tag or one ``Sequence.Item`` step; ``includefield`` (repeated or comma-separated, ``all``);
``fuzzymatching``; ``limit``/``offset``. ``charset`` and ``accept`` (8.3.3) are taken but do
not change anything: the answer is UTF-8 DICOM JSON, or PS3.19 XML when the Accept header
asks for ``multipart/related; type="application/dicom+xml"``. Anything else, a repeated key,
an unknown tag or a malformed value is a 400 naming the parameter.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.tag import Tag
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from raddx.archive.query import (
    AttributeKindValues,
    InformationModelValues,
    Query,
    QueryRetrieveLevelValues,
    QueryService,
)
from raddx.archive.query.attributes import ATTRIBUTES, SEQUENCES, level_in_model
from raddx.errors import InvalidInput
from raddx.services import Services
from raddx.web import _audit as web_audit
from raddx.web.deps import ServicesDep
from raddx.web.dicomweb._dataset_json import answer_json
from raddx.web.dicomweb._dataset_xml import json_to_xml
from raddx.web.dicomweb._media import negotiate
from raddx.web.dicomweb._multipart import encode_parts, new_boundary
from raddx.web.dicomweb._uids import check_uid, resource_url

__all__ = ["DEFAULT_MAX_RESULTS", "SearchRequest", "dataset_response", "router", "search_request"]

#: Most results one search answers when the caller does not say (the ``qido_max_results``
#: setting decides in the server); more matches get the Warning header (PS3.18 8.3.4.4).
DEFAULT_MAX_RESULTS = 1000
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
_OFFERS: list[tuple[str, str | None]] = [
    (DICOM_JSON, None),
    ("application/json", None),
    ("multipart/related", DICOM_XML),
]
#: Parameters that steer the search instead of naming an attribute (PS3.18 8.3.3, 8.3.4).
_CONTROL = frozenset({"includefield", "fuzzymatching", "limit", "offset", "charset", "accept"})
#: PS3.18 8.3.4.4 / Annex: the Warning a truncated answer carries.
TRUNCATED_WARNING = '299 raddx "There are additional results that can be requested"'

_L = QueryRetrieveLevelValues
#: Attributes returned without includefield, per level (PS3.18 Tables 10.6.3-3 to -5;
#: Patient per Table 10.6.3-7 of the patient search). Those the index does not hold
#: (InstanceAvailability, BitsAllocated…) are answered empty or filled in below.
_DEFAULT_KEYS: dict[QueryRetrieveLevelValues, tuple[str, ...]] = {
    _L.PATIENT: (
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
    ),
    _L.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "InstanceAvailability",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "TimezoneOffsetFromUTC",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "StudyDescription",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    _L.SERIES: (
        "Modality",
        "TimezoneOffsetFromUTC",
        "SeriesDescription",
        "SeriesInstanceUID",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
    ),
    _L.IMAGE: (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceAvailability",
        "TimezoneOffsetFromUTC",
        "InstanceNumber",
        "Rows",
        "Columns",
        "NumberOfFrames",
    ),
}


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A checked search: the query to run (limit one past the page, to see truncation) and
    the page size the client gets."""

    query: Query
    page: int


def _keyword(attribute_id: str, parameter: str) -> str:
    """A keyword from a keyword or an eight-hex-digit tag (PS3.18 8.3.4.1)."""
    if tag_for_keyword(attribute_id) is not None:
        return attribute_id
    if len(attribute_id) == 8:
        with contextlib.suppress(ValueError):
            keyword = keyword_for_tag(Tag(int(attribute_id, 16)))
            if keyword:
                return str(keyword)
    raise InvalidInput(
        f"query parameter {parameter!r}: {attribute_id!r} is neither a DICOM keyword nor the "
        f"tag of one (e.g. PatientName or 00100010); the search parameters are "
        f"{', '.join(sorted(_CONTROL))} and attributes"
    )


def _positive_int(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}, not {number}")
    return number


def _include_all(level: QueryRetrieveLevelValues, model: InformationModelValues) -> list[str]:
    """``includefield=all``: every attribute the index holds at ``level`` and above."""
    entities = [(k, a.entity) for k, a in ATTRIBUTES.items()]
    entities += [(k, s.entity) for k, s in SEQUENCES.items()]
    return [k for k, entity in entities if level_in_model(entity, model).depth <= level.depth]


def _returnable(
    keyword: str, level: QueryRetrieveLevelValues, model: InformationModelValues
) -> bool:
    """Whether an includefield attribute can be returned at ``level``: not one of a level
    below it (OHIF asks for Modality, a series attribute, in its study search; it gets
    ModalitiesInStudy instead), which is ignored rather than refused (PS3.18 8.3.4.3)."""
    attribute = ATTRIBUTES.get(keyword) or SEQUENCES.get(keyword)
    return attribute is None or level_in_model(attribute.entity, model).depth <= level.depth


def search_request(
    params: Iterable[tuple[str, str]],
    *,
    level: QueryRetrieveLevelValues,
    model: InformationModelValues = InformationModelValues.STUDY_ROOT,
    path_keys: dict[str, str] | None = None,
    default_levels: tuple[QueryRetrieveLevelValues, ...] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
) -> SearchRequest:
    """Translate the query parameters of a search (PS3.18 8.3.4, 10.6.1) into a query.

    Parameters
    ----------
    params
        The query parameters in order (repeats kept).
    level, model
        The level and information model of the resource searched.
    path_keys
        Unique keys fixed by the resource path (``/studies/{study}/series``).
    default_levels
        Levels whose default attributes are returned besides ``level``'s own (a search
        for all series also returns the study's, PS3.18 Table 10.6.3-4).
    max_results
        The largest page; a bigger ``limit`` is lowered to it.

    Raises
    ------
    InvalidInput
        An unknown parameter, a repeated attribute, an attribute fixed by the path, a
        malformed ``limit``/``offset``/``fuzzymatching``, or anything :class:`Query` refuses.
    """
    keys: dict[str, Any] = dict(path_keys or {})
    returned: list[str] = [k for lv in (*default_levels, level) for k in _DEFAULT_KEYS[lv]]
    fuzzy = False
    limit, offset = max_results, 0
    for name, value in params:
        if name in _CONTROL:
            if name == "includefield":
                for field in (f.strip() for f in value.split(",")):
                    if field == "all":
                        returned.extend(_include_all(level, model))
                    elif field:
                        included = _keyword(field.split(".")[0], name)
                        if _returnable(included, level, model):
                            returned.append(included)
            elif name == "fuzzymatching":
                if value not in ("true", "false"):
                    raise InvalidInput(f"fuzzymatching must be true or false, not {value!r}")
                fuzzy = value == "true"
            elif name == "limit":
                limit = min(_positive_int(name, value, 1), max_results)
            elif name == "offset":
                offset = _positive_int(name, value, 0)
            continue
        head, _, item = name.partition(".")
        keyword = _keyword(head, name)
        if keyword in (path_keys or {}):
            raise InvalidInput(f"{keyword} is given by the resource path; do not repeat it")
        if keyword in keys:
            raise InvalidInput(f"query parameter {name!r} given twice")
        if item:
            if "." in item:
                raise InvalidInput(f"{name!r}: only one level of sequence matching is supported")
            keys[keyword] = [{_keyword(item, name): value}]
            continue
        attribute = ATTRIBUTES.get(keyword)
        if attribute is not None and attribute.kind is AttributeKindValues.UID:
            value = value.replace(",", "\\")  # PS3.18 8.3.4.1: a UID list is comma-separated
        keys[keyword] = value
    timezone = keys.get("TimezoneOffsetFromUTC") or None
    for keyword in returned:
        keys.setdefault(keyword, None)
    if timezone is not None:
        keys["TimezoneOffsetFromUTC"] = None  # the caller's timezone (C.2.2.2.5), as C-FIND
    query = Query(
        level=level,
        information_model=model,
        keys=keys,
        fuzzy=fuzzy,
        timezone_offset_from_utc=timezone,
        limit=limit + 1,
        offset=offset,
    )
    return SearchRequest(query=query, page=limit)


def _complete(answer: dict[str, Any], base: str) -> dict[str, Any]:
    """Fill what the index does not hold but the archive knows: everything stored is
    online, and where to retrieve it (RetrieveURL, PS3.18 10.6.3.3.1)."""
    if "InstanceAvailability" in answer:
        answer["InstanceAvailability"] = "ONLINE"
    study = answer.get("StudyInstanceUID")
    if study and answer.get("QueryRetrieveLevel") != _L.PATIENT.value:
        answer["RetrieveURL"] = resource_url(
            base, study, answer.get("SeriesInstanceUID"), answer.get("SOPInstanceUID")
        )
    return answer


def _search(
    request: Request,
    services: Services,
    level: QueryRetrieveLevelValues,
    *,
    model: InformationModelValues = InformationModelValues.STUDY_ROOT,
    path_keys: dict[str, str] | None = None,
    default_levels: tuple[QueryRetrieveLevelValues, ...] = (),
) -> Response:
    """One search: negotiate, translate, run in a read-only unit of work, encode."""
    media_type, _ = negotiate(request.headers.get("accept"), _OFFERS)
    for uid in (path_keys or {}).values():
        check_uid(uid)
    search = search_request(
        request.query_params.multi_items(),
        level=level,
        model=model,
        path_keys=path_keys,
        default_levels=default_levels,
        max_results=services.settings.qido_max_results,
    )
    web_audit.query(
        request,
        PatientRootQueryRetrieveInformationModelFind
        if model is InformationModelValues.PATIENT_ROOT
        else StudyRootQueryRetrieveInformationModelFind,
    )
    base = str(request.base_url).rstrip("/") + "/dicom-web"
    results: list[dict[str, Any]] = []
    truncated = False
    # A generator: closing it ends the read-only unit of work when we stop early.
    answers = cast(
        Generator[dict[str, Any]], QueryService(services.session_factory).find(search.query)
    )
    with contextlib.closing(answers) as found:
        for answer in found:
            if len(results) == search.page:
                truncated = True
                break
            results.append(answer_json(_complete(answer, base)))
    headers = {"Warning": TRUNCATED_WARNING} if truncated else {}
    return dataset_response(results, media_type, headers)


def dataset_response(
    results: list[dict[str, Any]], media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """Datasets (DICOM JSON) as the negotiated representation: one JSON array, or one
    PS3.19 XML document per part of a multipart/related answer (PS3.18 8.7.3.2)."""
    if media_type != "multipart/related":
        body = json.dumps(results, ensure_ascii=False).encode("utf-8")
        return Response(body, media_type=media_type, headers=headers)
    boundary = new_boundary()
    parts = [(DICOM_XML, json_to_xml(r)) for r in results]
    return Response(
        b"".join(encode_parts(parts, boundary)),
        media_type=f'multipart/related; type="{DICOM_XML}"; boundary={boundary}',
        headers=headers,
    )


router = APIRouter(tags=["QIDO-RS"])


@router.get("/patients")
def search_for_patients(request: Request, services: ServicesDep) -> Response:
    """Search for Patients (PS3.18 10.6 with the Patient resource; PATIENT level, Patient
    Root)."""
    return _search(request, services, _L.PATIENT, model=InformationModelValues.PATIENT_ROOT)


@router.get("/studies")
def search_for_studies(request: Request, services: ServicesDep) -> Response:
    """Search for Studies (PS3.18 10.6.1, Table 10.6.1-2)."""
    return _search(request, services, _L.STUDY)


@router.get("/series")
def search_for_all_series(request: Request, services: ServicesDep) -> Response:
    """Search for Series in all studies; the study's attributes come along."""
    return _search(request, services, _L.SERIES, default_levels=(_L.STUDY,))


@router.get("/studies/{study}/series")
def search_for_study_series(request: Request, services: ServicesDep, study: str) -> Response:
    """Search for Series of one study."""
    return _search(request, services, _L.SERIES, path_keys={"StudyInstanceUID": study})


@router.get("/instances")
def search_for_all_instances(request: Request, services: ServicesDep) -> Response:
    """Search for Instances in all studies; study and series attributes come along."""
    return _search(request, services, _L.IMAGE, default_levels=(_L.STUDY, _L.SERIES))


@router.get("/studies/{study}/instances")
def search_for_study_instances(request: Request, services: ServicesDep, study: str) -> Response:
    """Search for Instances of one study; series attributes come along."""
    return _search(
        request,
        services,
        _L.IMAGE,
        path_keys={"StudyInstanceUID": study},
        default_levels=(_L.SERIES,),
    )


@router.get("/studies/{study}/series/{series}/instances")
def search_for_series_instances(
    request: Request, services: ServicesDep, study: str, series: str
) -> Response:
    """Search for Instances of one series."""
    return _search(
        request,
        services,
        _L.IMAGE,
        path_keys={"StudyInstanceUID": study, "SeriesInstanceUID": series},
    )
