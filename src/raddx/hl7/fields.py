"""Reading HL7 v2.5 fields of a parsed message (python-hl7) into domain values.

Every reader names the field it reads, so a bad value becomes an ERR segment saying which
field was wrong (HL7 v2.5 2.15.5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hl7 import Component, Repetition  # type: ignore[import-untyped]
from hl7.util import unescape  # type: ignore[import-untyped]

from raddx.errors import InvalidInput
from raddx.hl7.ack import ErrorCodeValues, HL7Error
from raddx.ris import PatientData
from raddx.ris.records import check_date, check_time

__all__ = ["component", "patient_from_pid", "person_name", "repetitions", "timestamp"]

T = TypeVar("T")


_item = list.__getitem__


def component(segment: Any, field: int, comp: int = 1, rep: int = 1) -> str:
    """SEG-field.comp of repetition ``rep`` (unescaped), ``""`` when absent.

    The value python-hl7's ``Segment.extract_field(1, field, rep, comp)`` gives (the first
    subcomponent, unescaped; MSH-1/MSH-2 as they are), read straight from the parsed lists:
    an order reads some seventy fields, and ``extract_field``'s accessor objects and
    1-based wrappers cost about a fifth of the handler's time (``bench/ris.py``).
    ``tests/unit/hl7/test_hl7_fields.py`` checks both agree on every field of the samples.
    """
    field, comp, rep = field or 1, comp or 1, rep or 1  # as extract_field reads 0
    try:
        if field >= len(segment):
            return ""
        value = _item(_item(segment, field), rep - 1)
        if isinstance(value, Repetition):
            if comp > len(value):
                return ""
            value = _item(value, comp - 1)
            if isinstance(value, Component):
                value = _item(value, 0) if len(value) else ""
        elif comp != 1:
            return ""
    except IndexError:
        return ""
    text = str(value)
    if segment.esc in text and not (field in (1, 2) and str(_item(segment, 0)) == "MSH"):
        text = str(unescape(segment, text))
    return text.strip()


def repetitions(segment: Any, field: int) -> int:
    """How many repetitions the field has (0 when absent or empty)."""
    if len(segment) <= field or not str(segment[field]):
        return 0
    value = segment[field]
    return len(value) if _is_repeated(value) else 1


def _is_repeated(value: Any) -> bool:
    # python-hl7 keeps repetitions as a Field whose items are Repetitions.
    return type(value).__name__ == "Field" and all(type(v).__name__ == "Repetition" for v in value)


def checked(location: str, read: Callable[[], T]) -> T:
    """``read()``, with a domain InvalidInput turned into an AE naming ``location``."""
    try:
        return read()
    except InvalidInput as exc:
        raise HL7Error(str(exc), location=location, code=ErrorCodeValues.DATA_TYPE_ERROR) from None


def timestamp(segment: Any, field: int, comp: int, location: str) -> tuple[str, str] | None:
    """A TS/DTM component as (DA, TM); ``None`` when empty.

    Raises
    ------
    HL7Error
        Not a date-time (AE, 102, naming ``location``).
    """
    value = component(segment, field, comp)
    if not value:
        return None
    digits = value.split("+")[0].split("-")[0]
    date = checked(location, lambda: check_date(digits[:8], location))
    time = checked(location, lambda: check_time(digits[8:14] or "000000", location))
    assert date is not None and time is not None
    return date, time


def person_name(segment: Any, field: int) -> str | None:
    """XPN repetitions as one DICOM PN: ``^L^I`` (ideographic) and ``^L^P`` (phonetic)
    become the ideographic and phonetic groups, anything else the alphabetic one (IHE-J:
    PID-5 repeats the name as kanji and kana)."""
    groups = {"A": "", "I": "", "P": ""}
    for rep in range(1, repetitions(segment, field) + 1):
        parts = [component(segment, field, c, rep) for c in (1, 2, 3)]
        name = "^".join(parts).rstrip("^")
        representation = component(segment, field, 8, rep)
        key = representation if representation in ("I", "P") else "A"
        if name and not groups[key]:
            groups[key] = name
    pn = "=".join((groups["A"], groups["I"], groups["P"])).rstrip("=")
    return pn or None


def patient_from_pid(pid: Any) -> PatientData:
    """The patient of a PID segment.

    Raises
    ------
    HL7Error
        PID-3 missing (101), PID-7 not a date (102).
    """
    chosen = 1
    for rep in range(1, repetitions(pid, 3) + 1):
        if component(pid, 3, 5, rep) == "PI":  # CX-5 identifier type: patient internal ID
            chosen = rep
            break
    patient_id = component(pid, 3, 1, chosen)
    if not patient_id:
        raise HL7Error(
            "PID-3 (patient identifier list) is empty",
            location="PID-3",
            code=ErrorCodeValues.REQUIRED_FIELD_MISSING,
        )
    birth = component(pid, 7)[:8] or None
    checked("PID-7", lambda: check_date(birth, "PID-7"))
    sex = component(pid, 8) or None
    return PatientData(
        patient_id=patient_id,
        issuer_of_patient_id=component(pid, 3, 4, chosen),
        patient_name=person_name(pid, 5),
        patient_birth_date=birth,
        patient_sex=sex if sex in ("M", "F", "O") else None,
    )
