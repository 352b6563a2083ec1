"""A FHIR ServiceRequest as a RIS order (``POST /fhir/ServiceRequest``, the alternative to an
HL7 v2 OMG^O19): translated into :class:`raddx.ris.OrderCreate`, which checks it.

What we take (all else is ignored):

* ``status`` ``active`` (or ``draft``) and ``intent`` ``order``/``original-order``;
* ``subject``: a reference to one of our Patients (``Patient/r1``), a contained Patient
  (``#p1``: identifier, JP Core names with IDE/SYL/ABC, birthDate, gender), or a logical
  reference by identifier (``subject.identifier``, the hospital's patient ID);
* ``identifier`` typed ACSN (accession number) and PLAC (placer order number);
* ``code.coding`` with the JJ1017 system: the JJ1017-32 code; ``code.text`` the description;
* ``orderDetail`` coding in DCM: the DICOM modality (else the master's modality of the code);
* ``occurrenceDateTime``: the scheduled start (required: a worklist item needs a date);
* ``priority``, ``requester.display``, ``reasonCode[0].text``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from raddx.errors import InvalidInput
from raddx.reports.profile import FHIR
from raddx.ris.fhir._common import ACSN, DCM, JJ1017_SYSTEM, PatientKey
from raddx.ris.fhir.patient import read_patient
from raddx.ris.jj1017 import Jj1017Code
from raddx.ris.jj1017_master import resolve
from raddx.ris.records import OrderCreate, PatientData, ProcedureCreate

__all__ = ["order_from_service_request"]

_PRIORITY = {"stat": "STAT", "asap": "HIGH", "urgent": "HIGH", "routine": "ROUTINE"}
_GENDER = {"male": "M", "female": "F", "other": "O", "unknown": None}
_REPRESENTATION = {"IDE": 1, "SYL": 2, "ABC": 0}


def _issuer(system: str | None) -> str:
    if not system or system == FHIR.patient_id_system:
        return ""
    issuer = system.removeprefix("urn:oid:")
    if len(issuer) > 64:
        raise InvalidInput(f"patient identifier system {system!r} is longer than an issuer (64)")
    return issuer


def _name(names: list[dict[str, Any]]) -> str | None:
    """JP Core HumanNames → a DICOM PN ``alphabetic=ideographic=phonetic``."""
    groups = ["", "", ""]
    for name in names:
        use = next(
            (
                e.get("valueCode")
                for e in name.get("extension") or []
                if e.get("url") == FHIR.name_representation_url
            ),
            "IDE",  # a Japanese name without the extension is taken as kanji
        )
        index = _REPRESENTATION.get(str(use))
        if index is None or groups[index]:
            continue
        family = name.get("family") or ""
        given = " ".join(name.get("given") or [])
        value = f"{family}^{given}" if given else family
        groups[index] = value or str(name.get("text") or "")
    if not any(groups):
        return None
    return "=".join(groups).rstrip("=")


def _contained_patient(resource: dict[str, Any], ref: str) -> dict[str, Any]:
    for item in resource.get("contained") or []:
        if item.get("resourceType") == "Patient" and f"#{item.get('id')}" == ref:
            return dict(item)
    raise InvalidInput(f"subject {ref!r} names no contained Patient")


def _patient(resource: dict[str, Any], session: Session) -> PatientData:
    subject = resource.get("subject") or {}
    ref = subject.get("reference")
    if ref and ref.startswith("#"):
        patient = _contained_patient(resource, ref)
        ident = next(iter(patient.get("identifier") or []), None)
        if not ident or not ident.get("value"):
            raise InvalidInput("the contained Patient needs an identifier (the patient ID)")
        birth = patient.get("birthDate")
        if birth is not None and len(birth) != 10:
            raise InvalidInput(f"Patient.birthDate {birth!r} must be a full date (YYYY-MM-DD)")
        return PatientData(
            patient_id=ident["value"],
            issuer_of_patient_id=_issuer(ident.get("system")),
            patient_name=_name(patient.get("name") or []),
            patient_birth_date=birth.replace("-", "") if birth else None,
            patient_sex=_GENDER.get(patient.get("gender") or "unknown"),
        )
    if ref:
        row = read_patient(PatientKey.parse(ref), session=session)  # NotFound for unknown
        groups = [row.alphabetic or "", row.ideographic or "", row.phonetic or ""]
        return PatientData(
            patient_id=row.patient_id,
            issuer_of_patient_id=row.issuer,
            patient_name="=".join(groups).rstrip("=") or None,
            patient_birth_date=row.birth_date,
            patient_sex=row.sex,
        )
    ident = subject.get("identifier") or {}
    if ident.get("value"):
        return PatientData(
            patient_id=ident["value"], issuer_of_patient_id=_issuer(ident.get("system"))
        )
    raise InvalidInput("subject must reference a Patient (Patient/<id>, #contained, identifier)")


def _typed(resource: dict[str, Any], type_code: str) -> str | None:
    for ident in resource.get("identifier") or []:
        codes = {c.get("code") for c in (ident.get("type") or {}).get("coding") or []}
        if (
            type_code in codes
            or ident.get("system") == f"{FHIR.order_id_system}:{type_code.lower()}"
        ):
            return str(ident.get("value") or "") or None
    return None


def _jj1017(resource: dict[str, Any]) -> str | None:
    for coding in (resource.get("code") or {}).get("coding") or []:
        system = str(coding.get("system") or "")
        if system == JJ1017_SYSTEM or "jj1017" in system.lower():
            return str(coding.get("code") or "") or None
    return None


def _start(value: str | None, tz: dt.timezone) -> tuple[str, str]:
    if not value:
        raise InvalidInput("occurrenceDateTime is required: the worklist item needs a date")
    try:
        if len(value) == 10:
            return value.replace("-", ""), "000000"
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"occurrenceDateTime {value!r} is not a date-time") from None
    if when.tzinfo is None:
        raise InvalidInput(f"occurrenceDateTime {value!r} has a time but no timezone")
    local = when.astimezone(tz)
    return local.strftime("%Y%m%d"), local.strftime("%H%M%S")


def order_from_service_request(
    resource: dict[str, Any], *, session: Session, tz: dt.timezone
) -> OrderCreate:
    """The order ``resource`` asks for (see the module docstring).

    Raises
    ------
    InvalidInput
        A status or intent that is not a new order; no usable subject; no occurrence; no
        modality (neither in orderDetail nor in the JJ1017 master); anything
        :class:`~raddx.ris.OrderCreate` refuses (a JJ1017 code of the wrong length or with an
        unknown modality digit, a malformed birth date…).
    NotFound
        ``subject`` references a Patient we do not have.
    """
    if resource.get("status") not in ("active", "draft"):
        raise InvalidInput(f"status {resource.get('status')!r}: a new order is 'active'")
    if resource.get("intent") not in ("order", "original-order"):
        raise InvalidInput(f"intent {resource.get('intent')!r}: this server takes orders")
    patient = _patient(resource, session)
    code = _jj1017(resource)
    if code:
        Jj1017Code(code)  # before the master look-up: say what is wrong with the code itself
    modality = next(
        (
            str(c.get("code"))
            for detail in resource.get("orderDetail") or []
            for c in detail.get("coding") or []
            if c.get("system") == DCM and c.get("code")
        ),
        None,
    )
    if modality is None and code:
        entry = resolve(code, session=session)
        modality = entry.modality if entry is not None else None
    if not modality:
        raise InvalidInput(
            "no modality: give orderDetail with a DICOM (DCM) modality code, or a JJ1017 code "
            "whose master entry names one"
        )
    date, time = _start(resource.get("occurrenceDateTime"), tz)
    requester = (resource.get("requester") or {}).get("display")
    reason = next(iter(resource.get("reasonCode") or []), {}).get("text")
    return OrderCreate(
        patient=patient,
        procedures=(
            ProcedureCreate(
                modality=modality,
                scheduled_start_date=date,
                scheduled_start_time=time,
                description=(resource.get("code") or {}).get("text"),
                jj1017_code=code,
            ),
        ),
        placer_order_number=_typed(resource, "PLAC"),
        accession_number=_typed(resource, ACSN),
        priority=_PRIORITY.get(str(resource.get("priority") or "routine"), "ROUTINE"),
        requesting_physician=requester,
        reason=reason,
    )
