"""Reports as CSV rows: our default layout (reference/report-exchange.md §5.3, column names in
:data:`raddx.reports.profile.CSV_COLUMNS`), a column-mapping file for other vendors' exports,
encoding detection, and row-level errors with line numbers.

One row per report version. Multi-valued cells: studies are separated by ``;`` in
``study_uid``/``modality``/``body_part``/``study_datetime`` (the n-th element of each belongs
to the n-th study), several modalities or body parts of one study by ``\\``. Key images are
``;``-separated ``study|series|sop|sop_class[|frame]``. People are the name in PN form
(``family^given``) with the local id in ``author_id``/``verifier_id``. Dates are read as
``YYYYMMDD[HHMMSS]`` or ISO 8601 (no offset = +09:00) and written as ISO 8601.

Reading files: UTF-8 with or without BOM and CP932 (Shift_JIS) are told apart automatically;
anything else is refused rather than guessed. RFC 4180 quoting, so findings may span lines.
"""

from __future__ import annotations

import csv as _csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, cast

from raddx.errors import InvalidInput
from raddx.reports.enum import ReportStatusValues, SexValues
from raddx.reports.formats._common import parse_ts
from raddx.reports.profile import CSV_COLUMNS, CSV_REQUIRED
from raddx.reports.record import (
    KeyImage,
    OrderInfo,
    PatientInfo,
    Person,
    Predecessor,
    ReportRecord,
    Sections,
    StudyRef,
)

__all__ = [
    "COLUMNS",
    "NOT_CARRIED",
    "ColumnMapping",
    "CsvRow",
    "decode_csv",
    "from_csv_row",
    "read_csv",
    "to_csv_row",
    "write_csv",
]

#: The columns we write: the §5.3 layout plus ``author_id``/``verifier_id``.
COLUMNS: tuple[str, ...] = (*CSV_COLUMNS, "author_id", "verifier_id")
#: Record fields the CSV layout does not carry (the round-trip test compares modulo these).
NOT_CARRIED = ("addenda", "key image comments", "language")
_SECTIONS = (
    "clinical_info",
    "history",
    "technique",
    "comparison",
    "findings",
    "impression",
    "recommendation",
)


@dataclass(frozen=True)
class ColumnMapping:
    """Which header of the file holds which of our columns. The default maps each column to
    itself; a site's mapping file (JSON or YAML ``{"columns": {ours: theirs}}``) names only the
    columns that differ."""

    columns: Mapping[str, str] = field(default_factory=dict)

    def header_for(self, name: str) -> str:
        return self.columns.get(name, name)

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        """Read a mapping file.

        Raises
        ------
        InvalidInput
            Not JSON/YAML, or names a column we do not know.
        """
        import yaml  # type: ignore[import-untyped,unused-ignore]

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"column mapping {path}: {exc}") from None
        columns = (data or {}).get("columns") if isinstance(data, dict) else None
        if not isinstance(columns, dict):
            raise InvalidInput(f"column mapping {path}: expected a 'columns' mapping")
        unknown = sorted(set(columns) - set(COLUMNS))
        if unknown:
            raise InvalidInput(f"column mapping {path}: unknown columns {', '.join(unknown)}")
        return cls({str(k): str(v) for k, v in columns.items()})

    @staticmethod
    def default_text() -> str:
        """The default layout as a mapping file, to copy and edit."""
        lines = ["# raddx report CSV column mapping: our column: the header in your file"]
        lines.append("columns:")
        lines += [f"  {c}: {c}" + ("   # required" if c in CSV_REQUIRED else "") for c in COLUMNS]
        return "\n".join(lines) + "\n"


# -- writing ------------------------------------------------------------------------------


def _dt(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


def to_csv_row(record: ReportRecord) -> dict[str, str]:
    """One row of our layout."""
    p, o, s = record.patient, record.order, record.sections
    row = {
        "report_id": record.report_id,
        "version": str(record.version),
        "status": record.status.value,
        "patient_id": p.patient_id,
        "issuer": p.issuer,
        "patient_name_kanji": p.name_kanji,
        "patient_name_kana": p.name_kana,
        "patient_name_alpha": p.name_alpha,
        "birth_date": p.birth_date.strftime("%Y%m%d") if p.birth_date else "",
        "sex": p.sex.value,
        "accession_no": o.accession_no,
        "placer_order_no": o.placer_order_no,
        "filler_order_no": o.filler_order_no,
        "requested_procedure_id": o.requested_procedure_id,
        "procedure_code": o.procedure_code,
        "procedure_name": o.procedure_name,
        "referring_physician": o.referring_physician,
        "study_uid": ";".join(st.study_uid for st in record.studies),
        "modality": ";".join("\\".join(st.modalities) for st in record.studies),
        "body_part": ";".join("\\".join(st.body_parts) for st in record.studies),
        "study_datetime": ";".join(_dt(st.study_datetime) for st in record.studies),
        "author": record.author.name if record.author else "",
        "author_id": record.author.id if record.author else "",
        "verifier": record.verifier.name if record.verifier else "",
        "verifier_id": record.verifier.id if record.verifier else "",
        "created_at": _dt(record.created_at),
        "verified_at": _dt(record.verified_at),
        "institution": record.institution,
        "key_image_sop_uids": ";".join(
            "|".join(
                [k.study_uid, k.series_uid, k.sop_uid, k.sop_class_uid]
                + ([str(k.frame)] if k.frame is not None else [])
            )
            for k in record.key_images
        ),
        "pdf_path": "",
        "predecessor_version": str(record.predecessor.version) if record.predecessor else "",
        # Informational: the CSV does not carry everything the digest covers (NOT_CARRIED),
        # so a reader recomputes it and this value is not checked on import.
        "content_sha256": record.content_sha256 or "",
    }
    row.update({name: getattr(s, name) for name in _SECTIONS})
    return row


def write_csv(records: Iterable[ReportRecord], stream: TextIO, *, bom: bool = False) -> int:
    """Write a header and one row per record; returns the number of rows. ``bom`` starts
    the text with U+FEFF so that Excel opens the UTF-8 file correctly."""
    if bom:
        stream.write("\ufeff")
    writer = _csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    n = 0
    for record in records:
        writer.writerow(to_csv_row(record))
        n += 1
    return n


# -- reading ------------------------------------------------------------------------------


def decode_csv(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: UTF-8 (BOM or not) or CP932.

    Raises
    ------
    InvalidInput
        Neither decodes cleanly (e.g. UTF-16, EUC-JP, binary): we refuse instead of guessing.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise InvalidInput("CSV encoding not supported (UTF-16 or binary); use UTF-8 or CP932")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError:
        raise InvalidInput("CSV encoding unknown: neither UTF-8 nor CP932/Shift_JIS") from None
    # EUC-JP bytes often decode as CP932 half-width katakana; real CP932 exports rarely are
    # mostly half-width kana, so treat that as "not CP932" rather than import mojibake.
    non_ascii = [c for c in text if ord(c) > 0x7F]
    halfwidth = sum(1 for c in non_ascii if "\uff61" <= c <= "\uff9f")
    if non_ascii and halfwidth * 2 > len(non_ascii):
        raise InvalidInput("CSV encoding unknown: looks like EUC-JP or another encoding")
    return text, "cp932"


@dataclass(frozen=True)
class CsvRow:
    """One data row read: its first line number, and the record or why there is none."""

    line: int
    record: ReportRecord | None
    error: str = ""


def read_csv(text: str, mapping: ColumnMapping | None = None) -> Iterator[CsvRow]:
    """Rows of a decoded CSV file, each a record or an error naming the line.

    Raises
    ------
    InvalidInput
        The header lacks a required column (nothing can be read).
    """
    mapping = mapping or ColumnMapping()
    reader = _csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("CSV file is empty") from None
    except _csv.Error as exc:
        raise InvalidInput(f"CSV line 1: {exc}") from None
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in CSV_REQUIRED if mapping.header_for(c) not in index]
    if missing:
        raise InvalidInput(f"CSV header lacks required column(s): {', '.join(missing)}")
    wanted = {c: index[mapping.header_for(c)] for c in COLUMNS if mapping.header_for(c) in index}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _csv.Error as exc:
            yield CsvRow(line, None, f"line {line}: {exc}")
            return
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        row = {c: (cells[i] if i < len(cells) else "") for c, i in wanted.items()}
        try:
            yield CsvRow(start, from_csv_row(row))
        except (ValueError, TypeError) as exc:
            yield CsvRow(start, None, f"line {start}: {exc}")


def _field_error(name: str, value: str, exc: Exception) -> ValueError:
    text = str(exc)
    return ValueError(
        f"column {name}: {text}" if repr(value) in text else f"column {name}: {value!r}: {text}"
    )


def _when(row: Mapping[str, str], name: str) -> dt.datetime | None:
    value = row.get(name, "").strip()
    if not value:
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise _field_error(name, value, exc) from None


def _birth(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) == 8 and value.isdigit():
            return dt.datetime.strptime(value, "%Y%m%d").date()
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise _field_error("birth_date", value, exc) from None


def _person(row: Mapping[str, str], name: str) -> Person | None:
    value = row.get(name, "").strip()
    return Person(name=value, id=row.get(f"{name}_id", "").strip()) if value else None


def _studies(row: Mapping[str, str]) -> tuple[StudyRef, ...]:
    uids = [u.strip() for u in row.get("study_uid", "").split(";") if u.strip()]

    def nth(name: str, n: int) -> str:
        parts = row.get(name, "").split(";")
        return parts[n].strip() if n < len(parts) else ""

    studies = []
    for n, uid in enumerate(uids):
        when = nth("study_datetime", n)
        studies.append(
            StudyRef(
                study_uid=uid,
                modalities=tuple(m for m in nth("modality", n).split("\\") if m),
                study_datetime=_when({"study_datetime": when}, "study_datetime"),
                body_parts=tuple(b for b in nth("body_part", n).split("\\") if b),
            )
        )
    return tuple(studies)


def _key_images(value: str) -> tuple[KeyImage, ...]:
    images = []
    for item in filter(None, (v.strip() for v in value.split(";"))):
        parts = item.split("|")
        if len(parts) not in (4, 5):
            raise ValueError(
                f"column key_image_sop_uids: {item!r}: expected study|series|sop|sop_class[|frame]"
            )
        frame = int(parts[4]) if len(parts) == 5 else None
        images.append(KeyImage(parts[0], parts[1], parts[2], parts[3], frame=frame))
    return tuple(images)


def from_csv_row(row: Mapping[str, str]) -> ReportRecord:
    """A record from one row keyed by our column names.

    Raises
    ------
    ValueError
        A bad value (the message names the column) or an invalid record.
    """
    version = row.get("version", "").strip() or "1"
    if not version.isdigit():
        raise ValueError(f"column version: {version!r} is not a number")
    created = _when(row, "created_at")
    if created is None:
        raise ValueError("column created_at is empty")
    predecessor = row.get("predecessor_version", "").strip()
    sex = row.get("sex", "").strip().upper() or "U"
    if sex not in SexValues.__members__:
        raise ValueError(f"column sex: {sex!r} is not M, F, O or U")
    report_id = row.get("report_id", "").strip()
    return ReportRecord(
        report_id=report_id,
        version=int(version),
        status=cast(ReportStatusValues, row.get("status", "").strip() or "final"),
        patient=PatientInfo(
            patient_id=row.get("patient_id", "").strip(),
            issuer=row.get("issuer", "").strip(),
            name_kanji=row.get("patient_name_kanji", ""),
            name_kana=row.get("patient_name_kana", ""),
            name_alpha=row.get("patient_name_alpha", ""),
            birth_date=_birth(row.get("birth_date", "")),
            sex=SexValues(sex),
        ),
        created_at=created,
        order=OrderInfo(
            placer_order_no=row.get("placer_order_no", "").strip(),
            filler_order_no=row.get("filler_order_no", "").strip(),
            accession_no=row.get("accession_no", "").strip(),
            requested_procedure_id=row.get("requested_procedure_id", "").strip(),
            procedure_code=row.get("procedure_code", "").strip(),
            procedure_name=row.get("procedure_name", ""),
            referring_physician=row.get("referring_physician", ""),
        ),
        studies=_studies(row),
        sections=Sections(**{name: row.get(name, "") for name in _SECTIONS}),
        key_images=_key_images(row.get("key_image_sop_uids", "")),
        author=_person(row, "author"),
        verifier=_person(row, "verifier"),
        verified_at=_when(row, "verified_at"),
        institution=row.get("institution", ""),
        predecessor=Predecessor(report_id, int(predecessor)) if predecessor else None,
    )
