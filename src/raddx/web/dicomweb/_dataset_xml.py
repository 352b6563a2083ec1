"""The Native DICOM Model (PS3.19 A.1) from DICOM JSON: QIDO-RS and metadata answers in
XML (``multipart/related; type="application/dicom+xml"``, one document per part).

Built from the DICOM JSON pydicom produced (:mod:`._dataset_json`), so both
representations say the same thing; written with :mod:`xml.etree.ElementTree`, which
escapes text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from pydicom.datadict import keyword_for_tag

__all__ = ["NATIVE_DICOM_NAMESPACE", "json_to_xml"]

NATIVE_DICOM_NAMESPACE = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
#: PS3.19 A.1.1: the component elements of a person name group, in PS3.5 6.2 order.
_NAME_PARTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def _person_name(parent: ET.Element, number: int, value: dict[str, str]) -> None:
    name = ET.SubElement(parent, "PersonName", number=str(number))
    for group in _GROUPS:
        if not value.get(group):
            continue
        group_element = ET.SubElement(name, group)
        for part, text in zip(_NAME_PARTS, value[group].split("^"), strict=False):
            if text:
                ET.SubElement(group_element, part).text = text


def _attributes(parent: ET.Element, dataset: dict[str, Any]) -> None:
    for tag, element in dataset.items():
        attrs = {"tag": tag, "vr": element["vr"]}
        keyword = keyword_for_tag(int(tag, 16))
        if keyword:
            attrs["keyword"] = keyword
        node = ET.SubElement(parent, "DicomAttribute", attrs)
        if "BulkDataURI" in element:
            ET.SubElement(node, "BulkData", uri=element["BulkDataURI"])
        elif "InlineBinary" in element:
            ET.SubElement(node, "InlineBinary").text = element["InlineBinary"]
        for number, value in enumerate(element.get("Value", ()), start=1):
            if element["vr"] == "SQ":
                item = ET.SubElement(node, "Item", number=str(number))
                _attributes(item, value)
            elif element["vr"] == "PN":
                _person_name(node, number, value)
            else:
                ET.SubElement(node, "Value", number=str(number)).text = (
                    "" if value is None else str(value)
                )


def json_to_xml(dataset: dict[str, Any]) -> bytes:
    """One dataset in DICOM JSON as a PS3.19 ``NativeDicomModel`` document (UTF-8)."""
    root = ET.Element(
        "NativeDicomModel", {"xmlns": NATIVE_DICOM_NAMESPACE, "xml:space": "preserve"}
    )
    _attributes(root, dataset)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
