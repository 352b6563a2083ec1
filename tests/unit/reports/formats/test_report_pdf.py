"""PDF rendering (raddx.reports.formats.pdf): Japanese text renders with an embedded font
(checked with poppler's pdffonts/pdftotext, as a reader would see it) and the attached
record reads back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from raddx.reports.formats.pdf import find_font, from_pdf, to_pdf
from raddx.reports.samples import sample_record


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    path.write_bytes(to_pdf(sample_record(3)))
    return path


def test_japanese_font_is_embedded(pdf_file: Path) -> None:
    fonts = subprocess.run(
        ["/usr/bin/pdffonts", pdf_file], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts, "no font in the PDF"
    # columns: name type encoding emb sub uni object ID
    assert all(line.split()[-5] == "yes" for line in fonts), fonts


def test_japanese_text_is_extractable(pdf_file: Path) -> None:
    text = subprocess.run(
        ["/usr/bin/pdftotext", pdf_file, "-"], capture_output=True, text=True, check=True
    ).stdout
    record = sample_record(3)
    for expected in ("画像診断報告書", "山田 一郎", record.sections.impression, "【所見】"):
        assert expected in text


def test_attached_record_reads_back(pdf_file: Path) -> None:
    assert from_pdf(pdf_file.read_bytes()) == sample_record(3)


def test_pdf_without_record_or_not_a_pdf_is_refused() -> None:
    from fpdf import FPDF

    plain = FPDF()
    plain.add_page()
    with pytest.raises(ValueError, match=r"carries no raddx-report\.json"):
        from_pdf(bytes(plain.output()))
    with pytest.raises(ValueError, match=r"not a readable PDF"):
        from_pdf(b"%PDF-1.4 garbage")


def test_missing_configured_font_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_font(tmp_path / "absent.ttf")
