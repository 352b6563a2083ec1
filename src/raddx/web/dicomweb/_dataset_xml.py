"""The Native DICOM Model (PS3.19 A.1) from DICOM JSON: QIDO-RS and metadata answers in
XML (``multipart/related; type="application/dicom+xml"``, one document per part); and back
(:func:`xml_to_json`), for STOW-RS of XML metadata with bulk data.

Built from the DICOM JSON pydicom produced (:mod:`._dataset_json`), so both
representations say the same thing; written with :mod:`xml.etree.ElementTree`, which
escapes text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from pydicom.datadict import keyword_for_tag

__all__ = ["NATIVE_DICOM_NAMESPACE", "json_to_xml", "xml_to_json"]

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


#: VRs whose DICOM JSON values are numbers (PS3.18 F.2.3).
_INTEGER_VRS = frozenset({"IS", "SL", "SS", "SV", "UL", "US", "UV"})
_DECIMAL_VRS = frozenset({"DS", "FD", "FL"})


def _local(element: ET.Element) -> str:
    """The element name without its namespace (senders differ on declaring it)."""
    return element.tag.rsplit("}", 1)[-1]


def _numbered(node: ET.Element, name: str) -> list[ET.Element]:
    found = [child for child in node if _local(child) == name]
    return sorted(found, key=lambda child: int(child.get("number") or 0))


def _xml_value(vr: str, text: str | None) -> Any:
    if text is None or text == "":
        return None
    if vr in _INTEGER_VRS:
        return int(text)
    if vr in _DECIMAL_VRS:
        return float(text)
    return text


def _xml_person_name(node: ET.Element) -> dict[str, str]:
    value = {}
    for group in node:
        components = [""] * len(_NAME_PARTS)
        for component in group:
            if _local(component) in _NAME_PARTS:
                components[_NAME_PARTS.index(_local(component))] = component.text or ""
        value[_local(group)] = "^".join(components).rstrip("^")
    return value


def _xml_attributes(parent: ET.Element) -> dict[str, Any]:
    dataset: dict[str, Any] = {}
    for node in parent:
        if _local(node) != "DicomAttribute":
            continue
        tag, vr = node.get("tag"), node.get("vr")
        if not tag or not vr:
            raise ValueError("a DicomAttribute without its tag or vr attribute")
        element: dict[str, Any] = {"vr": vr}
        bulk = [child for child in node if _local(child) == "BulkData"]
        inline = [child for child in node if _local(child) == "InlineBinary"]
        if bulk:
            element["BulkDataURI"] = bulk[0].get("uri") or bulk[0].get("uuid") or ""
        elif inline:
            element["InlineBinary"] = (inline[0].text or "").strip()
        elif vr == "SQ":
            element["Value"] = [_xml_attributes(item) for item in _numbered(node, "Item")]
        elif vr == "PN":
            element["Value"] = [_xml_person_name(n) for n in _numbered(node, "PersonName")]
        else:
            values = [_xml_value(vr, v.text) for v in _numbered(node, "Value")]
            if values:
                element["Value"] = values
        if element.get("Value") == []:
            del element["Value"]
        dataset[tag.upper()] = element
    return dataset


def xml_to_json(document: bytes) -> dict[str, Any]:
    """One PS3.19 ``NativeDicomModel`` document as a DICOM JSON dataset.

    Python's expat (2.4.1 and later) refuses entity amplification ("billion laughs") and
    ElementTree fetches no external entities, so a hostile document cannot exhaust memory.

    Raises
    ------
    xml.etree.ElementTree.ParseError
        Not well-formed XML.
    ValueError
        Not a NativeDicomModel, or an attribute without tag/VR or with a non-numeric
        value of a numeric VR.
    """
    root = ET.fromstring(document)
    if _local(root) != "NativeDicomModel":
        raise ValueError(f"the root element is {_local(root)!r}, not NativeDicomModel")
    return _xml_attributes(root)
