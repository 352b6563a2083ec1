"""Regenerate ``data/safe_private.json`` (PS3.15 Table E.3.10-1, Safe Private Attributes).

Usage::

    python -m raddx.deid._generate_safe_private SOURCE EDITION \\
        > src/raddx/deid/data/safe_private.json

``SOURCE`` is one of

- the NEMA DocBook source of PS3.15, ``part15.xml`` (``source/docbook/part15/``): the rows of
  the table whose ``xml:id`` is ``table_E.3.10-1`` are taken — the authoritative form;
- a JSON transcription of the table with ``rows`` of ``tag`` (``(gggg,xxee)``),
  ``private_creator``, ``vr``, ``vm``, ``meaning`` and, if given, ``content_sha256`` (SHA-256 of
  the rows as canonical JSON), which is checked so a hand-edited copy is refused;
- a CSV with the columns ``Group``, ``Element`` (``xxEE``), ``Private Creator``, ``VR``, ``VM``,
  ``Meaning`` (rows flagged ``IsInDICOMRetainSafePrivateTags = False`` are skipped).

The vendored file was built from the JSON transcription of the **2026d** edition that
PyMedPhys generates from NEMA's page ``part15/sect_E.3.10.html`` (pymedphys/pymedphys,
``lib/pymedphys/_dicom/deidentify/_standard/e3_10_1.json``, page SHA-256 101ac4ae…, rows
digest 7acb26db…, which this script verified): the DocBook XML itself could not be reached
from the build machine. Facts of the standard, © NEMA; no code was taken. Never edit the
generated file by hand: rerun this script on the next edition's ``part15.xml``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["build_table", "rows_digest", "rows_from_csv", "rows_from_docbook", "rows_from_json"]

_FLAG = "IsInDICOMRetainSafePrivateTags"
_TABLE_ID = "table_E.3.10-1"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
_TAG = re.compile(r"\(([0-9A-Fa-f]{4}),\s*xx([0-9A-Fa-f]{2})\)")
Row = dict[str, str]


def _text(element: ET.Element) -> str:
    """A DocBook cell's text: its paragraphs joined, whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


def rows_from_docbook(xml: bytes) -> list[Row]:
    """The rows of Table E.3.10-1 in the DocBook source of PS3.15 (``part15.xml``).

    Raises
    ------
    ValueError
        The document has no such table, or a row without the table's five columns.
    """
    root = ET.fromstring(xml)
    table = next((t for t in root.iter() if t.get(_XML_ID) == _TABLE_ID), None)
    if table is None:
        raise ValueError(f"no table {_TABLE_ID} in the document")
    rows = []
    for tr in (e for e in table.iter() if e.tag.rsplit("}", 1)[-1] == "tr"):
        cells = [c for c in tr if c.tag.rsplit("}", 1)[-1] == "td"]
        if not cells:
            continue  # the header row (th)
        if len(cells) != 5:
            raise ValueError(f"{_TABLE_ID}: a row has {len(cells)} cells, not 5")
        tag, creator, vr, vm, meaning = (_text(c) for c in cells)
        rows.append(
            {"tag": tag, "private_creator": creator, "vr": vr, "vm": vm, "meaning": meaning}
        )
    return rows


def rows_digest(rows: list[Mapping[str, str]]) -> str:
    """SHA-256 of ``rows`` as canonical JSON (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rows_from_json(doc: Mapping[str, Any]) -> list[Row]:
    """The rows of a JSON transcription, its ``content_sha256`` checked when present.

    Raises
    ------
    ValueError
        The rows do not match the recorded digest (the copy was edited).
    """
    rows = [dict(row) for row in doc["rows"]]
    expected = doc.get("content_sha256")
    if expected and rows_digest(rows) != expected:
        raise ValueError("the rows do not match their content_sha256: not the generated table")
    return rows


def rows_from_csv(rows: Iterable[Mapping[str, str]]) -> list[Row]:
    """Rows of a CSV export (``Group``/``Element`` columns); unflagged rows skipped."""
    return [
        {
            "tag": f"({row['Group'].strip()},{row['Element'].strip()})",
            "private_creator": row["Private Creator"],
            "vr": row["VR"],
            "vm": row["VM"],
            "meaning": row["Meaning"],
        }
        for row in rows
        if row.get(_FLAG, "True") == "True"
    ]


def build_table(rows: Iterable[Mapping[str, str]], edition: str, source: str) -> dict[str, Any]:
    """The JSON document for ``rows`` of Table E.3.10-1, sorted by (group, creator, element).

    Raises
    ------
    ValueError
        A row whose tag is not ``(gggg,xxee)`` with an odd group, that has no Private Creator,
        or that repeats another row's (group, creator, element).
    """
    entries: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in rows:
        match = _TAG.fullmatch(row["tag"].strip())
        creator = row["private_creator"].strip()
        if match is None or not int(match[1], 16) & 1 or not creator:
            raise ValueError(f"not a private element of Table E.3.10-1: {dict(row)}")
        key = (match[1].upper(), creator, match[2].upper())
        if key in entries:
            raise ValueError(f"row repeated in Table E.3.10-1: {dict(row)}")
        entries[key] = {
            "group": key[0],
            "creator": creator,
            "element": key[2],
            "vr": row["vr"].strip(),
            "vm": row["vm"].strip(),
            "meaning": row["meaning"].strip(),
        }
    return {"edition": edition, "source": source, "entries": [entries[k] for k in sorted(entries)]}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, edition = Path(argv[0]), argv[1]
    if path.suffix == ".xml":
        rows = rows_from_docbook(path.read_bytes())
        source = f"DICOM PS3.15 {edition} Table E.3.10-1, from the NEMA DocBook part15.xml"
    elif path.suffix == ".json":
        doc = json.loads(path.read_text("utf-8"))
        rows = rows_from_json(doc)
        digest = doc.get("content_sha256", rows_digest(rows))
        source = (
            f"DICOM PS3.15 {edition} Table E.3.10-1 (© NEMA), from the transcription of NEMA's "
            f"part15/sect_E.3.10.html in pymedphys/pymedphys lib/pymedphys/_dicom/deidentify/"
            f"_standard/e3_10_1.json (rows SHA-256 {digest})"
        )
    else:
        with path.open(encoding="utf-8", newline="") as f:
            rows = rows_from_csv(csv.DictReader(f))
        source = f"DICOM PS3.15 {edition} Table E.3.10-1, from the CSV {path.name}"
    json.dump(build_table(rows, edition, source), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
