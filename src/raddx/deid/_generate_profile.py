"""Regenerate ``data/table_e1_1.json`` (PS3.15 Table E.1-1) from a machine-readable copy.

Usage::

    python -m raddx.deid._generate_profile confidentiality_profile_attributes.json 2024b \\
        > src/raddx/deid/data/table_e1_1.json

The input is the JSON rendering of PS3.15 Table E.1-1 published by innolitics/dicom-standard
(``standard/confidentiality_profile_attributes.json``, one object per row with the columns
``basicProfile``, ``rtnUIDsOpt``, ``cleanDescOpt`` …), itself extracted from the NEMA HTML of
the named edition. We carry the table over (facts, not code) and add what the engine needs:
the attribute keyword and VR from pydicom's data dictionary, and the CID 7050 code of every
option column, so that the engine never parses the standard at run time (STYLE rule 12).
Never edit the generated file by hand; rerun this script for a new edition.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydicom.datadict import get_entry
from pydicom.sr.codedict import codes

__all__ = ["OPTION_COLUMNS", "build_table"]

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
            if column in row
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
    rows = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
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
