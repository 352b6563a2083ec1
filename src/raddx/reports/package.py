"""Exchange packages: export selected reports to a ZIP or folder, import them back.

Layout (our own, documented; the TR-0042 one is not known, see :mod:`raddx.reports.profile`):
``manifest.json`` (format and version, producer, counts, the SHA-256 and size of every other
file), ``index.csv`` (one row per report version in the CSV layout) and, per version,
``reports/<report_id>/<version>/report.cda.xml`` + ``report.fhir.json`` (+ ``report.pdf`` on
request, + ``keyimages.kos.dcm`` on request when the report has key images, one more
(``keyimages.2.kos.dcm``, …) per further study with key images).

Export streams: records are read in batches and written one by one, so memory stays flat in
the number of reports but for the manifest's file list (about 100 bytes per file). Import
checks every hash *before* anything is stored — one tampered, missing or extra file and
nothing is imported — then imports row by row through :func:`raddx.reports.service.import_record`
(idempotent; unmatched reports are quarantined) and writes a row-level result file.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from raddx import __version__
from raddx.errors import InvalidInput
from raddx.reports import service, store
from raddx.reports.formats import cda, fhir, hl7v2, kos, pdf, sr
from raddx.reports.formats import csv as report_csv
from raddx.reports.profile import PACKAGE, SSMIX2
from raddx.reports.record import KeyImage, ReportRecord
from raddx.reports.results import ImportSummary, ResultWriter
from raddx.reports.ssmix2 import SsMix2Name, parse_ssmix2_name
from raddx.reports.status import format_status
from raddx.reports.store import ReportSelection
from raddx.storage.atomic import replace_synced

__all__ = ["ExportSummary", "Progress", "export_package", "import_reports", "report_dir"]

#: ``progress(done, total)``; ``total`` is ``None`` when unknown.
Progress = Callable[[int, int | None], None]
_BATCH = 500
_NOT_A_REPORT = "not a CDA (.xml), FHIR (.json), ORU (.hl7), SR (.dcm) or raddx PDF (.pdf) file"


def report_dir(report_id: str, version: int) -> str:
    """The folder of one version inside a package; the id is percent-encoded so that no id
    (``..``, ``:``, Japanese text) can leave the package or trouble a file system."""
    safe = quote(report_id, safe="-_").replace(".", "%2E")
    return PACKAGE.report_dir.format(report_id=safe, version=version)


# -- export -------------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, name: str, data: bytes) -> None: ...
    def write_file(self, name: str, path: Path) -> None: ...
    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class _ZipSink:
    def __init__(self, target: Path) -> None:
        self.target = target
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=target.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.zip = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)

    def write(self, name: str, data: bytes) -> None:
        self.zip.writestr(name, data)

    def write_file(self, name: str, path: Path) -> None:
        self.zip.write(path, name)

    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> None:
        with self.zip.open(name, "w") as member:
            for chunk in chunks:
                member.write(chunk)

    def commit(self) -> None:
        self.zip.close()
        replace_synced(self.tmp, self.target)

    def abort(self) -> None:
        self.zip.close()
        self.tmp.unlink(missing_ok=True)


class _FolderSink:
    def __init__(self, target: Path) -> None:
        if target.exists():
            raise InvalidInput(f"{target} exists; export into a new folder")
        self.target = target
        self.tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))

    def write(self, name: str, data: bytes) -> None:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def write_file(self, name: str, path: Path) -> None:
        shutil.copyfile(path, self.tmp / name)

    def write_chunks(self, name: str, chunks: Iterable[bytes]) -> None:
        with open(self.tmp / name, "wb") as out:
            for chunk in chunks:
                out.write(chunk)

    def commit(self) -> None:
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass(frozen=True)
class ExportSummary:
    reports: int
    files: int
    path: Path

    def render(self, *, elapsed: float) -> str:
        rate = f" ({self.reports / elapsed:.0f} reports/s)" if elapsed > 0 and self.reports else ""
        return (
            f"exported {self.reports} report(s), {self.files} file(s) to {self.path} "
            f"in {elapsed:.1f} s{rate}"
        )


class _IndexWriter:
    """index.csv written to a temporary file as reports stream by, hashed on the way."""

    def __init__(self, path: Path) -> None:
        self.sha256 = hashlib.sha256()
        self._stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._buffer = io.StringIO()
        self._writer = csv.DictWriter(
            self._buffer, fieldnames=report_csv.COLUMNS, lineterminator="\r\n"
        )
        self._writer.writeheader()
        self._flush()

    def _flush(self) -> None:
        text = self._buffer.getvalue()
        self._stream.write(text)
        self.sha256.update(text.encode("utf-8"))
        self._buffer.seek(0)
        self._buffer.truncate()

    def write(self, row: dict[str, str]) -> None:
        self._writer.writerow(row)
        self._flush()

    def __enter__(self) -> _IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


def _selection_json(selection: ReportSelection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(selection).items():
        if value in (None, ()):
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = [str(v) for v in value]
        out[key] = value
    return out


def export_package(
    *,
    session_factory: sessionmaker[Session],
    selection: ReportSelection,
    target: Path,
    progress: Progress | None = None,
    pdf_font: Path | None = None,
    include_pdf: bool = False,
    include_kos: bool = False,
) -> ExportSummary:
    """Write the selected reports as a package: a ZIP when ``target`` ends in ``.zip``, else
    a new folder. The package appears complete or not at all (written under a temporary name
    and renamed).

    Raises
    ------
    InvalidInput
        ``target`` is an existing folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    sink: _Sink = _ZipSink(target) if target.suffix.lower() == ".zip" else _FolderSink(target)
    files = 0
    statuses: dict[str, int] = {}
    reports = 0
    try:
        with tempfile.TemporaryDirectory(prefix="raddx-export-") as tmp:
            index_path = Path(tmp) / "index.csv"
            # The manifest's file list goes to disk as it grows (memory flat in the number
            # of reports) and is spliced into manifest.json at the end.
            listing = open(Path(tmp) / "files.json", "w+", encoding="utf-8")  # noqa: SIM115
            index = _IndexWriter(index_path)
            with session_factory() as session, index:
                total = session.scalar(
                    select(func.count()).select_from(selection.query().subquery())
                )
                for record in store.iter_records(session=session, selection=selection):
                    folder = report_dir(record.report_id, record.version)
                    for name, data in _documents(record, include_pdf, include_kos, pdf_font):
                        path = f"{folder}/{name}"
                        sink.write(path, data)
                        digest = hashlib.sha256(data).hexdigest()
                        _list(listing, files, path, digest, len(data))
                        files += 1
                    index.write(report_csv.to_csv_row(record))
                    reports += 1
                    statuses[record.status.value] = statuses.get(record.status.value, 0) + 1
                    if progress:
                        progress(reports, total)
            _list(
                listing, files, PACKAGE.index, index.sha256.hexdigest(), index_path.stat().st_size
            )
            files += 1
            sink.write_file(PACKAGE.index, index_path)
            head = {
                "format": PACKAGE.format_name,
                "format_version": PACKAGE.format_version,
                "producer": f"raddx {__version__}",
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "encoding": "UTF-8",
                "selection": _selection_json(selection),
                "counts": {"reports": reports, "files": files, "by_status": statuses},
            }
            text = json.dumps(head, ensure_ascii=False, indent=1)
            listing.seek(0)
            sink.write_chunks(
                PACKAGE.manifest,
                itertools.chain(
                    [text[:-2].encode(), b',\n "files": [\n'],
                    (line.encode() for line in listing),
                    [b"\n ]\n}\n"],
                ),
            )
            listing.close()
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    return ExportSummary(reports=reports, files=files, path=target)


def _list(listing: TextIO, n: int, path: str, sha256: str, size: int) -> None:
    entry = json.dumps({"path": path, "sha256": sha256, "size": size}, ensure_ascii=False)
    listing.write(("  " if n == 0 else ",\n  ") + entry)


def _documents(
    record: ReportRecord, include_pdf: bool, include_kos: bool, pdf_font: Path | None
) -> Iterator[tuple[str, bytes]]:
    if format_status(record.status).cda:
        yield PACKAGE.cda_file, cda.to_cda(record)
    yield PACKAGE.fhir_file, fhir.to_fhir(record)
    if include_kos and format_status(record.status).cda:
        # The key images' references as DICOM too, for a receiving PACS (TID 2010), one KOS
        # per study; CDA and FHIR carry them anyway. Off by default: ~13 ms a document
        # (bench/reports.py).
        for n, study_uid in enumerate(kos.kos_studies(record), start=1):
            name = PACKAGE.kos_file if n == 1 else PACKAGE.kos_more_file.format(n=n)
            yield name, kos.to_kos(record, study_uid)
    if include_pdf:
        yield PACKAGE.pdf_file, pdf.to_pdf(record, font=pdf_font)


# -- import -------------------------------------------------------------------------------


class _Source(Protocol):
    def names(self) -> list[str]: ...
    def read(self, name: str) -> bytes: ...
    def open_text(self, name: str) -> io.TextIOBase: ...
    def close(self) -> None: ...


class _ZipSource:
    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise InvalidInput(f"{path} is not a ZIP file") from None

    def names(self) -> list[str]:
        return [n for n in self.zip.namelist() if not n.endswith("/")]

    def read(self, name: str) -> bytes:
        return self.zip.read(name)

    def open_text(self, name: str) -> io.TextIOBase:
        return io.TextIOWrapper(self.zip.open(name), encoding="utf-8", newline="")

    def close(self) -> None:
        self.zip.close()


class _FolderSource:
    def __init__(self, path: Path) -> None:
        self.root = path.resolve()

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidInput(f"package path {name!r} leaves the package")
        return path

    def names(self) -> list[str]:
        return [
            p.relative_to(self.root).as_posix() for p in sorted(self.root.rglob("*")) if p.is_file()
        ]

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def open_text(self, name: str) -> io.TextIOBase:
        return open(self._path(name), encoding="utf-8", newline="")

    def close(self) -> None:
        pass


def _verify(source: _Source) -> tuple[dict[str, Any], list[str]]:
    """The manifest and the list of problems (empty when every hash matches)."""
    try:
        manifest = json.loads(source.read(PACKAGE.manifest))
    except KeyError:
        return {}, [f"no {PACKAGE.manifest}"]
    except (ValueError, OSError) as exc:
        return {}, [f"{PACKAGE.manifest} is not JSON: {exc}"]
    if manifest.get("format") != PACKAGE.format_name:
        return manifest, [
            f"not a {PACKAGE.format_name} package (format {manifest.get('format')!r})"
        ]
    if str(manifest.get("format_version")) != PACKAGE.format_version:
        return manifest, [
            f"package format version {manifest.get('format_version')!r} is not supported"
        ]
    problems = []
    listed: set[str] = set()
    for entry in manifest.get("files") or []:
        name = str(entry.get("path", ""))
        listed.add(name)
        try:
            data = source.read(name)
        except (KeyError, FileNotFoundError):
            problems.append(f"{name}: missing")
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(f"{name}: SHA-256 does not match the manifest")
    for name in source.names():
        if name != PACKAGE.manifest and name not in listed:
            problems.append(f"{name}: not listed in the manifest")
    return manifest, problems


def import_reports(
    *,
    session_factory: sessionmaker[Session],
    source: Path,
    result_path: Path,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import a package (ZIP or folder with ``manifest.json``) or a folder of another vendor's
    exports (``*.xml`` CDA documents, ``*.json`` FHIR bundles).

    A package whose files do not all match the manifest imports nothing (the summary says
    why, the result file lists each problem). Every report gets one result row: imported,
    unchanged (already stored), quarantined (no matching study), rejected (lower version or
    conflicting content) or error (unreadable file).
    """
    summary = ImportSummary(result_file=result_path)
    is_zip = source.is_file() and source.suffix.lower() == ".zip"
    if is_zip or (source.is_dir() and (source / PACKAGE.manifest).is_file()):
        src: _Source = _ZipSource(source) if is_zip else _FolderSource(source)
        try:
            with ResultWriter(result_path) as results:
                _import_package(session_factory, src, results, summary, progress)
        finally:
            src.close()
        return summary
    with ResultWriter(result_path) as results:
        _import_foreign(session_factory, source, results, summary, progress)
    return summary


def _import_package(
    session_factory: sessionmaker[Session],
    src: _Source,
    results: ResultWriter,
    summary: ImportSummary,
    progress: Progress | None,
) -> None:
    manifest, problems = _verify(src)
    if problems:
        summary.aborted = f"package failed verification ({len(problems)} problem(s)): " + "; ".join(
            problems[:3]
        )
        for problem in problems:
            results.row(
                line="", source="manifest", report_id="", version="", result="error", detail=problem
            )
        return
    total = int((manifest.get("counts") or {}).get("reports") or 0) or None
    with src.open_text(PACKAGE.index) as index:
        rows = csv.DictReader(index)
        work = _package_records(src, rows)
        _import_stream(session_factory, work, results, summary, progress, total)


def _package_records(
    src: _Source, rows: csv.DictReader[str]
) -> Iterator[tuple[int, str, str, str, ReportRecord | None, str]]:
    for n, row in enumerate(rows, start=2):
        rid, version = row.get("report_id", ""), row.get("version", "")
        folder = report_dir(rid, int(version)) if version.isdigit() else ""
        name = f"{folder}/{PACKAGE.fhir_file}"
        try:
            record = _first_readable(src, folder)
        except (KeyError, FileNotFoundError):
            yield n, folder, rid, version, None, "no FHIR, CDA or PDF document for this row"
            continue
        except ValueError as exc:
            yield n, name, rid, version, None, str(exc)
            continue
        if (record.report_id, str(record.version)) != (rid, version):
            yield n, name, rid, version, None, "document and index.csv disagree on id or version"
            continue
        yield n, name, rid, version, record, ""


def _first_readable(src: _Source, folder: str) -> ReportRecord:
    """The record of one package folder, from its FHIR bundle (it carries every status),
    else its CDA document, else its PDF's attachment."""
    readers: tuple[tuple[str, Callable[[bytes], ReportRecord]], ...] = (
        (PACKAGE.fhir_file, fhir.from_fhir),
        (PACKAGE.cda_file, cda.from_cda),
        (PACKAGE.pdf_file, pdf.from_pdf),
    )
    for file, reader in readers:
        try:
            data = src.read(f"{folder}/{file}")
        except (KeyError, FileNotFoundError):
            continue
        return _with_key_images(src, folder, reader(data))
    raise FileNotFoundError(folder)


def _with_key_images(src: _Source, folder: str, record: ReportRecord) -> ReportRecord:
    """The record with the key images of the folder's KOS files (one per study:
    ``keyimages.kos.dcm``, ``keyimages.2.kos.dcm``, …) when its document carried none (a CDA
    or PDF from a producer that lists key images only in the KOS)."""
    if record.key_images:
        return record
    images: list[KeyImage] = []
    n = 1
    while True:
        name = PACKAGE.kos_file if n == 1 else PACKAGE.kos_more_file.format(n=n)
        try:
            data = src.read(f"{folder}/{name}")
        except (KeyError, FileNotFoundError):
            break
        images.extend(kos.from_kos(data))
        n += 1
    if not images:
        return record
    return record.replace(key_images=tuple(images), content_sha256=None)


def _import_stream(
    session_factory: sessionmaker[Session],
    work: Iterator[tuple[int, str, str, str, ReportRecord | None, str]],
    results: ResultWriter,
    summary: ImportSummary,
    progress: Progress | None,
    total: int | None,
) -> None:
    done = 0
    session_cm: contextlib.AbstractContextManager[Any] | None = None
    session: Session | None = None
    try:
        for line, name, rid, version, record, error in work:
            if record is None:
                summary.counts["error"] += 1
                results.row(
                    line=line,
                    source=name,
                    report_id=rid,
                    version=version,
                    result="error",
                    detail=error,
                )
            else:
                if session is None:
                    session_cm = session_factory.begin()
                    session = session_cm.__enter__()
                outcome = service.import_record(session=session, record=record, source=name)
                summary.counts[outcome.result.value] += 1
                results.row(
                    line=line,
                    source=name,
                    report_id=rid,
                    version=version,
                    result=outcome.result.value,
                    detail=outcome.detail,
                )
            done += 1
            if done % _BATCH == 0 and session_cm is not None:
                session_cm.__exit__(None, None, None)
                session_cm = session = None
            if progress:
                progress(done, total)
    except BaseException as exc:
        if session_cm is not None:
            session_cm.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if session_cm is not None:
        session_cm.__exit__(None, None, None)


def _ssmix2_skip(path: Path, name: SsMix2Name) -> str:
    """Why a file of an SS-MIX2 tree is not imported ("" when it is to be read)."""
    if name.flag == SSMIX2.invalid_flag:
        return (
            "SS-MIX2 condition flag 0: superseded by a newer version or cancelled (the "
            "valid file of the report is imported)"
        )
    try:
        with path.open("rb") as f:
            head = f.read(200)
    except OSError as exc:
        return f"unreadable: {exc}"
    fields = head.split(b"\r", 1)[0].split(b"|")
    kind = fields[8].decode("ascii", "replace") if len(fields) > 8 else ""
    if not head.startswith(b"MSH") or not kind.startswith("ORU^R01"):
        return (
            f"SS-MIX2 data kind {name.data_kind} ({kind or 'not HL7'}): not a report "
            "(only ORU^R01 messages are)"
        )
    return ""


def _is_kos(path: Path) -> bool:
    try:
        kos.from_kos(path.read_bytes())
    except ValueError:
        return False
    return True


def _import_foreign(
    session_factory: sessionmaker[Session],
    source: Path,
    results: ResultWriter,
    summary: ImportSummary,
    progress: Progress | None,
) -> None:
    paths = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())

    def skipped(path: Path, detail: str) -> None:
        """A file of the folder that is not read as a report: listed with the reason."""
        summary.counts["skipped"] += 1
        results.row(
            line="",
            source=str(path),
            report_id="",
            version="",
            result="skipped",
            detail=detail,
        )

    def work() -> Iterator[tuple[int, str, str, str, ReportRecord | None, str]]:
        for path in paths:
            suffix = path.name.lower()
            if suffix.endswith(".xml"):
                reader: Callable[[bytes], ReportRecord] = cda.from_cda
            elif suffix.endswith(".json"):
                reader = fhir.from_fhir
            elif suffix.endswith(".pdf"):
                reader = pdf.from_pdf
            elif suffix.endswith((".hl7", ".oru")):
                reader = hl7v2.from_oru
            elif (stored := parse_ssmix2_name(path.name)) is not None:
                # A file of an SS-MIX2 standardised storage tree (no extension; the name
                # says what it is): a report's ORU^R01 when valid; older or cancelled
                # versions (condition flag 0) and other data kinds are listed, not read.
                skip = _ssmix2_skip(path, stored)
                if skip:
                    skipped(path, skip)
                    continue
                reader = hl7v2.from_oru
            elif suffix.endswith(".dcm") and _is_kos(path):
                skipped(
                    path,
                    "a key object selection, not a report (its report's SR carries the key images)",
                )
                continue
            elif suffix.endswith(".dcm"):
                reader = sr.from_sr
            else:
                skipped(path, _NOT_A_REPORT)
                continue
            try:
                record = reader(path.read_bytes())
            except ValueError as exc:
                yield 0, str(path), "", "", None, str(exc)
                continue
            yield 0, str(path), record.report_id, str(record.version), record, ""

    _import_stream(session_factory, work(), results, summary, progress, len(paths))
