"""HL7 v2.5 ORU^R01 (raddx.reports.formats.hl7v2): hl7apy strict parsing, JP conventions,
read-back modulo NOT_CARRIED."""

from __future__ import annotations

import dataclasses

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from raddx.reports import PatientInfo, ReportRecord, ReportStatusValues
from raddx.reports.formats.hl7v2 import from_oru, to_oru
from raddx.reports.samples import sample_record


def _carried(record: ReportRecord) -> ReportRecord:
    """``record`` without what NOT_CARRIED lists."""
    studies = tuple(dataclasses.replace(s, modalities=(), body_parts=()) for s in record.studies)
    images = tuple(dataclasses.replace(k, comment="", frame=None) for k in record.key_images)
    return record.replace(institution="", studies=studies, key_images=images)


@pytest.mark.parametrize("status", [ReportStatusValues.FINAL, ReportStatusValues.PRELIMINARY])
def test_message_passes_hl7apy_strict_and_reads_back(status: ReportStatusValues) -> None:
    record = sample_record(3, status=status)
    data = to_oru(record)
    message = parse_message(
        data.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    assert message.validate()
    assert message.msh.msh_18.value == "UNICODE UTF-8"
    obr = message.oru_r01_patient_result.oru_r01_order_observation.obr
    assert obr.obr_25.value == ("F" if status == "final" else "P")
    assert obr.obr_18.value == record.order.accession_no
    assert from_oru(data) == _carried(record)


def test_iso_ir87_message_for_jis_x_0208_text() -> None:
    record = sample_record(1)
    record = record.replace(
        patient=dataclasses.replace(record.patient, name_kanji="山田^太郎"),
    )
    data = to_oru(record, charset="~ISO IR87")
    assert b"\x1b$B" in data and b"ISO 2022-1994" in data
    assert from_oru(data).patient.name_kanji == "山田^太郎"


def test_iso_ir87_refuses_text_outside_jis_x_0208() -> None:
    record = sample_record(1).replace(patient=PatientInfo(patient_id="P1", name_kanji="髙橋^一郎"))
    with pytest.raises(ValueError, match="outside JIS X 0208"):
        to_oru(record, charset="~ISO IR87")


def test_draft_is_not_sent_and_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not sent as ORU"):
        to_oru(sample_record(1, status=ReportStatusValues.DRAFT))
    with pytest.raises(ValueError, match="not an ORU"):
        from_oru(b"MSH|^~\\&|X||||20240101||ADT^A01|1|P|2.5\r")
