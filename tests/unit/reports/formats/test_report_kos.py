"""Key Object Selection Document (TID 2010) of a report's key images
(raddx.reports.formats.kos): built with highdicom, read back with from_kos."""

from __future__ import annotations

import dataclasses
import io

import pydicom
import pytest
from pydicom.uid import EnhancedSRStorage, KeyObjectSelectionDocumentStorage

from raddx.reports import KeyImage, ReportStatusValues
from raddx.reports.formats.kos import from_kos, to_kos
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
