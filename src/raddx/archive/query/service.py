"""Run a :class:`~raddx.archive.query.Query` against the index and build the answers."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from raddx.archive.query.attributes import ATTRIBUTES, UNIQUE_KEYS, Attribute
from raddx.archive.query.enum import (
    AttributeKindValues,
    InformationModelValues,
    QueryRetrieveLevelValues,
)
from raddx.archive.query.matching import where_clause
from raddx.archive.query.ordering import order_terms
from raddx.archive.query.query import Query
from raddx.archive.query.report_status import report_status_clause, report_status_expression
from raddx.archive.query.sequences import SequenceMatch, item_rows, sequence_clause
from raddx.archive.query.visibility import visible
from raddx.db import READ_ONLY_OPTIONS
from raddx.db.models import Instance, Patient, Series, Study

__all__ = ["InstanceRef", "QueryService", "count", "find", "matching_instances"]

_L = QueryRetrieveLevelValues
#: The answer key of a study's report status (``Query.report_status_returned``).
REPORT_STATUS = "ReportStatus"
_LEVEL_TABLE: dict[QueryRetrieveLevelValues, Any] = {
    _L.PATIENT: Patient,
    _L.STUDY: Study,
    _L.SERIES: Series,
    _L.IMAGE: Instance,
}


def _return_attributes(query: Query) -> list[Attribute]:
    """Requested keys the index knows, plus the Unique Keys of the query level and above
    (PatientID only in Patient Root, where PATIENT is a level)."""
    keywords = list(query.keys)
    for level in _L:
        if level.depth > query.level.depth:
            break
        if level is _L.PATIENT and query.information_model is InformationModelValues.STUDY_ROOT:
            continue
        if UNIQUE_KEYS[level] not in keywords:
            keywords.append(UNIQUE_KEYS[level])
    return [ATTRIBUTES[k] for k in keywords if k in ATTRIBUTES and k not in query.below_keywords]


def _joined(stmt: Select[Any], level: QueryRetrieveLevelValues) -> Select[Any]:
    """``stmt`` on the table of ``level``, joined upwards to every ancestor."""
    if level.depth >= _L.IMAGE.depth:
        stmt = stmt.join(Series, Instance.series_fk == Series.id)
    if level.depth >= _L.SERIES.depth:
        stmt = stmt.join(Study, Series.study_fk == Study.id)
    if level.depth >= _L.STUDY.depth:
        stmt = stmt.join(Patient, Study.patient_fk == Patient.id)
    return stmt


def _matched(stmt: Select[Any], query: Query, level: QueryRetrieveLevelValues) -> Select[Any]:
    """``stmt`` on the table of ``level``, joined upwards to every ancestor (keys of higher
    levels may be matched and returned), restricted to the query's matches."""
    stmt = _joined(stmt, level)
    # Soft-deleted rows are hidden from every door (raddx.archive.deletion marks a deleted
    # entity and everything below it, so the query level's own table decides).
    stmt = stmt.where(visible(_LEVEL_TABLE[level]))
    for match in query.matches:
        clause = where_clause(match)
        if clause is not None:
            stmt = stmt.where(clause)
    for sequence in query.sequences:
        # The query's level decides which entity's items match (a study's, or a series'),
        # also when a retrieve walks down to its instances.
        clause = sequence_clause(sequence, query.level)
        if clause is not None:
            stmt = stmt.where(clause)
    for combined in query.combined:
        stmt = stmt.where(combined.clause())
    if query.report_status and level is _L.STUDY:
        stmt = stmt.where(report_status_clause(query.report_status))
    if query.below:
        stmt = stmt.where(_relational_clause(query))
    return stmt


#: Patient → Study → Series → Instance, with each table's foreign key to the one above.
_LADDER: tuple[tuple[Any, Any], ...] = (
    (Patient, None),
    (Study, Study.patient_fk),
    (Series, Series.study_fk),
    (Instance, Instance.series_fk),
)


def _relational_clause(query: Query) -> ColumnElement[bool]:
    """Relational keys (PS3.4 C.4.1.2.2): the query-level entity has, below it, one entity
    of the deepest key's level matching every lower-level key together. Written as
    ``id IN (SELECT fk …)`` so the lower tables' indexes drive the lookup."""
    top = _ENTITY_DEPTH[query.level]
    deepest = max(_ENTITY_DEPTH[m.attribute.entity] for m in query.below)
    table, _ = _LADDER[deepest]
    sub = select(_LADDER[top + 1][1]).select_from(table)
    for depth in range(deepest, top + 1, -1):
        _, fk = _LADDER[depth]
        parent, _ = _LADDER[depth - 1]
        sub = sub.join(parent, fk == parent.id)
    for match in query.below:
        clause = where_clause(match)
        if clause is not None:
            sub = sub.where(clause)
    sub = sub.where(visible(table))
    return _LADDER[top][0].id.in_(sub)  # type: ignore[no-any-return]


#: The table depth of each level (STUDY is the Study table in both information models).
_ENTITY_DEPTH = {_L.PATIENT: 0, _L.STUDY: 1, _L.SERIES: 2, _L.IMAGE: 3}


def _owner_label(sequence: SequenceMatch) -> str:
    return f"_owner_{sequence.attribute.keyword}"


def _statement(query: Query, returned: list[Attribute]) -> Select[Any]:
    table = _LEVEL_TABLE[query.level]
    columns = [a.expression().label(a.keyword) for a in returned]
    for sequence in query.sequences:
        _, parent = sequence.attribute.owner(query.level)
        columns.append(parent.id.label(_owner_label(sequence)))
    if query.report_status_returned:
        columns.append(report_status_expression().label(REPORT_STATUS))
    if query.sort_keys:
        # Sorted: the bare id ends the order so an index on (sort expression, id) serves
        # the whole ORDER BY, forwards or backwards (migration 0016). The page's ids are
        # found first and only they are read whole ("late row lookup"): otherwise PostgreSQL
        # computes every column, the report status subquery included, for each row the
        # offset skips (page 500 of 100,000 studies: 12,475 of them).
        terms = order_terms(query.sort_keys, table)
        page = _matched(select(table.id).select_from(table), query, query.level).order_by(*terms)
        page = page.offset(query.offset or None)
        if query.limit is not None:
            page = page.limit(query.limit)
        stmt = _joined(select(*columns).select_from(table), query.level)
        # correlate(None): the page is its own query, not a condition on the outer rows.
        page_ids = page.correlate(None).scalar_subquery()
        return stmt.where(table.id.in_(page_ids)).order_by(*terms)
    stmt = _matched(select(*columns).select_from(table), query, query.level)
    # Ordered for stable paging. "id + 0", not "id": ordering by the bare rowid makes SQLite
    # prefer walking the whole table in id order over an index search on the matching keys
    # (seen with name wildcards); sorting the matches instead is cheap.
    stmt = stmt.order_by(table.id + 0)
    stmt = stmt.offset(query.offset or None)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def _value(attribute: Attribute, value: Any) -> Any:
    if attribute.kind is AttributeKindValues.MODALITIES:
        return [m for m in (value or "").split("\\") if m]
    return value


def find(query: Query, *, session: Session) -> Iterator[dict[str, Any]]:
    """Yield one answer per match: keyword → value, in index order.

    Each answer holds ``QueryRetrieveLevel``, every requested key (``None`` when the index
    does not hold it or the entity has no value), and the Unique Keys of the query level and
    the levels above it. Text is the verbatim decoded value (person names with all their
    component groups), DA/TM as stored (``YYYYMMDD``, ``HHMMSS[.ffffff]``), counts as ``int``,
    ModalitiesInStudy as a list. PS3.4 C.2.2.3, C.4.1.2.2.
    """
    returned = _return_attributes(query)
    stmt = _statement(query, returned)
    sequences = {s.attribute.keyword: s for s in query.sequences}
    unknown = [
        k
        for k in query.keys
        if (k not in ATTRIBUTES and k not in sequences) or k in query.below_keywords
    ]
    rows = session.execute(stmt)
    # Sequence items are fetched for a batch of answers at a time (one query per sequence
    # per batch, not per answer); without sequence keys the batching costs nothing.
    batches: Iterable[Any] = _batched(rows, _ITEM_BATCH) if sequences else [rows]
    for batch in batches:
        items = {k: _items(session, s, query, batch) for k, s in sequences.items()}
        for row in batch:
            answer: dict[str, Any] = {"QueryRetrieveLevel": query.level.value}
            mapping = row._mapping
            for attribute in returned:
                answer[attribute.keyword] = _value(attribute, mapping[attribute.keyword])
            for keyword, by_owner in items.items():
                owner = mapping[_owner_label(sequences[keyword])]
                answer[keyword] = by_owner.get(owner, [])
            for keyword in unknown:
                answer[keyword] = None
            if query.report_status_returned:
                answer[REPORT_STATUS] = mapping[REPORT_STATUS]
            yield answer


def count(query: Query, *, session: Session, cap: int) -> int:
    """How many entities ``query`` matches, counted up to ``cap + 1`` at most: a count of
    100,000 matches would cost more than the page it goes with, and "more than ``cap``"
    is what a person needs to know (``limit``/``offset``/``order_by`` are ignored)."""
    table = _LEVEL_TABLE[query.level]
    matched = _matched(select(table.id).select_from(table), query, query.level)
    sub = matched.limit(cap + 1).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


#: Answers per sequence-item lookup: bounded so the ``IN`` list stays small.
_ITEM_BATCH = 200


def _batched(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    # itertools.batched arrives with Python 3.12; we support 3.11.
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _items(
    session: Session, sequence: SequenceMatch, query: Query, batch: Iterable[Any]
) -> dict[int, list[dict[str, Any]]]:
    """Owner id → the items to return (matching items only, C.2.2.2.6), each holding the
    requested item keywords (``None`` for those the index does not keep), duplicates
    dropped (a study gathers its series' RequestAttributesSequence items)."""
    label = _owner_label(sequence)
    owners = sorted({row._mapping[label] for row in batch})
    found: dict[int, list[dict[str, Any]]] = {}
    seen: set[tuple[int, tuple[Any, ...]]] = set()
    for row in session.execute(item_rows(sequence, query.level, owners)):
        values = row._mapping
        item = {k: values.get(k) for k in sequence.returned}
        key = (values["owner"], tuple(item.values()))
        if key not in seen:
            seen.add(key)
            found.setdefault(values["owner"], []).append(item)
    return found


class InstanceRef(NamedTuple):
    """Where a stored instance is and what it is: enough to send it (C-GET, C-MOVE)."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    blob_key: str


def matching_instances(query: Query, *, session: Session) -> list[InstanceRef]:
    """The instances below the entities ``query`` matches, with the same matching as
    :func:`find` (PS3.4 C.4.2.2.1, C.4.3.2.1: a retrieve sends every instance of each match).

    Ordered by series, then instance number, so a study arrives series by series.
    """
    columns = (
        Instance.sop_class_uid,
        Instance.sop_instance_uid,
        Instance.transfer_syntax_uid,
        Instance.blob_key,
    )
    stmt = _matched(select(*columns).select_from(Instance), query, _L.IMAGE)
    stmt = stmt.order_by(Instance.series_fk, Instance.instance_number, Instance.id)
    return [InstanceRef(*row) for row in session.execute(stmt)]


class QueryService:
    """Runs queries in read-only units of work of their own (for doors without a session).

    Parameters
    ----------
    session_factory
        Sessions on the index; one is opened per :meth:`find` and closed when the iterator
        is exhausted or closed (so a C-CANCEL that stops iteration releases it).
    """

    def __init__(self, session_factory: sessionmaker[Any]) -> None:
        self._session_factory = session_factory

    def find(self, query: Query) -> Iterator[dict[str, Any]]:
        """Like :func:`find`, in a session owned by the iterator."""
        with self._session_factory() as session, session.begin():
            # A query must not hold SQLite's write lock while the caller pages through the
            # answers: C-FIND would otherwise stall every C-STORE for its whole duration.
            session.connection(execution_options=READ_ONLY_OPTIONS)
            yield from find(query, session=session)

    def count(self, query: Query, *, cap: int) -> int:
        """Like :func:`count`, in a read-only session of its own."""
        with self._session_factory() as session, session.begin():
            session.connection(execution_options=READ_ONLY_OPTIONS)
            return count(query, session=session, cap=cap)
