"""Reports written into an SS-MIX2 standardised storage tree as HL7 v2.5 ORU^R01 messages
in ISO-2022-JP (``raddx report export --format ss-mix2 DEST``): the way a Japanese regional
network or a data warehouse picks up a hospital's clinical data.

The layout (folders, file names, data kind, flags) is configuration:
:data:`raddx.reports.profile.SSMIX2`. A storage tree is cumulative, so DEST may exist; each
file is written under a temporary name and renamed, a file already there with the same
bytes is left alone, and a report that cannot be written (no patient ID usable as a folder,
text outside JIS X 0208) is counted as an error with its reason, never dropped silently.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from raddx.errors import InvalidInput
from raddx.reports import store
from raddx.reports.enum import ReportStatusValues as S
from raddx.reports.formats.hl7v2 import to_oru
from raddx.reports.profile import SSMIX2, SsMix2Layout
from raddx.reports.record import ReportRecord
from raddx.reports.store import ReportSelection

__all__ = [
    "SsMix2Name",
    "SsMix2Summary",
    "export_ssmix2",
    "parse_ssmix2_name",
    "ssmix2_message",
    "ssmix2_path",
]

Progress = Callable[[int, int | None], None]

#: Characters a patient ID, order number or department may have to be a path element.
_SAFE = re.compile(r"^[0-9A-Za-z.\-]+$")


@dataclass
class SsMix2Summary:
    written: int = 0
    unchanged: int = 0
    #: Older files of a written report whose condition flag was turned to invalid.
    superseded: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    path: Path | None = None

    def render(self, *, elapsed: float) -> str:
        text = (
            f"ss-mix2: {self.written} file(s) written, {self.unchanged} unchanged, "
            f"{self.superseded} superseded, "
            f"{len(self.errors)} error(s) into {self.path} in {elapsed:.1f} s"
        )
        for where, why in self.errors[:10]:
            text += f"\n  {where}: {why}"
        return text


def _element(value: str, what: str, empty: str) -> str:
    if not value:
        return empty
    if not _SAFE.match(value):
        raise ValueError(f"{what} {value!r} cannot name an SS-MIX2 folder or file")
    return value


def ssmix2_path(
    record: ReportRecord, *, latest: bool = True, layout: SsMix2Layout = SSMIX2
) -> PurePosixPath:
    """Where ``record`` lives in the storage tree, relative to its root.

    ``latest``: whether this is the report's current version (コンディションフラグ valid)
    rather than a superseded one.

    Raises
    ------
    ValueError
        The patient ID, order number or department code has characters a path element
        cannot have.
    """
    pid = _element(record.patient.patient_id, "patient ID", "")
    if not pid:
        raise ValueError("a report without a patient ID has no place in SS-MIX2 storage")
    padded = pid.rjust(sum(layout.split), layout.pad)
    folders, start = [], 0
    for width in layout.split:
        folders.append(padded[start : start + width])
        start += width
    date = record.study_date
    day = date.strftime("%Y%m%d") if date else layout.unknown
    order = _element(record.order.placer_order_no or record.order.accession_no, "order number", "-")
    department = _element(layout.department, "department", "-")
    when = record.verified_at or record.created_at
    stamp = when.strftime("%Y%m%d%H%M%S") + f"{when.microsecond // 1000:03d}"
    stamp = stamp[: layout.timestamp_digits]
    valid = latest and record.status not in (S.CANCELLED, S.ENTERED_IN_ERROR)
    flag = layout.valid_flag if valid else layout.invalid_flag
    kind = layout.data_kind
    name = "_".join((pid, day, kind, order, stamp, department, flag))
    return PurePosixPath(*folders, pid, day, kind, name)


def ssmix2_message(record: ReportRecord, *, layout: SsMix2Layout = SSMIX2) -> bytes:
    """The ORU^R01 of ``record`` as SS-MIX2 stores it: the site's charset (ISO-2022-JP by
    default, MSH-18 ``~ISO IR87``, MSH-20 ``ISO 2022-1994``) and the SS-MIX2 message
    profile in MSH-21.

    Raises
    ------
    ValueError
        A draft (never sent), or text outside JIS X 0208 for ISO-2022-JP.
    """
    data = to_oru(record, charset=layout.charset)
    head, sep, rest = data.partition(b"\r")
    fields = head.split(b"|")  # fields[n - 1] is MSH-n (MSH-1 is the separator itself)
    fields += [b""] * (21 - len(fields))
    # MSH-10 (ST, 20 characters in v2.5) stable per report version, so a re-export writes
    # the same bytes and leaves the stored file alone.
    key = f"{record.report_id}:{record.version}".encode()
    fields[9] = hashlib.sha256(key).hexdigest()[:20].upper().encode("ascii")
    fields[20] = layout.message_profile.encode("ascii")
    return b"|".join(fields) + sep + rest


@dataclass(frozen=True)
class SsMix2Name:
    """The parts of an SS-MIX2 standardised-storage file name."""

    patient_id: str
    day: str
    data_kind: str
    order_no: str
    timestamp: str
    department: str
    flag: str


#: ``<PID>_<診療日>_<データ種別>_<オーダNO>_<発生日時>_<診療科>_<コンディションフラグ>``: the
#: seven parts of a file name of the standardised storage. Cross-checked with a published
#: sample of the National Hospital Organization's SS-MIX2 module specification
#: (github.com/duyuxuan/ssmix2_support_documents, standard_root:
#: ``0123456789_20080126_OML-11_081251234567800_200802031630123_01_1``): the date is 8
#: digits (or ``-``), the 発生日時 digits, the flag one character. A data kind may hold
#: ``_``-free text only (``OML-11``, ``ADT-00``; ours ``ORU-RAD``).
_NAME = re.compile(
    r"^(?P<patient_id>[^_]+)_(?P<day>\d{8}|-)_(?P<data_kind>[^_]+)_(?P<order_no>[^_]+)_"
    r"(?P<timestamp>\d{8,17})_(?P<department>[^_]+)_(?P<flag>[0-9])$"
)


def parse_ssmix2_name(name: str) -> SsMix2Name | None:
    """The parts of ``name`` when it is an SS-MIX2 standardised-storage file name, else
    ``None`` (how ``raddx report import`` tells an SS-MIX2 tree's files from others)."""
    m = _NAME.match(name)
    return SsMix2Name(**m.groupdict()) if m else None


def _write(path: Path, data: bytes) -> bool:
    """Write ``data`` at ``path`` atomically; False when the same bytes are there."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _supersede(path: Path, layout: SsMix2Layout) -> int:
    """Turn the flag of the report's older valid files in the same folder to invalid: the
    same patient, day, kind and order number, another 発生日時 (a new version replaces
    them). Without an order number nothing says which files are the same report."""
    parts = path.name.split("_")
    if len(parts) != 7 or parts[3] == "-" or parts[6] != layout.valid_flag:
        return 0
    prefix = "_".join(parts[:4]) + "_"
    count = 0
    for other in path.parent.glob(prefix + "*_" + layout.valid_flag):
        if other.name != path.name:
            other.rename(
                other.with_name(other.name[: -len(layout.valid_flag)] + layout.invalid_flag)
            )
            count += 1
    return count


def export_ssmix2(
    *,
    session_factory: sessionmaker[Session],
    selection: ReportSelection,
    target: Path,
    progress: Progress | None = None,
    layout: SsMix2Layout = SSMIX2,
) -> SsMix2Summary:
    """Write the selected report versions into the SS-MIX2 tree at ``target`` (created when
    missing). Drafts are not written (they are not sent, §5.4); with every version
    selected, superseded versions carry the invalid condition flag.

    Raises
    ------
    InvalidInput
        ``target`` is a file.
    """
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"{target} is a file, not an SS-MIX2 storage folder")
    summary = SsMix2Summary(path=target)
    target.mkdir(parents=True, exist_ok=True)
    done = 0
    with session_factory() as session:
        total = session.scalar(select(func.count()).select_from(selection.query().subquery()))
        latest_version: dict[str, int] = {}
        for record in store.iter_records(session=session, selection=selection):
            done += 1
            where = f"{record.report_id} v{record.version}"
            if record.status == S.DRAFT:
                continue
            if not selection.latest_only and record.report_id not in latest_version:
                latest = store.latest(session=session, report_id=record.report_id)
                latest_version[record.report_id] = latest.version if latest else record.version
            is_latest = selection.latest_only or (
                latest_version[record.report_id] == record.version
            )
            try:
                relative = ssmix2_path(record, latest=is_latest, layout=layout)
                data = ssmix2_message(record, layout=layout)
            except ValueError as exc:
                summary.errors.append((where, str(exc)))
            else:
                path = target.joinpath(*relative.parts)
                if _write(path, data):
                    summary.written += 1
                    summary.superseded += _supersede(path, layout)
                else:
                    summary.unchanged += 1
            if progress:
                progress(done, total)
    return summary
