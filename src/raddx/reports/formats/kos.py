"""The key images of a report as a DICOM Key Object Selection Document (KOS; PS3.3 A.35.4,
PS3.16 TID 2010 "Key Object Selection"), stored into the study beside the report's SR so a
viewer that knows nothing of reports still shows which images the radiologist chose (IHE
Key Image Note).

Built with highdicom's ``KeyObjectSelectionDocument``, which checks the document as it
builds it (STYLE rule 4). Content: document title (113000, DCM, "Of Interest") from CID 7010,
the verifier as Person Observer, a Key Object Description naming the report version, one
IMAGE item per key image of one study (with its frame number) and, in the report's first
study (where its TID 2000 SR is stored), one COMPOSITE item referencing that SR
(:func:`raddx.reports.formats.sr.sr_uids`), so the selection and its report find each
other. Character set ISO_IR 192. :func:`from_kos` reads the key images back.

A KOS belongs to one study (its Current Requested Procedure Evidence lists that study's
instances; highdicom refuses more), so a report whose key images span several studies gets
one KOS per study (:func:`kos_studies`): the KOS of another study than the first references
only that study's images and names the report in its description and its Referenced
Request, not by a reference to the SR, which is in another study.
"""

from __future__ import annotations

import io

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import EnhancedSRStorage, KeyObjectSelectionDocumentStorage
from pydicom.valuerep import DA, TM

from raddx import __version__
from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.formats.sr import _header, _observer_pn, _request, sr_uids
from raddx.reports.record import KeyImage, ReportRecord

__all__ = ["NOT_CARRIED", "from_kos", "kos_key_images", "kos_studies", "kos_uids", "to_kos"]

NOT_CARRIED = (
    "everything but the key images (the KOS references them; the report is in the SR)",
    "key images of the report's other studies (one KOS per study: see kos_studies)",
    "key image comments",
)
#: CID 7010 Key Object Selection Document Title: the generic "key images" title.
_TITLE = Code("113000", "DCM", "Of Interest")
#: Series number of our KOS objects (beside the SR's 9001 and the PDF's 9002).
_SERIES_NUMBER = 9003


def kos_studies(record: ReportRecord) -> tuple[str, ...]:
    """Study Instance UIDs of the studies that get a KOS: those of the report's studies
    holding one of its key images, in the report's order."""
    shown = {k.study_uid for k in record.key_images}
    return tuple(s.study_uid for s in record.studies if s.study_uid in shown)


def kos_key_images(record: ReportRecord, study_uid: str | None = None) -> tuple[KeyImage, ...]:
    """The key images the KOS of ``study_uid`` (default: the report's first study)
    references: those of that study."""
    if not record.studies:
        return ()
    study = study_uid or record.studies[0].study_uid
    return tuple(k for k in record.key_images if k.study_uid == study)


def kos_uids(record: ReportRecord, study_uid: str) -> tuple[str, str]:
    """(Series, SOP Instance) UIDs of the report version's KOS in ``study_uid``: derived
    from report id, study and version, so storing the same version again is the same object
    and a new version is a new instance in the same series. The first study keeps the
    derivation it had when a report had one KOS (``raddx:report:<id>:kos``), so KOS objects
    already stored are not duplicated by a re-store."""
    first = record.studies[0].study_uid if record.studies else None
    kind = "kos" if study_uid == first else f"kos:{study_uid}"
    return sr_uids(record.report_id, record.version, kind)


def to_kos(record: ReportRecord, study_uid: str | None = None) -> bytes:
    """The record's key images in ``study_uid`` (default: its first study) as a KOS
    document (Part 10 bytes) of that study.

    Raises
    ------
    ValueError
        ``study_uid`` is not one of the report's studies, the record has no key image in
        that study, or is a draft/cancelled report (nothing to point a viewer at).
    """
    if study_uid is not None and study_uid not in {s.study_uid for s in record.studies}:
        raise ValueError(f"study {study_uid} is not one of the report's studies")
    images = kos_key_images(record, study_uid)
    if not images:
        which = f"study {study_uid}" if study_uid else "its first study"
        raise ValueError(f"the report has no key image in {which}")
    if record.status in (S.DRAFT, S.CANCELLED, S.ENTERED_IN_ERROR):
        raise ValueError(f"a {record.status} report has no key object selection (§5.4)")
    study = next(s for s in record.studies if s.study_uid == images[0].study_uid)
    first = study.study_uid == record.studies[0].study_uid
    header = _header(record, study)
    evidence: list[Dataset] = []
    for image in images:
        ev = Dataset()
        ev.update(header)
        ev.SeriesInstanceUID = image.series_uid
        ev.SOPInstanceUID = image.sop_uid
        ev.SOPClassUID = image.sop_class_uid
        # highdicom makes IMAGE items of evidence with Rows/Columns, COMPOSITE of the rest;
        # the values are not copied into the document.
        ev.Rows = ev.Columns = 1
        evidence.append(ev)
    if first:  # the SR is stored in the first study only
        sr_series, sr_sop = sr_uids(record.report_id, record.version)
        report_sr = Dataset()
        report_sr.update(header)
        report_sr.SeriesInstanceUID = sr_series
        report_sr.SOPInstanceUID = sr_sop
        report_sr.SOPClassUID = EnhancedSRStorage
        evidence.append(report_sr)
    observer = None
    person = record.verifier or record.author
    if person is not None:
        observer = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=_observer_pn(person.name)
            ),
        )
    content = hd.ko.KeyObjectSelection(
        document_title=_TITLE,
        referenced_objects=evidence,
        observer_person_context=observer,
        description=f"画像診断報告書 {record.report_id} 第{record.version}版 キー画像",
    )
    frames = {k.sop_uid: k.frame for k in images if k.frame is not None}
    for item in content[0].ContentSequence:
        if item.ValueType == "IMAGE":
            ref = item.ReferencedSOPSequence[0]
            if ref.ReferencedSOPInstanceUID in frames:
                ref.ReferencedFrameNumber = frames[ref.ReferencedSOPInstanceUID]
    series_uid, sop_uid = kos_uids(record, study.study_uid)
    kos = hd.ko.KeyObjectSelectionDocument(
        evidence=evidence,
        content=content,
        series_instance_uid=series_uid,
        series_number=_SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=record.version,
        manufacturer="raddx",
        institution_name=record.institution or None,
        requested_procedures=[_request(record, study)],
    )
    kos.SpecificCharacterSet = "ISO_IR 192"
    when = record.verified_at or record.created_at
    kos.ContentDate = DA(when.strftime("%Y%m%d"))
    kos.ContentTime = TM(when.strftime("%H%M%S"))
    kos.TimezoneOffsetFromUTC = when.strftime("%z")
    kos.SoftwareVersions = __version__
    out = io.BytesIO()
    kos.save_as(out, enforce_file_format=True)
    return out.getvalue()


def from_kos(data: bytes) -> tuple[KeyImage, ...]:
    """The key images a KOS document references (ours or another system's): every IMAGE
    item, with its series from the evidence sequences; references to non-images (the
    report SR, presentation states) are not key images.

    Raises
    ------
    ValueError
        Not DICOM, or not a Key Object Selection Document.
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (pydicom.errors.InvalidDicomError, EOFError, ValueError) as exc:
        raise ValueError(f"not a DICOM object: {exc}") from None
    if ds.get("SOPClassUID") != KeyObjectSelectionDocumentStorage:
        raise ValueError("not a Key Object Selection Document")
    where: dict[str, tuple[str, str]] = {}
    for study in list(ds.get("CurrentRequestedProcedureEvidenceSequence", [])) + list(
        ds.get("IdenticalDocumentsSequence", [])
    ):
        for series in study.get("ReferencedSeriesSequence", []):
            for sop in series.get("ReferencedSOPSequence", []):
                where[sop.ReferencedSOPInstanceUID] = (
                    study.StudyInstanceUID,
                    series.SeriesInstanceUID,
                )
    images = []
    for item in ds.get("ContentSequence", []):
        if item.get("ValueType") != "IMAGE":
            continue
        ref = item.ReferencedSOPSequence[0]
        sop_uid = ref.ReferencedSOPInstanceUID
        study_uid, series_uid = where.get(sop_uid, (ds.StudyInstanceUID, ""))
        if not series_uid:
            raise ValueError(f"key image {sop_uid} is not in the evidence sequence")
        frames = ref.get("ReferencedFrameNumber")
        if isinstance(frames, MultiValue):  # several frames: the record keeps one
            frames = frames[0]
        frame = int(frames) if frames else None
        images.append(
            KeyImage(
                study_uid=study_uid,
                series_uid=series_uid,
                sop_uid=sop_uid,
                sop_class_uid=ref.ReferencedSOPClassUID,
                frame=frame,
            )
        )
    return tuple(images)
