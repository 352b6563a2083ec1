"""Boundary objects of the RIS: what a door hands in (orders, patients) — checked when built.

Doors (HL7, REST, CLI) translate their wire format into these; :mod:`raddx.ris.service` trusts
them once built (STYLE rule 4).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from raddx.errors import InvalidInput
from raddx.ris.accession_issuer import AccessionIssuer
from raddx.ris.jj1017 import Jj1017Code

__all__ = ["OrderCreate", "PatientData", "ProcedureCreate", "check_date", "check_time"]

_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
#: RequestedProcedurePriority (0040,1003) Defined Terms.
PRIORITIES = frozenset({"STAT", "HIGH", "ROUTINE", "MEDIUM", "LOW"})


def check_date(value: str | None, name: str) -> str | None:
    """A DA value ``YYYYMMDD`` with a real month and day, or ``None``.

    Raises
    ------
    InvalidInput
        Anything else; the message names ``name`` (an HL7 field or a DICOM keyword).
    """
    if value is None or value == "":
        return None
    try:
        if not _DA.match(value):
            raise ValueError
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not a date (YYYYMMDD)") from None
    return value


def check_time(value: str | None, name: str) -> str | None:
    """A TM value ``HH[MM[SS[.F]]]`` within range, or ``None`` (raises like check_date)."""
    if value is None or value == "":
        return None
    m = _TM.match(value)
    if not m or value[:2] > "23" or value[2:4] > "59" or value[4:6] > "59":
        raise InvalidInput(f"{name} {value!r} is not a time (HHMM[SS])")
    return value


@dataclass(frozen=True, slots=True)
class PatientData:
    """Patient demographics as an order or ADT message carries them.

    ``patient_name`` is a DICOM PN value with up to three groups
    (``Yamada^Taro=山田^太郎=ヤマダ^タロウ``).

    Raises
    ------
    InvalidInput
        Empty ``patient_id``; a malformed birth date; a sex other than M, F, O.
    """

    patient_id: str
    issuer_of_patient_id: str = ""
    patient_name: str | None = None
    patient_birth_date: str | None = None
    patient_sex: str | None = None

    def __post_init__(self) -> None:
        if not self.patient_id.strip():
            raise InvalidInput("patient_id is required")
        check_date(self.patient_birth_date, "patient_birth_date")
        if self.patient_sex not in (None, "", "M", "F", "O"):
            raise InvalidInput(f"patient_sex {self.patient_sex!r} is not M, F or O")


@dataclass(frozen=True, slots=True)
class ProcedureCreate:
    """One requested procedure with its (single) scheduled procedure step.

    Identifiers left ``None`` are assigned by raddx (it is the RIS).

    Raises
    ------
    InvalidInput
        No modality; a malformed start date or time; an invalid JJ1017 code.
    """

    modality: str
    scheduled_start_date: str
    scheduled_start_time: str = "000000"
    description: str | None = None
    jj1017_code: str | None = None
    scheduled_station_ae_title: str | None = None
    scheduled_station_name: str | None = None
    location: str | None = None
    performing_physician: str | None = None
    requested_procedure_id: str | None = None
    study_instance_uid: str | None = None
    scheduled_procedure_step_id: str | None = None

    def __post_init__(self) -> None:
        if not self.modality.strip():
            raise InvalidInput("modality is required")
        if check_date(self.scheduled_start_date, "scheduled_start_date") is None:
            raise InvalidInput("scheduled_start_date is required")
        check_time(self.scheduled_start_time, "scheduled_start_time")
        if self.jj1017_code:
            Jj1017Code(self.jj1017_code)


@dataclass(frozen=True, slots=True)
class OrderCreate:
    """A new imaging order: the patient, the order's numbers and its requested procedures.

    Raises
    ------
    InvalidInput
        No procedures; a priority that is not a RequestedProcedurePriority Defined Term.
    """

    patient: PatientData
    procedures: tuple[ProcedureCreate, ...]
    placer_order_number: str | None = None
    filler_order_number: str | None = None
    accession_number: str | None = None
    #: The accession number's issuer (HL7 IPC-1 components 2–4), compared on reconciliation.
    accession_issuer: AccessionIssuer | None = None
    priority: str = "ROUTINE"
    requesting_physician: str | None = None
    requesting_service: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if not self.procedures:
            raise InvalidInput("an order needs at least one requested procedure")
        if self.priority not in PRIORITIES:
            raise InvalidInput(f"priority {self.priority!r} is not one of {sorted(PRIORITIES)}")
