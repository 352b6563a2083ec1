"""What a de-identification run reads: files, folders and zip archives.

Hospitals hand data over as a folder or a zip. A zip's members are read in place, never
extracted: their names are not used for anything but messages (outputs are named by their new
UIDs), so a member called ``../../etc/passwd`` or ``山田太郎/IM1`` can do no harm, and nothing
identifiable is left behind on disk.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["Source", "ZipMember", "iter_files", "read_source"]


@dataclass(frozen=True, slots=True)
class ZipMember:
    """A file inside a zip archive given as input, shown as ``archive.zip!dir/IM1``."""

    archive: Path
    member: str

    @property
    def name(self) -> str:
        """The member's base name (for the quarantine copy's name)."""
        return PurePosixPath(self.member).name

    def read_bytes(self) -> bytes:
        """The member's bytes (the archive is opened for each read: safe in any process)."""
        with zipfile.ZipFile(self.archive) as archive:
            return archive.read(self.member)

    def __str__(self) -> str:
        return f"{self.archive}!{self.member}"


#: One input: a file on disk or a member of a zip archive.
Source = Path | ZipMember


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)


def _members(path: Path) -> Iterator[ZipMember]:
    with zipfile.ZipFile(path) as archive:
        names = sorted(info.filename for info in archive.infolist() if not info.is_dir())
    for name in names:
        yield ZipMember(path, name)


def iter_files(paths: Iterable[Path]) -> Iterator[Source]:
    """Files named, files under folders named (sorted), and the members of zip archives
    (``*.zip``, named or found in a folder; sorted). A ``.zip`` that is not a zip archive is
    yielded as a file, so it is quarantined with its reason like any other bad input."""
    for path in paths:
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in found:
            if _is_zip(file):
                yield from _members(file)
            else:
                yield file


def read_source(source: Source) -> bytes:
    """All bytes of ``source``, or ``b""`` if it cannot be read (then quarantined as "not a
    DICOM Part 10 file", with the file named in the reason)."""
    try:
        return source.read_bytes()
    except (OSError, zipfile.BadZipFile, KeyError):
        return b""
