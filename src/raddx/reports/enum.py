"""Enumerations of the report domain (STYLE rule 2: ``<Name>Values``, members are the terms)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ReportStatusValues", "SexValues"]


class ReportStatusValues(StrEnum):
    """Report status (reference/report-exchange.md §5.4; FHIR R4 ``DiagnosticReport.status``
    words where they exist)."""

    DRAFT = "draft"
    #: 一次読影: read, not yet verified.
    PRELIMINARY = "preliminary"
    #: 二次読影・確定: verified and signed.
    FINAL = "final"
    #: A signed report changed after signing (a new version).
    AMENDED = "amended"
    #: A signed report corrected after signing (a new version).
    CORRECTED = "corrected"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


class SexValues(StrEnum):
    """PatientSex (0010,0040) Enumerated Values, PS3.3 C.7.1.1."""

    M = "M"
    F = "F"
    O = "O"  # noqa: E741 - the DICOM term
    U = "U"
