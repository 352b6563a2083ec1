"""DICOM SR TID 2000 and Encapsulated PDF (raddx.reports.formats.sr): built with highdicom
(which validates as it builds), read back with pydicom, modulo NOT_CARRIED."""

from __future__ import annotations

import dataclasses
import io

import pydicom
import pytest
from pydicom.uid import EncapsulatedPDFStorage, EnhancedSRStorage

from raddx.reports import Person, ReportRecord, ReportStatusValues
from raddx.reports.formats.pdf import to_pdf
from raddx.reports.formats.sr import from_sr, to_encapsulated_pdf, to_sr
from raddx.reports.lifecycle import amend
from raddx.reports.samples import sample_record


def _carried(record: ReportRecord) -> ReportRecord:
    studies = tuple(dataclasses.replace(s, modalities=(), body_parts=()) for s in record.studies)
    images = tuple(dataclasses.replace(k, comment="") for k in record.key_images)
    return record.replace(
        studies=studies[:1],
        key_images=images,
        author=Person(record.author.name) if record.author else None,
        verifier=Person(record.verifier.name) if record.verifier else None,
    )


def _read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def test_final_report_as_tid_2000() -> None:
    record = sample_record(3)
    ds = _read(to_sr(record))
    assert ds.SOPClassUID == EnhancedSRStorage and ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "2000"
    assert ds.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    assert (ds.CompletionFlag, ds.VerificationFlag) == ("COMPLETE", "VERIFIED")
    assert str(ds.PatientName) == "Yamada^Ichiro=山田^一郎=ヤマダ^イチロウ"
    headings = [i.ConceptNameCodeSequence[0].CodeValue for i in ds.ContentSequence]
    assert {"121070", "121072"} <= set(headings)
    assert from_sr(to_sr(record), report_id=record.report_id) == _carried(record)


def test_preliminary_is_partial_unverified_and_amendment_names_predecessor() -> None:
    prelim = _read(to_sr(sample_record(2, status=ReportStatusValues.PRELIMINARY)))
    assert (prelim.CompletionFlag, prelim.VerificationFlag) == ("PARTIAL", "UNVERIFIED")
    final = sample_record(2)
    new = amend(final, verifier=final.verifier, at=final.created_at)  # type: ignore[arg-type]
    ds = _read(to_sr(new))
    (previous,) = (
        ds.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
    )
    assert previous.ReferencedSOPInstanceUID == _read(to_sr(final)).SOPInstanceUID
    assert from_sr(to_sr(new), report_id=new.report_id, version=2).status == "amended"


def test_encapsulated_pdf() -> None:
    record = sample_record(4)
    pdf = to_pdf(record)
    ds = _read(to_encapsulated_pdf(record, pdf))
    assert ds.SOPClassUID == EncapsulatedPDFStorage and ds.Modality == "DOC"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == pdf
    assert ds.StudyInstanceUID == record.studies[0].study_uid


def test_draft_and_non_dicom_are_refused() -> None:
    with pytest.raises(ValueError, match="not stored as SR"):
        to_sr(sample_record(1, status=ReportStatusValues.DRAFT))
    with pytest.raises(ValueError, match="not a DICOM object"):
        from_sr(b"not dicom at all")


def test_login_name_as_verifier_is_a_family_name() -> None:
    # Users have a login name only (dr-tanaka): the SR and KOS write it as a one-component
    # PN with the trailing caret (no highdicom warning, an error under this suite), and
    # reading it back gives the same record.
    from raddx.reports.formats.kos import to_kos

    record = sample_record(3)
    signed = record.replace(
        author=Person("dr-sato"), verifier=Person("dr-tanaka"), content_sha256=None
    )
    ds = _read(to_sr(signed))
    assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == "dr-tanaka^"
    assert from_sr(to_sr(signed)).verifier == Person("dr-tanaka")
    kos = _read(to_kos(signed))  # sample 3 has a key image
    names = [str(i.PersonName) for i in kos.ContentSequence if "PersonName" in i]
    assert names == ["dr-tanaka^"]
