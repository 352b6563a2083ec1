"""The report status machine and the one table that maps statuses to every format
(reference/report-exchange.md §5.4).

A status change of an unsigned version happens in place; a signed version (final, amended,
corrected) never changes: amending it makes a new version (:func:`raddx.reports.record`).
"""

from __future__ import annotations

from dataclasses import dataclass

from raddx.reports.enum import ReportStatusValues as S

__all__ = [
    "SIGNED",
    "TERMINAL",
    "FormatStatus",
    "format_status",
    "in_place_allowed",
    "status_from_fhir",
    "status_from_oru",
]

#: Statuses that carry a verifier, a verification time and the content digest.
SIGNED = frozenset({S.FINAL, S.AMENDED, S.CORRECTED})
#: Nothing follows these.
TERMINAL = frozenset({S.CANCELLED, S.ENTERED_IN_ERROR})

#: In-place transitions of the *same* version (drafts and preliminaries are work in progress).
_IN_PLACE: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.DRAFT, S.PRELIMINARY, S.FINAL, S.CANCELLED}),
    S.PRELIMINARY: frozenset({S.DRAFT, S.PRELIMINARY, S.FINAL, S.CANCELLED}),
}
#: Statuses a *new version* of a signed report may have.
NEW_VERSION_OF_SIGNED = frozenset({S.AMENDED, S.CORRECTED, S.ENTERED_IN_ERROR})


def in_place_allowed(current: S, new: S) -> bool:
    """Whether the version in ``current`` may be changed in place to ``new``."""
    return new in _IN_PLACE.get(current, frozenset())


@dataclass(frozen=True)
class FormatStatus:
    """How one internal status is written in each format (§5.4, one row)."""

    fhir: str
    #: Whether the status is exported as a CDA document at all (drafts are not).
    cda: bool
    #: (CompletionFlag, VerificationFlag) of a DICOM SR; PS3.3 C.17.2.
    sr: tuple[str, str] | None
    #: OBR-25 Result Status (HL7 v2.5 Table 0123); ``None`` = not sent.
    oru: str | None


_TABLE: dict[S, FormatStatus] = {
    S.DRAFT: FormatStatus("registered", False, ("PARTIAL", "UNVERIFIED"), None),
    S.PRELIMINARY: FormatStatus("preliminary", True, ("PARTIAL", "UNVERIFIED"), "P"),
    S.FINAL: FormatStatus("final", True, ("COMPLETE", "VERIFIED"), "F"),
    S.AMENDED: FormatStatus("amended", True, ("COMPLETE", "VERIFIED"), "C"),
    S.CORRECTED: FormatStatus("corrected", True, ("COMPLETE", "VERIFIED"), "C"),
    S.CANCELLED: FormatStatus("cancelled", False, None, "X"),
    S.ENTERED_IN_ERROR: FormatStatus("entered-in-error", False, None, "X"),
}


def format_status(status: S) -> FormatStatus:
    """The §5.4 row of ``status``."""
    return _TABLE[status]


def status_from_fhir(value: str) -> S:
    """Internal status of a FHIR ``DiagnosticReport.status`` (lenient: ``partial`` and
    ``registered`` are drafts, ``appended`` is amended).

    Raises
    ------
    ValueError
        For a value FHIR R4 does not define.
    """
    extra = {"partial": S.DRAFT, "appended": S.AMENDED, "unknown": S.DRAFT}
    for status, row in _TABLE.items():
        if row.fhir == value:
            return status
    if value in extra:
        return extra[value]
    raise ValueError(f"DiagnosticReport.status {value!r} is not a FHIR R4 report status")


def status_from_oru(value: str) -> S:
    """Internal status of an OBR-25 value (HL7 v2.5 Table 0123; lenient, as dcm4chee maps
    anything but P/F to unverified)."""
    return {"P": S.PRELIMINARY, "F": S.FINAL, "C": S.CORRECTED, "X": S.CANCELLED}.get(
        value, S.PRELIMINARY
    )
