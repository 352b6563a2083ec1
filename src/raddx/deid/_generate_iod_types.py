"""Regenerate ``data/iod_types.json``: the Type (PS3.3) of each attribute that Table E.1-1
gives a composite action (Z/D, X/Z, X/D, X/Z/D, X/Z/U*), in each composite IOD.

Usage::

    python -m raddx.deid._generate_iod_types path/to/highdicom/_standard \\
        > src/raddx/deid/data/iod_types.json

The input is the folder of JSON tables that highdicom (MIT) ships in its wheel
(``highdicom/_standard``: ``sop_class_iod_map.json``, ``iod_module_map.json``,
``module_attribute_map.json``), themselves generated from innolitics/dicom-standard, i.e. from
PS3.3 and PS3.4 of the edition highdicom names. We carry over facts, not code, and keep only
what the engine needs: top-level attributes (their ``path`` is empty) whose tag is composite in
our vendored Table E.1-1. An attribute used by several modules of an IOD gets its strongest
Type (1 > 1C > 2 > 2C > 3): an object holding the attribute must satisfy every module that
lists it. Never edit the generated file by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydicom.datadict import tag_for_keyword

from raddx.deid.profile import load_profile

__all__ = ["build_table"]

_STRENGTH = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4}


def build_table(
    sop_classes: dict[str, str],
    iod_modules: dict[str, list[dict[str, Any]]],
    module_attributes: dict[str, list[dict[str, Any]]],
    source: str,
) -> dict[str, Any]:
    """The JSON document: ``sop_classes`` (UID → IOD) and ``iods`` (IOD → tag → Type)."""
    profile = load_profile()
    composite = {
        int(rule.tag, 16)
        for rule in profile.rules
        if "X" not in rule.tag and any("/" in a for a in (rule.basic, *rule.options.values()))
    }
    iods: dict[str, dict[str, str]] = {}
    for iod, modules in sorted(iod_modules.items()):
        types: dict[int, str] = {}
        for module in modules:
            for attribute in module_attributes.get(module["key"], []):
                if attribute["path"]:
                    continue  # nested: the engine resolves those by the fallback
                tag = tag_for_keyword(attribute["keyword"])
                kind = attribute["type"]
                if tag is None or tag not in composite or kind not in _STRENGTH:
                    continue
                if tag not in types or _STRENGTH[kind] < _STRENGTH[types[tag]]:
                    types[tag] = kind
        iods[iod] = {f"{tag:08X}": kind for tag, kind in sorted(types.items())}
    used = {uid: iod for uid, iod in sorted(sop_classes.items()) if iod in iods}
    return {
        "source": source,
        "profile_edition": profile.edition,
        "sop_classes": used,
        "iods": iods,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[0])

    def load(name: str) -> Any:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    table = build_table(
        load("sop_class_iod_map.json"),
        load("iod_module_map.json"),
        load("module_attribute_map.json"),
        "PS3.3/PS3.4 IOD module and attribute tables, via highdicom 0.28.2 _standard/*.json "
        "(generated from innolitics/dicom-standard)",
    )
    json.dump(table, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
