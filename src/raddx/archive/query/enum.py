"""Defined Terms of the query engine (PS3.4 C.6)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AttributeKindValues", "InformationModelValues", "QueryRetrieveLevelValues"]


class QueryRetrieveLevelValues(StrEnum):
    """QueryRetrieveLevel (0008,0052) Defined Terms, top to bottom (PS3.4 C.6.1.1, C.6.2.1)."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @property
    def depth(self) -> int:
        """0 for PATIENT … 3 for IMAGE: a key may be used at its own level or below it."""
        return _DEPTH[self]


_DEPTH = {
    QueryRetrieveLevelValues.PATIENT: 0,
    QueryRetrieveLevelValues.STUDY: 1,
    QueryRetrieveLevelValues.SERIES: 2,
    QueryRetrieveLevelValues.IMAGE: 3,
}


class InformationModelValues(StrEnum):
    """The Query/Retrieve information models (PS3.4 C.6.1 Patient Root, C.6.2 Study Root).

    In Study Root there is no PATIENT level: the patient attributes are study-level keys.
    """

    PATIENT_ROOT = "PATIENT_ROOT"
    STUDY_ROOT = "STUDY_ROOT"


class AttributeKindValues(StrEnum):
    """How an attribute is matched; follows the VR families of PS3.4 C.2.2.2."""

    #: LO, SH, CS, LT…: single value (case-sensitive), wildcard.
    TEXT = "TEXT"
    #: UI: single value, list of UIDs; wildcards are not allowed (C.2.2.2.2).
    UID = "UID"
    #: DA, TM, DT: single value, range (C.2.2.2.5).
    DA = "DA"
    TM = "TM"
    DT = "DT"
    #: PN: single value, wildcard; any of the three component groups; case-insensitive option.
    PN = "PN"
    #: IS/US, including computed counts: single value.
    INT = "INT"
    #: ModalitiesInStudy: matches when any series of the study matches (C.6.2.1.2).
    MODALITIES = "MODALITIES"
