"""Radiology reports (issue 7): the canonical record, its status machine and signing, the
store, the import/export formats (``formats/``) and the exchange package.

Doors (REST, CLI, HL7) call :mod:`raddx.reports.service`; formats are pairs
``to_X(record)`` / ``from_X(data) -> record`` in :mod:`raddx.reports.formats`.
"""

from __future__ import annotations

from raddx.reports.enum import ReportStatusValues, SexValues
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
from raddx.reports.service import ImportOutcome, ImportResultValues
from raddx.reports.store import ReportSelection

__all__ = [
    "Addendum",
    "ImportOutcome",
    "ImportResultValues",
    "KeyImage",
    "OrderInfo",
    "PatientInfo",
    "Person",
    "Predecessor",
    "ReportRecord",
    "ReportSelection",
    "ReportStatusValues",
    "Sections",
    "SexValues",
    "StudyRef",
]
