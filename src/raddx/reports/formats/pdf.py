"""PDF rendering of a report, with a Japanese font embedded, and the record attached.

Between Japanese hospitals a PDF (on media, or stored into the PACS as Encapsulated PDF) is
still the most common way a report travels, so it must render anywhere: the font is embedded
(subset) from a TrueType/OpenType file with Japanese glyphs (setting ``report_pdf_font``;
default IPAexGothic or Noto Sans CJK JP where installed). fpdf2 lays it out; long Japanese
lines break between characters (there are no spaces to break at).

The canonical record travels inside the PDF as an embedded file (``raddx-report.json``), so
:func:`from_pdf` reads back exactly what was rendered (PDF/A-3-style hybrid document); a PDF
without it (another vendor's) is refused rather than guessed from its text.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos

from raddx.reports.formats._common import person_display
from raddx.reports.profile import SECTION_CODES
from raddx.reports.record import ReportRecord, canonical_json

__all__ = ["ATTACHMENT", "MEDIA_TYPE", "find_font", "from_pdf", "to_pdf"]

MEDIA_TYPE = "application/pdf"
ATTACHMENT = "raddx-report.json"
_FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/noto/NotoSansJP-Regular.ttf"),
)
_SECTION_TITLES = {
    "clinical_info": "臨床情報・依頼目的",
    "history": "既往歴",
    "technique": "検査方法",
    "comparison": "比較検査",
    "findings": "所見",
    "impression": "診断",
    "recommendation": "推奨",
}
_STATUS_TITLES = {
    "draft": "下書き",
    "preliminary": "一次読影",
    "final": "確定",
    "amended": "修正版",
    "corrected": "訂正版",
    "cancelled": "取消",
    "entered-in-error": "誤登録",
}


def find_font(configured: Path | None = None) -> Path:
    """The font file to embed.

    Raises
    ------
    FileNotFoundError
        Neither the configured file nor any default is installed (say which to install).
    """
    if configured is not None:
        if not configured.is_file():
            raise FileNotFoundError(f"report_pdf_font {configured} does not exist")
        return configured
    for path in _FONT_CANDIDATES:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "no Japanese font for report PDFs: install fonts-ipaexfont-gothic or set report_pdf_font"
    )


def _pn(value: str) -> str:
    return value.replace("^", " ")


def _person(value: str) -> str:
    """An author's or verifier's name: kanji with kana, ``田中 太郎 (たなか たろう)``."""
    return person_display(value)


def to_pdf(record: ReportRecord, *, font: Path | None = None) -> bytes:
    """The report as a PDF with the font embedded and the record attached."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(record.verified_at or record.created_at)
    pdf.set_title(f"画像診断報告書 {record.report_id}")
    pdf.set_lang("ja")
    pdf.set_creator("raddx")
    pdf.add_font("jp", fname=str(find_font(font)))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("jp", size=16)
    pdf.cell(0, 10, "画像診断報告書", new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="C")
    pdf.set_font("jp", size=9)
    p = record.patient
    header = [
        f"報告書ID: {record.report_id}  版: {record.version}  "
        f"状態: {_STATUS_TITLES[record.status.value]}",
        f"患者ID: {p.patient_id}  氏名: {_pn(p.name_kanji)} ({_pn(p.name_kana)})  "
        f"生年月日: {p.birth_date or ''}  性別: {p.sex.value}",
        f"受付番号: {record.order.accession_no}  検査: {record.order.procedure_name}  "
        f"依頼医: {_pn(record.order.referring_physician)}",
    ]
    for study in record.studies:
        when = study.study_datetime.strftime("%Y-%m-%d %H:%M") if study.study_datetime else ""
        header.append(
            f"検査日時: {when}  モダリティ: {'/'.join(study.modalities)}  "
            f"Study UID: {study.study_uid}"
        )
    header.append(
        f"読影医: {_person(record.author.name) if record.author else ''}  "
        f"確定医: {_person(record.verifier.name) if record.verifier else ''}  "
        f"確定日時: {record.verified_at.strftime('%Y-%m-%d %H:%M') if record.verified_at else ''}"
    )
    for line in header:
        _para(pdf, line)
    pdf.ln(3)
    for field, title in _SECTION_TITLES.items():
        text = getattr(record.sections, field)
        if text:
            _section(pdf, title, text)
    for n, addendum in enumerate(record.addenda, start=1):
        _section(
            pdf,
            f"{SECTION_CODES['addendum'][1]} {n} ({_person(addendum.author.name)}, "
            f"{addendum.created_at:%Y-%m-%d %H:%M})",
            addendum.text,
        )
    if record.institution:
        pdf.ln(4)
        _para(pdf, record.institution)
    if record.content_sha256:
        _para(pdf, f"SHA-256: {record.content_sha256}")
    pdf.embed_file(
        bytes=canonical_json(record.to_dict()).encode("utf-8"),
        basename=ATTACHMENT,
        mime_type="application/json",
        modification_date=record.verified_at or record.created_at,
        desc="raddx canonical report record",
        compress=True,
    )
    return bytes(pdf.output())


def _para(pdf: FPDF, text: str) -> None:
    # A tab has no glyph in the font: shown as spaces (the attached record keeps the tab).
    text = text.replace("\t", "    ")
    pdf.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR)


def _section(pdf: FPDF, title: str, text: str) -> None:
    pdf.set_font("jp", size=11)
    _para(pdf, f"【{title}】")
    pdf.set_font("jp", size=10)
    _para(pdf, text)
    pdf.ln(2)


def from_pdf(data: bytes) -> ReportRecord:
    """The record attached to a PDF written by :func:`to_pdf`.

    Raises
    ------
    ValueError
        Not a PDF, or a PDF without the attached record.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        attachments = reader.attachments
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ValueError(f"not a readable PDF: {exc}") from None
    payload = attachments.get(ATTACHMENT)
    if not payload:
        raise ValueError(f"PDF carries no {ATTACHMENT}; only raddx report PDFs can be read")
    try:
        return ReportRecord.from_dict(json.loads(payload[0]))
    except ValueError as exc:
        raise ValueError(f"PDF's {ATTACHMENT}: {exc}") from None
