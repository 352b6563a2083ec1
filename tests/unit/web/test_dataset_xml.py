"""DICOM JSON → PS3.19 Native DICOM Model (raddx.web.dicomweb._dataset_xml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from pydicom.dataset import Dataset

from dicom_factory import JAPANESE_NAME
from raddx.web.dicomweb._dataset_xml import NATIVE_DICOM_NAMESPACE, json_to_xml, xml_to_json

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


def test_xml_to_json_reverses_json_to_xml() -> None:
    """STOW-RS of XML metadata reads back what the QIDO/metadata answers write."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = JAPANESE_NAME
    ds.ModalitiesInStudy = ["CT", "MR"]
    ds.NumberOfStudyRelatedInstances = 3  # IS: a number in JSON
    ds.PixelSpacing = [0.5, 0.25]  # DS
    ds.Rows = 512  # US
    ds.StudyDescription = "<胸部> & CT"
    ds.ReferringPhysicianName = ""  # empty: no Value
    item = Dataset()
    item.CodeValue = "RP1"
    ds.ProcedureCodeSequence = [item]
    ds.add_new(0x00281201, "OW", b"\x01\x02")
    original = ds.to_json_dict()
    original["7FE00010"] = {"vr": "OW", "BulkDataURI": "bulk/1"}
    assert xml_to_json(json_to_xml(original)) == original


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        (b"<NativeDicomModel>", ET.ParseError, "no element found"),
        (b"<Other/>", ValueError, "not NativeDicomModel"),
        (b"<NativeDicomModel><DicomAttribute vr='LO'/></NativeDicomModel>", ValueError, "tag"),
        (
            b"<NativeDicomModel><DicomAttribute tag='00280010' vr='US'><Value number='1'>x"
            b"</Value></DicomAttribute></NativeDicomModel>",
            ValueError,
            "invalid literal",
        ),
    ],
)
def test_xml_to_json_refuses_what_is_not_a_native_dicom_model(
    document: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        xml_to_json(document)
