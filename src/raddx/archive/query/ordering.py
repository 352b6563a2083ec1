"""Sorting answers: ``Query.order_by`` keywords → SQL ``ORDER BY`` terms with a stable tie-break.

C-FIND and QIDO-RS answer in no particular order (PS3.4 C.4.1.2.3); people browsing studies
want them sorted, and sorted on the server, so that page 2 follows page 1. Sorting lives here,
beside matching, so every door that sorts sorts alike.

A sort key is a DICOM keyword of the query's level or one above it, ``-`` in front for
descending. Values sort as stored text; an entity without the value sorts first ascending and
last descending (``NULLS FIRST``/``NULLS LAST`` spelled out: SQLite and PostgreSQL differ on
it by default, and the sort indexes of migration 0016 are built in this order on both). A
person name sorts by its normalised groups in the order phonetic (kana: 五十音順),
alphabetic, ideographic. The entity's row id ends every order, in the direction of the last
key, so equal values keep one order between pages and the index serves the whole order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from raddx.archive.query.attributes import ATTRIBUTES, Attribute, level_in_model
from raddx.archive.query.enum import (
    AttributeKindValues,
    InformationModelValues,
    QueryRetrieveLevelValues,
)
from raddx.errors import InvalidInput

__all__ = ["SortKey", "order_terms", "parse_order", "sort_columns"]

_K = AttributeKindValues
#: Kinds whose values sort as text (integers and computed counts are not offered).
_SORTABLE = frozenset({_K.TEXT, _K.PN, _K.DA, _K.TM, _K.UID, _K.MODALITIES})
_PN_ORDER = ("phonetic", "alphabetic", "ideographic")


@dataclass(frozen=True, slots=True)
class SortKey:
    """One sort key: the attribute and its direction."""

    attribute: Attribute
    descending: bool = False


def parse_order(
    order_by: tuple[str, ...],
    level: QueryRetrieveLevelValues,
    model: InformationModelValues,
) -> tuple[SortKey, ...]:
    """Parse ``("-StudyDate", "PatientName")`` into sort keys.

    Raises
    ------
    InvalidInput
        An empty key, a keyword the index does not hold or cannot sort by (counts, sequences),
        a key of a level below the query level, or a keyword given twice.
    """
    keys: list[SortKey] = []
    seen: set[str] = set()
    for text in order_by:
        descending = text.startswith("-")
        keyword = text[1:] if descending else text.removeprefix("+")
        attribute = ATTRIBUTES.get(keyword)
        if attribute is None or attribute.computed is not None or attribute.kind not in _SORTABLE:
            raise InvalidInput(f"cannot sort by {keyword!r}")
        if level_in_model(attribute.entity, model).depth > level.depth:
            raise InvalidInput(
                f"cannot sort a {level.value}-level query by {keyword} "
                f"(a {attribute.entity.value}-level attribute)"
            )
        if keyword in seen:
            raise InvalidInput(f"sort key {keyword} given twice")
        seen.add(keyword)
        keys.append(SortKey(attribute, descending))
    return tuple(keys)


def sort_columns(attribute: Attribute) -> list[ColumnElement[Any]]:
    """The columns ``attribute`` sorts by, most significant first."""
    if attribute.kind is _K.PN:
        return [attribute.expression(f"_{group}_norm") for group in _PN_ORDER]
    return [attribute.expression()]


def order_terms(keys: tuple[SortKey, ...], table: Any) -> list[ColumnElement[Any]]:
    """``ORDER BY`` terms for ``keys`` on a query of ``table``, ending with the row ids (in
    the direction of the last key) as the tie-break: first of each other table sorted by
    (the patient, when sorting studies by patient name), then of ``table``. That order is
    exactly what the sort index of the other table followed by ``table``'s foreign-key index
    yield, so the database can walk both instead of sorting every match."""
    terms: list[ColumnElement[Any]] = []
    owners: list[Any] = []
    for key in keys:
        for column in sort_columns(key.attribute):
            terms.append(
                column.desc().nulls_last() if key.descending else column.asc().nulls_first()
            )
            owner = getattr(column, "class_", table)
            if owner is not table and owner not in owners:
                owners.append(owner)
    last_descending = keys[-1].descending if keys else False
    for owner in [*owners, table]:
        terms.append(owner.id.desc() if last_descending else owner.id.asc())
    return terms
