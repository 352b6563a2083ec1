"""Sequence matching (PS3.4 C.2.2.2.6) and the items a sequence key returns.

A sequence key is a sequence of one item whose attributes are the item keys. The entity
matches when one stored item matches every item key; the answer carries the matching items
with only the requested attributes. A key with no item, or with an item without attributes,
is a universal match that returns the whole sequence (every indexed item attribute).

Item keys use the matching of :mod:`.matching` (single value, wildcard, universal, multiple
values); the items live in child tables (``procedure_code``, ``request_attributes``), so each
condition is an indexed lookup in the item table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import tag_for_keyword
from sqlalchemy import ColumnElement, Select, and_, select

from raddx.archive.query.attributes import SequenceAttribute
from raddx.archive.query.enum import QueryRetrieveLevelValues
from raddx.archive.query.matching import KeyMatch, parse_key, where_clause
from raddx.errors import InvalidInput

__all__ = ["SequenceMatch", "SequenceValue", "item_rows", "parse_sequence", "sequence_clause"]

#: What a door passes for a sequence key: nothing (universal) or a list of one item, each
#: item mapping item keywords to their matching values.
SequenceValue = Sequence[Mapping[str, Any]] | None


@dataclass(frozen=True, slots=True)
class SequenceMatch:
    """A parsed sequence key: ``items`` are the item keys with a value (ANDed on one
    item); ``returned`` the item keywords to return (all indexed ones when universal)."""

    attribute: SequenceAttribute
    items: tuple[KeyMatch, ...]
    returned: tuple[str, ...]


def parse_sequence(
    attribute: SequenceAttribute, value: SequenceValue | str, *, case_insensitive: bool = True
) -> SequenceMatch:
    """Parse a sequence key (C.2.2.2.6).

    Raises
    ------
    InvalidInput
        More than one item, an item that is not a mapping, an item keyword that is not a
        DICOM keyword, a malformed item value (see :func:`parse_key`).
    """
    keyword = attribute.keyword
    if value is None or value == "" or (not isinstance(value, str) and len(value) == 0):
        return SequenceMatch(attribute, (), tuple(attribute.items))
    if isinstance(value, str):
        raise InvalidInput(f"{keyword} is a sequence: its key is a sequence of one item")
    if len(value) != 1:
        raise InvalidInput(
            f"{keyword} holds {len(value)} items; a sequence key holds exactly one (C.2.2.2.6)"
        )
    item = value[0]
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{keyword}: the item must map item keywords to values")
    if not item:
        return SequenceMatch(attribute, (), tuple(attribute.items))
    matches: list[KeyMatch] = []
    for item_keyword, item_value in item.items():
        if tag_for_keyword(item_keyword) is None:
            raise InvalidInput(f"{item_keyword!r} in {keyword} is not a DICOM keyword")
        item_attribute = attribute.items.get(item_keyword)
        # Not indexed, or a nested sequence: returned empty, not matched (C.2.2.1 optional).
        if item_attribute is None or not (item_value is None or isinstance(item_value, str)):
            continue
        match = parse_key(item_attribute, item_value, case_insensitive=case_insensitive)
        if match.terms:
            matches.append(match)
    return SequenceMatch(attribute, tuple(matches), tuple(item))


def _item_conditions(match: SequenceMatch) -> list[ColumnElement[bool]]:
    return [c for c in (where_clause(m) for m in match.items) if c is not None]


def sequence_clause(
    match: SequenceMatch, level: QueryRetrieveLevelValues
) -> ColumnElement[bool] | None:
    """The entity has an item matching every item key; ``None`` when universal.

    Written as ``id IN (SELECT owner FROM items WHERE …)``, not a correlated ``EXISTS``: the
    databases then start from the item's index (RequestedProcedureID, CodeValue…) instead
    of scanning every study and probing its items."""
    conditions = _item_conditions(match)
    if not conditions:
        return None
    fk, parent = match.attribute.owner(level)
    clause: ColumnElement[bool] = parent.id.in_(select(fk).where(*conditions))
    return clause


def item_rows(
    match: SequenceMatch, level: QueryRetrieveLevelValues, owner_ids: Sequence[int]
) -> Select[Any]:
    """The items to return for the entities ``owner_ids`` (ids of the table
    :meth:`SequenceAttribute.owner` names at ``level``): ``owner`` then one column per
    returned, indexed item keyword; only matching items when the key matches."""
    fk, _ = match.attribute.owner(level)
    items = match.attribute.items
    columns = [items[k].expression().label(k) for k in match.returned if k in items]
    table = match.attribute.table
    stmt: Select[Any] = (
        select(fk.label("owner"), *columns)
        .where(and_(fk.in_(owner_ids), *_item_conditions(match)))
        .order_by(table.id)
    )
    return stmt
