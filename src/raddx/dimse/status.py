"""The DIMSE door's status values and its one table from domain error to C-STORE status
(STYLE rule 7).

Status values are from PS3.4 Table B.2-1 (Storage Service Class), Tables C.4-1/2/3
(Query/Retrieve) and PS3.7 Annex C (general statuses); statuses that only one service uses
stay in that service's handler module. The Error Comment (0000,0902) is LO, so it is cut to
64 characters.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from raddx.errors import Conflict, InvalidInput, OutOfResources, RaddxError

__all__ = [
    "CANCEL",
    "IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS",
    "OUT_OF_RESOURCES",
    "PENDING",
    "PROCESSING_FAILURE",
    "SUCCESS",
    "UNABLE_TO_PROCESS",
    "error_comment",
    "status_dataset",
    "status_for_error",
]

SUCCESS = 0x0000
#: PS3.4 C.4: Pending (one more match / sub-operation follows).
PENDING = 0xFF00
#: PS3.4 C.4: Cancel (the requestor sent C-CANCEL).
CANCEL = 0xFE00
#: PS3.4 B.2.3 / C.4.1: Refused: Out of Resources.
OUT_OF_RESOURCES = 0xA700
#: PS3.4 C.4: Identifier does not match SOP Class.
IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
#: PS3.4 B.2.3: Error: Cannot understand — the object is not valid DICOM or lacks its UIDs.
CANNOT_UNDERSTAND = 0xC000
#: PS3.4 C.4: Unable to process — the Query/Retrieve name of the same 0xC000.
UNABLE_TO_PROCESS = CANNOT_UNDERSTAND
#: PS3.7 C.5.10: Duplicate SOP Instance — different bytes under a stored UID, policy reject.
DUPLICATE_SOP_INSTANCE = 0x0111
#: PS3.7 C.4.2: Processing failure — our fault, not the sender's.
PROCESSING_FAILURE = 0x0110

_TABLE: tuple[tuple[type[RaddxError], int], ...] = (
    (InvalidInput, CANNOT_UNDERSTAND),
    (OutOfResources, OUT_OF_RESOURCES),
    (Conflict, DUPLICATE_SOP_INSTANCE),
)


def status_for_error(exc: BaseException) -> int:
    """The status for a failed operation; unknown exceptions are a processing failure."""
    for error_class, status in _TABLE:
        if isinstance(exc, error_class):
            return status
    return PROCESSING_FAILURE


def status_dataset(status: int, comment: str | None = None) -> Dataset:
    """A status dataset with an Error Comment a person can read in the sender's log."""
    ds = Dataset()
    ds.Status = status
    if comment:
        ds.ErrorComment = error_comment(comment)
    return ds


def error_comment(text: str) -> str:
    """``text`` as a valid Error Comment (LO: at most 64 characters, no backslash)."""
    return text.replace("\\", "/")[:64]
