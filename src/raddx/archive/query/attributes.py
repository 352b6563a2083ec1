"""Which DICOM keyword is which index column, at which level, matched how.

The one table from keyword to index (ingest's ``raddx.archive.header`` is the writing side).
Levels follow PS3.4 C.6.1.1 (Patient Root) and C.6.2.1 (Study Root); computed attributes
(counts, ModalitiesInStudy) are expressions over the index, never stored by the caller.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import aliased

from raddx.archive.query.enum import (
    AttributeKindValues,
    InformationModelValues,
    QueryRetrieveLevelValues,
)
from raddx.archive.query.visibility import visible
from raddx.db.models import Instance, Patient, ProcedureCode, RequestAttributes, Series, Study

__all__ = [
    "ATTRIBUTES",
    "SEQUENCES",
    "UNIQUE_KEYS",
    "Attribute",
    "SequenceAttribute",
    "level_in_model",
]

_P = QueryRetrieveLevelValues.PATIENT
_ST = QueryRetrieveLevelValues.STUDY
_SE = QueryRetrieveLevelValues.SERIES
_IM = QueryRetrieveLevelValues.IMAGE
_K = AttributeKindValues

_TABLES: dict[QueryRetrieveLevelValues, type] = {
    _P: Patient,
    _ST: Study,
    _SE: Series,
    _IM: Instance,
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """One queryable attribute.

    ``entity`` is the information entity holding it (the level in Patient Root); ``column`` the
    snake_case keyword; for PN it is the base name of the verbatim value, its groups and their
    normalised copies. ``computed`` builds the SQL expression of a computed attribute.
    """

    keyword: str
    entity: QueryRetrieveLevelValues
    kind: AttributeKindValues
    column: str
    computed: Callable[[], ColumnElement[int]] | None = None
    #: The table holding the column when it is not the entity's (sequence items).
    table: Any = None

    def expression(self, suffix: str = "") -> ColumnElement[object]:
        """The SQL expression of the value (``suffix`` picks a PN group column, or the
        ``_utc`` instant of a DT)."""
        if self.computed is not None:
            return self.computed()
        table = self.table if self.table is not None else _TABLES[self.entity]
        return getattr(table, self.column + suffix)  # type: ignore[no-any-return]

    def named(self, column: str) -> ColumnElement[object]:
        """Another column of the same table (e.g. the study's UTC instant for StudyDate)."""
        table = self.table if self.table is not None else _TABLES[self.entity]
        return getattr(table, column)  # type: ignore[no-any-return]


def _patient_studies() -> ColumnElement[int]:
    # Aliased so that the subquery never correlates with the Study of the outer query.
    s = aliased(Study)
    return select(func.count(s.id)).where(s.patient_fk == Patient.id, visible(s)).scalar_subquery()


def _patient_sum(column: str) -> Callable[[], ColumnElement[int]]:
    def build() -> ColumnElement[int]:
        s = aliased(Study)
        total = func.coalesce(func.sum(getattr(s, column)), 0)
        return select(total).where(s.patient_fk == Patient.id, visible(s)).scalar_subquery()

    return build


_ROWS: tuple[tuple[str, QueryRetrieveLevelValues, AttributeKindValues, str], ...] = (
    ("PatientID", _P, _K.TEXT, "patient_id"),
    ("IssuerOfPatientID", _P, _K.TEXT, "issuer_of_patient_id"),
    ("PatientName", _P, _K.PN, "patient_name"),
    ("PatientBirthDate", _P, _K.DA, "patient_birth_date"),
    ("PatientBirthTime", _P, _K.TM, "patient_birth_time"),
    ("PatientSex", _P, _K.TEXT, "patient_sex"),
    ("OtherPatientIDs", _P, _K.TEXT, "other_patient_ids"),
    ("EthnicGroup", _P, _K.TEXT, "ethnic_group"),
    ("PatientComments", _P, _K.TEXT, "patient_comments"),
    ("StudyInstanceUID", _ST, _K.UID, "study_instance_uid"),
    ("StudyDate", _ST, _K.DA, "study_date"),
    ("StudyTime", _ST, _K.TM, "study_time"),
    ("AccessionNumber", _ST, _K.TEXT, "accession_number"),
    ("StudyID", _ST, _K.TEXT, "study_id"),
    ("StudyDescription", _ST, _K.TEXT, "study_description"),
    ("ReferringPhysicianName", _ST, _K.PN, "referring_physician_name"),
    ("PatientAge", _ST, _K.TEXT, "patient_age"),
    ("PatientSize", _ST, _K.TEXT, "patient_size"),
    ("PatientWeight", _ST, _K.TEXT, "patient_weight"),
    ("InstitutionName", _ST, _K.TEXT, "institution_name"),
    ("TimezoneOffsetFromUTC", _ST, _K.TEXT, "timezone_offset_from_utc"),
    ("ModalitiesInStudy", _ST, _K.MODALITIES, "modalities_in_study"),
    ("NumberOfStudyRelatedSeries", _ST, _K.INT, "number_of_study_related_series"),
    ("NumberOfStudyRelatedInstances", _ST, _K.INT, "number_of_study_related_instances"),
    ("SeriesInstanceUID", _SE, _K.UID, "series_instance_uid"),
    ("Modality", _SE, _K.TEXT, "modality"),
    ("SeriesNumber", _SE, _K.INT, "series_number"),
    ("SeriesDescription", _SE, _K.TEXT, "series_description"),
    ("SeriesDate", _SE, _K.DA, "series_date"),
    ("SeriesTime", _SE, _K.TM, "series_time"),
    ("BodyPartExamined", _SE, _K.TEXT, "body_part_examined"),
    ("Laterality", _SE, _K.TEXT, "laterality"),
    ("ProtocolName", _SE, _K.TEXT, "protocol_name"),
    ("StationName", _SE, _K.TEXT, "station_name"),
    ("Manufacturer", _SE, _K.TEXT, "manufacturer"),
    ("PerformedProcedureStepStartDate", _SE, _K.DA, "performed_procedure_step_start_date"),
    ("PerformedProcedureStepStartTime", _SE, _K.TM, "performed_procedure_step_start_time"),
    ("NumberOfSeriesRelatedInstances", _SE, _K.INT, "number_of_series_related_instances"),
    ("SOPInstanceUID", _IM, _K.UID, "sop_instance_uid"),
    ("SOPClassUID", _IM, _K.UID, "sop_class_uid"),
    ("InstanceNumber", _IM, _K.INT, "instance_number"),
    ("ContentDate", _IM, _K.DA, "content_date"),
    ("ContentTime", _IM, _K.TM, "content_time"),
    ("AcquisitionDateTime", _IM, _K.DT, "acquisition_date_time"),
    ("NumberOfFrames", _IM, _K.INT, "number_of_frames"),
    ("Rows", _IM, _K.INT, "rows"),
    ("Columns", _IM, _K.INT, "columns"),
)

_COMPUTED = (
    Attribute("NumberOfPatientRelatedStudies", _P, _K.INT, "", _patient_studies),
    Attribute(
        "NumberOfPatientRelatedSeries",
        _P,
        _K.INT,
        "",
        _patient_sum("number_of_study_related_series"),
    ),
    Attribute(
        "NumberOfPatientRelatedInstances",
        _P,
        _K.INT,
        "",
        _patient_sum("number_of_study_related_instances"),
    ),
)

#: Keyword → attribute, for every attribute the index can match and return.
ATTRIBUTES: dict[str, Attribute] = {
    **{kw: Attribute(kw, level, kind, column) for kw, level, kind, column in _ROWS},
    **{a.keyword: a for a in _COMPUTED},
}


@dataclass(frozen=True, slots=True)
class SequenceAttribute:
    """A sequence whose items are indexed for sequence matching (PS3.4 C.2.2.2.6).

    ``entity`` is the highest level the key may be used at; ``owners`` says, per query
    level, which foreign key of the item table ties an item to the matched entity:
    RequestAttributesSequence belongs to series, and at STUDY level a study matches when
    any of its series' items does (as ModalitiesInStudy does for Modality).
    """

    keyword: str
    entity: QueryRetrieveLevelValues
    table: Any
    owners: tuple[tuple[QueryRetrieveLevelValues, str], ...]
    items: dict[str, Attribute]

    def owner(self, level: QueryRetrieveLevelValues) -> tuple[ColumnElement[int], Any]:
        """The item table's foreign key used at ``level`` and the entity table it points to."""
        for at, column in self.owners:
            if level.depth <= at.depth:
                fk = getattr(self.table, column)
                return fk, (Study if column == "study_fk" else Series)
        raise AssertionError(f"{self.keyword} has no owner for {level}")  # table is static


def _items(table: Any, entity: QueryRetrieveLevelValues, rows: tuple[tuple[str, str], ...]) -> Any:
    return {kw: Attribute(kw, entity, _K.TEXT, column, table=table) for kw, column in rows}


#: Sequence keyword → its indexed items (``raddx.archive.header`` is the writing side).
SEQUENCES: dict[str, SequenceAttribute] = {
    "ProcedureCodeSequence": SequenceAttribute(
        "ProcedureCodeSequence",
        _ST,
        ProcedureCode,
        ((_IM, "study_fk"),),
        _items(
            ProcedureCode,
            _ST,
            (
                ("CodeValue", "code_value"),
                ("CodingSchemeDesignator", "coding_scheme_designator"),
                ("CodingSchemeVersion", "coding_scheme_version"),
                ("CodeMeaning", "code_meaning"),
            ),
        ),
    ),
    "RequestAttributesSequence": SequenceAttribute(
        "RequestAttributesSequence",
        _ST,
        RequestAttributes,
        ((_ST, "study_fk"), (_IM, "series_fk")),
        _items(
            RequestAttributes,
            _SE,
            (
                ("RequestedProcedureID", "requested_procedure_id"),
                ("ScheduledProcedureStepID", "scheduled_procedure_step_id"),
                ("AccessionNumber", "accession_number"),
                ("RequestedProcedureDescription", "requested_procedure_description"),
                ("ScheduledProcedureStepDescription", "scheduled_procedure_step_description"),
            ),
        ),
    ),
}

#: PS3.4 C.6.1.1 / C.6.2.1: the Unique Key of each level.
UNIQUE_KEYS: dict[QueryRetrieveLevelValues, str] = {
    _P: "PatientID",
    _ST: "StudyInstanceUID",
    _SE: "SeriesInstanceUID",
    _IM: "SOPInstanceUID",
}


@functools.cache
def level_in_model(
    entity: QueryRetrieveLevelValues, model: InformationModelValues
) -> QueryRetrieveLevelValues:
    """The level an attribute of ``entity`` has in ``model``: in Study Root the patient
    attributes are study-level keys (PS3.4 C.6.2.1.2)."""
    if model is InformationModelValues.STUDY_ROOT and entity is _P:
        return _ST
    return entity
