"""What the FHIR view of the RIS shares: profile URLs, code systems, ids, date ranges.

JP Core v1.x (jami-fhir-jp-wg/jp-core-v1x) defines ``JP_Patient`` and
``JP_ImagingStudy_Radiology``; it has no ServiceRequest profile before 1.3 (where
``JP_ServiceRequest_Common`` is still a draft), so our ServiceRequest claims only base R4.
Identifier and code systems are those of the report FHIR format
(:data:`raddx.reports.profile.FHIR`), so a report's ServiceRequest and ours name an order
the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from raddx.errors import InvalidInput
from raddx.reports.profile import FHIR

__all__ = [
    "ACSN",
    "DCM",
    "DICOM_UID",
    "ENDPOINT_WADO_RS",
    "JJ1017_SYSTEM",
    "JP_IMAGING_STUDY",
    "JP_PATIENT",
    "DateRange",
    "PatientKey",
    "fhir_datetime",
]

JP_PATIENT = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
JP_IMAGING_STUDY = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_ImagingStudy_Radiology"
#: DICOM Controlled Terminology (modalities, CID 29), as JP Core and R4 bind it.
DCM = FHIR.dicom_modality_system
#: ImagingStudy.identifier system of a Study Instance UID (R4 ImagingStudy notes).
DICOM_UID = "urn:dicom:uid"
#: The JJ1017-32 code system: the one the report format uses (JP Core defines none).
JJ1017_SYSTEM = FHIR.procedure_code_system
#: v2-0203 identifier type of an accession number.
ACSN = "ACSN"
#: The id of our one Endpoint resource: the DICOMweb WADO-RS base URL.
ENDPOINT_WADO_RS = "dicom-wado-rs"

_KEY = re.compile(r"^([ra])([1-9][0-9]{0,17})$")


@dataclass(frozen=True, slots=True)
class PatientKey:
    """A FHIR Patient id: ``r<n>`` is RIS patient row n (orders, ADT), ``a<n>`` archive
    patient row n (images only, no RIS record). A person the RIS knows is always ``r``."""

    source: str
    row: int

    @classmethod
    def parse(cls, value: str) -> PatientKey:
        """``Patient/r12`` or ``r12``.

        Raises
        ------
        InvalidInput
            Not one of our Patient ids.
        """
        text = value.removeprefix("Patient/")
        m = _KEY.match(text)
        if not m:
            raise InvalidInput(f"{value!r} is not a Patient id of this server (r<n> or a<n>)")
        return cls(m[1], int(m[2]))

    def __str__(self) -> str:
        return f"{self.source}{self.row}"


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive days; ``None`` = open. Empty when ``start`` is after ``end``."""

    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start > self.end

    def dicom(self) -> str:
        """As a DICOM DA range (PS3.4 C.2.2.2.5): ``YYYYMMDD-YYYYMMDD``, open ends allowed."""
        start = self.start.strftime("%Y%m%d") if self.start else ""
        end = self.end.strftime("%Y%m%d") if self.end else ""
        return start if start == end else f"{start}-{end}"

    def intersect(self, other: DateRange) -> DateRange:
        starts = [d for d in (self.start, other.start) if d]
        ends = [d for d in (self.end, other.end) if d]
        return DateRange(max(starts) if starts else None, min(ends) if ends else None)


def fhir_datetime(date: str | None, time: str | None, offset: dt.timezone) -> str | None:
    """DICOM DA (+ TM) as a FHIR dateTime; a time needs a timezone in FHIR, so ``offset``
    (the study's TimezoneOffsetFromUTC, else the configured default) is attached."""
    if not date or len(date) != 8 or not date.isdigit():
        return None
    try:
        day = dt.date(int(date[:4]), int(date[4:6]), int(date[6:8]))
    except ValueError:
        return None
    digits = (time or "").split(".")[0]
    if len(digits) < 4 or not (digits.isascii() and digits.isdigit()):
        return day.isoformat()
    hh, mm, ss = int(digits[:2]), int(digits[2:4]), int(digits[4:6] or 0)
    if hh > 23 or mm > 59 or ss > 59:
        return day.isoformat()
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=offset).isoformat()
