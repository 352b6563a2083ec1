"""The canonical record's invariants (raddx.reports.record)."""

from __future__ import annotations

import datetime as dt

import pytest

from raddx.reports import (
    KeyImage,
    PatientInfo,
    Person,
    ReportRecord,
    ReportStatusValues,
    Sections,
)
from raddx.reports.samples import JST, sample_record

NOW = dt.datetime(2024, 4, 1, 12, 0, tzinfo=JST)


def _final(**changes: object) -> ReportRecord:
    base = dict(
        report_id="R1",
        version=1,
        status=ReportStatusValues.FINAL,
        patient=PatientInfo(patient_id="P1", name_kanji="山田^太郎"),
        created_at=NOW,
        sections=Sections(findings="所見", impression="診断"),
        verifier=Person(name="確定^花子"),
        verified_at=NOW,
    )
    base.update(changes)
    return ReportRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"verifier": None}, "needs verifier"),
        ({"verified_at": None}, "needs verified_at"),
        ({"sections": Sections(findings="所見")}, "needs impression"),
        # Whitespace is no impression either.
        ({"sections": Sections(impression=" \n")}, "needs impression"),
        ({"version": 0}, "version must be"),
        ({"version": 2**31}, "version must be"),  # beyond the INTEGER column
        ({"report_id": ""}, "report_id"),
        ({"status": "signed"}, "not a report status"),
        ({"created_at": dt.datetime(2024, 1, 1)}, "timezone-aware"),
    ],
)
def test_invalid_final_reports_cannot_be_built(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _final(**changes)


def test_key_image_must_belong_to_a_listed_study() -> None:
    image = KeyImage(
        study_uid="1.2.3", series_uid="1.2.3.4", sop_uid="1.2.3.4.5", sop_class_uid="1.2.840"
    )
    with pytest.raises(ValueError, match="does not list"):
        _final(key_images=(image,))


def test_signing_stores_a_digest_of_the_content_and_detects_changes() -> None:
    record = _final()
    assert record.signed and len(record.content_sha256 or "") == 64
    data = record.to_dict()
    data["sections"]["impression"] = "書き換え"
    with pytest.raises(ValueError, match="changed after signing"):
        ReportRecord.from_dict(data)


def test_unsigned_reports_carry_no_digest() -> None:
    draft = sample_record(1, status=ReportStatusValues.DRAFT)
    assert draft.content_sha256 is None


def test_text_is_normalised_nfc_and_lf() -> None:
    # "ガ" as カ + combining dakuten, CRLF line end.
    record = _final(sections=Sections(findings="カ\u3099\r\n次行", impression="診断"))
    assert record.sections.findings == "ガ\n次行"


def test_json_round_trip() -> None:
    record = sample_record(7)
    assert ReportRecord.from_dict(record.to_dict()) == record
