"""CDA R2 (PS3.20) writer and reader (raddx.reports.formats.cda).

The CDA R2 XSD is not vendored (HL7 licence not checked in time); instead the PS3.20 rules we
rely on are checked here as Schematron-like assertions (PS3.20 ch. 7-9 tables).
"""

from __future__ import annotations

import pytest
from lxml import etree

from raddx.reports import ReportStatusValues
from raddx.reports.formats.cda import from_cda, to_cda
from raddx.reports.lifecycle import amend
from raddx.reports.samples import JST, sample_record

H = {"h": "urn:hl7-org:v3"}

# (XPath that must select something, what PS3.20 says) for a final report.
_RULES = [
    (
        "/h:ClinicalDocument/h:typeId[@root='2.16.840.1.113883.1.3'][@extension='POCD_HD000040']",
        "CDA R2 typeId",
    ),
    ("/h:ClinicalDocument/h:templateId[@root='1.2.840.10008.9.1']", "Imaging Report template"),
    ("/h:ClinicalDocument/h:templateId[@root='1.2.840.10008.9.20']", "General Header"),
    ("/h:ClinicalDocument/h:templateId[@root='1.2.840.10008.9.21']", "Imaging Header"),
    (
        "/h:ClinicalDocument/h:code[@code='18748-4'][@codeSystem='2.16.840.1.113883.6.1']",
        "document type LOINC 18748-4",
    ),
    ("/h:ClinicalDocument/h:id[@root]", "document id"),
    ("/h:ClinicalDocument/h:setId and /h:ClinicalDocument/h:versionNumber", "versioning"),
    ("/h:ClinicalDocument/h:effectiveTime[@value]", "effectiveTime"),
    ("/h:ClinicalDocument/h:confidentialityCode[@code]", "confidentialityCode"),
    ("/h:ClinicalDocument/h:languageCode[@code='ja']", "languageCode"),
    ("//h:recordTarget/h:patientRole/h:id[@extension]", "patient id"),
    ("//h:patient/h:name[@use='IDE']/h:family", "kanji name as IDE"),
    ("//h:patient/h:name[@use='SYL']/h:family", "kana name as SYL"),
    ("//h:patient/h:birthTime", "birthTime 1..1"),
    ("//h:patient/h:administrativeGenderCode", "gender 1..1"),
    ("/h:ClinicalDocument/h:author/h:assignedAuthor", "author"),
    ("/h:ClinicalDocument/h:custodian", "custodian"),
    ("/h:ClinicalDocument/h:legalAuthenticator/h:signatureCode[@code='S']", "signed"),
    ("//h:inFulfillmentOf/h:order/h:id", "order id 1..*"),
    ("//h:documentationOf/h:serviceEvent/h:id[@root][not(@extension)]", "Study UID as root"),
    ("//h:componentOf/h:encompassingEncounter/h:effectiveTime", "encounter time"),
    (
        "//h:section[h:templateId/@root='1.2.840.10008.9.3'][h:code/@code='55111-9']",
        "Imaging Procedure Description 1..1",
    ),
    (
        "//h:section[h:templateId/@root='1.2.840.10008.9.5'][h:code/@code='19005-8']",
        "Impression 1..1",
    ),
    ("//h:section[h:code/@code='59776-5']/h:text", "Findings with narrative"),
    (
        "//h:section[h:code/@code='121181']//h:observation[@classCode='DGIMG']/h:id[@root]",
        "DICOM Object Catalog SOP instance",
    ),
]


def _doc(record_n: int = 1) -> etree._Element:
    return etree.fromstring(to_cda(sample_record(record_n)))


@pytest.mark.parametrize(("xpath", "rule"), _RULES, ids=[r for _, r in _RULES])
def test_final_report_follows_ps3_20(xpath: str, rule: str) -> None:
    assert _doc(3).xpath(f"boolean({xpath})", namespaces=H), rule


def test_document_is_utf8_with_japanese_text() -> None:
    data = to_cda(sample_record(2))
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "画像診断報告書".encode() in data


def test_preliminary_has_no_legal_authenticator_and_reads_back() -> None:
    prelim = sample_record(4, status=ReportStatusValues.PRELIMINARY)
    doc = etree.fromstring(to_cda(prelim))
    assert not doc.xpath("//h:legalAuthenticator", namespaces=H)
    assert from_cda(to_cda(prelim)) == prelim


def test_amendment_replaces_its_predecessor() -> None:
    final = sample_record(5)
    new = amend(final, verifier=final.verifier, at=final.created_at.astimezone(JST))  # type: ignore[arg-type]
    doc = etree.fromstring(to_cda(new))
    parent = doc.xpath("//h:relatedDocument[@typeCode='RPLC']/h:parentDocument", namespaces=H)
    assert parent and parent[0].find("h:versionNumber", H).get("value") == "1"
    assert from_cda(to_cda(new)) == new


def test_draft_is_not_exported() -> None:
    with pytest.raises(ValueError, match="not exported as CDA"):
        to_cda(sample_record(1, status=ReportStatusValues.DRAFT))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><id", "not well-formed"),
        (b"<Bundle/>", "not a CDA document"),
        # A document without the patient cannot become a report.
        (
            b"<ClinicalDocument xmlns='urn:hl7-org:v3'><id root='1' extension='R'/>"
            b"<effectiveTime value='20240101'/></ClinicalDocument>",
            "recordTarget",
        ),
    ],
)
def test_bad_cda_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_cda(data)


def test_external_entities_are_not_resolved(tmp_path: object) -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>&x;</title></ClinicalDocument>"
    )
    with pytest.raises(ValueError):
        from_cda(evil)
