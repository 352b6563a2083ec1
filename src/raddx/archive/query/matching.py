"""Matching rules of PS3.4 C.2.2.2: from a key's value to terms, from terms to SQL.

Parsing (:func:`parse_key`) is pure and raises :class:`~raddx.errors.InvalidInput` for values
the standard does not allow, so that a bad :class:`~raddx.archive.query.Query` cannot be built.
:func:`where_clause` turns a parsed key into a SQLAlchemy condition that runs unchanged on
SQLite and PostgreSQL.

Supported: single value (C.2.2.2.1), list of UIDs (C.2.2.2.2), universal (C.2.2.2.3),
wildcard ``*``/``?`` (C.2.2.2.4), range for DA/TM/DT including open ranges (C.2.2.2.5),
multiple values separated by ``\\`` as alternatives (C.2.2.2.8). Person names match
case-insensitively by default against any of the three component groups, or by their fuzzy
keys (C.2.2.2.1.1, :func:`raddx.archive.names.fuzzy_group`). DT values are compared as
instants (their UTC form, ``raddx.archive.datetimes``); with a query timezone (C.2.2.2.5:
TimezoneOffsetFromUTC in the identifier) DT values without an offset and StudyDate are taken
in that timezone. Sequence matching (C.2.2.2.6) is in :mod:`.sequences`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import literal
from sqlalchemy.types import NullType

from raddx.archive.datetimes import date_time_utc
from raddx.archive.names import fuzzy_group, normalize_group
from raddx.archive.query.attributes import Attribute
from raddx.archive.query.enum import AttributeKindValues
from raddx.archive.query.visibility import visible
from raddx.db.models import Series, Study
from raddx.errors import InvalidInput

__all__ = ["KeyMatch", "Range", "SingleValue", "Wildcard", "parse_key", "where_clause"]

_K = AttributeKindValues
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DA = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")
_TM = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(\.\d{1,6})?)?)?$")
_DT_BODY = r"\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)?)?(?:[+-]\d{4})?"
_DT = re.compile(rf"^{_DT_BODY}$")
_DT_RANGE = re.compile(rf"^({_DT_BODY})?-({_DT_BODY})?$")
_PN_GROUPS = ("_alphabetic", "_ideographic", "_phonetic")


@dataclass(frozen=True, slots=True)
class SingleValue:
    """C.2.2.2.1: equal to ``value`` (already normalised as the index stores it)."""

    value: str | int


@dataclass(frozen=True, slots=True)
class Wildcard:
    """C.2.2.2.4: ``*`` any sequence, ``?`` any single character."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Range:
    """C.2.2.2.5: ``lower-upper``, ``-upper`` or ``lower-``, bounds inclusive."""

    lower: str | None
    upper: str | None


Term = SingleValue | Wildcard | Range


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """A parsed matching key: the alternatives are ORed (UID list, multiple values).

    For PN, ``groups`` holds one term list per component group when the value named groups
    (``Yamada^Tarou=山田^太郎``); otherwise ``terms`` is matched against any group.
    """

    attribute: Attribute
    terms: tuple[Term, ...]
    groups: tuple[Term | None, ...] | None = None
    case_insensitive: bool = True
    #: PN: match the fuzzy keys (C.2.2.2.1.1) instead of the normalised groups.
    fuzzy: bool = False
    #: Match another column than the attribute's: the UTC instant of a DT (``_utc``) or of
    #: the study (StudyDate in a query timezone).
    column: str | None = None


def _is_wild(value: str) -> bool:
    return "*" in value or "?" in value


def _fail(attribute: Attribute, value: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{attribute.keyword} {value!r}: {reason}")


def _da(attribute: Attribute, value: str) -> str:
    m = _DA.match(value)
    if not m or not ("01" <= m.group(2) <= "12" and "01" <= m.group(3) <= "31"):
        raise _fail(attribute, value, "not a date (DA is YYYYMMDD)")
    return "".join(m.groups())


def _tm(attribute: Attribute, value: str) -> str:
    m = _TM.match(value)
    # PS3.5 Table 6.2-1: HH 00-23, MM 00-59, SS 00-60 (leap second).
    if not m or m.group(1) > "23" or (m.group(2) or "") > "59" or (m.group(3) or "") > "60":
        raise _fail(attribute, value, "not a time (TM is HH[MM[SS[.FFFFFF]]])")
    return "".join(g for g in m.groups() if g)


def _dt(attribute: Attribute, value: str) -> str:
    if not _DT.match(value):
        raise _fail(attribute, value, "not a date-time (DT is YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX])")
    return value


_TEMPORAL = {_K.DA: _da, _K.TM: _tm, _K.DT: _dt}


def _utc(attribute: Attribute, value: str, timezone: str | None) -> str:
    utc = date_time_utc(value, timezone)
    if utc is None:
        raise _fail(attribute, value, "not a date-time (a month, day or hour out of range)")
    return utc


def _temporal_term(
    attribute: Attribute, value: str, timezone: str | None = None, *, ordered: bool = True
) -> Term:
    normalise = _TEMPORAL[attribute.kind]
    if attribute.kind is _K.DT:
        # Compared as instants: each bound goes to UTC, with its own offset, else the
        # query's timezone, else as written (see raddx.archive.datetimes).
        if _DT.match(value):  # "20240101-0500" is a DT with an offset, not a range
            return SingleValue(_utc(attribute, value, timezone))
        m = _DT_RANGE.match(value)
        if not m or value == "-":
            raise _fail(attribute, value, "malformed date-time or range")
        lower = _utc(attribute, m.group(1), timezone) if m.group(1) else None
        upper = _utc(attribute, m.group(2), timezone) if m.group(2) else None
    elif "-" in value:
        if value.count("-") != 1 or value == "-":
            raise _fail(
                attribute, value, "malformed range (expected lower-upper, -upper or lower-)"
            )
        low_text, high_text = value.split("-")
        try:
            lower = normalise(attribute, low_text) if low_text else None
            upper = normalise(attribute, high_text) if high_text else None
        except InvalidInput as exc:
            raise _fail(attribute, value, f"malformed range: {exc}") from None
    else:
        single = normalise(attribute, value)
        if attribute.kind is _K.TM:
            # Ingest pads TM to HHMMSS ("0930" is stored as "093000"); a single value is the
            # same time, so it is padded the same way to compare equal.
            whole, _, fraction = single.partition(".")
            single = whole.ljust(6, "0") + ("." + fraction if fraction else "")
        return SingleValue(single)
    if ordered and lower is not None and upper is not None and lower > upper:
        raise _fail(attribute, value, "range lower bound is after its upper bound")
    return Range(lower, upper)


def _term(
    attribute: Attribute,
    value: str,
    *,
    case_insensitive: bool,
    fuzzy: bool = False,
    timezone: str | None = None,
    ordered: bool = True,
) -> Term:
    kind = attribute.kind
    if kind is _K.UID:
        if _is_wild(value):
            raise _fail(attribute, value, "wildcards are not allowed in UID keys (C.2.2.2.2)")
        if len(value) > 64 or not _UID.match(value):
            raise _fail(attribute, value, "not a UID (digits and dots, at most 64 characters)")
        return SingleValue(value)
    if kind in _TEMPORAL:
        if _is_wild(value):
            raise _fail(attribute, value, f"wildcards are not allowed in {kind.value} keys")
        return _temporal_term(attribute, value, timezone, ordered=ordered)
    if kind is _K.INT:
        try:
            return SingleValue(int(value))
        except ValueError:
            raise _fail(attribute, value, "not an integer") from None
    if kind is _K.PN:
        if fuzzy:
            text = fuzzy_group(value) or ""
        elif case_insensitive:
            text = normalize_group(value) or ""
        else:
            text = value.strip()
        text = text or ""
        return Wildcard(text) if _is_wild(text) else SingleValue(text)
    return Wildcard(value) if _is_wild(value) else SingleValue(value)


def parse_key(
    attribute: Attribute,
    value: str | None,
    *,
    case_insensitive: bool = True,
    fuzzy: bool = False,
    timezone: str | None = None,
    ordered: bool = True,
) -> KeyMatch:
    """Parse a key's matching value; no terms when it is a universal match (return only).

    ``fuzzy`` matches person names by their fuzzy keys (C.2.2.2.1.1); ``timezone`` is the
    query's TimezoneOffsetFromUTC (C.2.2.2.5): DT values without an offset, and StudyDate,
    are in that timezone. ``ordered=False`` lets a TM range run "backwards" (``2300-0100``),
    for combined date-time matching, where the dates order the bounds.

    Raises
    ------
    InvalidInput
        A wildcard in a UID, DA, TM, DT or integer key, a malformed date/time or range, a
        range whose lower bound is after its upper bound, a value that is not a UID or integer.
    """
    options: dict[str, Any] = {"case_insensitive": case_insensitive}
    if attribute.kind is _K.PN:
        options["fuzzy"] = fuzzy
    text = (value or "").strip()
    # C.2.2.2.3/C.2.2.2.4: empty and a lone "*" are universal matches.
    if not text or text == "*":
        return KeyMatch(attribute, (), **options)
    if attribute.kind is _K.PN and "=" in text and "\\" not in text:
        groups = [g.strip() for g in [*text.split("="), "", ""][:3]]
        if len(text.split("=")) > 3:
            raise _fail(attribute, text, "a person name has at most three component groups")
        parsed = tuple(_term(attribute, g, **options) if g and g != "*" else None for g in groups)
        return KeyMatch(attribute, (), groups=parsed, **options)
    values = [v.strip() for v in text.split("\\")]
    if any(not v for v in values):
        raise _fail(attribute, text, "empty value in a multiple-value key")
    terms = tuple(
        _term(attribute, v, **options, timezone=timezone, ordered=ordered) for v in values
    )
    if attribute.kind is _K.DT:
        return KeyMatch(attribute, terms, column=attribute.column + "_utc", **options)
    if attribute.keyword == "StudyDate" and timezone:
        # The caller's days are other spans of the study's local date and time: match the
        # study's UTC instant against the caller's day boundaries in UTC.
        return KeyMatch(
            attribute,
            tuple(_day_span(attribute, t, timezone) for t in terms),
            column="study_date_time_utc",
            **options,
        )
    return KeyMatch(attribute, terms, **options)


def _day_span(attribute: Attribute, term: Term, timezone: str) -> Range:
    """A DA term in ``timezone`` as a range of UTC instants, midnight to midnight."""
    if isinstance(term, SingleValue):
        lower: str | None = str(term.value)
        upper: str | None = str(term.value)
    else:
        assert isinstance(term, Range)  # DA terms are single values or ranges
        lower, upper = term.lower, term.upper
    return Range(
        _utc(attribute, lower + "000000", timezone) if lower else None,
        _utc(attribute, upper + "235959.999999", timezone) if upper else None,
    )


class _CaseSensitiveLike(ColumnElement[bool]):
    """``column LIKE pattern ESCAPE '!'``, but case-sensitive on every database.

    SQLite's LIKE ignores ASCII case, so there it compiles to GLOB (case-sensitive, and able
    to use the column's index for a prefix). The pattern is kept in DICOM form (``*``/``?``)
    and translated per dialect.
    """

    # The pattern is not part of a cache key; statements holding this are simply not cached.
    inherit_cache = False
    # Not Boolean: SQLAlchemy would render "GLOB ? = 1" on SQLite (no native boolean), and
    # SQLite only serves a GLOB prefix from an index when GLOB is the whole condition.
    type = NullType()

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.dicom_pattern = pattern

    @property
    def _from_objects(self) -> list[Any]:
        return self.column._from_objects


def _like_pattern(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch in "!%_":
            out.append("!" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _glob_pattern(pattern: str) -> str:
    return "".join("[[]" if ch == "[" else ch for ch in pattern)


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    pattern = compiler.process(literal(_like_pattern(element.dicom_pattern)), **kw)
    return f"{column} LIKE {pattern} ESCAPE '!'"


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    pattern = compiler.process(literal(_glob_pattern(element.dicom_pattern)), **kw)
    return f"{column} GLOB {pattern}"


def _term_clause(
    column: ColumnElement[Any], term: Term, *, prefix_upper: bool = False
) -> ColumnElement[bool]:
    if isinstance(term, SingleValue):
        return column == term.value
    if isinstance(term, Wildcard):
        return _CaseSensitiveLike(column, term.pattern)
    parts: list[ColumnElement[bool]] = []
    if term.lower is not None:
        parts.append(column >= term.lower)
    if term.upper is not None and prefix_upper:
        # TM/DT: a stored value longer than the bound but starting with it ("101530" for
        # "-1015", "20240101120000" for "-20240101") lies within the bound's precision.
        parts.append(or_(column <= term.upper, column.startswith(term.upper, autoescape=True)))
    elif term.upper is not None:
        # DA is always 8 digits: a plain comparison, so the date index serves the range.
        parts.append(column <= term.upper)
    return and_(*parts)


def _pn_clause(match: KeyMatch) -> ColumnElement[bool]:
    attribute = match.attribute
    suffix = "_fuzzy" if match.fuzzy else "_norm" if match.case_insensitive else ""
    columns = [attribute.expression(group + suffix) for group in _PN_GROUPS]
    if match.groups is not None:
        return and_(
            *(_term_clause(col, t) for col, t in zip(columns, match.groups, strict=True) if t)
        )
    return or_(*(_term_clause(col, t) for t in match.terms for col in columns))


def _modalities_clause(match: KeyMatch) -> ColumnElement[bool]:
    # C.6.2.1.2: a study matches when any of its series has a matching Modality.
    return exists(
        select(Series.id).where(
            Series.study_fk == Study.id,
            visible(Series),
            or_(*(_term_clause(Series.modality, t) for t in match.terms)),
        )
    )


def where_clause(match: KeyMatch) -> ColumnElement[bool] | None:
    """The SQL condition for one parsed key; ``None`` for a universal match."""
    if not match.terms and match.groups is None:
        return None
    kind = match.attribute.kind
    if kind is _K.PN:
        return _pn_clause(match)
    if kind is _K.MODALITIES:
        return _modalities_clause(match)
    attribute = match.attribute
    column = attribute.named(match.column) if match.column else attribute.expression()
    if kind is _K.UID and all(isinstance(t, SingleValue) for t in match.terms):
        return column.in_([t.value for t in match.terms])  # type: ignore[union-attr]
    prefix_upper = kind in (_K.TM, _K.DT)
    clauses = [_term_clause(column, t, prefix_upper=prefix_upper) for t in match.terms]
    return or_(*clauses) if clauses else false()
