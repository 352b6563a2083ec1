"""Everything specific to the Japanese report-exchange guideline, in one place.

JESRA TR-0042*A-2018 (画像診断レポート交換手順ガイドライン) could not be read when this was
written (reference/report-exchange.md §1.2). The only verified detail is the report type code,
LOINC 18748-4, quoted by JP Core. The rest below is our reconstruction: DICOM PS3.20 for the
CDA document, JP Core for FHIR, and our own documented CSV and package layouts. When the
guideline is in hand, correct it *here*; no other module names these values. Nothing in raddx
claims conformance to TR-0042 until that check is done.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CDA",
    "CSV_COLUMNS",
    "CSV_REQUIRED",
    "DEFAULT_UTC_OFFSET_HOURS",
    "FHIR",
    "PACKAGE",
    "SECTION_CODES",
    "SSMIX2",
    "CdaProfile",
    "FhirProfile",
    "PackageLayout",
    "SsMix2Layout",
]

LOINC = "2.16.840.1.113883.6.1"

#: Section field of the canonical record → (LOINC code, display). PS3.20 Table 8.1-x and
#: C-CDA section codes; addenda use 55107-7.
SECTION_CODES: dict[str, tuple[str, str]] = {
    "clinical_info": ("55752-0", "Clinical information"),
    "history": ("11329-0", "History general"),
    "technique": ("55111-9", "Current imaging procedure descriptions"),
    "comparison": ("18834-2", "Radiology comparison study"),
    "findings": ("59776-5", "Procedure findings"),
    "impression": ("19005-8", "Radiology Impression"),
    "recommendation": ("18783-1", "Radiology study recommendation"),
    "addendum": ("55107-7", "Addendum"),
}


@dataclass(frozen=True)
class CdaProfile:
    """The CDA R2 document profile (PS3.20 Imaging Report; TR-0042 assumed to localise it)."""

    #: TODO(TR-0042): the guideline's own templateId, if it defines one, goes here too.
    template_ids: tuple[str, ...] = (
        "1.2.840.10008.9.1",
        "1.2.840.10008.9.20",
        "1.2.840.10008.9.21",
    )
    addendum_template_id: str = "1.2.840.10008.9.24"
    #: Section templateIds of PS3.20 (findings uses the C-CDA one PS3.20 reuses).
    section_template_ids: tuple[tuple[str, str], ...] = (
        ("clinical_info", "1.2.840.10008.9.2"),
        ("technique", "1.2.840.10008.9.3"),
        ("comparison", "1.2.840.10008.9.4"),
        ("findings", "2.16.840.1.113883.10.20.6.1.2"),
        ("impression", "1.2.840.10008.9.5"),
        ("addendum", "1.2.840.10008.9.6"),
    )
    #: Document type: the one fact of TR-0042 verified (§5.1 レポート種別コード, via JP Core).
    document_code: tuple[str, str] = ("18748-4", "Diagnostic imaging study")
    language_code: str = "ja-JP"
    #: OID under which report ids are issued when a report has no other root (our own arc).
    report_id_root: str = "1.2.392.200036.9125.9.7.1"
    #: Root for patient ids when the record names no issuer.
    patient_id_root: str = "1.2.392.200036.9125.9.7.2"
    ps320_namespace: str = "urn:dicom-org:ps3-20"
    #: Roots of the order identifiers in ``inFulfillmentOf/order/id`` (our own arcs; PS3.20
    #: leaves the accession number's root to the issuer).
    placer_order_root: str = "1.2.392.200036.9125.9.7.3.1"
    filler_order_root: str = "1.2.392.200036.9125.9.7.3.2"
    accession_root: str = "1.2.392.200036.9125.9.7.3.3"
    requested_procedure_root: str = "1.2.392.200036.9125.9.7.3.4"
    #: Root of author/verifier/referrer local ids.
    person_root: str = "1.2.392.200036.9125.9.7.4"
    #: Procedure codes (JJ1017-32 by default; JJ1017 指針 code system OID is site-specific).
    procedure_code_system: str = "1.2.392.200119.4.1001"
    #: Body Part Examined (0018,0015) CS values as ``serviceEvent/code/translation``.
    body_part_code_system: str = "1.2.392.200036.9125.9.7.5"
    #: DICOM Controlled Terminology (modalities, DICOM Object Catalog codes).
    dcm_code_system: str = "1.2.840.10008.2.16.4"
    sop_class_code_system: str = "1.2.840.10008.2.6.1"


@dataclass(frozen=True)
class FhirProfile:
    """JP Core v1.2 radiology report shape (jp-core-v1x ``JP_DiagnosticReport_Radiology``)."""

    report_profile: str = (
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_DiagnosticReport_Radiology"
    )
    findings_profile: str = (
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_Radiology_Findings"
    )
    impression_profile: str = (
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Observation_Radiology_Impression"
    )
    loinc_system: str = "http://loinc.org"
    report_code: tuple[str, str] = ("18748-4", "Diagnostic imaging study")
    #: JP Core's ``code.coding[radiologyReportCode]`` slice: this system, code 18748-4.
    document_codes_system: str = "http://jpfhir.jp/fhir/core/CodeSystem/JP_DocumentCodes_CS"
    document_code_display: str = "画像検査報告書"
    #: JP_Observation_Common ``category[first]`` system (code ``imaging`` for radiology).
    observation_category_system: str = (
        "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"
    )
    category: tuple[str, str] = ("LP29684-5", "Radiology")
    findings_code: tuple[str, str] = ("18782-3", "Radiology Study observation (narrative)")
    impression_code: tuple[str, str] = (
        "19005-8",
        "Radiology Imaging study [Impression] (narrative)",
    )
    dicom_modality_system: str = "http://dicom.nema.org/resources/ontology/DCM"
    report_id_system: str = "urn:raddx:report-id"
    accession_type_system: str = "http://terminology.hl7.org/CodeSystem/v2-0203"
    name_representation_url: str = (
        "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
    )
    #: Our extensions for what R4 has no element for (creation/verification time of the
    #: version, the replaced version, body parts, key-image frames).
    extension_base: str = "urn:raddx:fhir:extension"
    patient_id_system: str = "urn:raddx:patient-id"
    order_id_system: str = "urn:raddx:order"
    procedure_code_system: str = "urn:oid:1.2.392.200119.4.1001"
    person_id_system: str = "urn:raddx:person-id"


@dataclass(frozen=True)
class PackageLayout:
    """Our exchange package (§5.2(5)) until the guideline's layout is known."""

    format_name: str = "raddx-report-exchange"
    format_version: str = "1"
    manifest: str = "manifest.json"
    index: str = "index.csv"
    #: ``reports/<report_id>/<version>/<file>``
    report_dir: str = "reports/{report_id}/{version}"
    cda_file: str = "report.cda.xml"
    fhir_file: str = "report.fhir.json"
    pdf_file: str = "report.pdf"
    #: The key images' references as a DICOM Key Object Selection (TID 2010), when any.
    kos_file: str = "keyimages.kos.dcm"
    #: The KOS of the report's n-th study with key images, n >= 2 (one KOS per study).
    kos_more_file: str = "keyimages.{n}.kos.dcm"


@dataclass(frozen=True)
class SsMix2Layout:
    """SS-MIX2 standardised storage layout for reports (JAMI「SS-MIX2 標準化ストレージ 構成の
    説明と構築ガイドライン」, Ver.1.2 series; read from secondary descriptions, not the
    guideline's own text [mem]; check it, and the data kind with the regional network).

    ``<root>/<PID[0:3]>/<PID[3:6]>/<PID>/<診療日>/<データ種別>/<file>`` where the file is
    ``<PID>_<診療日>_<データ種別>_<オーダNO>_<発生日時>_<診療科>_<コンディションフラグ>``.
    """

    #: How many leading characters of the patient ID name each of the two upper folders.
    split: tuple[int, ...] = (3, 3)
    #: Patient IDs shorter than the split are left-padded with this for the split folders
    #: only (our choice; the guideline assumes fixed-length IDs).
    pad: str = "0"
    #: 診療日 (study date, YYYYMMDD); when unknown.
    unknown: str = "-"
    #: データ種別. The standardised storage defines no radiology-report kind (reports go to
    #: 拡張ストレージ by site agreement): a site sets its own here.
    data_kind: str = "ORU-RAD"
    #: 診療科 code when the site sets none.
    department: str = "-"
    #: コンディションフラグ: 1 = valid, 0 = no longer valid (superseded or cancelled).
    valid_flag: str = "1"
    invalid_flag: str = "0"
    #: 発生日時 format: YYYYMMDDHHMMSS + milliseconds (17 digits).
    timestamp_digits: int = 17
    #: HL7 character set of the stored messages (MSH-18/MSH-20, ISO-2022-JP).
    charset: str = "~ISO IR87"
    #: MSH-21 message profile of SS-MIX2 messages (as seen in published SS-MIX2 MSH examples).
    message_profile: str = "SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO"


#: Offset of date-times that arrive without one (CSV, legacy CDA/HL7 of Japanese sites).
DEFAULT_UTC_OFFSET_HOURS = 9

CDA = CdaProfile()
FHIR = FhirProfile()
PACKAGE = PackageLayout()
SSMIX2 = SsMix2Layout()

#: Our default CSV layout (§5.3): canonical column names in order. A site maps its vendor's
#: column names onto these with a mapping file (``raddx.reports.formats.csv``).
CSV_REQUIRED: tuple[str, ...] = (
    "report_id",
    "version",
    "status",
    "patient_id",
    "patient_name_kanji",
    "patient_name_kana",
    "birth_date",
    "sex",
    "accession_no",
    "study_uid",
    "procedure_code",
    "procedure_name",
    "findings",
    "impression",
    "author",
    "verifier",
    "created_at",
    "verified_at",
)
CSV_OPTIONAL: tuple[str, ...] = (
    "patient_name_alpha",
    "issuer",
    "placer_order_no",
    "filler_order_no",
    "requested_procedure_id",
    "modality",
    "body_part",
    "study_datetime",
    "clinical_info",
    "history",
    "technique",
    "comparison",
    "recommendation",
    "referring_physician",
    "institution",
    "key_image_sop_uids",
    "pdf_path",
    "predecessor_version",
    "content_sha256",
)
CSV_COLUMNS: tuple[str, ...] = CSV_REQUIRED + CSV_OPTIONAL
