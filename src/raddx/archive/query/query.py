"""The neutral query every door builds: C-FIND, QIDO-RS, the REST API and the UI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import tag_for_keyword

from raddx.archive.datetimes import offset_minutes
from raddx.archive.query.attributes import ATTRIBUTES, SEQUENCES, level_in_model
from raddx.archive.query.combined import CombinedMatch, combine
from raddx.archive.query.enum import InformationModelValues, QueryRetrieveLevelValues
from raddx.archive.query.matching import KeyMatch, parse_key
from raddx.archive.query.ordering import SortKey, parse_order
from raddx.archive.query.report_status import parse_report_status
from raddx.archive.query.sequences import SequenceMatch, SequenceValue, parse_sequence
from raddx.errors import InvalidInput

__all__ = ["Query"]

#: The largest limit or offset a query takes (signed 64-bit, what SQLite and PostgreSQL bind).
_MAX_PAGING = 2**63 - 1


def _coerce(enum: type[Any], value: Any, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"{name} {value!r} is not one of {allowed}") from None


@dataclass(frozen=True)
class Query:
    """A query against the archive index, checked when it is built (PS3.4 C.2.2, C.6).

    Parameters
    ----------
    level
        QueryRetrieveLevel: PATIENT, STUDY, SERIES or IMAGE.
    information_model
        PATIENT_ROOT or STUDY_ROOT (no PATIENT level in Study Root).
    keys
        DICOM keyword → matching value as decoded text; ``None`` or ``""`` makes the key a
        return key (universal match). Keywords the index does not hold are returned empty and
        their values are not matched (PS3.4 C.2.2.1: optional keys an SCP does not support).
        A sequence key (ProcedureCodeSequence, RequestAttributesSequence) takes ``None`` or a
        list of one item mapping item keywords to values (C.2.2.2.6).
    case_insensitive_pn
        Match person names ignoring case (and Unicode width, NFKC); default on (issue 4).
    fuzzy
        Fuzzy semantic matching of person names (C.2.2.2.1.1): kana/romaji, width, long
        vowels, kanji variants… (:func:`raddx.archive.names.fuzzy_group`).
    timezone_offset_from_utc
        The caller's timezone (``+0900``), from TimezoneOffsetFromUTC in the identifier
        (C.2.2.2.5): DT values without an offset, and StudyDate, are taken in it.
    combined_date_time
        Combined date-time matching (C.2.2.2.5, negotiated): a date key and its time key
        (StudyDate and StudyTime, …) are one range of date-times (:mod:`.combined`).
    relational
        Relational query (PS3.4 C.4.1.2.2, negotiated): keys of levels below the query level
        are allowed; an entity matches when one entity below it matches all of them (e.g.
        studies with a CT series). Those keys are returned empty.
    limit, offset
        Paging over the matches, in index order (or in ``order_by`` order).
    order_by
        Sort keys (:mod:`.ordering`): keywords of the query level or above, ``-`` in front
        for descending (``("-StudyDate", "-StudyTime")``); the row id breaks ties. Empty:
        index order.
    report_status
        STUDY level: only studies whose report status (:mod:`.report_status`) is one of
        these (``none``, ``draft``, ``preliminary``, ``final``, ``amended``, ``corrected``).
    report_status_returned
        STUDY level: answers carry ``ReportStatus`` (not a DICOM attribute; REST only).

    Raises
    ------
    InvalidInput
        Unknown level or model; PATIENT level in Study Root; a keyword that is not a DICOM
        keyword; a key of a level below the query level (e.g. SOPInstanceUID at STUDY level)
        unless ``relational`` (a sequence key never); a malformed value (see
        :func:`~raddx.archive.query.matching.parse_key`); a malformed sequence key; a
        malformed timezone; a combined date-time range that ends before it starts; a
        negative offset or a limit below 1; a limit or offset beyond 2**63 - 1; a sort key
        that cannot be sorted by (:func:`~.ordering.parse_order`); an unknown report
        status, or report status at another level than STUDY.
    """

    level: QueryRetrieveLevelValues
    information_model: InformationModelValues
    keys: Mapping[str, str | SequenceValue]
    case_insensitive_pn: bool = True
    fuzzy: bool = False
    timezone_offset_from_utc: str | None = None
    relational: bool = False
    combined_date_time: bool = False
    limit: int | None = None
    offset: int = 0
    order_by: tuple[str, ...] = ()
    report_status: tuple[str, ...] = ()
    report_status_returned: bool = False
    matches: tuple[KeyMatch, ...] = field(init=False, repr=False, compare=False)
    sequences: tuple[SequenceMatch, ...] = field(init=False, repr=False, compare=False)
    #: Relational: matches on keys of levels below the query level, and those keywords.
    below: tuple[KeyMatch, ...] = field(init=False, repr=False, compare=False)
    below_keywords: frozenset[str] = field(init=False, repr=False, compare=False)
    #: Combined date-time matches (they replace their date and time keys in ``matches``).
    combined: tuple[CombinedMatch, ...] = field(init=False, repr=False, compare=False)
    #: Parsed ``order_by``.
    sort_keys: tuple[SortKey, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        level = _coerce(QueryRetrieveLevelValues, self.level, "QueryRetrieveLevel")
        model = _coerce(InformationModelValues, self.information_model, "information model")
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "information_model", model)
        object.__setattr__(self, "keys", dict(self.keys))
        if model is InformationModelValues.STUDY_ROOT and level is QueryRetrieveLevelValues.PATIENT:
            raise InvalidInput("QueryRetrieveLevel PATIENT does not exist in the Study Root model")
        timezone = self.timezone_offset_from_utc
        if timezone is not None and offset_minutes(timezone) is None:
            raise InvalidInput(
                f"TimezoneOffsetFromUTC {timezone!r} is not an offset (&ZZXX, -1200 to +1400)"
            )
        if self.limit is not None and self.limit < 1:
            raise InvalidInput(f"limit must be at least 1, not {self.limit}")
        if self.offset < 0:
            raise InvalidInput(f"offset must not be negative, not {self.offset}")
        # Past a signed 64-bit integer the databases cannot bind it (SQLite raises
        # OverflowError): refused here, for every door, rather than a 500 or a failed C-FIND.
        if self.offset > _MAX_PAGING or (self.limit or 0) > _MAX_PAGING:
            raise InvalidInput(f"limit and offset must be at most {_MAX_PAGING}")
        object.__setattr__(self, "sort_keys", parse_order(tuple(self.order_by), level, model))
        object.__setattr__(self, "report_status", parse_report_status(tuple(self.report_status)))
        if (self.report_status or self.report_status_returned) and (
            level is not QueryRetrieveLevelValues.STUDY
        ):
            raise InvalidInput("report status is a STUDY-level key")
        matches: list[KeyMatch] = []
        sequences: list[SequenceMatch] = []
        below: list[KeyMatch] = []
        below_keywords: set[str] = set()
        for keyword, value in self.keys.items():
            if tag_for_keyword(keyword) is None:
                raise InvalidInput(f"{keyword!r} is not a DICOM keyword")
            attribute = ATTRIBUTES.get(keyword) or SEQUENCES.get(keyword)
            if attribute is None:
                continue
            key_level = level_in_model(attribute.entity, model)
            is_below = key_level.depth > level.depth
            if is_below and (not self.relational or keyword in SEQUENCES):
                raise InvalidInput(
                    f"{keyword} is a {key_level.value}-level key; it cannot be used in a "
                    f"{level.value}-level query ({model.value}) without relational queries"
                )
            if is_below:
                below_keywords.add(keyword)
            if keyword in SEQUENCES:
                sequences.append(
                    parse_sequence(
                        SEQUENCES[keyword], value, case_insensitive=self.case_insensitive_pn
                    )
                )
                continue
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"{keyword} is not a sequence; its key is text")
            # A StudyDate to be combined with StudyTime takes the timezone in combine(); a
            # time to be combined with its date may run past midnight (2300-0100).
            paired = (
                self.combined_date_time and keyword == "StudyDate" and self.keys.get("StudyTime")
            )
            date_keyword = keyword[: -len("Time")] + "Date" if keyword.endswith("Time") else ""
            time_paired = self.combined_date_time and bool(self.keys.get(date_keyword))
            match = parse_key(
                ATTRIBUTES[keyword],
                value,
                case_insensitive=self.case_insensitive_pn,
                fuzzy=self.fuzzy,
                timezone=None if paired else timezone,
                ordered=not time_paired,
            )
            if match.terms or match.groups is not None:
                (below if is_below else matches).append(match)
        combined: list[CombinedMatch] = []
        if self.combined_date_time:
            matches, combined = combine(matches, timezone)
            # A StudyDate left uncombined (alternatives in StudyTime) takes the timezone.
            matches = [
                parse_key(m.attribute, str(self.keys["StudyDate"]), timezone=timezone)
                if m.attribute.keyword == "StudyDate" and timezone
                else m
                for m in matches
            ]
        object.__setattr__(self, "matches", tuple(matches))
        object.__setattr__(self, "combined", tuple(combined))
        object.__setattr__(self, "below", tuple(below))
        object.__setattr__(self, "below_keywords", frozenset(below_keywords))
        object.__setattr__(self, "sequences", tuple(sequences))
