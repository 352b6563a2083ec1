"""FHIR R4 report bundle in the JP Core v1.2 radiology shape (``JP_DiagnosticReport_Radiology``
with ``JP_Observation_Radiology_Findings`` / ``_Impression``); values from
:mod:`raddx.reports.profile`.

A ``collection`` Bundle: DiagnosticReport (code LOINC 18748-4, category LP29684-5 + the
modalities as DICOM codes, ``conclusion`` = impression), one Observation per text section
(findings 18782-3, impression 19005-8, the others by their PS3.20 section LOINC code), one per
addendum (55107-7), Patient (names with the ISO 21090 representation extension IDE/SYL/ABC),
ServiceRequest (placer/filler/accession identifiers), one ImagingStudy per study (Study UID as
``urn:oid:``; key images as series/instances, and as Media for ``media``), Practitioners
(author = ``performer``, verifier = ``resultsInterpreter``) and the institution as an
Organization (referenced from an extension: JP Core allows only Practitioners as
``performer``; bundles that name it as a performer are still read).

JP Core facts (jami-fhir-jp-wg/jp-core-v1x, JP_DiagnosticReport_Radiology.fsh and
JP_Observation_Radiology_*.fsh; checked in tests/unit/reports/formats/test_report_fhir_jp_core.py):
``code`` carries the ``JP_DocumentCodes_CS#18748-4`` slice beside LOINC; Observations'
first category is ``JP_SimpleObservationCategory_CS#imaging``.

Built as plain JSON (fast, and exact about what we write); tests validate it with
``fhir.resources``. What R4 has no element for travels in extensions under
``FHIR.extension_base``: the version's creation and verification times, the replaced
version, body parts and key-image frames.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import uuid
from typing import Any

from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.enum import SexValues
from raddx.reports.formats._common import (
    NAME_GROUP_USES,
    join_name_groups,
    name_groups,
    split_name,
)
from raddx.reports.profile import FHIR, SECTION_CODES
from raddx.reports.record import (
    Addendum,
    KeyImage,
    OrderInfo,
    PatientInfo,
    Person,
    Predecessor,
    ReportRecord,
    Sections,
    StudyRef,
)
from raddx.reports.status import format_status, status_from_fhir

__all__ = ["MEDIA_TYPE", "NOT_CARRIED", "from_fhir", "patient_resource", "to_fhir"]

MEDIA_TYPE = "application/fhir+json"
#: Record fields FHIR cannot carry exactly (the round-trip test compares modulo these).
NOT_CARRIED = ("key_images order across studies (grouped per ImagingStudy)",)

_GENDER = {SexValues.M: "male", SexValues.F: "female", SexValues.O: "other", SexValues.U: "unknown"}
_GENDER_BACK = {v: k for k, v in _GENDER.items()}
_NAME_USES = (("name_kanji", "IDE"), ("name_kana", "SYL"), ("name_alpha", "ABC"))
_ACCESSION = "ACSN"
_ID_TYPES = (
    ("placer_order_no", "PLAC"),
    ("filler_order_no", "FILL"),
    ("accession_no", _ACCESSION),
)
_SECTION_FIELDS = (
    "clinical_info",
    "history",
    "technique",
    "comparison",
    "findings",
    "impression",
    "recommendation",
)
_DICOM_UID = "urn:dicom:uid"


def _ext(name: str) -> str:
    return f"{FHIR.extension_base}:{name}"


def _code(field: str) -> tuple[str, str]:
    if field == "findings":
        return FHIR.findings_code
    if field == "impression":
        return FHIR.impression_code
    return SECTION_CODES[field]


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "raddx:" + "|".join(map(str, parts))))


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def _human_name(value: str, use: str | None) -> dict[str, Any]:
    family, given = split_name(value)
    name: dict[str, Any] = {"text": " ".join(p for p in (family, given) if p)}
    if use:
        name["extension"] = [{"url": FHIR.name_representation_url, "valueCode": use}]
    if family:
        name["family"] = family
    if given:
        name["given"] = [given]
    return name


def _read_name(name: dict[str, Any]) -> str:
    family = name.get("family", "")
    given = (name.get("given") or [""])[0]
    if not family and not given:
        return str(name.get("text", ""))
    return f"{family}^{given}" if given else family


def _person_names(value: str) -> list[dict[str, Any]]:
    """A person's name as HumanNames: one, or for a display name in PN groups one per form
    with the ISO 21090 representation extension (IDE kanji, SYL kana, ABC), as JP Core
    writes a patient's."""
    if "=" not in value:
        return [_human_name(value, None)]
    groups = name_groups(value)
    return [_human_name(groups[g], use) for g, use in NAME_GROUP_USES if groups[g]]


def _read_person_names(names: list[dict[str, Any]]) -> str:
    uses = {use: group for group, use in NAME_GROUP_USES}
    groups: dict[str, str] = {}
    for name in names:
        for ext in name.get("extension") or []:
            if ext.get("url") == FHIR.name_representation_url and ext.get("valueCode") in uses:
                groups[uses[ext["valueCode"]]] = _read_name(name)
    if groups:
        return join_name_groups(groups)
    return _read_name(names[0] if names else {})


def _practitioner(person: Person, key: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": key,
        "name": _person_names(person.name),
    }
    if person.id:
        resource["identifier"] = [{"system": FHIR.person_id_system, "value": person.id}]
    return resource


def _read_practitioner(resource: dict[str, Any]) -> Person:
    ident: dict[str, Any] = next(iter(resource.get("identifier") or []), {})
    return Person(name=_read_person_names(resource.get("name") or []), id=ident.get("value", ""))


def to_fhir(record: ReportRecord) -> bytes:
    """The record as a FHIR R4 JSON Bundle (UTF-8 bytes)."""
    return json.dumps(to_fhir_bundle(record), ensure_ascii=False).encode("utf-8")


def to_fhir_bundle(record: ReportRecord) -> dict[str, Any]:
    """The record as a FHIR R4 Bundle (JSON-ready dict)."""
    key = _uuid(record.report_id, record.version)
    status = format_status(record.status).fhir
    resources: list[dict[str, Any]] = []
    patient_id = _uuid(key, "patient")
    subject = {"reference": f"urn:uuid:{patient_id}"}
    resources.append(_patient(record.patient, patient_id))
    order_id = _uuid(key, "order")
    resources.append(_service_request(record.order, order_id, subject, key))
    study_refs = []
    media: list[dict[str, Any]] = []
    for n, study in enumerate(record.studies):
        sid = _uuid(key, "study", n)
        study_refs.append({"reference": f"urn:uuid:{sid}"})
        images = [k for k in record.key_images if k.study_uid == study.study_uid]
        resources.append(_imaging_study(study, images, sid, subject))
        for image in images:
            # JP Core: DiagnosticReport.media lists the key images (media.link Must Support).
            mid = _uuid(key, "media", image.sop_uid, image.frame or "")
            resources.append(_media(image, mid, sid, subject))
            item: dict[str, Any] = {"link": {"reference": f"urn:uuid:{mid}"}}
            if image.comment:
                item["comment"] = image.comment
            media.append(item)
    performers, interpreters, institution = [], [], []
    if record.author is not None:
        aid = _uuid(key, "author")
        resources.append(_practitioner(record.author, aid))
        performers.append({"reference": f"urn:uuid:{aid}"})
    if record.institution:
        oid = _uuid(key, "institution")
        resources.append({"resourceType": "Organization", "id": oid, "name": record.institution})
        institution.append(
            {"url": _ext("institution"), "valueReference": {"reference": f"urn:uuid:{oid}"}}
        )
    if record.verifier is not None:
        vid = _uuid(key, "verifier")
        resources.append(_practitioner(record.verifier, vid))
        interpreters.append({"reference": f"urn:uuid:{vid}"})
    results = []
    for field in _SECTION_FIELDS:
        text = getattr(record.sections, field)
        if text:
            oid = _uuid(key, field)
            resources.append(_observation(field, text, status, subject, oid, record))
            results.append({"reference": f"urn:uuid:{oid}"})
    for n, addendum in enumerate(record.addenda):
        oid = _uuid(key, "addendum", n)
        pid = _uuid(key, "addendum-author", n)
        resources.append(_practitioner(addendum.author, pid))
        obs = _observation("addendum", addendum.text, status, subject, oid, record)
        obs["issued"] = _iso(addendum.created_at)
        obs["performer"] = [{"reference": f"urn:uuid:{pid}"}]
        resources.append(obs)
        results.append({"reference": f"urn:uuid:{oid}"})
    report = _diagnostic_report(record, key, status, subject, order_id, study_refs)
    report["extension"] = [*report["extension"], *institution]
    report["performer"] = performers
    report["resultsInterpreter"] = interpreters
    report["result"] = results
    report["media"] = media
    report = {k: v for k, v in report.items() if v not in ([], None, "")}
    entries = [report, *resources]
    return {
        "resourceType": "Bundle",
        "id": key,
        "type": "collection",
        "timestamp": _iso(record.verified_at or record.created_at),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
    }


def _diagnostic_report(
    record: ReportRecord,
    key: str,
    status: str,
    subject: dict[str, str],
    order_id: str,
    study_refs: list[dict[str, str]],
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {"url": _ext("created"), "valueDateTime": _iso(record.created_at)}
    ]
    if record.verified_at is not None:
        extensions.append({"url": _ext("verified"), "valueDateTime": _iso(record.verified_at)})
    if record.predecessor is not None:
        extensions.append({"url": _ext("replaces"), "valueInteger": record.predecessor.version})
    modalities: list[str] = []
    for study in record.studies:
        modalities.extend(m for m in study.modalities if m not in modalities)
    loinc = FHIR.loinc_system
    category = [
        {"coding": [{"system": loinc, "code": FHIR.category[0], "display": FHIR.category[1]}]}
    ]
    category += [
        {"coding": [{"system": FHIR.dicom_modality_system, "code": m}]} for m in modalities
    ]
    first = next((s.study_datetime for s in record.studies if s.study_datetime), None)
    narrative = "".join(
        f"<p><b>{html.escape(SECTION_CODES[f][1])}</b>: "
        + html.escape(getattr(record.sections, f)).replace("\n", "<br/>")
        + "</p>"
        for f in _SECTION_FIELDS
        if getattr(record.sections, f)
    )
    return {
        "resourceType": "DiagnosticReport",
        "id": key,
        "meta": {"versionId": str(record.version), "profile": [FHIR.report_profile]},
        "language": record.language,
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{narrative or "<p/>"}</div>',
        },
        "extension": extensions,
        "identifier": [{"system": FHIR.report_id_system, "value": record.report_id}],
        "basedOn": [{"reference": f"urn:uuid:{order_id}"}],
        "status": status,
        "category": category,
        "code": {
            "coding": [
                {"system": loinc, "code": FHIR.report_code[0], "display": FHIR.report_code[1]},
                {
                    "system": FHIR.document_codes_system,
                    "code": FHIR.report_code[0],
                    "display": FHIR.document_code_display,
                },
            ]
        },
        "subject": subject,
        "effectiveDateTime": _iso(first) if first else None,
        "issued": _iso(record.verified_at or record.created_at),
        "imagingStudy": study_refs,
        "conclusion": record.sections.impression,
    }


def _patient(patient: PatientInfo, pid: str) -> dict[str, Any]:
    system = f"urn:oid:{patient.issuer}" if patient.issuer else FHIR.patient_id_system
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": system, "value": patient.patient_id}],
        "gender": _GENDER[patient.sex],
    }
    names = [_human_name(getattr(patient, f), use) for f, use in _NAME_USES if getattr(patient, f)]
    if names:
        resource["name"] = names
    if patient.birth_date is not None:
        resource["birthDate"] = patient.birth_date.isoformat()
    return resource


#: The Patient builder, shared with the RIS's FHIR view (``raddx.ris.fhir``) so a patient
#: looks the same in a report bundle and at ``/fhir/Patient``.
patient_resource = _patient


def _service_request(
    order: OrderInfo, oid: str, subject: dict[str, str], key: str
) -> dict[str, Any]:
    identifiers = []
    for field, type_code in _ID_TYPES:
        value = getattr(order, field)
        if value:
            identifiers.append(
                {
                    "type": {"coding": [{"system": FHIR.accession_type_system, "code": type_code}]},
                    "system": f"{FHIR.order_id_system}:{type_code.lower()}",
                    "value": value,
                }
            )
    if order.requested_procedure_id:
        identifiers.append(
            {"system": f"{FHIR.order_id_system}:rp", "value": order.requested_procedure_id}
        )
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": oid,
        "status": "completed",
        "intent": "order",
        "subject": subject,
    }
    if identifiers:
        resource["identifier"] = identifiers
    if order.procedure_code or order.procedure_name:
        code: dict[str, Any] = {}
        if order.procedure_code:
            coding = {"system": FHIR.procedure_code_system, "code": order.procedure_code}
            code["coding"] = [coding]
        if order.procedure_name:
            code["text"] = order.procedure_name
        resource["code"] = code
    if order.referring_physician:
        resource["requester"] = {"display": order.referring_physician}
    return resource


def _imaging_study(
    study: StudyRef, images: list[KeyImage], sid: str, subject: dict[str, str]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": sid,
        "identifier": [{"system": _DICOM_UID, "value": f"urn:oid:{study.study_uid}"}],
        "status": "available",
        "subject": subject,
    }
    if study.body_parts:
        resource["extension"] = [
            {"url": _ext("body-part"), "valueString": part} for part in study.body_parts
        ]
    if study.modalities:
        resource["modality"] = [
            {"system": FHIR.dicom_modality_system, "code": m} for m in study.modalities
        ]
    if study.study_datetime is not None:
        resource["started"] = _iso(study.study_datetime)
    series = []
    for image in images:
        instance: dict[str, Any] = {
            "uid": image.sop_uid,
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{image.sop_class_uid}"},
        }
        if image.comment:
            instance["title"] = image.comment
        if image.frame is not None:
            instance["extension"] = [{"url": _ext("frame"), "valueInteger": image.frame}]
        series.append(
            {
                "uid": image.series_uid,
                "modality": {
                    "system": FHIR.dicom_modality_system,
                    "code": (study.modalities or ("OT",))[0],
                },
                "instance": [instance],
            }
        )
    if series:
        resource["series"] = series
    return resource


def _media(image: KeyImage, mid: str, sid: str, subject: dict[str, str]) -> dict[str, Any]:
    """A key image as the Media that ``DiagnosticReport.media.link`` needs: the DICOM
    instance by its SOP Instance UID, part of its ImagingStudy (the series, class and frame
    travel in the ImagingStudy, which the reader takes them from)."""
    content: dict[str, Any] = {
        "contentType": "application/dicom",
        "url": f"urn:oid:{image.sop_uid}",
    }
    if image.comment:
        content["title"] = image.comment
    resource: dict[str, Any] = {
        "resourceType": "Media",
        "id": mid,
        "identifier": [{"system": _DICOM_UID, "value": f"urn:oid:{image.sop_uid}"}],
        "partOf": [{"reference": f"urn:uuid:{sid}"}],
        "status": "completed",
        "subject": subject,
        "content": content,
    }
    if image.frame is not None:
        resource["frames"] = 1
    return resource


def _observation(
    field: str,
    text: str,
    status: str,
    subject: dict[str, str],
    oid: str,
    record: ReportRecord,
) -> dict[str, Any]:
    code, display = _code(field)
    profile = {
        "findings": FHIR.findings_profile,
        "impression": FHIR.impression_profile,
    }.get(field)
    obs: dict[str, Any] = {"resourceType": "Observation", "id": oid}
    if profile:
        obs["meta"] = {"profile": [profile]}
    obs.update(
        {
            "status": status if status != "registered" else "registered",
            "category": [
                # JP Core category[first] (JP_Observation_Common), then the base R4 code.
                {"coding": [{"system": FHIR.observation_category_system, "code": "imaging"}]},
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "imaging",
                        }
                    ]
                },
            ],
            "code": {"coding": [{"system": FHIR.loinc_system, "code": code, "display": display}]},
            "subject": subject,
            "valueString": text,
        }
    )
    return obs


# -- reading ------------------------------------------------------------------------------


def _parse_dt(value: str) -> dt.datetime:
    from raddx.reports.formats._common import parse_ts

    return parse_ts(value)


def from_fhir(data: bytes | str | dict[str, Any]) -> ReportRecord:
    """A record from a FHIR R4 Bundle holding one DiagnosticReport (JP Core v1.1 shape with
    the text only in ``conclusion`` is read too).

    Raises
    ------
    ValueError
        Not JSON, not a Bundle, no DiagnosticReport, or content that makes no valid record.
    """
    if isinstance(data, dict):
        bundle = data
    else:
        try:
            bundle = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"FHIR bundle is not JSON: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("not a FHIR Bundle")
    by_ref: dict[str, dict[str, Any]] = {}
    reports = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        if entry.get("fullUrl"):
            by_ref[entry["fullUrl"]] = resource
        if resource.get("id"):
            by_ref[f"{resource.get('resourceType')}/{resource['id']}"] = resource
        if resource.get("resourceType") == "DiagnosticReport":
            reports.append(resource)
    if not reports:
        raise ValueError("FHIR bundle has no DiagnosticReport")
    if len(reports) > 1:
        raise ValueError(f"FHIR bundle has {len(reports)} DiagnosticReports; one is expected")
    report = reports[0]
    try:
        return _read_report(report, by_ref)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"FHIR DiagnosticReport: {exc}") from None


def _ref(by_ref: dict[str, dict[str, Any]], ref: dict[str, Any] | None) -> dict[str, Any]:
    target = by_ref.get((ref or {}).get("reference", ""))
    if target is None:
        raise ValueError(f"reference {(ref or {}).get('reference')!r} not in the bundle")
    return target


def _read_report(report: dict[str, Any], by_ref: dict[str, dict[str, Any]]) -> ReportRecord:
    ext = {e.get("url"): e for e in report.get("extension") or []}
    report_id = next(
        (
            i["value"]
            for i in report.get("identifier") or []
            if i.get("system") == FHIR.report_id_system
        ),
        None,
    ) or next((i["value"] for i in report.get("identifier") or []), report.get("id"))
    if not isinstance(report_id, str) or not report_id:
        raise ValueError("no identifier")
    version = int((report.get("meta") or {}).get("versionId") or 1)
    status = status_from_fhir(report["status"])
    created = ext.get(_ext("created"), {}).get("valueDateTime") or report.get("issued")
    verified = ext.get(_ext("verified"), {}).get("valueDateTime")
    replaces = ext.get(_ext("replaces"), {}).get("valueInteger")
    texts: dict[str, str] = {}
    addenda: list[Addendum] = []
    by_code = {_code(f)[0]: f for f in _SECTION_FIELDS}
    for ref in report.get("result") or []:
        obs = _ref(by_ref, ref)
        code = ((obs.get("code") or {}).get("coding") or [{}])[0].get("code")
        value = obs.get("valueString", "")
        if code == SECTION_CODES["addendum"][0]:
            writer = _read_practitioner(_ref(by_ref, (obs.get("performer") or [None])[0]))
            addenda.append(Addendum(value, writer, _parse_dt(obs["issued"])))
        elif code in by_code:
            texts[by_code[code]] = value
    if "impression" not in texts and report.get("conclusion"):
        texts["impression"] = report["conclusion"]  # JP Core v1.1: conclusion only
    author: Person | None = None
    institution: str | None = None
    institution_refs = [
        e["valueReference"]
        for e in report.get("extension") or []
        if e.get("url") == _ext("institution") and "valueReference" in e
    ]
    for ref in [*institution_refs, *(report.get("performer") or [])]:
        target = _ref(by_ref, ref)
        if target.get("resourceType") == "Organization":
            institution = target.get("name", "")
        elif author is None:
            author = _read_practitioner(target)
    verifier = None
    for ref in report.get("resultsInterpreter") or []:
        verifier = _read_practitioner(_ref(by_ref, ref))
        break
    patient = _read_patient(_ref(by_ref, report["subject"]))
    order = OrderInfo()
    for ref in report.get("basedOn") or []:
        order = _read_order(_ref(by_ref, ref))
        break
    studies, images = [], []
    for ref in report.get("imagingStudy") or []:
        study, study_images = _read_study(_ref(by_ref, ref))
        studies.append(study)
        images.extend(study_images)
    if created is None:
        raise ValueError("no issued time")
    return ReportRecord(
        report_id=report_id,
        version=version,
        status=status,
        patient=patient,
        created_at=_parse_dt(created),
        order=order,
        studies=tuple(studies),
        sections=Sections(**texts),
        key_images=tuple(images),
        addenda=tuple(addenda),
        author=author,
        verifier=verifier,
        verified_at=_parse_dt(verified)
        if verified
        else (
            _parse_dt(report["issued"])
            if verifier and status in (S.FINAL, S.AMENDED, S.CORRECTED)
            else None
        ),
        institution=institution or "",
        predecessor=Predecessor(report_id, int(replaces)) if replaces else None,
        language=report.get("language") or "ja",
    )


def _read_patient(resource: dict[str, Any]) -> PatientInfo:
    ident = (resource.get("identifier") or [{}])[0]
    system = ident.get("system", "")
    names = {"name_kanji": "", "name_kana": "", "name_alpha": ""}
    by_use = {use: field for field, use in _NAME_USES}
    for name in resource.get("name") or []:
        use = next(
            (
                e.get("valueCode")
                for e in name.get("extension") or []
                if e.get("url") == FHIR.name_representation_url
            ),
            "ABC",
        )
        field = by_use.get(use, "name_alpha")
        names[field] = names[field] or _read_name(name)
    birth = resource.get("birthDate")
    return PatientInfo(
        patient_id=ident.get("value", ""),
        issuer=system[len("urn:oid:") :] if system.startswith("urn:oid:") else "",
        birth_date=dt.date.fromisoformat(birth) if birth else None,
        sex=_GENDER_BACK.get(resource.get("gender", "unknown"), SexValues.U),
        **names,
    )


def _read_order(resource: dict[str, Any]) -> OrderInfo:
    values: dict[str, str] = {}
    types = {code: field for field, code in _ID_TYPES}
    for ident in resource.get("identifier") or []:
        type_code = (((ident.get("type") or {}).get("coding")) or [{}])[0].get("code")
        if type_code in types:
            values[types[type_code]] = ident.get("value", "")
        elif ident.get("system") == f"{FHIR.order_id_system}:rp":
            values["requested_procedure_id"] = ident.get("value", "")
    code = resource.get("code") or {}
    coding = (code.get("coding") or [{}])[0]
    return OrderInfo(
        procedure_code=coding.get("code", ""),
        procedure_name=code.get("text", "") or coding.get("display", ""),
        referring_physician=(resource.get("requester") or {}).get("display", ""),
        **values,
    )


def _read_study(resource: dict[str, Any]) -> tuple[StudyRef, list[KeyImage]]:
    uid = ""
    for ident in resource.get("identifier") or []:
        if ident.get("system") == _DICOM_UID:
            uid = ident.get("value", "").removeprefix("urn:oid:")
    started = resource.get("started")
    study = StudyRef(
        study_uid=uid,
        modalities=tuple(m.get("code", "") for m in resource.get("modality") or []),
        study_datetime=_parse_dt(started) if started else None,
        body_parts=tuple(
            e.get("valueString", "")
            for e in resource.get("extension") or []
            if e.get("url") == _ext("body-part")
        ),
    )
    images = []
    for series in resource.get("series") or []:
        for instance in series.get("instance") or []:
            frame = next(
                (
                    e.get("valueInteger")
                    for e in instance.get("extension") or []
                    if e.get("url") == _ext("frame")
                ),
                None,
            )
            images.append(
                KeyImage(
                    study_uid=uid,
                    series_uid=series.get("uid", ""),
                    sop_uid=instance.get("uid", ""),
                    sop_class_uid=(instance.get("sopClass") or {})
                    .get("code", "")
                    .removeprefix("urn:oid:"),
                    frame=frame,
                    comment=instance.get("title", ""),
                )
            )
    return study, images
