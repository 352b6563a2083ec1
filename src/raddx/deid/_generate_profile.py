"""Regenerate ``data/table_e1_1.json`` (PS3.15 Table E.1-1) from a machine-readable copy.

Usage::

    python -m raddx.deid._generate_profile SOURCE EDITION > src/raddx/deid/data/table_e1_1.json

``SOURCE`` is one of

- the NEMA DocBook source of PS3.15, ``part15.xml`` (``source/docbook/part15/``): the rows of
  the table whose ``xml:id`` is ``table_E.1-1``, columns found by their header text — the
  authoritative form;
- a JSON transcription with ``rows`` of ``name``, ``tag``, ``retired``, ``in_standard_iod``,
  ``basic_profile`` and ``options`` (``{"clean_descriptors": "C", …}``) and a
  ``content_sha256`` (SHA-256 of the rows as canonical JSON), which is checked so a hand-edited
  copy is refused (PyMedPhys's ``_standard/e1_1.json`` has this shape);
- the JSON rendering of innolitics/dicom-standard
  (``standard/confidentiality_profile_attributes.json``: a list of rows with ``basicProfile``,
  ``rtnUIDsOpt``, ``cleanDescOpt`` …), as used for the 2024b edition.

The vendored ``data/table_e1_1.json`` is the **2026d** edition, built from the transcription of
NEMA's page ``part15/chapter_E.html`` (page SHA-256 cb214710…) that pymedphys/pymedphys keeps as
``lib/pymedphys/_dicom/deidentify/_standard/e1_1.json`` (rows digest e257bc5e…, verified by
this script); the DocBook XML could not be reached from the build machine. The previous
vendored edition stays in ``data/editions/`` so that ``raddx deid table diff`` (and the test
suite) can show what changed between editions. We carry the table over (facts of the
standard, © NEMA; no code was taken) and add what the engine needs: the attribute keyword and
VR from pydicom's data dictionary, and the CID 7050 code of every option column, so that the
engine never parses the standard at run time (STYLE rule 12). Never edit the generated file
by hand; rerun this script for a new edition.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pydicom.datadict import get_entry
from pydicom.sr.codedict import codes

__all__ = [
    "OPTION_COLUMNS",
    "build_table",
    "rows_digest",
    "rows_from_docbook",
    "rows_from_source",
    "rows_from_transcription",
]

#: Column of the innolitics rendering → CID 7050 (PS3.16) concept of the option it describes.
OPTION_COLUMNS: dict[str, str] = {
    "cleanGraphOpt": "CleanGraphicsOption",
    "cleanStructContOpt": "CleanStructuredContentOption",
    "cleanDescOpt": "CleanDescriptorsOption",
    "rtnLongFullDatesOpt": "RetainLongitudinalTemporalInformationFullDatesOption",
    "rtnLongModifDatesOpt": "RetainLongitudinalTemporalInformationModifiedDatesOption",
    "rtnPatCharsOpt": "RetainPatientCharacteristicsOption",
    "rtnDevIdOpt": "RetainDeviceIdentityOption",
    "rtnUIDsOpt": "RetainUidsOption",
    "rtnSafePrivOpt": "RetainSafePrivateOption",
    "rtnInstIdOpt": "RetainInstitutionIdentityOption",
}
#: Options that have no column in Table E.1-1 (they act on pixels) but are CID 7050 codes.
_PIXEL_OPTIONS = ("CleanPixelDataOption", "CleanRecognizableVisualFeaturesOption")

_TAG = re.compile(r"^\(([0-9A-FX]{4}),([0-9A-FX]{4})\)$")

#: Option names of the JSON transcription → the innolitics column of the same option.
_TRANSCRIPTION_OPTIONS: dict[str, str] = {
    "retain_safe_private": "rtnSafePrivOpt",
    "retain_uids": "rtnUIDsOpt",
    "retain_device_identity": "rtnDevIdOpt",
    "retain_institution_identity": "rtnInstIdOpt",
    "retain_patient_characteristics": "rtnPatCharsOpt",
    "retain_longitudinal_full_dates": "rtnLongFullDatesOpt",
    "retain_longitudinal_modified_dates": "rtnLongModifDatesOpt",
    "clean_descriptors": "cleanDescOpt",
    "clean_structured_content": "cleanStructContOpt",
    "clean_graphics": "cleanGraphOpt",
}
#: Header words of the DocBook table's columns (lower case, dots and spaces removed) → column.
_DOCBOOK_HEADERS: dict[str, str] = {
    "attributename": "name",
    "tag": "tag",
    "retd(fromps36)": "retired",
    "retd": "retired",
    "instdcompiod(fromps33)": "stdCompIOD",
    "instdcompiod": "stdCompIOD",
    "basicprof": "basicProfile",
    "rtnsafeprivopt": "rtnSafePrivOpt",
    "rtnuidsopt": "rtnUIDsOpt",
    "rtndevidopt": "rtnDevIdOpt",
    "rtninstidopt": "rtnInstIdOpt",
    "rtnpatcharsopt": "rtnPatCharsOpt",
    "rtnlongfulldatesopt": "rtnLongFullDatesOpt",
    "rtnlongmodifdatesopt": "rtnLongModifDatesOpt",
    "cleandescopt": "cleanDescOpt",
    "cleanstructcontopt": "cleanStructContOpt",
    "cleangraphopt": "cleanGraphOpt",
}
_TABLE_ID = "table_E.1-1"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
Row = dict[str, Any]


def rows_digest(rows: list[dict[str, Any]]) -> str:
    """SHA-256 of ``rows`` as canonical JSON (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rows_from_transcription(doc: dict[str, Any]) -> list[Row]:
    """Innolitics-shaped rows from a digest-checked JSON transcription of Table E.1-1.

    Raises
    ------
    ValueError
        ``content_sha256`` is missing or does not match the rows (an edited copy), or a row
        names an option this script does not know.
    """
    rows = doc["rows"]
    expected = doc.get("content_sha256")
    if not expected or rows_digest(rows) != expected:
        raise ValueError("content_sha256 does not match the rows: refusing an edited copy")
    out: list[Row] = []
    for row in rows:
        shaped: Row = {
            "name": row["name"],
            "tag": row["tag"],
            "retired": "Y" if row.get("retired") else "N",
            "stdCompIOD": "Y" if row.get("in_standard_iod") else "N",
            "basicProfile": row["basic_profile"],
        }
        for option, action in row.get("options", {}).items():
            if option not in _TRANSCRIPTION_OPTIONS:
                raise ValueError(f"{row['tag']}: unknown option {option!r}")
            shaped[_TRANSCRIPTION_OPTIONS[option]] = action
        out.append(shaped)
    return out


def _text(element: ET.Element) -> str:
    """A DocBook cell's text: its paragraphs joined, whitespace collapsed."""
    return " ".join("".join(element.itertext()).split())


def _local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def rows_from_docbook(xml: bytes) -> list[Row]:
    """Innolitics-shaped rows of Table E.1-1 in the DocBook source of PS3.15 (``part15.xml``).

    Columns are found by their header text, so a column added in a later edition is reported
    rather than read as a neighbour's.

    Raises
    ------
    ValueError
        No such table, an unknown header, or a row whose cell count differs from the header's.
    """
    root = ET.fromstring(xml)
    table = next((t for t in root.iter() if t.get(_XML_ID) == _TABLE_ID), None)
    if table is None:
        raise ValueError(f"no table {_TABLE_ID} in the document")
    columns: list[str] = []
    rows: list[Row] = []
    for tr in (e for e in table.iter() if _local(e) == "tr"):
        headers = [c for c in tr if _local(c) == "th"]
        if headers:
            for cell in headers:
                word = re.sub(r"[\s.]", "", _text(cell).lower())
                if word not in _DOCBOOK_HEADERS:
                    raise ValueError(f"{_TABLE_ID}: unknown column {_text(cell)!r}")
                columns.append(_DOCBOOK_HEADERS[word])
            continue
        cells = [_text(c) for c in tr if _local(c) == "td"]
        if not cells:
            continue
        if len(cells) != len(columns):
            raise ValueError(f"{_TABLE_ID}: a row has {len(cells)} cells, not {len(columns)}")
        row = {column: value for column, value in zip(columns, cells, strict=True) if value}
        rows.append(row)
    return rows


def rows_from_source(path: Path) -> list[Row]:
    """Rows from any of the three source forms (see the module docstring)."""
    data = path.read_bytes()
    if path.suffix.lower() == ".xml":
        return rows_from_docbook(data)
    doc = json.loads(data.decode("utf-8"))
    if isinstance(doc, dict):
        return rows_from_transcription(doc)
    return list(doc)


def _code(keyword: str) -> dict[str, str]:
    code = getattr(codes.DCM, keyword)
    return {"value": code.value, "meaning": code.meaning}


def _dictionary_entry(tag: str) -> tuple[str, str]:
    """Keyword and VR of ``tag`` (``60XX3000`` style masks use the repeater entry)."""
    probe = int(tag.replace("X", "0"), 16)
    try:
        vr, _vm, _name, _retired, keyword = get_entry(probe)
    except KeyError:
        return "", ""
    return keyword, vr


def build_table(rows: list[dict[str, Any]], *, edition: str, source: str) -> dict[str, Any]:
    """Turn innolitics-shaped rows into our profile document.

    Parameters
    ----------
    rows : list of dict
        Rows with ``tag`` ("(0010,0010)"), ``name``, ``basicProfile``, ``stdCompIOD`` and the
        option columns of :data:`OPTION_COLUMNS`.
    edition : str
        The DICOM edition the rows come from, e.g. ``"2024b"``.
    source : str
        Where the rows come from, recorded in the output.

    Returns
    -------
    dict
        ``{"edition", "source", "options", "private", "attributes"}``; ``attributes`` is sorted
        by tag, each with ``tag`` (8 hex digits, ``X`` for repeating-group wildcards),
        ``keyword``, ``vr``, ``name``, ``in_std_comp_iod``, ``basic`` and ``options``
        (CID 7050 code → action).
    """
    attributes = []
    private: dict[str, Any] = {}
    for row in rows:
        options = {
            codes_value: row[column]
            for column, concept in OPTION_COLUMNS.items()
            if row.get(column)
            for codes_value in [_code(concept)["value"]]
        }
        match = _TAG.match(row["tag"].upper())
        if match is None:  # "(GGGG,EEEE) WHERE GGGG IS ODD": the private-attributes row
            private = {"basic": row["basicProfile"], "options": options}
            continue
        tag = match.group(1) + match.group(2)
        keyword, vr = _dictionary_entry(tag)
        attributes.append(
            {
                "tag": tag,
                "keyword": keyword,
                "vr": vr,
                "name": row["name"],
                "in_std_comp_iod": row.get("stdCompIOD") == "Y",
                "retired": row.get("retired") == "Y",
                "basic": row["basicProfile"],
                "options": options,
            }
        )
    attributes.sort(key=lambda a: a["tag"])
    all_options = [*OPTION_COLUMNS.values(), *_PIXEL_OPTIONS]
    return {
        "edition": edition,
        "source": source,
        "profile": _code("BasicApplicationConfidentialityProfile"),
        "options": sorted((_code(c) for c in all_options), key=lambda c: c["value"]),
        "private": private,
        "attributes": attributes,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    rows = rows_from_source(path)
    raw = json.loads(path.read_bytes()) if path.suffix.lower() == ".json" else None
    if path.suffix.lower() == ".xml":
        source = f"DICOM PS3.15 {argv[2]} Table E.1-1 (© NEMA), from the DocBook part15.xml"
    elif isinstance(raw, dict):
        source = (
            f"DICOM PS3.15 {argv[2]} Table E.1-1 (© NEMA), from the transcription of NEMA's "
            "part15/chapter_E.html in pymedphys/pymedphys "
            "lib/pymedphys/_dicom/deidentify/_standard/e1_1.json "
            f"(rows SHA-256 {raw['content_sha256']})"
        )
    else:
        source = (
            f"DICOM PS3.15 {argv[2]} Table E.1-1, via innolitics/dicom-standard "
            "standard/confidentiality_profile_attributes.json"
        )
    table = build_table(rows, edition=argv[2], source=source)
    json.dump(table, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv))
