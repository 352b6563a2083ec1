"""Reading a JJ1017 master file (raddx.ris.jj1017_master): CP932 and UTF-8 CSV, .xlsx,
Japanese headers, and every bad row reported with its row, column and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from raddx.errors import InvalidInput
from raddx.ris.jj1017_master import read_master_file

CT_CHEST = "6000000200000000" + "0" * 16
FACILITY = "P000000100000000" + "0" * 16


def _csv(tmp_path: Path, text: str, encoding: str) -> Path:
    path = tmp_path / "master.csv"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_japanese_header_and_names(tmp_path: Path, encoding: str) -> None:
    text = (
        "コード,名称,カナ名称,モダリティ,有効開始日,有効終了日\r\n"
        f"{CT_CHEST},胸部単純CT,キョウブタンジュンCT,ct,2024-04-01,\r\n"
        "\r\n"  # blank lines are skipped
        f"{FACILITY},頭部（院内拡張）,,MR,,20301231\r\n"
    )
    entries, errors = read_master_file(_csv(tmp_path, text, encoding))
    assert errors == []
    assert [(e.row, e.code, e.name, e.modality) for e in entries] == [
        (2, CT_CHEST, "胸部単純CT", "CT"),
        (4, FACILITY, "頭部（院内拡張）", "MR"),
    ]
    assert entries[0].name_kana == "キョウブタンジュンCT"
    assert (entries[0].valid_from, entries[0].valid_to) == ("20240401", None)
    assert (entries[0].facility, entries[1].facility) == (False, True)


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (f"{CT_CHEST[:31]},短い", "code", "has 31 characters"),
        ("J" + CT_CHEST[1:] + ",未知モダリティ", "code", "unknown modality code 'J'"),
        (f"{CT_CHEST[:10]}X{CT_CHEST[11:]},左右不明", "code", "unknown laterality code 'X'"),
        (f"{CT_CHEST},", "name", "a name is required"),
        (f"{CT_CHEST},胸部,C-T", "modality", "is not a DICOM Modality"),
        (f"{CT_CHEST},胸部,CT,20240231", "valid_from", "is not a date"),
        (f"{CT_CHEST},胸部,CT,20250101,20240101", "valid_to", "ends before valid_from"),
    ],
)
def test_bad_row(tmp_path: Path, row: str, column: str, reason: str) -> None:
    text = f"code,name,modality,valid_from,valid_to\n{FACILITY},院内,CT\n{row}\n"
    entries, errors = read_master_file(_csv(tmp_path, text, "cp932"))
    assert [e.code for e in entries] == [FACILITY]
    (error,) = errors
    assert (error.row, error.column) == (3, column)
    assert reason in error.reason
    assert str(error).startswith(f"row 3, column {column}: ")


def test_duplicate_code_is_an_error_on_its_second_row(tmp_path: Path) -> None:
    text = f"code,name\n{CT_CHEST},胸部\n{CT_CHEST},胸部2\n"
    entries, errors = read_master_file(_csv(tmp_path, text, "utf-8"))
    assert len(entries) == 1
    assert [(e.row, e.column) for e in errors] == [(3, "code")]
    assert "already on row 2" in errors[0].reason


def test_xlsx(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["JJ1017コード", "名称", "英語名称", "モダリティ"])
    sheet.append([CT_CHEST, "胸部単純CT", "Chest CT", "CT"])
    sheet.append([CT_CHEST[:20], "短いコード", None, "CT"])
    path = tmp_path / "master.xlsx"
    book.save(path)
    entries, errors = read_master_file(path)
    assert [(e.code, e.name, e.name_english) for e in entries] == [
        (CT_CHEST, "胸部単純CT", "Chest CT")
    ]
    assert [(e.row, e.column) for e in errors] == [(3, "code")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,modality\n\xe8\x83\xb8,CT\n", r"lacks the column\(s\) code"),
        ("code,name\n".encode("utf-16"), "encoding not supported"),
        (b"", "is empty"),
    ],
)
def test_unreadable_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "master.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidInput, match=message):
        read_master_file(path)


def test_damaged_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "master.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match=r"not a readable \.xlsx workbook"):
        read_master_file(path)
