"""Bulk import from the file system: files, folders, zip files and DICOMDIR trees.

``raddx import`` is one more door onto :class:`~raddx.archive.ingest.IngestService`: every
object goes through the same :meth:`~raddx.archive.ingest.IngestService.store` as a C-STORE, so
validation, de-duplication and indexing are identical. This module only finds the objects.

Two passes, so a progress bar has a total from the start:

1. *Listing* walks the inputs and sniffs the first bytes of each file: folders recursively
   (sorted, symlinks followed, loops and files seen twice dropped by device and inode); zip
   files by their magic number, whatever their name, listed from the central directory only;
   DICOMDIRs (PS3.10 8, SOP Class Media Storage Directory Storage) expanded into the files
   their records reference. Files without ``DICM`` at byte 128 are noted as skipped here, so
   large non-DICOM files are never read whole, unless they start like an object written
   without the preamble (``raddx.archive.part10.looks_unframed``), which ingest then takes
   or rejects with its reason.
2. *Import* reads each object whole into memory and stores it. Objects of a few hundred MB are
   fine; a file or zip member above ``max_object_size`` (default 4 GiB) is not read at all,
   which also defuses zip bombs. Streaming ingest would lift this limit.

What is counted where:

* **skipped** (reason given, exit status unaffected): not DICOM (no ``DICM`` prefix), a zip
  inside a zip, not a regular file, a broken symbolic link.
* **rejected** (reason given, ``raddx import`` exits 1): what ingest refused (its
  :class:`~raddx.errors.InvalidInput`, :class:`~raddx.errors.Conflict` or
  :class:`~raddx.errors.OutOfResources` message), unreadable files and folders, corrupt zips
  and zip members, files a DICOMDIR lists but that are missing, objects over the size limit,
  and any unexpected error (logged with its traceback; the import goes on).
* **ignored** (only counted): hidden entries (names starting with ``.``, which covers macOS
  ``.DS_Store`` and ``._*`` AppleDouble files) and system litter (``__MACOSX``, ``Thumbs.db``,
  ``desktop.ini``…) met while walking a folder or a zip. A path named on the command line is
  always imported.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TypeAlias

import pydicom
from pydicom.uid import MediaStorageDirectoryStorage

from raddx.archive.ingest import IngestOutcome, IngestService
from raddx.archive.part10 import Part10Error, looks_unframed, read_file_meta
from raddx.errors import Conflict, InvalidInput, OutOfResources

__all__ = ["DEFAULT_MAX_OBJECT_SIZE", "ImportEvent", "ImportSummary", "import_paths"]

log = logging.getLogger(__name__)

#: Largest object read into memory; bigger files and zip members are rejected unread.
DEFAULT_MAX_OBJECT_SIZE = 4 << 30
#: How many skipped items :meth:`ImportSummary.render` lists before "and N more".
SKIPPED_SHOWN = 20

_SOURCE = "import"
_HEAD_SIZE = 4096
_MAX_META_SIZE = 16 << 20
# PK\3\4 starts a zip's first local header; PK\5\6 is the end record an empty zip consists of.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_LITTER = frozenset(
    {"__macosx", "thumbs.db", "ehthumbs.db", "desktop.ini", "$recycle.bin"}
    | {"system volume information"}
)
_NOT_DICOM = "not DICOM: no DICM prefix"


@dataclass(frozen=True, slots=True)
class ImportEvent:
    """Progress of one import, sent after each item (and while listing, with no total yet).

    Attributes
    ----------
    total
        Number of items found; None while the inputs are still being listed.
    done
        Items finished (stored, duplicate, replaced, rejected or skipped).
    name
        What is being listed or was just imported (a path; ``zip!member`` inside zips).
    """

    total: int | None
    done: int
    name: str


@dataclass(slots=True)
class ImportSummary:
    """What an import did; ``rejected`` and ``skipped`` hold ``(name, reason)`` pairs."""

    stored: int = 0
    duplicates: int = 0
    replaced: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    patient_conflicts: int = 0
    bytes_stored: int = 0
    dicomdirs: int = 0
    ignored: int = 0
    #: Why the import stopped before the end (storage full, Ctrl-C); ``None`` if it finished.
    stopped: str | None = None
    #: Items not attempted because the import stopped.
    not_attempted: int = 0
    #: What was stored, by Study Instance UID: (PatientID, PatientName, SOP class counts),
    #: for the audit trail's Import events.
    studies: dict[str, tuple[str, str | None, Counter[str]]] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        """Items that reached an outcome."""
        return (
            self.stored + self.duplicates + self.replaced + len(self.rejected) + len(self.skipped)
        )

    def render(self, *, elapsed: float) -> str:
        """A multi-line summary for a person: counts, rate, then every rejected item with its
        reason and the first :data:`SKIPPED_SHOWN` skipped ones."""
        seconds = max(elapsed, 1e-6)
        lines = [
            f"stored      {self.stored:>7}  ({_human_size(self.bytes_stored)})",
            f"duplicates  {self.duplicates:>7}  (identical copy already stored)",
            f"replaced    {self.replaced:>7}  (different bytes under a stored SOP Instance UID)",
            f"rejected    {len(self.rejected):>7}",
            f"skipped     {len(self.skipped):>7}",
            f"{self.processed} item(s) in {elapsed:.1f} s: {self.processed / seconds:.1f}/s, "
            f"{_human_size(int(self.bytes_stored / seconds))}/s stored",
        ]
        if self.patient_conflicts:
            lines.append(
                f"patient conflicts: {self.patient_conflicts} stored object(s) are in studies "
                "flagged for conflicting patient attributes"
            )
        if self.dicomdirs:
            lines.append(f"read {self.dicomdirs} DICOMDIR(s) and imported the files they list")
        if self.ignored:
            lines.append(f"ignored {self.ignored} hidden or system file(s) (.DS_Store, …)")
        if self.stopped:
            lines.append(
                f"STOPPED: {self.stopped}; {self.not_attempted} item(s) not attempted "
                "(run the same import again to continue: stored objects are not duplicated)"
            )
        if self.rejected:
            lines.append("rejected:")
            lines.extend(f"  {name}: {reason}" for name, reason in self.rejected)
        if self.skipped:
            lines.append("skipped:")
            shown = self.skipped[:SKIPPED_SHOWN]
            lines.extend(f"  {name}: {reason}" for name, reason in shown)
            if len(self.skipped) > len(shown):
                lines.append(f"  … and {len(self.skipped) - len(shown)} more")
        return "\n".join(lines)


def import_paths(
    paths: Iterable[Path | str],
    *,
    ingest: IngestService,
    progress: Callable[[ImportEvent], None] | None = None,
    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
) -> ImportSummary:
    """Import every DICOM object found under ``paths`` through ``ingest``.

    One bad item never stops the import: its reason goes into the summary and the next item
    follows. Two things do stop it, with the summary saying so (``stopped``,
    ``not_attempted``): storage running out (:class:`~raddx.errors.OutOfResources`), and
    Ctrl-C (``KeyboardInterrupt`` is caught here so the person still sees what was stored).
    See the module docstring for what counts as skipped, rejected and ignored.

    Parameters
    ----------
    paths
        Files, folders (walked recursively), zip files and DICOMDIR files, in any mix.
    ingest
        The same ingest service the network doors use.
    progress
        Called with an :class:`ImportEvent` while listing (``total`` None) and after each item.
    max_object_size
        Files and zip members larger than this are rejected without being read.

    Returns
    -------
    ImportSummary
        Counts, and the reason for every rejected and skipped item.
    """
    summary = ImportSummary()
    notify = progress or _ignore
    lister = _Lister(summary=summary, notify=notify, max_object_size=max_object_size)
    inputs = [Path(path) for path in paths]
    for path in inputs:
        lister.add_input(path)
    _import_items(lister.items, ingest=ingest, summary=summary, notify=notify)
    _audit_import(summary, inputs)
    return summary


def _audit_import(summary: ImportSummary, paths: list[Path]) -> None:
    """One Import event (PS3.15 A.5.3.5) per study stored, naming its patient and SOP
    classes; the inputs as source media (their URI), the operator as importer."""
    import getpass
    import socket

    from raddx.security import audit_events
    from raddx.security.audit import ActiveParticipant, MediaTypeValues, PatientRef, StudyRef
    from raddx.security.audit import record as audit_record

    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = "unknown"
    user = ActiveParticipant(user_id=operator, user_is_requestor=True, host=socket.gethostname())
    source = " ".join(path.resolve().as_uri() for path in paths)[:1024] or "(no input)"
    for uid, (patient_id, patient_name, classes) in summary.studies.items():
        audit_record(
            audit_events.import_(
                user=user,
                media=MediaTypeValues.URI,
                source=source,
                patient=PatientRef(patient_id, patient_name),
                studies=[StudyRef(uid, sop_classes=tuple(sorted(classes.items())))],
            )
        )


# -- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    name: str


@dataclass(frozen=True, slots=True)
class _Member:
    archive: Path
    info: zipfile.ZipInfo
    name: str


@dataclass(frozen=True, slots=True)
class _Known:
    """An item whose outcome the listing already decided."""

    name: str
    reason: str
    rejected: bool


_Item: TypeAlias = _File | _Member | _Known


class _Kind(Enum):
    DICOM = "dicom"
    DICOMDIR = "dicomdir"
    ZIP = "zip"
    OTHER = "other"


class _Lister:
    """Pass 1: turn the inputs into a flat, ordered list of items."""

    def __init__(
        self,
        *,
        summary: ImportSummary,
        notify: Callable[[ImportEvent], None],
        max_object_size: int,
    ) -> None:
        self.items: list[_Item] = []
        self._summary = summary
        self._notify = notify
        self._max = max_object_size
        # Files by (device, inode): a DICOMDIR's files are also met by the walk of its
        # folder, and symlinks or hard links may show one file under several names.
        self._seen_files: set[object] = set()
        self._seen_folders: set[object] = set()
        self._listings: dict[Path, dict[str, str]] = {}

    def _note(self, name: str, reason: str, *, rejected: bool) -> None:
        self.items.append(_Known(name, reason, rejected))

    def add_input(self, path: Path) -> None:
        try:
            st = path.stat()
        except OSError as exc:
            self._note(str(path), f"cannot read: {_why(exc)}", rejected=True)
            return
        if stat.S_ISDIR(st.st_mode):
            self._walk(path, st)
        else:
            self._add_file(path, st)

    def _walk(self, root: Path, root_stat: os.stat_result) -> None:
        # An explicit stack rather than recursion: deep trees must not hit the recursion limit.
        stack = [(root, root_stat)]
        while stack:
            folder, st = stack.pop()
            key = _identity(folder, st)
            if key in self._seen_folders:  # a symlink loop, or a folder reached twice
                continue
            self._seen_folders.add(key)
            self._notify(ImportEvent(total=None, done=0, name=str(folder)))
            try:
                with os.scandir(folder) as scan:
                    entries = sorted(scan, key=lambda entry: entry.name)
            except OSError as exc:
                self._note(str(folder), f"cannot list folder: {_why(exc)}", rejected=True)
                continue
            subfolders = []
            for entry in entries:
                path = Path(entry.path)
                if _is_litter(entry.name):
                    self._summary.ignored += 1
                    continue
                try:
                    entry_stat = entry.stat()  # follows symlinks
                except FileNotFoundError:  # a dangling symlink, or deleted since scandir
                    reason = "broken symbolic link" if entry.is_symlink() else "vanished"
                    self._note(str(path), reason, rejected=False)
                    continue
                except OSError as exc:
                    self._note(str(path), f"cannot read: {_why(exc)}", rejected=True)
                    continue
                if stat.S_ISDIR(entry_stat.st_mode):
                    subfolders.append((path, entry_stat))
                else:
                    self._add_file(path, entry_stat)
            stack.extend(reversed(subfolders))

    def _add_file(self, path: Path, st: os.stat_result) -> None:
        name = str(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            self._note(name, "not a regular file", rejected=False)
            return
        key = _identity(path, st)
        if key in self._seen_files:
            return
        self._seen_files.add(key)
        if st.st_size == 0:
            self._note(name, "not DICOM: empty file", rejected=False)
            return
        try:
            kind = _sniff(_read_head(path))
            if kind is _Kind.ZIP:
                self._add_zip(path)
            elif kind is _Kind.DICOMDIR:
                self._add_dicomdir(path)
            elif kind is _Kind.OTHER:
                self._note(name, _NOT_DICOM, rejected=False)
            elif st.st_size > self._max:
                self._note(name, _too_large(st.st_size, self._max), rejected=True)
            else:
                self.items.append(_File(path, name))
        except OSError as exc:
            self._note(name, f"cannot read: {_why(exc)}", rejected=True)
        except Exception as exc:
            log.exception("internal error while listing an import input; continuing")
            self._note(name, f"internal error: {type(exc).__name__}: {exc}", rejected=True)

    def _add_zip(self, path: Path) -> None:
        self._notify(ImportEvent(total=None, done=0, name=str(path)))
        try:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            self._note(str(path), f"corrupt zip: {exc}", rejected=True)
            return
        for info in infos:
            if info.is_dir():
                continue
            if any(_is_litter(part) for part in info.filename.split("/")):
                self._summary.ignored += 1
                continue
            name = f"{path}!{info.filename}"
            if info.file_size > self._max:
                # zipfile never inflates past the declared size, so checking it is enough.
                reason = f"{_too_large(info.file_size, self._max)} (zip bomb?)"
                self._note(name, reason, rejected=True)
            else:
                self.items.append(_Member(path, info, name))

    def _add_dicomdir(self, path: Path) -> None:
        """Queue the files a DICOMDIR's records reference (PS3.3 F.3.2.2, Referenced File ID;
        PS3.10 8.5: components are relative to the folder holding the DICOMDIR)."""
        self._notify(ImportEvent(total=None, done=0, name=str(path)))
        data = path.read_bytes()
        try:
            file_ids = _read_referenced_file_ids(data)
        except Exception as exc:  # pydicom raises many types on a damaged file
            self._note(str(path), f"cannot read DICOMDIR: {exc}", rejected=True)
            return
        self._summary.dicomdirs += 1
        for components in file_ids:
            spelled = "\\".join(components)
            if any(c in {"", ".", ".."} or "/" in c or "\\" in c for c in components):
                reason = f"DICOMDIR lists {spelled!r}, which is not a path inside its folder"
                self._note(str(path), reason, rejected=True)
                continue
            target = self._resolve(path.parent, components)
            if target is None:
                name = str(path.parent.joinpath(*components))
                self._note(name, f"listed in DICOMDIR {path} but missing", rejected=True)
                continue
            try:
                target_stat = target.stat()
            except OSError as exc:
                self._note(str(target), f"cannot read: {_why(exc)}", rejected=True)
                continue
            self._add_file(target, target_stat)

    def _resolve(self, base: Path, components: Sequence[str]) -> Path | None:
        """The file a Referenced File ID names. Media hold upper-case IDs (PS3.10 8.2), but a
        copy on disk may be lower-cased or carry ISO 9660 ``;1`` version suffixes, so
        components are matched case-insensitively when the exact path does not exist."""
        exact = base.joinpath(*components)
        if exact.exists():
            return exact
        current = base
        for component in components:
            if current not in self._listings:
                try:
                    with os.scandir(current) as scan:
                        self._listings[current] = {_media_name(e.name): e.name for e in scan}
                except OSError:
                    return None
            actual = self._listings[current].get(_media_name(component))
            if actual is None:
                return None
            current = current / actual
        return current


def _identity(path: Path, st: os.stat_result) -> object:
    # Some file systems (FAT, a few FUSE mounts) report inode 0 for everything.
    return (st.st_dev, st.st_ino) if st.st_ino else str(path.resolve())


def _is_litter(name: str) -> bool:
    return name.startswith(".") or name.casefold() in _LITTER


def _media_name(name: str) -> str:
    return name.split(";", 1)[0].rstrip(".").casefold()


def _read_head(path: Path) -> bytes:
    """The first bytes of a file, through the end of the File Meta group when there is one."""
    with path.open("rb") as file:
        head = file.read(_HEAD_SIZE)
        # (0002,0000) UL File Meta Information Group Length (PS3.10 7.1) says where the group
        # ends; a group longer than the head (large private meta elements) needs more bytes.
        if head[128:132] == b"DICM" and head[132:138] == b"\x02\x00\x00\x00UL":
            (length,) = struct.unpack_from("<I", head, 140)
            end = 144 + length
            if len(head) < end <= _MAX_META_SIZE:
                head += file.read(end - len(head))
    return head


def _sniff(data: bytes) -> _Kind:
    # DICM first: a DICOM file's 128-byte preamble may hold anything, even "PK" (PS3.10 7.5).
    if data[128:132] == b"DICM":
        try:
            meta = read_file_meta(data)
        except Part10Error:
            return _Kind.DICOM  # damaged meta: ingest will say exactly what is wrong
        if meta.media_storage_sop_class_uid == MediaStorageDirectoryStorage:
            return _Kind.DICOMDIR
        return _Kind.DICOM
    if data[:4] in _ZIP_MAGICS:
        return _Kind.ZIP
    if looks_unframed(data):  # no preamble (pydicom dcmwrite of an in-memory dataset)
        return _Kind.DICOM
    return _Kind.OTHER


def _read_referenced_file_ids(data: bytes) -> list[list[str]]:
    """The Referenced File ID (0004,1500) of every directory record, in record order."""
    # pydicom reports oddities as warnings; log them rather than let them reach the
    # terminal. catch_warnings swaps process-global state: the import runs in one thread.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(io.BytesIO(data))
        file_ids: list[list[str]] = []
        for record in ds.get("DirectoryRecordSequence") or []:
            value = record.get("ReferencedFileID")
            if value is None or value == "":
                continue  # PATIENT, STUDY and SERIES records reference no file
            values = [value] if isinstance(value, str) else list(value)
            file_ids.append([str(v).strip() for v in values])
    for warning in caught:
        log.warning("DICOMDIR read with a tolerated problem: %s", warning.message)
    return file_ids


# -- importing -------------------------------------------------------------------------------


class _Unreadable(Exception):
    """An item's bytes could not be read; the message is the reason for the summary."""


class _ZipReader:
    """Reads members, keeping the current zip open: members of one zip are listed together,
    and reopening per member would re-read the central directory each time."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._archive: zipfile.ZipFile | None = None

    def read(self, member: _Member) -> bytes:
        try:
            if self._archive is None or self._path != member.archive:
                self.close()
                self._archive = zipfile.ZipFile(member.archive)
                self._path = member.archive
            with self._archive.open(member.info) as stream:
                return stream.read()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise _Unreadable(f"corrupt zip member: {exc}") from exc
        except (RuntimeError, NotImplementedError) as exc:  # encrypted; unsupported method
            raise _Unreadable(f"cannot extract: {exc}") from exc

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
        self._archive = self._path = None


def _import_items(
    items: Sequence[_Item],
    *,
    ingest: IngestService,
    summary: ImportSummary,
    notify: Callable[[ImportEvent], None],
) -> None:
    """Pass 2: read and store each item, one at a time, and report progress."""
    zips = _ZipReader()
    finished = 0
    try:
        for done, item in enumerate(items, start=1):
            try:
                _import_one(item, ingest=ingest, summary=summary, zips=zips)
            except OutOfResources as exc:
                # A full disk refuses every remaining object too: stop rather than reject
                # each of them with the same message.
                summary.rejected.append((item.name, str(exc)))
                summary.stopped = str(exc)
                summary.not_attempted = len(items) - done
                return
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                # The CLI shows the name with the reason; the log gets no path (PHI rule).
                log.exception(
                    "internal error importing item %d of %d; continuing", done, len(items)
                )
                summary.rejected.append((item.name, f"internal error: {type(exc).__name__}: {exc}"))
            finished = done
            notify(ImportEvent(total=len(items), done=done, name=item.name))
    except KeyboardInterrupt:
        # The person pressed Ctrl-C (during an item or a progress update): keep what was
        # stored, report it and stop.
        summary.stopped = "interrupted"
        summary.not_attempted = len(items) - finished
    finally:
        zips.close()


def _import_one(
    item: _Item, *, ingest: IngestService, summary: ImportSummary, zips: _ZipReader
) -> None:
    if isinstance(item, _Known):
        (summary.rejected if item.rejected else summary.skipped).append((item.name, item.reason))
        return
    try:
        data = zips.read(item) if isinstance(item, _Member) else item.path.read_bytes()
    except _Unreadable as exc:
        summary.rejected.append((item.name, str(exc)))
        return
    except FileNotFoundError:
        summary.rejected.append((item.name, "the file disappeared before it was read"))
        return
    except OSError as exc:
        summary.rejected.append((item.name, f"cannot read: {_why(exc)}"))
        return
    kind = _sniff(data)
    if kind is _Kind.OTHER:
        summary.skipped.append((item.name, _NOT_DICOM))
        return
    if kind is _Kind.ZIP:  # only members get here: nested zips are a classic bomb vector
        summary.skipped.append((item.name, "zip inside a zip is not opened; unpack it first"))
        return
    if kind is _Kind.DICOMDIR:  # in a zip: the files it lists are members of the same zip
        summary.dicomdirs += 1
        return
    try:
        result = ingest.store(data, source=_SOURCE)
    except (InvalidInput, Conflict) as exc:
        summary.rejected.append((item.name, str(exc)))
        return
    if result.outcome is IngestOutcome.DUPLICATE:
        summary.duplicates += 1
        return
    if result.outcome is IngestOutcome.REPLACED:
        summary.replaced += 1
    else:
        summary.stored += 1
    summary.bytes_stored += result.size
    if result.patient_conflict:
        summary.patient_conflicts += 1
    study = summary.studies.setdefault(
        result.study_instance_uid, (result.patient_id, result.patient_name, Counter())
    )
    study[2][result.sop_class_uid] += 1


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _too_large(size: int, limit: int) -> str:
    return f"{_human_size(size)} is over the import limit of {_human_size(limit)}; not read"


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


def _ignore(event: ImportEvent) -> None:
    """The default progress callback."""
