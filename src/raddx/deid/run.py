"""De-identify files and folders into an output folder, with a manifest and a quarantine.

The run is a deterministic function of (input, policy, key): each output is written under a
temporary name and renamed, and named by its new UIDs (``<Study>/<Series>/<SOP>.dcm``), so an
interrupted run with a project key is resumed by running it again (same names, same bytes,
no duplicates, never a half-written file). Input names are never reused: folder names often
carry patient names. Anything that cannot be de-identified safely goes to the quarantine
folder, with its reason, and the run continues.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import MediaStorageDirectoryStorage

from raddx import __version__
from raddx.deid._integrity import truncation_reason
from raddx.deid.engine import ActionRecord, Deidentifier
from raddx.deid.keys import ProjectKey
from raddx.deid.policy import Policy
from raddx.deid.risk import quarantine_reason
from raddx.errors import InvalidInput

__all__ = [
    "MANIFEST_NAME",
    "FileOutcome",
    "RunSummary",
    "check_output_dir",
    "deidentify_paths",
    "iter_files",
]

MANIFEST_NAME = "manifest.json"
REASONS_NAME = "reasons.jsonl"


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one input file."""

    source: Path
    output: Path | None = None  #: set when written (or would be, with ``what_if``)
    reason: str | None = None  #: set when quarantined
    actions: tuple[ActionRecord, ...] = ()


@dataclass
class RunSummary:
    """Counts of a run and where its manifest is."""

    written: int = 0
    quarantined: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    manifest: Path | None = None

    def render(self) -> str:
        lines = [f"{'written':<12}{self.written}", f"{'quarantined':<12}{self.quarantined}"]
        lines += [f"  {o.source}: {o.reason}" for o in self.outcomes if o.reason]
        return "\n".join(lines)


def check_output_dir(path: Path, *, must_be_empty: bool = False) -> None:
    """Create ``path`` if needed and prove it writable, before any input is read.

    Raises
    ------
    InvalidInput
        Not creatable or not writable, or not empty when ``must_be_empty``.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"output folder {path} is not writable: {exc.strerror}") from None
    if must_be_empty and any(path.iterdir()):
        raise InvalidInput(
            f"output folder {path} is not empty; a run with an ephemeral key cannot resume "
            "(its UIDs differ every run): use an empty folder"
        )


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named and files under folders named, each folder in sorted order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(ds: pydicom.Dataset, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".dcm")
    try:
        with os.fdopen(fd, "wb") as f:
            ds.save_as(f, enforce_file_format=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Quarantine:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def put(self, source: Path, reason: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{_sha256(source)[:16]}-{source.name}"
        shutil.copyfile(source, self.folder / name)
        with (self.folder / REASONS_NAME).open("a", encoding="utf-8") as f:
            record = {"file": str(source), "copy": name, "reason": reason}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1


def _process(
    source: Path, engine: Deidentifier, *, keep_actions: bool
) -> tuple[pydicom.Dataset | None, str | None, list[ActionRecord]]:
    actions: list[ActionRecord] = []
    try:
        with warnings.catch_warnings():
            # Lenient reading: pydicom's warnings about the input are not failures here;
            # anything that stops decoding raises and quarantines the file.
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(source)
            if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
                return None, "DICOMDIR: rebuild it from the output instead", actions
            reason = truncation_reason(ds) or quarantine_reason(ds, engine.policy.quarantine)
            if reason is not None:
                return None, reason, actions
            engine.deidentify(ds, log=actions.append if keep_actions else None)
    except InvalidDicomError as exc:
        return None, f"not a DICOM Part 10 file: {exc}", actions
    except InvalidInput as exc:
        return None, str(exc), actions
    except Exception as exc:  # truncated or undecodable input: quarantine, keep going
        return None, f"corrupt: {type(exc).__name__}: {exc}", actions
    if "SOPInstanceUID" not in ds:
        return None, "no SOPInstanceUID: not a composite instance", actions
    return ds, None, actions


def deidentify_paths(
    paths: Iterable[Path],
    *,
    out_dir: Path,
    quarantine_dir: Path,
    policy: Policy,
    key: ProjectKey,
    what_if: bool = False,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> RunSummary:
    """De-identify every file under ``paths`` into ``out_dir``.

    Parameters
    ----------
    paths : iterable of Path
        Files and folders (searched recursively).
    out_dir, quarantine_dir : Path
        Output and quarantine folders; both are checked for writability before the first
        file is read. Keep the quarantine outside the output: it holds identifiable files.
    policy : Policy
    key : ProjectKey
    what_if : bool
        Only report what would be done (every action, per file); write nothing.
    on_file : callable, optional
        Called with each :class:`FileOutcome` (progress, ``--what-if`` listing).

    Returns
    -------
    RunSummary

    Raises
    ------
    InvalidInput
        An output folder is not writable (nothing has been read or written then).
    """
    files = list(iter_files(paths))
    if not what_if:
        check_output_dir(out_dir, must_be_empty=key.ephemeral)
        check_output_dir(quarantine_dir)
    engine = Deidentifier(policy, key)
    quarantine = _Quarantine(quarantine_dir)
    summary = RunSummary()
    started = dt.datetime.now(dt.UTC)
    entries = []
    for source in files:
        ds, reason, actions = _process(source, engine, keep_actions=what_if)
        if ds is None:
            outcome = FileOutcome(source, reason=reason or "unknown", actions=tuple(actions))
            if not what_if:
                quarantine.put(source, outcome.reason or "")
            summary.quarantined += 1
        else:
            relative = Path(ds.StudyInstanceUID, ds.SeriesInstanceUID, f"{ds.SOPInstanceUID}.dcm")
            if not what_if:
                _write_atomically(ds, out_dir / relative)
                entries.append({"output": relative.as_posix(), "input_sha256": _sha256(source)})
            outcome = FileOutcome(source, output=out_dir / relative, actions=tuple(actions))
            summary.written += 1
        summary.outcomes.append(outcome)
        if on_file is not None:
            on_file(outcome)
    if not what_if:
        summary.manifest = _write_manifest(out_dir, engine, key, summary, started, entries)
    return summary


def _write_manifest(
    out_dir: Path,
    engine: Deidentifier,
    key: ProjectKey,
    summary: RunSummary,
    started: dt.datetime,
    entries: list[dict[str, str]],
) -> Path:
    """The run manifest (research notes §6 item 13): no PHI, enough to reproduce the run."""
    manifest = {
        "tool": f"raddx {__version__}",
        "profile": {"edition": engine.profile.edition, "source": engine.profile.source},
        "policy": engine.policy.name,
        "config_hash": engine.policy.config_hash(),
        "key_id": key.key_id,
        "codes": [engine.profile_code(), *[o.value for o in engine.policy.options]],
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "written": summary.written,
        "quarantined": summary.quarantined,
        "files": sorted(entries, key=lambda e: e["output"]),
    }
    target = out_dir / MANIFEST_NAME
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    os.replace(tmp, target)
    return target
