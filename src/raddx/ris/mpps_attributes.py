"""Which attributes an MPPS N-SET may carry (PS3.4 F.7.2.2, Table F.7.2-1).

Table F.7.2-1 gives every attribute of the Modality Performed Procedure Step IOD an N-CREATE
and an N-SET usage. Those whose N-SET usage is "Not allowed" fix what was performed and for
whom — the Scheduled Step Attributes Sequence, the patient, PerformedProcedureStepID, the
station, location, start date and time, Modality, StudyID — and may only be given at N-CREATE.
An N-SET carrying one of them (or any attribute outside the IOD) is refused as a whole with
0x0105 No such attribute and the tags in AttributeIdentifierList, as dcm4che's MPPS SCP
answers, and the step is left unchanged.

The allowed set below is carried over from PS3.4 Table F.7.2-1 (attributes with an N-SET
usage), including the Radiation Dose and Billing and Material Management modules' attributes
the table lists for N-SET.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from raddx.errors import InvalidInput

__all__ = ["N_SET_ALLOWED", "AttributeNotAllowed", "check_n_set_attributes"]

#: Top-level attributes with an N-SET usage in PS3.4 Table F.7.2-1.
N_SET_ALLOWED = frozenset(
    {
        "SpecificCharacterSet",
        # Performed Procedure Step Information
        "PerformedProcedureStepStatus",
        "PerformedProcedureStepDescription",
        "PerformedProcedureTypeDescription",
        "ProcedureCodeSequence",
        "PerformedProcedureStepEndDate",
        "PerformedProcedureStepEndTime",
        "CommentsOnThePerformedProcedureStep",
        "PerformedProcedureStepDiscontinuationReasonCodeSequence",
        # Image Acquisition Results
        "PerformedProtocolCodeSequence",
        "PerformedSeriesSequence",
        # Radiation Dose
        "AnatomicStructureSpaceOrRegionSequence",
        "TotalTimeOfFluoroscopy",
        "TotalNumberOfExposures",
        "DistanceSourceToDetector",
        "DistanceSourceToEntrance",
        "EntranceDose",
        "EntranceDoseInmGy",
        "ExposedArea",
        "ImageAndFluoroscopyAreaDoseProduct",
        "CommentsOnRadiationDose",
        "ExposureDoseSequence",
        # Billing and Material Management
        "BillingProcedureStepSequence",
        "FilmConsumptionSequence",
        "BillingSuppliesAndDevicesSequence",
    }
)


class AttributeNotAllowed(InvalidInput):
    """An N-SET carried attributes whose N-SET usage is "Not allowed" (PS3.4 F.7.2.2)."""

    def __init__(self, tags: tuple[int, ...]) -> None:
        names = ", ".join(keyword_for_tag(t) or f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in tags)
        super().__init__(f"N-SET may not set {names} (PS3.4 Table F.7.2-1)")
        self.tags = tags


@lru_cache(maxsize=1)
def _allowed_tags() -> frozenset[int]:
    tags = (tag_for_keyword(k) for k in N_SET_ALLOWED)
    return frozenset(t for t in tags if t is not None)


def check_n_set_attributes(tags: Iterable[int]) -> None:
    """Refuse an N-SET modification list carrying an attribute it may not set.

    Raises
    ------
    AttributeNotAllowed
        Naming every such tag (in the order received).
    """
    allowed = _allowed_tags()
    refused = tuple(int(t) for t in tags if int(t) not in allowed)
    if refused:
        raise AttributeNotAllowed(refused)
