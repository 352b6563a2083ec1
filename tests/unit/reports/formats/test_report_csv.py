"""CSV layout, column mapping and encodings (raddx.reports.formats.csv)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from raddx.errors import InvalidInput
from raddx.reports.formats.csv import (
    ColumnMapping,
    decode_csv,
    read_csv,
    to_csv_row,
    write_csv,
)
from raddx.reports.samples import sample_record

DATA = Path(__file__).parents[3] / "data" / "reports"


def test_vendor_cp932_export_with_mapping_and_multiline_findings() -> None:
    text, encoding = decode_csv((DATA / "vendor_cp932.csv").read_bytes())
    rows = list(read_csv(text, ColumnMapping.load(DATA / "vendor_mapping.yaml")))
    assert encoding == "cp932"
    assert [(r.line, r.error) for r in rows] == [(2, ""), (5, "")]
    first, second = (r.record for r in rows)
    assert first is not None and second is not None
    assert first.patient.name_kanji == "髙橋^一郎"  # 髙: a CP932-only (IBM extension) kanji
    assert first.sections.findings.splitlines() == [
        "右肺上葉に結節影。",
        "辺縁不整、胸膜陥入あり。",
        '「,」や"引用"も含む。',
    ]
    assert first.status == "final" and first.content_sha256
    assert second.created_at.isoformat() == "2024-04-02T00:00:00+09:00"
    assert str(second.patient.birth_date) == "1970-05-06"


@pytest.mark.parametrize("bom", [False, True])
def test_utf8_with_and_without_bom(bom: bool) -> None:
    out = io.StringIO()
    write_csv([sample_record(1), sample_record(2)], out, bom=bom)
    text, encoding = decode_csv(out.getvalue().encode("utf-8"))
    assert encoding == ("utf-8-sig" if bom else "utf-8")
    assert [r.record.report_id for r in read_csv(text) if r.record] == ["R00000001", "R00000002"]


@pytest.mark.parametrize(
    "data",
    [
        "レポート,所見\n".encode("utf-16"),
        # EUC-JP is not one of the encodings we read: refused, not imported as mojibake.
        "report_id,findings\nR1,右肺上葉に結節影を認める\n".encode("euc_jp"),
        b"\x81\x7f\xff\xfe\xfd",
    ],
    ids=["utf-16", "euc-jp", "garbage"],
)
def test_unknown_encoding_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="encoding"):
        decode_csv(data)


def _csv(*rows: dict[str, str]) -> str:
    out = io.StringIO()
    write_csv([], out)
    header = out.getvalue()
    body = io.StringIO()
    import csv

    writer = csv.DictWriter(body, fieldnames=header.strip().split(","), lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
    return header + body.getvalue()


def test_bad_date_is_reported_with_its_line_number() -> None:
    good = to_csv_row(sample_record(1))
    bad = {**to_csv_row(sample_record(2)), "created_at": "2024-13-45"}
    rows = list(read_csv(_csv(good, bad)))
    assert rows[0].record is not None
    assert rows[1].record is None
    # Row 1's findings span two lines, so row 2 starts on line 4.
    assert rows[1].error.startswith("line 4: column created_at: '2024-13-45' is not a date")


def test_missing_required_column_refuses_the_file() -> None:
    with pytest.raises(InvalidInput, match="impression"):
        list(read_csv("report_id,version\nR1,1\n"))


def test_mapping_file_with_unknown_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  nonsense: X\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="unknown columns nonsense"):
        ColumnMapping.load(path)


def test_default_mapping_text_lists_every_column() -> None:
    text = ColumnMapping.default_text()
    assert "  findings: findings   # required" in text and "  comparison: comparison" in text
