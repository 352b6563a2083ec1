"""The hospital's JJ1017 master: import (CSV in UTF-8 or CP932, Excel .xlsx), look-up, search.

No openly licensed JJ1017 master exists (reference note §1.4): JSRT distributes its tables
to members (v3.3 as Excel, v3.4 as PDF), and each hospital adds facility extensions (modality
code P–Y). ``raddx jj1017 import FILE`` loads such a file into ``jj1017_master``; orders from
every door (HL7, REST, FHIR) then take a code's name from it (:func:`resolve`).

Import is all or nothing by default, like the reports' CSV import
(:mod:`raddx.reports.csv_import`): every bad row is reported with its row number, column and
reason, and nothing is written unless all rows are good; ``partial=True`` keeps the good rows.
Codes are validated by :class:`raddx.ris.jj1017.Jj1017Code` (length, characters, modality and
laterality digits), the same check every order goes through.

The file's first non-empty row is its header. Columns are found by name, in English or
Japanese (:data:`COLUMNS`); only the code and the name are required.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from raddx.db.models import Jj1017MasterCode
from raddx.db.statements import statements
from raddx.errors import InvalidInput
from raddx.reports.formats.csv import decode_csv
from raddx.ris.jj1017 import FACILITY_MODALITY_CODES, Jj1017Code

__all__ = [
    "COLUMNS",
    "ImportResult",
    "MasterEntry",
    "MasterName",
    "RowError",
    "import_master",
    "master_name",
    "read_master_file",
    "resolve",
    "search_master",
]

#: Our column → the header names accepted for it (case and surrounding spaces ignored). The
#: Japanese names are those of JSRT's tables (コード, 名称) and common RIS exports.
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "jj1017", "jj1017-32", "jj1017コード", "コード", "検査コード"),
    "name": ("name", "name_ja", "名称", "検査名称", "手技名称", "名前"),
    "name_kana": ("name_kana", "kana", "カナ名称", "名称カナ", "カナ"),
    "name_english": ("name_english", "name_en", "英語名称", "英名"),
    "modality": ("modality", "モダリティ", "dicomモダリティ"),
    "valid_from": ("valid_from", "有効開始日", "開始日"),
    "valid_to": ("valid_to", "有効終了日", "終了日"),
}
_REQUIRED = ("code", "name")
#: DICOM Modality (0008,0060), CS: upper case, digits, underscore.
_MODALITY = re.compile(r"^[A-Z0-9_]{1,16}$")
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of a master file was refused: its row number in the file (1 = the first
    line or sheet row), the column (our name; empty for the whole row) and the reason."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class MasterEntry:
    """One validated master row (built only through :func:`read_master_file`)."""

    row: int
    code: str
    name: str
    name_kana: str | None = None
    name_english: str | None = None
    modality: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None

    @property
    def facility(self) -> bool:
        """A facility extension: modality position P–Y (guideline §5.4)."""
        return self.code[0] in FACILITY_MODALITY_CODES


@dataclass
class ImportResult:
    """What an import did: rows read, codes added and updated, and each bad row.
    ``imported`` is false when all-or-nothing refused the file."""

    rows: int = 0
    added: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    imported: bool = True


def _date(value: str) -> str:
    m = _DATE.match(value)
    try:
        if not m:
            raise ValueError
        dt.date(int(m[1]), int(m[2]), int(m[3]))  # a real day
    except ValueError:
        raise ValueError("not a date (YYYYMMDD or YYYY-MM-DD)") from None
    return m[1] + m[2] + m[3]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _rows_of_csv(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text, _encoding = decode_csv(data)
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        yield number, [c.strip() for c in row]


def _rows_of_xlsx(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # only Excel imports pay for it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/… for a damaged file
        raise InvalidInput(f"{path.name} is not a readable .xlsx workbook: {exc}") from None
    try:
        sheet = book.active
        if sheet is None:
            raise InvalidInput(f"{path.name} has no worksheet")
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in values]
    finally:
        book.close()


def _header(cells: list[str]) -> dict[str, int]:
    wanted = {alias.casefold(): ours for ours, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        ours = wanted.get(cell.strip().casefold())
        if ours and ours not in found:
            found[ours] = index
    missing = [c for c in _REQUIRED if c not in found]
    if missing:
        raise InvalidInput(
            f"header {cells!r} lacks the column(s) {', '.join(missing)} "
            f"(accepted names: {', '.join(a for c in missing for a in COLUMNS[c])})"
        )
    return found


def _entry(number: int, cells: list[str], columns: dict[str, int]) -> MasterEntry | RowError:
    values = {c: (cells[i] if i < len(cells) else "") for c, i in columns.items()}
    code = values["code"].upper()
    try:
        Jj1017Code(code)
    except InvalidInput as exc:
        return RowError(number, "code", str(exc))
    if not values["name"]:
        return RowError(number, "name", "a name is required")
    modality = values.get("modality", "").upper() or None
    if modality and not _MODALITY.match(modality):
        return RowError(number, "modality", f"{modality!r} is not a DICOM Modality (e.g. CT, MR)")
    dates: dict[str, str | None] = {}
    for column in ("valid_from", "valid_to"):
        raw = values.get(column, "")
        try:
            dates[column] = _date(raw) if raw else None
        except ValueError as exc:
            return RowError(number, column, f"{raw!r} is {exc}")
    if dates["valid_from"] and dates["valid_to"] and dates["valid_from"] > dates["valid_to"]:
        return RowError(number, "valid_to", "ends before valid_from")
    return MasterEntry(
        row=number,
        code=code,
        name=values["name"],
        name_kana=values.get("name_kana") or None,
        name_english=values.get("name_english") or None,
        modality=modality,
        valid_from=dates["valid_from"],
        valid_to=dates["valid_to"],
    )


def read_master_file(path: Path) -> tuple[list[MasterEntry], list[RowError]]:
    """Read and validate a master file: ``.xlsx`` (the active sheet) or CSV (UTF-8 with or
    without BOM, or CP932). Blank rows are skipped; a code twice in the file is an error on
    its second row.

    Raises
    ------
    InvalidInput
        The file cannot be decoded (neither UTF-8 nor CP932; not a workbook), is empty, or
        its header lacks the code or name column. Nothing is read then.
    """
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows: Iterable[tuple[int, list[str]]] = _rows_of_xlsx(path)
    else:
        rows = _rows_of_csv(path.read_bytes())
    columns: dict[str, int] | None = None
    entries: list[MasterEntry] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for number, cells in rows:
        if not any(cells):
            continue
        if columns is None:
            columns = _header(cells)
            continue
        result = _entry(number, cells, columns)
        if isinstance(result, RowError):
            errors.append(result)
        elif result.code in seen:
            errors.append(
                RowError(number, "code", f"{result.code} is already on row {seen[result.code]}")
            )
        else:
            seen[result.code] = number
            entries.append(result)
    if columns is None:
        raise InvalidInput(f"{path.name} is empty (no header row)")
    return entries, errors


def import_master(
    entries: list[MasterEntry],
    errors: list[RowError],
    *,
    session: Session,
    source: str,
    partial: bool = False,
) -> ImportResult:
    """Write ``entries`` into the master (a code already there is replaced).

    All or nothing: with ``errors`` and not ``partial`` nothing is written and the result
    says ``imported=False``. The caller owns the unit of work (it commits).
    """
    result = ImportResult(rows=len(entries) + len(errors), errors=list(errors))
    if errors and not partial:
        result.imported = False
        return result
    now = dt.datetime.now(dt.UTC)
    existing = {
        row.code: row
        for row in session.scalars(
            select(Jj1017MasterCode).where(Jj1017MasterCode.code.in_([e.code for e in entries]))
        )
    }
    for entry in entries:
        row = existing.get(entry.code)
        if row is None:
            row = Jj1017MasterCode(code=entry.code)
            session.add(row)
            result.added += 1
        else:
            result.updated += 1
        row.name = entry.name
        row.name_kana = entry.name_kana
        row.name_english = entry.name_english
        row.modality = entry.modality
        row.valid_from = entry.valid_from
        row.valid_to = entry.valid_to
        row.facility = entry.facility
        row.source = source
        row.updated_at = now
    session.flush()
    return result


def resolve(code: str, *, session: Session) -> Jj1017MasterCode | None:
    """The master row of a JJ1017-32 code, or ``None`` when the master does not know it."""
    return session.scalars(
        select(Jj1017MasterCode).where(Jj1017MasterCode.code == code)
    ).one_or_none()


_MASTER = Jj1017MasterCode.__table__
#: Built once: every order placed looks its codes up here (see raddx.ris.service.place_order).
_NAME_OF = select(_MASTER.c.name, _MASTER.c.valid_from, _MASTER.c.valid_to).where(
    _MASTER.c.code == bindparam("b_code")
)


@dataclass(frozen=True, slots=True)
class MasterName:
    """What an order needs of a master row: the name and the validity (DA, inclusive)."""

    name: str
    valid_from: str | None
    valid_to: str | None

    def valid_on(self, day: str) -> bool:
        """Whether the code may be ordered for ``day`` (DA)."""
        return (self.valid_from or "") <= day and (not self.valid_to or day <= self.valid_to)

    def validity(self) -> str:
        """``20200401 to 20260331``, ``from 20270101`` or ``until 20251231``, for messages (in
        ASCII: an HL7 ERR in ISO-2022-JP has no en dash)."""
        if self.valid_from and self.valid_to:
            return f"{self.valid_from} to {self.valid_to}"
        if self.valid_from:
            return f"from {self.valid_from}"
        return f"until {self.valid_to or ''}".strip()


def master_name(code: str, *, session: Session) -> MasterName | None:
    """The master's name and validity of ``code``, or ``None`` when the master does not hold
    it: the order path's lookup, a prepared Core statement (an ORM query per order cost
    ~0.25 ms)."""
    row = statements(session).first(_NAME_OF, {"b_code": code})
    return None if row is None else MasterName(row[0], row[1], row[2])


def search_master(
    *,
    session: Session,
    text: str | None = None,
    modality: str | None = None,
    code_prefix: str | None = None,
    valid_on: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Jj1017MasterCode]]:
    """``(total, page)`` of master rows in code order: ``text`` found in any name (kanji,
    kana, English; case-insensitive), ``modality`` exactly, ``code_prefix`` as the start of
    the code (``6`` = every CT code), ``valid_on`` a DA date inside the validity."""
    stmt = select(Jj1017MasterCode)
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                *(
                    func.lower(column).like(pattern.lower(), escape="\\")
                    for column in (
                        Jj1017MasterCode.name,
                        Jj1017MasterCode.name_kana,
                        Jj1017MasterCode.name_english,
                    )
                )
            )
        )
    if modality:
        stmt = stmt.where(Jj1017MasterCode.modality == modality)
    if code_prefix:
        stmt = stmt.where(Jj1017MasterCode.code.startswith(code_prefix, autoescape=True))
    if valid_on:
        stmt = stmt.where(
            or_(Jj1017MasterCode.valid_from.is_(None), Jj1017MasterCode.valid_from <= valid_on),
            or_(Jj1017MasterCode.valid_to.is_(None), Jj1017MasterCode.valid_to >= valid_on),
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = session.scalars(stmt.order_by(Jj1017MasterCode.code).limit(limit).offset(offset))
    return total, list(page)
