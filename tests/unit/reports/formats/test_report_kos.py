"""Key Object Selection Document (TID 2010) of a report's key images
(raddx.reports.formats.kos): built with highdicom, read back with from_kos."""

from __future__ import annotations

import dataclasses
import io

import pydicom
import pytest
from pydicom.uid import EnhancedSRStorage, KeyObjectSelectionDocumentStorage

from raddx.reports import KeyImage, ReportRecord, ReportStatusValues
from raddx.reports.formats.kos import from_kos, kos_studies, kos_uids, to_kos
from raddx.reports.formats.sr import sr_uids, to_sr
from raddx.reports.samples import sample_record


def _with_images(n: int = 3) -> object:
    record = sample_record(n)
    first = record.key_images[0]
    second = KeyImage(
        study_uid=first.study_uid,
        series_uid=first.series_uid + ".2",
        sop_uid=first.sop_uid + ".9",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
        frame=3,
    )
    return record.replace(key_images=(first, second))


def test_kos_references_the_key_images_and_the_report_sr() -> None:
    record = _with_images()
    ds = pydicom.dcmread(io.BytesIO(to_kos(record)))
    assert ds.SOPClassUID == KeyObjectSelectionDocumentStorage and ds.Modality == "KO"
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.StudyInstanceUID == record.studies[0].study_uid
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "2010"
    assert ds.ConceptNameCodeSequence[0].CodeValue == "113000"
    refs = {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID: item.ValueType
        for item in ds.ContentSequence
        if "ReferencedSOPSequence" in item
    }
    report_sr = sr_uids(record.report_id, record.version)[1]
    assert refs == {k.sop_uid: "IMAGE" for k in record.key_images} | {report_sr: "COMPOSITE"}
    classes = {
        sop.ReferencedSOPInstanceUID: sop.ReferencedSOPClassUID
        for series in ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    assert classes[report_sr] == EnhancedSRStorage
    description = [i for i in ds.ContentSequence if i.ValueType == "TEXT"]
    assert record.report_id in description[0].TextValue
    assert ds.AccessionNumber == record.order.accession_no


def test_from_kos_restores_the_key_images() -> None:
    record = _with_images()
    expected = tuple(dataclasses.replace(k, comment="") for k in record.key_images)
    assert from_kos(to_kos(record)) == expected
    assert from_kos(to_kos(record))[1].frame == 3


def test_kos_uids_are_stable_per_version() -> None:
    record = _with_images()
    a = pydicom.dcmread(io.BytesIO(to_kos(record)))
    b = pydicom.dcmread(io.BytesIO(to_kos(record)))
    c = pydicom.dcmread(io.BytesIO(to_kos(record.replace(version=2))))
    assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
    assert a.SeriesInstanceUID == c.SeriesInstanceUID


def test_no_key_image_draft_and_foreign_objects_are_refused() -> None:
    record = sample_record(4)
    with pytest.raises(ValueError, match="no key image"):
        to_kos(record.replace(key_images=()))
    draft = sample_record(4, status=ReportStatusValues.DRAFT)
    with pytest.raises(ValueError, match="draft"):
        to_kos(draft)
    with pytest.raises(ValueError, match="not a Key Object Selection"):
        from_kos(to_sr(record))
    with pytest.raises(ValueError, match="not a DICOM object"):
        from_kos(b"not dicom")


def two_studies(n: int = 3) -> ReportRecord:
    """Report ``n`` read over two studies (CT today and the prior MR), a key image in each."""
    return sample_record(n, prior_study=True)


def _evidence(ds: pydicom.Dataset) -> dict[str, str]:
    return {
        sop.ReferencedSOPInstanceUID: study.StudyInstanceUID
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }


def test_key_images_of_two_studies_make_one_kos_per_study() -> None:
    record = two_studies()
    first, prior = (s.study_uid for s in record.studies)
    assert kos_studies(record) == (first, prior)
    a = pydicom.dcmread(io.BytesIO(to_kos(record, first)))
    b = pydicom.dcmread(io.BytesIO(to_kos(record, prior)))
    report_sr = sr_uids(record.report_id, record.version)[1]
    # Each KOS is in its own study and its evidence is that study's instances only; the
    # report's SR (stored in the first study) is referenced from the first study's KOS.
    assert a.StudyInstanceUID == first and b.StudyInstanceUID == prior
    assert _evidence(a) == {record.key_images[0].sop_uid: first, report_sr: first}
    assert _evidence(b) == {record.key_images[1].sop_uid: prior}
    assert b.ReferencedRequestSequence[0].StudyInstanceUID == prior
    assert b.ReferencedRequestSequence[0].AccessionNumber == record.order.accession_no
    assert from_kos(to_kos(record, prior)) == (
        dataclasses.replace(record.key_images[1], comment=""),
    )
    # Per-study UIDs: the first study keeps the one-KOS derivation; versions share a series.
    assert a.SOPInstanceUID == pydicom.dcmread(io.BytesIO(to_kos(record))).SOPInstanceUID
    assert len({a.SeriesInstanceUID, b.SeriesInstanceUID}) == 2
    assert (b.SeriesInstanceUID, b.SOPInstanceUID) == kos_uids(record, prior)
    v2 = record.replace(version=2)
    assert kos_uids(v2, prior)[0] == b.SeriesInstanceUID
    assert kos_uids(v2, prior)[1] != b.SOPInstanceUID
    description = [i.TextValue for i in b.ContentSequence if i.ValueType == "TEXT"]
    assert record.report_id in description[0] and "キー画像" in description[0]


def test_kos_of_a_study_without_key_images_or_not_of_the_report_is_refused() -> None:
    record = two_studies()
    prior = record.studies[1].study_uid
    only_first = record.replace(key_images=record.key_images[:1])
    assert kos_studies(only_first) == (record.studies[0].study_uid,)
    with pytest.raises(ValueError, match=f"no key image in study {prior}"):
        to_kos(only_first, prior)
    with pytest.raises(ValueError, match="not one of the report's studies"):
        to_kos(record, "1.2.3.999")
