"""SS-MIX2 storage paths and messages of reports (raddx.reports.ssmix2): folder tree,
file-name convention, condition flags, ISO-2022-JP content with the SS-MIX2 MSH."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from raddx.reports import OrderInfo, ReportRecord, ReportStatusValues
from raddx.reports.formats.hl7v2 import from_oru
from raddx.reports.profile import SSMIX2
from raddx.reports.record import PatientInfo
from raddx.reports.samples import JST, sample_record
from raddx.reports.ssmix2 import ssmix2_message, ssmix2_path


def _record(patient_id: str = "0012345678", order: str = "ORD42") -> ReportRecord:
    r = sample_record(5, patient_id=patient_id)
    return r.replace(
        order=dataclasses.replace(r.order, placer_order_no=order),
        verified_at=dt.datetime(2024, 4, 2, 10, 30, 15, 250000, tzinfo=JST),
    )


def test_path_follows_the_ssmix2_tree_and_file_name_convention() -> None:
    record = _record()
    assert record.study_date is not None
    day = record.study_date.strftime("%Y%m%d")
    path = ssmix2_path(record)
    assert path.parts[:-1] == ("001", "234", "0012345678", day, "ORU-RAD")
    pid, date, kind, order, stamp, dept, flag = path.name.split("_")
    assert (pid, date, kind, order, dept, flag) == (
        "0012345678", day, "ORU-RAD", "ORD42", "-", "1",
    )  # fmt: skip
    assert stamp == "20240402103015000" and len(stamp) == 17  # records keep whole seconds


@pytest.mark.parametrize(
    ("status", "latest", "flag"),
    [
        (ReportStatusValues.FINAL, True, "1"),
        (ReportStatusValues.FINAL, False, "0"),  # a superseded version
        (ReportStatusValues.CANCELLED, True, "0"),
    ],
)
def test_condition_flag(status: ReportStatusValues, latest: bool, flag: str) -> None:
    record = sample_record(6, status=status)
    assert ssmix2_path(record, latest=latest).name.endswith(f"_{flag}")


def test_short_patient_id_is_padded_for_the_split_folders_only() -> None:
    path = ssmix2_path(_record(patient_id="77"))
    assert path.parts[:3] == ("000", "077", "77")
    assert path.name.startswith("77_")


def test_order_number_falls_back_to_accession_then_dash() -> None:
    record = _record(order="")
    assert ssmix2_path(record).name.split("_")[3] == record.order.accession_no
    bare = record.replace(order=OrderInfo())
    assert ssmix2_path(bare).name.split("_")[3] == "-"


@pytest.mark.parametrize("bad", ["P*1", "P 1", "患者1"])
def test_patient_id_that_cannot_be_a_folder_is_refused(bad: str) -> None:
    record = sample_record(7)
    record = record.replace(patient=dataclasses.replace(record.patient, patient_id=bad))
    with pytest.raises(ValueError, match="patient ID"):
        ssmix2_path(record)


def test_message_is_iso_2022_jp_with_the_ssmix2_msh() -> None:
    record = _record()
    data = ssmix2_message(record)
    assert b"\x1b$B" in data  # JIS X 0208 escape: the kanji are ISO-2022-JP
    assert all(b < 0x80 for b in data)  # 7-bit: no UTF-8 or Shift_JIS bytes
    text = data.decode("iso2022_jp")
    msh = text.split("\r")[0].split("|")
    assert msh[17] == "~ISO IR87" and msh[19] == "ISO 2022-1994"
    assert msh[20] == SSMIX2.message_profile
    assert len(msh[9]) == 20 and ssmix2_message(record) == data  # MSH-10 stable
    assert record.patient.name_kanji.split("^")[0] in text
    message = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate()
    assert message.msh.msh_21.value.startswith("SS-MIX2_")
    back = from_oru(data)
    assert back.sections.impression == record.sections.impression


def test_text_outside_jis_x_0208_is_refused() -> None:
    record = sample_record(8)
    record = record.replace(
        patient=PatientInfo(**{**dataclasses.asdict(record.patient), "name_kanji": "髙橋^一郎"})
    )
    with pytest.raises(ValueError, match="JIS X 0208"):
        ssmix2_message(record)
