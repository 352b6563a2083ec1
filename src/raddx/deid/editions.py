"""What changed in PS3.15 Table E.1-1 between two editions.

Table E.1-1 is revised several times a year; a new edition can add attributes, drop them or
change an action, and a policy that was right for one edition may leak under the next. Each
vendored edition is kept (``data/table_e1_1.json`` is the current one, earlier ones live in
``data/editions/``), and :func:`diff_tables` lists the differences so a reviewer sees them
before the engine switches (``raddx deid table diff OLD NEW``; a test runs it on the vendored
files).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from raddx.errors import InvalidInput

__all__ = ["RowChange", "TableDiff", "diff_tables", "load_table", "vendored_editions"]


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row of Table E.1-1 that differs between two editions."""

    tag: str  #: 8 hex digits (``X`` for repeating groups) or ``private``
    name: str
    #: ``(old, new)`` action per column: ``basic`` or a CID 7050 option code; ``None`` = absent
    actions: Mapping[str, tuple[str | None, str | None]]

    def render(self) -> str:
        """``(gggg,eeee) Name: basic Z -> X; 113105 - -> C``."""
        parts = [f"{col} {old or '-'} -> {new or '-'}" for col, (old, new) in self.actions.items()]
        return f"{_show_tag(self.tag)} {self.name}: {'; '.join(parts)}"


@dataclass(frozen=True)
class TableDiff:
    """Rows added, removed and changed from edition ``old`` to edition ``new``."""

    old: str
    new: str
    added: tuple[RowChange, ...] = field(default=())
    removed: tuple[RowChange, ...] = field(default=())
    changed: tuple[RowChange, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def lines(self) -> Iterator[str]:
        """The report: ``+`` added, ``-`` removed, ``~`` changed rows, then a summary."""
        for mark, rows in (("+", self.added), ("-", self.removed), ("~", self.changed)):
            for row in rows:
                yield f"{mark} {row.render()}"
        yield (
            f"Table E.1-1 {self.old} -> {self.new}: {len(self.added)} added, "
            f"{len(self.removed)} removed, {len(self.changed)} changed"
        )


def _show_tag(tag: str) -> str:
    return tag if tag == "private" else f"({tag[:4]},{tag[4:]})"


def _columns(row: Mapping[str, Any]) -> dict[str, str]:
    return {"basic": row["basic"], **row.get("options", {})}


def _rows(doc: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    rows = {a["tag"]: (a["name"], _columns(a)) for a in doc["attributes"]}
    rows["private"] = ("Private Attributes", _columns(doc["private"]))
    return rows


def diff_tables(old: Mapping[str, Any], new: Mapping[str, Any]) -> TableDiff:
    """Compare two generated Table E.1-1 documents (the shape of ``data/table_e1_1.json``).

    A row is matched by its tag; a rename alone is not a change (names are not actions).
    """
    before, after = _rows(old), _rows(new)
    added = tuple(
        RowChange(tag, after[tag][0], {c: (None, a) for c, a in after[tag][1].items()})
        for tag in sorted(after.keys() - before.keys())
    )
    removed = tuple(
        RowChange(tag, before[tag][0], {c: (a, None) for c, a in before[tag][1].items()})
        for tag in sorted(before.keys() - after.keys())
    )
    changed = []
    for tag in sorted(before.keys() & after.keys()):
        was, now = before[tag][1], after[tag][1]
        columns = sorted(was.keys() | now.keys(), key=lambda c: (c != "basic", c))
        delta = {c: (was.get(c), now.get(c)) for c in columns if was.get(c) != now.get(c)}
        if delta:
            changed.append(RowChange(tag, after[tag][0], delta))
    return TableDiff(
        old=str(old.get("edition", "?")),
        new=str(new.get("edition", "?")),
        added=added,
        removed=removed,
        changed=tuple(changed),
    )


def vendored_editions() -> dict[str, Any]:
    """Edition string → path-like resource of every vendored Table E.1-1 (current included)."""
    data = resources.files("raddx.deid").joinpath("data")
    found: dict[str, Any] = {}
    for item in [data.joinpath("table_e1_1.json"), *data.joinpath("editions").iterdir()]:
        if item.name.endswith(".json"):
            found[json.loads(item.read_text("utf-8"))["edition"]] = item
    return found


def load_table(ref: str) -> dict[str, Any]:
    """A Table E.1-1 document by vendored edition name (``2024b``) or by file path.

    Raises
    ------
    InvalidInput
        Neither a vendored edition nor a readable generated table.
    """
    editions = vendored_editions()
    if ref in editions:
        doc: dict[str, Any] = json.loads(editions[ref].read_text("utf-8"))
        return doc
    path = Path(ref)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        known = ", ".join(sorted(editions))
        raise InvalidInput(f"{ref}: not a vendored edition ({known}) nor a table: {exc}") from None
    if not isinstance(doc, dict) or not {"edition", "attributes", "private"} <= doc.keys():
        raise InvalidInput(f"{ref}: not a generated Table E.1-1 (edition/attributes/private)")
    return doc
