"""Which attributes an MPPS N-SET may not carry (PS3.4 F.7.2.2, Table F.7.2-1).

Table F.7.2-1 gives every attribute of the Modality Performed Procedure Step SOP Class an
N-CREATE and an N-SET usage. Those whose N-SET usage is "Not allowed" fix what was performed
and for whom — the Scheduled Step Attributes Sequence, the patient and the visit, the
PerformedProcedureStepID, the station, location, start date and time, Modality, StudyID —
and may only be given at N-CREATE; everything else (status, end, descriptions, code
sequences, PerformedSeriesSequence, "all other attributes", e.g. billing and exposure) may
be set. An N-SET carrying a "Not allowed" attribute is refused as a whole with 0x0105 No
such attribute and the tags in AttributeIdentifierList, as dcm4che's MPPS SCP answers, and
the step is left unchanged. The SOP Class and Instance UIDs name the instance and are never
set either.

:data:`N_SET_NOT_ALLOWED` is carried over from PS3.4 Table F.7.2-1 (the top-level rows whose
N-SET column reads "Not allowed"; DICOM text as of about 2020, chsasank/dicom_standard
``source/part04/chapter_F.rst``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from raddx.errors import InvalidInput

__all__ = [
    "N_SET_NOT_ALLOWED",
    "AttributeNotAllowed",
    "check_n_set_attributes",
    "missing_at_final_state",
]

#: Top-level attributes whose N-SET usage is "Not allowed" in PS3.4 Table F.7.2-1.
N_SET_NOT_ALLOWED = frozenset(
    {
        "SOPClassUID",
        "SOPInstanceUID",
        # Performed Procedure Step Relationship
        "ScheduledStepAttributesSequence",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "IssuerOfPatientIDQualifiersSequence",
        "OtherPatientIDsSequence",
        "PatientBirthDate",
        "PatientSex",
        "ReferencedPatientSequence",
        "AdmissionID",
        "IssuerOfAdmissionIDSequence",
        "ServiceEpisodeID",
        "IssuerOfServiceEpisodeIDSequence",
        "ServiceEpisodeDescription",
        # Performed Procedure Step Information
        "PerformedProcedureStepID",
        "PerformedStationAETitle",
        "PerformedStationName",
        "PerformedLocation",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        # Image Acquisition Results
        "Modality",
        "StudyID",
    }
)


class AttributeNotAllowed(InvalidInput):
    """An N-SET carried attributes whose N-SET usage is "Not allowed" (PS3.4 F.7.2.2)."""

    def __init__(self, tags: tuple[int, ...]) -> None:
        names = ", ".join(keyword_for_tag(t) or f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in tags)
        super().__init__(f"N-SET may not set {names} (PS3.4 Table F.7.2-1)")
        self.tags = tags


@lru_cache(maxsize=1)
def _refused_tags() -> frozenset[int]:
    tags = (tag_for_keyword(k) for k in N_SET_NOT_ALLOWED)
    return frozenset(t for t in tags if t is not None)


def check_n_set_attributes(tags: Iterable[int]) -> None:
    """Refuse an N-SET modification list carrying an attribute it may not set.

    Raises
    ------
    AttributeNotAllowed
        Naming every such tag (in the order received).
    """
    refused_tags = _refused_tags()
    refused = tuple(int(t) for t in tags if int(t) in refused_tags)
    if refused:
        raise AttributeNotAllowed(refused)


def missing_at_final_state(
    *, end_date: str | None, end_time: str | None, performed_series: int
) -> list[str]:
    """What a step that ends (COMPLETED or DISCONTINUED) lacks of Table F.7.2-1's "Final
    State" column: PerformedProcedureStepEndDate and EndTime, and at least one item of
    PerformedSeriesSequence (note 2: "a Series must exist for every Performed Procedure
    Step", PS3.4 F.7.2.2.2)."""
    missing = [
        keyword
        for keyword, value in (
            ("PerformedProcedureStepEndDate", end_date),
            ("PerformedProcedureStepEndTime", end_time),
        )
        if not value
    ]
    if performed_series < 1:
        missing.append("PerformedSeriesSequence")
    return missing
