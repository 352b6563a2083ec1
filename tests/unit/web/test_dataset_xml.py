"""DICOM JSON → PS3.19 Native DICOM Model (raddx.web.dicomweb._dataset_xml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pydicom.dataset import Dataset

from dicom_factory import JAPANESE_NAME
from raddx.web.dicomweb._dataset_xml import NATIVE_DICOM_NAMESPACE, json_to_xml

NS = {"d": NATIVE_DICOM_NAMESPACE}


def test_round_trip_of_the_value_kinds() -> None:
    ds = Dataset()
    ds.PatientName = JAPANESE_NAME
    ds.ModalitiesInStudy = ["CT", "MR"]
    ds.NumberOfStudyRelatedInstances = 3
    ds.StudyDescription = "<胸部> & CT"  # escaped by ElementTree
    item = Dataset()
    item.CodeValue = "RP1"
    ds.ProcedureCodeSequence = [item]
    ds.add_new(0x00281201, "OW", b"\x01\x02")  # RedPaletteColorLookupTableData: inline
    document = json_to_xml(ds.to_json_dict())
    assert document.startswith(b"<?xml")
    root = ET.fromstring(document)

    def attribute(keyword: str) -> ET.Element:
        found = root.find(f"d:DicomAttribute[@keyword='{keyword}']", NS)
        assert found is not None
        return found

    name = attribute("PatientName").find("d:PersonName[@number='1']", NS)
    assert name is not None
    assert name.findtext("d:Alphabetic/d:FamilyName", namespaces=NS) == "Yamada"
    assert name.findtext("d:Ideographic/d:GivenName", namespaces=NS) == "太郎"
    assert name.findtext("d:Phonetic/d:FamilyName", namespaces=NS) == "やまだ"
    values = attribute("ModalitiesInStudy").findall("d:Value", NS)
    assert [(v.get("number"), v.text) for v in values] == [("1", "CT"), ("2", "MR")]
    assert attribute("NumberOfStudyRelatedInstances").findtext("d:Value", namespaces=NS) == "3"
    assert attribute("StudyDescription").findtext("d:Value", namespaces=NS) == "<胸部> & CT"
    code = attribute("ProcedureCodeSequence").find(
        "d:Item[@number='1']/d:DicomAttribute[@keyword='CodeValue']/d:Value", NS
    )
    assert code is not None and code.text == "RP1"
    assert (
        attribute("RedPaletteColorLookupTableData").findtext("d:InlineBinary", namespaces=NS)
        == "AQI="
    )


def test_bulk_data_uri_and_empty_values() -> None:
    document = json_to_xml(
        {
            "7FE00010": {"vr": "OW", "BulkDataURI": "http://x/bulkdata/7FE00010"},
            "00100020": {"vr": "LO"},
        }
    )
    root = ET.fromstring(document)
    bulk = root.find("d:DicomAttribute[@tag='7FE00010']/d:BulkData", NS)
    assert bulk is not None and bulk.get("uri") == "http://x/bulkdata/7FE00010"
    empty = root.find("d:DicomAttribute[@tag='00100020']", NS)
    assert empty is not None and list(empty) == []
