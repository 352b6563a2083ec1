"""DICOM Basic Diagnostic Imaging Report (TID 2000) as an Enhanced SR document, and the
report PDF as Encapsulated PDF — the two forms a finalised report is stored back into the
archive in (issue 7), both in UTF-8 (ISO_IR 192).

The SR is built with highdicom, which checks the document against the IOD as it builds it
(STYLE rule 4). Content tree (PS3.16 TID 2000/2001/2002): root CONTAINER 18748-4 (LN)
"Diagnostic Imaging Report", language 121049 (HAS CONCEPT MOD), the author as Person Observer
Name 121008 (HAS OBS CONTEXT), one heading CONTAINER per non-empty section (CID 7001:
121109 Indications for Procedure, 121060 History, 121064 Current Procedure Descriptions,
121066 Prior Procedure Descriptions, 121070 Findings, 121072 Impressions, 121074
Recommendations, 121078 Addendum) holding a TEXT item (CID 7002: 121071 Finding, 121073
Impression, 121075 Recommendation, else the heading's code), key images as IMAGE items in
Findings. Patient, study and order come from the record; Completion/Verification Flags and
the Verifying Observer from its status (§5.4), Predecessor Documents from its predecessor.

What SR cannot carry is in :data:`NOT_CARRIED`; :func:`from_sr` reads what is there.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.coding import Code
from pydicom.uid import (
    UID,
    EncapsulatedPDFStorage,
    EnhancedSRStorage,
    ExplicitVRLittleEndian,
)
from pydicom.valuerep import DA, TM, PersonName

from raddx import __version__
from raddx.archive.names import observer_name
from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.enum import SexValues
from raddx.reports.record import (
    KeyImage,
    OrderInfo,
    PatientInfo,
    Person,
    ReportRecord,
    Sections,
    StudyRef,
)

__all__ = ["NOT_CARRIED", "from_sr", "sr_uids", "to_encapsulated_pdf", "to_sr"]

NOT_CARRIED = (
    "report_id and version (the SR has its own UIDs; from_sr takes them as arguments)",
    "studies after the first, modalities and body parts",
    "person ids, addendum authors and times, key image comments",
    "created_at seconds' offset beyond TimezoneOffsetFromUTC",
    "status amended vs corrected, draft vs preliminary, cancelled",
)
_HEADINGS: dict[str, tuple[Code, Code]] = {
    "clinical_info": (Code("121109", "DCM", "Indications for Procedure"),) * 2,
    "history": (Code("121060", "DCM", "History"),) * 2,
    "technique": (Code("121064", "DCM", "Current Procedure Descriptions"),) * 2,
    "comparison": (Code("121066", "DCM", "Prior Procedure Descriptions"),) * 2,
    "findings": (Code("121070", "DCM", "Findings"), Code("121071", "DCM", "Finding")),
    "impression": (Code("121072", "DCM", "Impressions"), Code("121073", "DCM", "Impression")),
    "recommendation": (
        Code("121074", "DCM", "Recommendations"),
        Code("121075", "DCM", "Recommendation"),
    ),
    "addendum": (Code("121078", "DCM", "Addendum"),) * 2,
}
_ROOT = Code("18748-4", "LN", "Diagnostic Imaging Report")
_LANGUAGE = Code("121049", "DCM", "Language of Content Item and Descendants")
_OBSERVER = Code("121008", "DCM", "Person Observer Name")
_KEY_IMAGE = Code("121180", "DCM", "Key Images")


def sr_uids(report_id: str, version: int, kind: str = "sr") -> tuple[str, str]:
    """(Series, SOP Instance) UIDs of a report version's SR (``kind="pdf"``: its
    Encapsulated PDF): derived from report id and version, so storing the same version twice
    is the same object (PS3.5 B.2 UUID-derived ``2.25`` UIDs)."""
    base = uuid.uuid5(uuid.NAMESPACE_URL, f"raddx:report:{report_id}:{kind}")
    return f"2.25.{base.int}", f"2.25.{uuid.uuid5(base, str(version)).int}"


def _pn(p: PatientInfo) -> PersonName:
    """PS3.5 6.2.1.2 groups: alphabetic=ideographic=phonetic, trailing empty groups dropped."""
    groups = [p.name_alpha, p.name_kanji, p.name_kana]
    while groups and not groups[-1]:
        groups.pop()
    return PersonName("=".join(groups))


def _observer_pn(name: str) -> PersonName:
    """An author's or verifier's name as PN: a display name keeps its groups
    (``Tanaka^Taro=田中^太郎=たなか^たろう``, in ISO_IR 192). A one-component name (a login
    name such as ``dr-tanaka``, for a user without a display name) is a family name; the trailing
    ``^`` says so (PS3.5 6.2.1.1), as highdicom asks of a single-component name. The
    record drops trailing carets (``record._name``), so the round trip is unchanged."""
    return PersonName(observer_name(name))


def _da(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _header(record: ReportRecord, study: StudyRef) -> Dataset:
    """Patient/study attributes of the record, as highdicom's evidence would carry them."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    p = record.patient
    ds.PatientName = _pn(p)
    ds.PatientID = p.patient_id
    if p.issuer:
        ds.IssuerOfPatientID = p.issuer
    ds.PatientBirthDate = _da(p.birth_date)
    ds.PatientSex = p.sex.value if p.sex is not SexValues.U else ""
    ds.StudyInstanceUID = study.study_uid
    when = study.study_datetime or record.created_at
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.StudyTime = when.strftime("%H%M%S")
    ds.AccessionNumber = record.order.accession_no
    ds.ReferringPhysicianName = PersonName(record.order.referring_physician)
    ds.StudyID = ""
    return ds


def _request(record: ReportRecord, study: StudyRef) -> Dataset:
    """The Referenced Request Sequence item of the record's order (PS3.3 C.17.2.2), shared
    by the SR and the KOS of a report."""
    request = Dataset()
    request.StudyInstanceUID = study.study_uid
    # Type 2 in the request item (PS3.3 Table C.17-3; dciodvfy reported it missing).
    request.ReferencedStudySequence = []
    request.AccessionNumber = record.order.accession_no
    request.PlacerOrderNumberImagingServiceRequest = record.order.placer_order_no
    request.FillerOrderNumberImagingServiceRequest = record.order.filler_order_no
    request.RequestedProcedureID = record.order.requested_procedure_id
    request.RequestedProcedureDescription = record.order.procedure_name
    request.RequestedProcedureCodeSequence = []
    if record.order.procedure_code:
        code = Dataset()
        code.CodeValue = record.order.procedure_code
        code.CodingSchemeDesignator = "JJ1017"
        code.CodeMeaning = record.order.procedure_name or record.order.procedure_code
        request.RequestedProcedureCodeSequence = [code]
    return request


def to_sr(record: ReportRecord) -> bytes:
    """The record as a TID 2000 Enhanced SR (Part 10 bytes) in its first study.

    Raises
    ------
    ValueError
        The record has no study (an SR belongs to one), or is a draft/cancelled report.
    """
    if not record.studies:
        raise ValueError("a report without a study cannot be stored as SR")
    if record.status in (S.DRAFT, S.CANCELLED, S.ENTERED_IN_ERROR):
        raise ValueError(f"a {record.status} report is not stored as SR (§5.4)")
    study = record.studies[0]
    header = _header(record, study)
    evidence = []
    for image in record.key_images:
        if image.study_uid == study.study_uid:
            ev = Dataset()
            ev.update(header)
            ev.SeriesInstanceUID = image.series_uid
            ev.SOPInstanceUID = image.sop_uid
            ev.SOPClassUID = image.sop_class_uid
            evidence.append(ev)
    root = hd.sr.ContainerContentItem(name=_ROOT, template_id="2000")
    items: list[hd.sr.ContentItem] = [
        hd.sr.CodeContentItem(
            name=_LANGUAGE,
            value=Code(record.language, "RFC5646", record.language),
            relationship_type="HAS CONCEPT MOD",
        )
    ]
    if record.author is not None:
        items.append(
            hd.sr.PnameContentItem(
                name=_OBSERVER,
                value=_observer_pn(record.author.name),
                relationship_type="HAS OBS CONTEXT",
            )
        )
    for field, (heading, concept) in _HEADINGS.items():
        texts = (
            [a.text for a in record.addenda]
            if field == "addendum"
            else [getattr(record.sections, field)]
        )
        texts = [t for t in texts if t]
        images = (
            [i for i in record.key_images if i.study_uid == study.study_uid]
            if field == "findings"
            else []
        )
        if not texts and not images:
            continue
        container = hd.sr.ContainerContentItem(name=heading, relationship_type="CONTAINS")
        children: list[hd.sr.ContentItem] = [
            hd.sr.TextContentItem(name=concept, value=t, relationship_type="CONTAINS")
            for t in texts
        ]
        children += [
            hd.sr.ImageContentItem(
                name=_KEY_IMAGE,
                referenced_sop_class_uid=i.sop_class_uid,
                referenced_sop_instance_uid=i.sop_uid,
                referenced_frame_numbers=i.frame,
                relationship_type="CONTAINS",
            )
            for i in images
        ]
        container.ContentSequence = hd.sr.ContentSequence(children)
        items.append(container)
    root.ContentSequence = hd.sr.ContentSequence(items)
    series_uid, sop_uid = sr_uids(record.report_id, record.version)
    signed = record.signed
    verifier = record.verifier
    request = _request(record, study)
    previous = []
    if record.predecessor is not None:
        prev = Dataset()
        prev.update(header)
        prev.SeriesInstanceUID = series_uid
        prev.SOPClassUID = EnhancedSRStorage
        prev.SOPInstanceUID = sr_uids(record.report_id, record.predecessor.version)[1]
        previous.append(prev)
    if not evidence:
        ev = Dataset()
        ev.update(header)
        ev.SeriesInstanceUID = series_uid
        ev.SOPInstanceUID = sop_uid
        ev.SOPClassUID = EnhancedSRStorage
        evidence.append(ev)
    sr = hd.sr.EnhancedSR(
        evidence=evidence,
        content=root,
        series_instance_uid=series_uid,
        series_number=9001,
        sop_instance_uid=sop_uid,
        instance_number=record.version,
        manufacturer="raddx",
        is_complete=signed,
        is_final=signed,
        is_verified=signed and verifier is not None,
        institution_name=record.institution or None,
        verifying_observer_name=_observer_pn(verifier.name) if signed and verifier else None,
        verifying_organization=(record.institution or "-") if signed and verifier else None,
        requested_procedures=[request],
        previous_versions=previous or None,
        record_evidence=bool(record.key_images),
    )
    sr.SpecificCharacterSet = "ISO_IR 192"
    sr.ContentDate = DA(record.created_at.strftime("%Y%m%d"))
    sr.ContentTime = TM(record.created_at.strftime("%H%M%S"))
    sr.TimezoneOffsetFromUTC = record.created_at.strftime("%z")
    if signed and record.verified_at is not None:
        sr.VerifyingObserverSequence[0].VerificationDateTime = record.verified_at.strftime(
            "%Y%m%d%H%M%S%z"
        )
    sr.SoftwareVersions = __version__
    out = io.BytesIO()
    sr.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _dt(value: str, offset: str = "") -> dt.datetime | None:
    from raddx.reports.formats._common import parse_ts

    return parse_ts(value + (offset if value and "+" not in value and "-" not in value else ""))


def from_sr(data: bytes, *, report_id: str | None = None, version: int = 1) -> ReportRecord:
    """A record from a TID 2000 SR (ours or another system's Basic/Enhanced/Comprehensive SR;
    headings read by their CID 7001 codes, unknown headings' text kept in the findings).
    ``report_id`` defaults to the accession number, else the SOP Instance UID.

    Raises
    ------
    ValueError
        Not DICOM, not an SR document, or content that makes no valid record.
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (pydicom.errors.InvalidDicomError, EOFError, ValueError) as exc:
        raise ValueError(f"not a DICOM object: {exc}") from None
    if "ContentSequence" not in ds or ds.get("ValueType") != "CONTAINER":
        raise ValueError("not an SR document (no CONTAINER root with ContentSequence)")
    by_heading = {heading.value: field for field, (heading, _) in _HEADINGS.items()}
    texts: dict[str, str] = {}
    images: list[tuple[str, str, Any]] = []
    author = None
    language = "ja"
    for item in ds.ContentSequence:
        code = item.ConceptNameCodeSequence[0].CodeValue
        if code == _OBSERVER.value and item.ValueType == "PNAME":
            author = Person(name=str(item.PersonName))
        elif code == _LANGUAGE.value and item.ValueType == "CODE":
            language = item.ConceptCodeSequence[0].CodeValue
        elif item.ValueType == "CONTAINER":
            field = by_heading.get(code, "findings")
            for child in item.get("ContentSequence", []):
                if child.ValueType == "TEXT" and field != "addendum":
                    texts[field] = (
                        (texts[field] + "\n" + child.TextValue)
                        if field in texts
                        else child.TextValue
                    )
                elif child.ValueType == "IMAGE":
                    ref = child.ReferencedSOPSequence[0]
                    frames = ref.get("ReferencedFrameNumber")
                    images.append((ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID, frames))
    series_of = {}
    for ev in list(ds.get("CurrentRequestedProcedureEvidenceSequence", [])) + list(
        ds.get("PertinentOtherEvidenceSequence", [])
    ):
        for series in ev.get("ReferencedSeriesSequence", []):
            for sop in series.get("ReferencedSOPSequence", []):
                series_of[sop.ReferencedSOPInstanceUID] = series.SeriesInstanceUID
    key_images = tuple(
        KeyImage(
            study_uid=ds.StudyInstanceUID,
            series_uid=series_of.get(sop_uid, ds.SeriesInstanceUID),
            sop_uid=sop_uid,
            sop_class_uid=sop_class,
            frame=int(frames) if frames else None,
        )
        for sop_class, sop_uid, frames in images
    )
    offset = ds.get("TimezoneOffsetFromUTC", "")
    created = _dt(ds.get("ContentDate", "") + ds.get("ContentTime", "")[:6], offset)
    verified = ds.get("VerificationFlag") == "VERIFIED"
    observer = (
        ds.VerifyingObserverSequence[0] if verified and "VerifyingObserverSequence" in ds else None
    )
    status = S.PRELIMINARY
    if verified:
        status = S.AMENDED if "PredecessorDocumentsSequence" in ds else S.FINAL
    request = ds.ReferencedRequestSequence[0] if ds.get("ReferencedRequestSequence") else Dataset()
    codes = request.get("RequestedProcedureCodeSequence") or []
    name = ds.PatientName
    order = OrderInfo(
        placer_order_no=request.get("PlacerOrderNumberImagingServiceRequest", ""),
        filler_order_no=request.get("FillerOrderNumberImagingServiceRequest", ""),
        accession_no=ds.get("AccessionNumber", "") or request.get("AccessionNumber", ""),
        requested_procedure_id=request.get("RequestedProcedureID", ""),
        procedure_code=codes[0].CodeValue if codes else "",
        procedure_name=request.get("RequestedProcedureDescription", ""),
        referring_physician=str(ds.get("ReferringPhysicianName", "") or "").split("=")[0],
    )
    study_when = (
        _dt(ds.get("StudyDate", "") + ds.get("StudyTime", "")[:6], offset)
        if ds.get("StudyDate")
        else None
    )
    try:
        return ReportRecord(
            report_id=report_id or order.accession_no or ds.SOPInstanceUID,
            version=version,
            status=status,
            patient=PatientInfo(
                patient_id=ds.PatientID,
                issuer=ds.get("IssuerOfPatientID", ""),
                name_alpha=name.alphabetic if name else "",
                name_kanji=name.ideographic if name else "",
                name_kana=name.phonetic if name else "",
                birth_date=_dt(ds.PatientBirthDate).date() if ds.get("PatientBirthDate") else None,  # type: ignore[union-attr]
                sex=SexValues(ds.get("PatientSex") or "U"),
            ),
            created_at=created or dt.datetime.now(dt.UTC),
            order=order,
            studies=(StudyRef(study_uid=ds.StudyInstanceUID, study_datetime=study_when),),
            sections=Sections(**texts),
            key_images=key_images,
            author=author,
            verifier=Person(name=str(observer.VerifyingObserverName)) if observer else None,
            verified_at=_dt(observer.VerificationDateTime) if observer else None,
            institution=ds.get("InstitutionName", ""),
            language=language,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"SR document: {exc}") from None


def _observer(item: Dataset | None) -> Person | None:
    if item is None:
        return None
    return Person(name=str(item.VerifyingObserverName))


def to_encapsulated_pdf(record: ReportRecord, pdf: bytes) -> bytes:
    """The report's PDF rendering as an Encapsulated PDF object (PS3.3 A.45.1) in the
    report's first study (Modality DOC), UTF-8; Part 10 bytes.

    Raises
    ------
    ValueError
        The record has no study.
    """
    if not record.studies:
        raise ValueError("a report without a study cannot be stored as Encapsulated PDF")
    study = record.studies[0]
    series_uid, sop_uid = sr_uids(record.report_id, record.version, "pdf")
    ds = _header(record, study)
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "DOC"
    ds.SeriesNumber = 9002
    ds.InstanceNumber = record.version
    ds.Manufacturer = "raddx"
    ds.ConversionType = "WSD"
    when = record.verified_at or record.created_at
    ds.ContentDate = when.strftime("%Y%m%d")
    ds.ContentTime = when.strftime("%H%M%S")
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S%z")
    ds.TimezoneOffsetFromUTC = when.strftime("%z")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = f"画像診断報告書 {record.report_id} 第{record.version}版"
    ds.ConceptNameCodeSequence = [Dataset()]
    ds.ConceptNameCodeSequence[0].CodeValue = "18748-4"
    ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LN"
    ds.ConceptNameCodeSequence[0].CodeMeaning = "Diagnostic Imaging Report"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
