"""DICOM JSON (PS3.18 Annex F) from the query engine's answers and from stored objects.

pydicom's :meth:`~pydicom.dataset.Dataset.to_json_dict` does the encoding (person names as
``Alphabetic``/``Ideographic``/``Phonetic`` objects, IS/DS as numbers, empty values without a
``Value``); this module only turns an answer (keyword → decoded value) into a dataset and
decides which bulk data the metadata resource gives as a BulkDataURI.
"""

from __future__ import annotations

import functools
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

__all__ = ["BINARY_VRS", "BULK_DATA_THRESHOLD", "answer_json", "metadata_json"]

#: Binary values (OB, OW, OF, OD, OL, OV, UN) longer than this many bytes are given as a
#: BulkDataURI in the metadata resource (PS3.18 10.4.1.2: "without bulk data"); shorter ones
#: are inlined as InlineBinary, as the standard's examples do for small LUTs.
BULK_DATA_THRESHOLD = 1024
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


@functools.lru_cache(maxsize=1024)
def _tag_and_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:  # the engine only answers keywords it was asked for: all valid
        raise ValueError(f"{keyword!r} is not a DICOM keyword")
    return tag, dictionary_VR(tag)


def _fill(ds: Dataset, values: dict[str, Any]) -> None:
    for keyword, value in values.items():
        tag, vr = _tag_and_vr(keyword)
        if vr == "SQ":
            items = []
            for item_values in value or ():
                item = Dataset()
                _fill(item, item_values)
                items.append(item)
            ds[tag] = DataElement(tag, vr, Sequence(items))
        else:
            ds[tag] = DataElement(tag, vr, "" if value is None else value)


def answer_json(answer: dict[str, Any]) -> dict[str, Any]:
    """One QIDO-RS result (PS3.18 10.6.3.3) from one query answer: every key the engine
    returned (empty ones as ``{"vr": …}``), QueryRetrieveLevel left out (a C-FIND control
    element, not an attribute of the entity).

    The answer's plain values (text, numbers, person names, sequences of them) are encoded
    here directly; building pydicom data elements only to call ``to_json_dict`` cost half of
    a study search's server time (py-spy, 10-match search). The output is pydicom's, element
    for element (``tests/unit/web/test_dataset_json.py`` compares both on a table of
    answers); any other VR or a value our encoder does not take goes through pydicom.
    """
    return _answer_json({k: v for k, v in answer.items() if k != "QueryRetrieveLevel"})


#: Text VRs whose values may be multiple, separated by a backslash (PS3.5 6.4).
_MULTI_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UC", "UI"})
#: Text VRs of one value, in which a backslash is text (PS3.5 6.2: LT, ST, UT, UR).
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UR", "UT"})
_INTEGER_VRS = frozenset({"IS", "SL", "SS", "SV", "UL", "US", "UV"})
_DECIMAL_VRS = frozenset({"DS", "FD", "FL"})


def _answer_json(values: dict[str, Any]) -> dict[str, Any]:
    elements = []
    for keyword, value in values.items():
        tag, vr = _tag_and_vr(keyword)
        elements.append((tag, vr, value))
    elements.sort(key=lambda element: element[0])  # pydicom's datasets are in tag order
    out: dict[str, Any] = {}
    for tag, vr, value in elements:
        try:
            out[f"{tag:08X}"] = _element_json(vr, value)
        except _ViaPydicom:
            ds = Dataset()
            _fill(ds, {keyword_for_tag(tag): value})
            out[f"{tag:08X}"] = ds[tag].to_json_dict(None, 1024)
    return out


class _ViaPydicom(Exception):
    """A value the direct encoder leaves to pydicom (binary, AT, a malformed number…)."""


def _element_json(vr: str, value: Any) -> dict[str, Any]:
    if vr == "SQ":
        return {"vr": vr, "Value": [_answer_json(item) for item in value or ()]}
    if value is None or value == "" or (isinstance(value, list) and not value):
        return {"vr": vr}
    if isinstance(value, str):
        items: list[Any] = [value] if vr in _SINGLE_TEXT_VRS else value.split("\\")
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    try:
        if vr == "PN":
            return {"vr": vr, "Value": [_person_name(str(v)) for v in items]}
        if vr in _MULTI_TEXT_VRS or vr in _SINGLE_TEXT_VRS:
            if all(isinstance(v, str) for v in items):
                return {"vr": vr, "Value": items}
        elif vr in _INTEGER_VRS:
            return {"vr": vr, "Value": [None if v == "" else int(v) for v in items]}
        elif vr in _DECIMAL_VRS:
            return {"vr": vr, "Value": [None if v == "" else float(v) for v in items]}
    except (TypeError, ValueError):
        pass
    raise _ViaPydicom


def _person_name(value: str) -> dict[str, str]:
    """PS3.18 F.2.2: the component groups of one name, Alphabetic always present."""
    groups = value.split("=")
    name = {"Alphabetic": groups[0]}
    if len(groups) > 1:
        name["Ideographic"] = groups[1]
    if len(groups) > 2:
        name["Phonetic"] = groups[2]
    return name


def metadata_json(ds: Dataset, instance_url: str) -> dict[str, Any]:
    """The metadata of one instance (PS3.18 10.4.1.2, 8.7.3.3): its dataset as DICOM JSON
    without the bulk data.

    Top-level binary values above :data:`BULK_DATA_THRESHOLD` (the pixel data among them) are
    replaced by a BulkDataURI, ``{instance_url}/bulkdata/{tag}``, which the bulkdata resource
    serves. Nested binary values are small in practice and inlined (InlineBinary). JSON is
    always UTF-8, so the text was decoded with the object's own Specific Character Set and
    the answer says ISO_IR 192.
    """
    if "SpecificCharacterSet" in ds:
        ds.SpecificCharacterSet = "ISO_IR 192"
    out: dict[str, Any] = {}
    for element in ds:
        key = f"{int(element.tag):08X}"
        if element.VR in BINARY_VRS and _length(element) > BULK_DATA_THRESHOLD:
            out[key] = {"vr": element.VR, "BulkDataURI": f"{instance_url}/bulkdata/{key}"}
        else:
            out[key] = element.to_json_dict(None, 2**62)
    return out


def _length(element: Any) -> int:
    """The value's length: from the file when read (``length``), else of the value."""
    value = element.value
    return len(value) if isinstance(value, bytes | bytearray) else int(element.length or 0)
