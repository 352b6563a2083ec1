"""Modality Worklist information model (PS3.4 K.6.1) on the shared matching rules.

A worklist item is one scheduled procedure step (``ris_scheduled_step``) with its requested
procedure, order and patient. The keys of the ScheduledProcedureStepSequence item
(Modality, ScheduledStationAETitle, ScheduledProcedureStepStartDate…) are columns of the
step, so the sequence matching of K.6.1.2 (one item per answer) is plain column matching
here. Parsing and SQL come from :mod:`.matching` exactly as for C-FIND and QIDO-RS: single
value, wildcard, range, multiple values, PN in any of its three groups, case-insensitive
by default.

Without a ScheduledProcedureStepStatus key only SCHEDULED items are answered: a modality
that leaves the key empty must not see cancelled or completed steps.

IssuerOfAccessionNumberSequence is a return key only (K.6.1.2.2, O matching/3 return): the
order's issuer (HL7 IPC-1, :mod:`raddx.ris.accession_issuer`) is answered as one item, so a
modality that copies it into its images lets reconciliation compare issuers; any value the
query gives in it is not matched.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import tag_for_keyword
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from raddx.archive.query.attributes import Attribute
from raddx.archive.query.enum import AttributeKindValues, QueryRetrieveLevelValues
from raddx.archive.query.matching import KeyMatch, parse_key, where_clause
from raddx.db import READ_ONLY_OPTIONS
from raddx.db.models import RisOrder, RisPatient, RisRequestedProcedure, RisScheduledStep
from raddx.errors import InvalidInput

__all__ = [
    "SPS_SEQUENCE",
    "WORKLIST_ATTRIBUTES",
    "WORKLIST_STEP_ATTRIBUTES",
    "WorklistQuery",
    "WorklistService",
    "find_worklist",
]

SPS_SEQUENCE = "ScheduledProcedureStepSequence"
_K = AttributeKindValues
#: The worklist has one level; its attributes carry STUDY as their entity (a worklist item
#: is a requested procedure, which becomes one study).
_W = QueryRetrieveLevelValues.STUDY
#: ScheduledProcedureStepStatus of the items a query without a status key gets.
_SCHEDULED = "SCHEDULED"

_TOP: tuple[tuple[str, AttributeKindValues, Any, str], ...] = (
    ("PatientID", _K.TEXT, RisPatient, "patient_id"),
    ("IssuerOfPatientID", _K.TEXT, RisPatient, "issuer_of_patient_id"),
    ("PatientName", _K.PN, RisPatient, "patient_name"),
    ("PatientBirthDate", _K.DA, RisPatient, "patient_birth_date"),
    ("PatientSex", _K.TEXT, RisPatient, "patient_sex"),
    ("AccessionNumber", _K.TEXT, RisOrder, "accession_number"),
    ("PlacerOrderNumberImagingServiceRequest", _K.TEXT, RisOrder, "placer_order_number"),
    ("FillerOrderNumberImagingServiceRequest", _K.TEXT, RisOrder, "filler_order_number"),
    ("RequestedProcedurePriority", _K.TEXT, RisOrder, "requested_procedure_priority"),
    ("RequestingPhysician", _K.TEXT, RisOrder, "requesting_physician"),
    ("RequestingService", _K.TEXT, RisOrder, "requesting_service"),
    ("ReasonForTheRequestedProcedure", _K.TEXT, RisOrder, "reason_for_the_requested_procedure"),
    ("RequestedProcedureID", _K.TEXT, RisRequestedProcedure, "requested_procedure_id"),
    ("StudyInstanceUID", _K.UID, RisRequestedProcedure, "study_instance_uid"),
    (
        "RequestedProcedureDescription",
        _K.TEXT,
        RisRequestedProcedure,
        "requested_procedure_description",
    ),
)
_STEP: tuple[tuple[str, AttributeKindValues, str], ...] = (
    ("Modality", _K.TEXT, "modality"),
    ("ScheduledStationAETitle", _K.TEXT, "scheduled_station_ae_title"),
    ("ScheduledStationName", _K.TEXT, "scheduled_station_name"),
    ("ScheduledProcedureStepLocation", _K.TEXT, "scheduled_procedure_step_location"),
    ("ScheduledProcedureStepStartDate", _K.DA, "scheduled_procedure_step_start_date"),
    ("ScheduledProcedureStepStartTime", _K.TM, "scheduled_procedure_step_start_time"),
    ("ScheduledPerformingPhysicianName", _K.TEXT, "scheduled_performing_physician_name"),
    ("ScheduledProcedureStepDescription", _K.TEXT, "scheduled_procedure_step_description"),
    ("ScheduledProcedureStepID", _K.TEXT, "scheduled_procedure_step_id"),
    ("ScheduledProcedureStepStatus", _K.TEXT, "scheduled_procedure_step_status"),
)

#: Top-level keyword → attribute (K.6.1.2.2: patient, visit and requested procedure keys).
WORKLIST_ATTRIBUTES: dict[str, Attribute] = {
    kw: Attribute(kw, _W, kind, column, table=table) for kw, kind, table, column in _TOP
}
#: ScheduledProcedureStepSequence item keyword → attribute (K.6.1.2.2 SPS keys).
WORKLIST_STEP_ATTRIBUTES: dict[str, Attribute] = {
    kw: Attribute(kw, _W, kind, column, table=RisScheduledStep) for kw, kind, column in _STEP
}
#: Always selected: what the answer builder needs besides the requested keys.
_ALWAYS = (
    RisRequestedProcedure.jj1017_code.label("_jj1017"),
    RisRequestedProcedure.requested_procedure_description.label("_rp_description"),
    RisOrder.issuer_of_accession_number.label("_accession_issuer"),
)
_ISSUER_SEQUENCE = "IssuerOfAccessionNumberSequence"


def accession_issuer_items(canonical: str | None) -> list[dict[str, Any]]:
    """IssuerOfAccessionNumberSequence for an order's stored issuer (``local^universal^type``,
    :class:`raddx.ris.accession_issuer.AccessionIssuer`): one item with the components it
    has, none when the order has no issuer."""
    if not canonical:
        return []
    parts = [*canonical.split("^"), "", ""][:3]
    item = {
        keyword: value
        for keyword, value in zip(
            ("LocalNamespaceEntityID", "UniversalEntityID", "UniversalEntityIDType"),
            parts,
            strict=True,
        )
        if value
    }
    return [item]


@dataclass(frozen=True)
class WorklistQuery:
    """A Modality Worklist query, checked when built (PS3.4 K.6.1.2).

    Parameters
    ----------
    keys
        DICOM keyword → matching value (``None``/``""`` = return key); the
        ScheduledProcedureStepSequence key is ``None`` or a list of one item mapping item
        keywords to values. Keywords we do not hold are returned empty, not matched.
    case_insensitive_pn
        Match person names ignoring case and width (default on, as C-FIND).
    limit
        At most this many answers.

    Raises
    ------
    InvalidInput
        A keyword that is not a DICOM keyword; a ScheduledProcedureStepSequence with more
        than one item; a malformed value (:func:`~raddx.archive.query.matching.parse_key`).
    """

    keys: Mapping[str, Any]
    case_insensitive_pn: bool = True
    limit: int | None = None
    matches: tuple[KeyMatch, ...] = field(init=False, repr=False, compare=False)
    step_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    #: No ScheduledProcedureStepStatus key: answer SCHEDULED steps only.
    only_scheduled: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = self.case_insensitive_pn
        matches: list[KeyMatch] = []
        step_item: Mapping[str, Any] = {}
        for keyword, value in self.keys.items():
            if tag_for_keyword(keyword) is None:
                raise InvalidInput(f"{keyword!r} is not a DICOM keyword")
            if keyword == SPS_SEQUENCE:
                step_item = _one_item(value)
                continue
            attribute = WORKLIST_ATTRIBUTES.get(keyword)
            if attribute is not None and (value is None or isinstance(value, str)):
                matches.append(parse_key(attribute, value, case_insensitive=folded))
        for keyword, value in step_item.items():
            if tag_for_keyword(keyword) is None:
                raise InvalidInput(f"{keyword!r} in {SPS_SEQUENCE} is not a DICOM keyword")
            attribute = WORKLIST_STEP_ATTRIBUTES.get(keyword)
            if attribute is not None and (value is None or isinstance(value, str)):
                matches.append(parse_key(attribute, value, case_insensitive=folded))
        status_given = any(
            k == "ScheduledProcedureStepStatus" and v not in (None, "")
            for k, v in step_item.items()
        )
        object.__setattr__(self, "only_scheduled", not status_given)
        object.__setattr__(self, "keys", dict(self.keys))
        object.__setattr__(self, "matches", tuple(matches))
        object.__setattr__(self, "step_keys", tuple(step_item) or tuple(WORKLIST_STEP_ATTRIBUTES))


def _one_item(value: Any) -> Mapping[str, Any]:
    if value is None or value == "" or (isinstance(value, list) and not value):
        return {}
    if isinstance(value, str) or len(value) != 1 or not isinstance(value[0], Mapping):
        raise InvalidInput(f"{SPS_SEQUENCE} key must be a sequence of exactly one item")
    item: Mapping[str, Any] = value[0]
    return item


def _statement(query: WorklistQuery) -> Select[Any]:
    columns: list[Any] = [a.expression().label(k) for k, a in WORKLIST_ATTRIBUTES.items()]
    columns += [a.expression().label("sps." + k) for k, a in WORKLIST_STEP_ATTRIBUTES.items()]
    stmt: Select[Any] = (
        select(*columns, *_ALWAYS)
        .select_from(RisScheduledStep)
        .join(RisRequestedProcedure, RisScheduledStep.procedure_fk == RisRequestedProcedure.id)
        .join(RisOrder, RisRequestedProcedure.order_fk == RisOrder.id)
        .join(RisPatient, RisOrder.patient_fk == RisPatient.id)
    )
    for match in query.matches:
        clause = where_clause(match)
        if clause is not None:
            stmt = stmt.where(clause)
    if query.only_scheduled:
        # Written so that no index serves it ("|| ''"): most steps are SCHEDULED, and with the
        # status index SQLite would walk all of them instead of using the selective key
        # (PatientID, station, date) the modality gave.
        status = RisScheduledStep.scheduled_procedure_step_status + ""
        stmt = stmt.where(status == _SCHEDULED)
    stmt = stmt.order_by(
        RisScheduledStep.scheduled_procedure_step_start_date,
        RisScheduledStep.scheduled_procedure_step_start_time,
        RisScheduledStep.id,
    )
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def protocol_code_items(jj1017: str | None, meaning: str | None) -> list[dict[str, Any]]:
    """ScheduledProtocolCodeSequence for a JJ1017-32 code: the 16M half as the code, the 16S
    half in its ProtocolContextSequence (PS3.16 TID 15200, concept DCM 123016 "Imaging
    Conditions"), so neither half is lost to SH's 16 characters."""
    if not jj1017:
        return []
    from raddx.ris.jj1017 import CODING_SCHEME_16M, CODING_SCHEME_16S

    return [
        {
            "CodeValue": jj1017[:16],
            "CodingSchemeDesignator": CODING_SCHEME_16M,
            "CodeMeaning": meaning or jj1017[:16],
            "ProtocolContextSequence": [
                {
                    "ValueType": "CODE",
                    "ConceptNameCodeSequence": [
                        {
                            "CodeValue": "123016",
                            "CodingSchemeDesignator": "DCM",
                            "CodeMeaning": "Imaging Conditions",
                        }
                    ],
                    "ConceptCodeSequence": [
                        {
                            "CodeValue": jj1017[16:],
                            "CodingSchemeDesignator": CODING_SCHEME_16S,
                            "CodeMeaning": jj1017[16:],
                        }
                    ],
                }
            ],
        }
    ]


def find_worklist(query: WorklistQuery, *, session: Session) -> Iterator[dict[str, Any]]:
    """Yield one answer per matching worklist item: the requested top-level keys (``None``
    when we hold no value), and a ScheduledProcedureStepSequence of one item holding the
    requested item keys (all we hold when the key was empty). ScheduledProtocolCodeSequence
    is built from the requested procedure's JJ1017 code (:func:`protocol_code_items`)."""
    top = [k for k in query.keys if k != SPS_SEQUENCE]
    for row in session.execute(_statement(query)):
        values = row._mapping
        answer: dict[str, Any] = {k: values[k] if k in WORKLIST_ATTRIBUTES else None for k in top}
        if _ISSUER_SEQUENCE in answer:
            answer[_ISSUER_SEQUENCE] = accession_issuer_items(values["_accession_issuer"])
        if SPS_SEQUENCE in query.keys or not top:
            item: dict[str, Any] = {}
            for keyword in query.step_keys:
                if keyword in WORKLIST_STEP_ATTRIBUTES:
                    item[keyword] = values["sps." + keyword]
                elif keyword == "ScheduledProtocolCodeSequence":
                    item[keyword] = protocol_code_items(
                        values["_jj1017"], values["_rp_description"]
                    )
                else:
                    item[keyword] = None
            answer[SPS_SEQUENCE] = [item]
        yield answer


class WorklistService:
    """Runs worklist queries in read-only units of work of their own (for the DIMSE door)."""

    def __init__(self, session_factory: sessionmaker[Any]) -> None:
        self._session_factory = session_factory

    def find(self, query: WorklistQuery) -> Generator[dict[str, Any], None, None]:
        """Like :func:`find_worklist`, in a session owned by the iterator."""
        with self._session_factory() as session, session.begin():
            session.connection(execution_options=READ_ONLY_OPTIONS)
            yield from find_worklist(query, session=session)
