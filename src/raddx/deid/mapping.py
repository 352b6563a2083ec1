"""The correspondence table (対応表): original → pseudonymous identifiers of a run.

APPI 仮名加工情報 (施行規則 Art.31, research notes §1.2) lets the data controller keep the
table that links pseudonyms back to patients, as 削除情報等 under safety management, and
*separately* from the pseudonymised data. So the table is opt-in (``--mapping-csv``), never
written into the output or quarantine folder (a folder handed to a recipient must not carry
it), created with owner-only permissions (0600) and written atomically (a temporary file in
the same folder, renamed), so no reader ever sees a partial table. With an unlinkable
policy (ephemeral key) the table serves only to validate the run (research notes §6 item 5):
it must be destroyed afterwards, or the output is not 匿名加工情報 (APPI: no kept link).

One row per written instance: patient, accession, Study/Series/SOP Instance UIDs before and
after, and the patient's date offset (every output date = original date − offset days) —
what a validation of the run (MIDI-B style UID and
patient ID mapping) or a later re-identification under the data controller's rules needs.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Literal

from pydicom.dataset import Dataset

from raddx.errors import InvalidInput
from raddx.storage.atomic import atomic_file

__all__ = [
    "MAPPING_ENCODINGS",
    "MappingEncoding",
    "MappingRow",
    "check_mapping_path",
    "original_identifiers",
    "write_mapping_csv",
]

MappingEncoding = Literal["utf-8", "utf-8-sig", "cp932"]
#: UTF-8; UTF-8 with a BOM (Excel opens it as UTF-8); CP932 (Shift_JIS as Windows has it,
#: for older Japanese Excel and tools that read nothing else).
MAPPING_ENCODINGS: tuple[MappingEncoding, ...] = ("utf-8", "utf-8-sig", "cp932")

_IDENTIFIERS = (
    ("patient_id", "PatientID"),
    ("issuer_of_patient_id", "IssuerOfPatientID"),
    ("accession_number", "AccessionNumber"),
    ("study_instance_uid", "StudyInstanceUID"),
    ("series_instance_uid", "SeriesInstanceUID"),
    ("sop_instance_uid", "SOPInstanceUID"),
)


@dataclass(frozen=True, slots=True)
class MappingRow:
    """One instance's identifiers before (``original_*``) and after (``pseudonymous_*``)."""

    original_patient_id: str
    original_issuer_of_patient_id: str
    pseudonymous_patient_id: str
    pseudonymous_issuer_of_patient_id: str
    original_accession_number: str
    pseudonymous_accession_number: str
    original_study_instance_uid: str
    pseudonymous_study_instance_uid: str
    original_series_instance_uid: str
    pseudonymous_series_instance_uid: str
    original_sop_instance_uid: str
    pseudonymous_sop_instance_uid: str
    date_offset_days: str  #: "" when the policy does not shift dates

    @classmethod
    def of(cls, original: dict[str, str], ds: Dataset, offset: int | None) -> MappingRow:
        """The row for ``ds`` (de-identified) from its ``original`` identifiers."""
        after = original_identifiers(ds)
        values: dict[str, str] = {}
        for name, _ in _IDENTIFIERS:
            values[f"original_{name}"] = original[name]
            values[f"pseudonymous_{name}"] = after[name]
        return cls(**values, date_offset_days="" if offset is None else str(offset))


def original_identifiers(ds: Dataset) -> dict[str, str]:
    """The identifiers of ``ds`` as text (empty when absent); read before it is changed."""
    return {name: str(ds.get(keyword, "") or "").strip() for name, keyword in _IDENTIFIERS}


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def check_mapping_path(path: Path, *, out_dir: Path, quarantine_dir: Path) -> None:
    """Refuse a table inside the output or quarantine folder, or in a folder we cannot write:
    before any input is read.

    Raises
    ------
    InvalidInput
    """
    for folder, what in ((out_dir, "output"), (quarantine_dir, "quarantine")):
        if _inside(path, folder):
            raise InvalidInput(
                f"the mapping CSV {path} is inside the {what} folder {folder}: keep the "
                "correspondence table apart from the de-identified data (APPI 仮名加工情報)"
            )
    if path.is_dir():
        raise InvalidInput(f"the mapping CSV {path} is a folder")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".probe-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"cannot write the mapping CSV in {parent}: {exc.strerror}") from None


def write_mapping_csv(
    path: Path, rows: list[MappingRow], *, encoding: MappingEncoding = "utf-8"
) -> None:
    """Write ``rows`` (sorted) as CSV with owner-only permissions, atomically.

    Raises
    ------
    InvalidInput
        A value cannot be encoded in ``encoding`` (CP932 lacks some kanji): nothing is
        written, and the message names the row and the column.
    """
    if encoding not in MAPPING_ENCODINGS:
        raise InvalidInput(f"mapping encoding {encoding!r}: use one of {MAPPING_ENCODINGS}")
    header = [f.name for f in fields(MappingRow)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")  # RFC 4180, what Excel writes
    writer.writerow(header)
    ordered = sorted(rows, key=astuple)
    for number, row in enumerate(ordered, start=2):
        values = astuple(row)
        for column, value in zip(header, values, strict=True):
            try:
                value.encode(encoding)
            except UnicodeEncodeError:
                raise InvalidInput(
                    f"mapping CSV line {number}, column {column}: a character cannot be "
                    f"written in {encoding}; use --mapping-encoding utf-8-sig"
                ) from None
        writer.writerow(values)
    data = text.getvalue().encode(encoding)
    with atomic_file(path) as f:  # 0600: the table links pseudonyms to patients
        f.write(data)
