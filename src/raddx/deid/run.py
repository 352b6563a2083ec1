"""De-identify files and folders into an output folder, with a manifest and a quarantine.

The run is a deterministic function of (input, policy, key): each output is written under a
temporary name and renamed, and named by its new UIDs (``<Study>/<Series>/<SOP>.dcm``), so an
interrupted run with a project key is resumed by running it again (same names, same bytes,
no duplicates, never a half-written file). Input names are never reused: folder names often
carry patient names. Anything that cannot be de-identified safely goes to the quarantine
folder, with its reason, and the run continues.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import MediaStorageDirectoryStorage

from raddx import __version__
from raddx.db import make_engine, upgrade
from raddx.deid._integrity import truncation_reason
from raddx.deid._writer import encode_part10, uid_value
from raddx.deid.engine import ActionRecord, Deidentifier
from raddx.deid.inputs import Source, iter_files, read_source
from raddx.deid.keys import ProjectKey
from raddx.deid.mapping import (
    MappingEncoding,
    MappingRow,
    check_mapping_path,
    original_identifiers,
    write_mapping_csv,
)
from raddx.deid.pixels import clean_pixels, matching_rule
from raddx.deid.policy import Policy
from raddx.deid.registry import DatabaseRegistry
from raddx.deid.risk import quarantine_reason
from raddx.deid.seal import SealKey, read_seal_key
from raddx.errors import InvalidInput
from raddx.storage.atomic import atomic_file

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

    source: Source  #: a file, or a member of a zip archive
    output: Path | None = None  #: set when written (or would be, with ``what_if``)
    reason: str | None = None  #: set when quarantined
    actions: tuple[ActionRecord, ...] = ()
    mapping: MappingRow | None = None  #: identifiers before/after, when a table is wanted


@dataclass
class RunSummary:
    """Counts of a run and where its manifest is."""

    written: int = 0
    quarantined: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)
    manifest: Path | None = None
    mapping: Path | None = None  #: the correspondence table, when one was written

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


def _read(source: Source) -> bytes:
    """The whole input file: read once, for pydicom and for the manifest's hash."""
    return read_source(source)


#: Temporary names of this process: unique without mkstemp's random names and retries.
_TEMPORARY = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _create_temporary(target: Path) -> tuple[int, str]:
    """A new file (0600, as mkstemp makes them) next to ``target``, named after this process
    and a counter; mkstemp only if a crashed process with our PID left that name behind."""
    folder = os.path.dirname(target)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{next(_TEMPORARY)}.dcm")
    try:
        return os.open(tmp, _CREATE, 0o600), tmp
    except FileExistsError:
        return tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".dcm")


def _write_atomically(data: bytes, target: Path) -> None:
    """Write under a temporary name in the target folder, then rename: a reader (or a resumed
    run) sees the whole file or none of it."""
    try:  # the series folder exists for all but its first file: no mkdir per file
        fd, tmp = _create_temporary(target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(target)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Quarantine:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def put(self, source: Source, reason: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = read_source(source)
        name = f"{hashlib.sha256(data).hexdigest()[:16]}-{source.name}"
        (self.folder / name).write_bytes(data)
        with (self.folder / REASONS_NAME).open("a", encoding="utf-8") as f:
            record = {"file": str(source), "copy": name, "reason": reason}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1


def _process(
    source: Source,
    data: bytes,
    engine: Deidentifier,
    *,
    keep_actions: bool,
    mapping: list[MappingRow] | None = None,
) -> tuple[pydicom.Dataset | None, str | None, list[ActionRecord]]:
    """Read and de-identify ``data``; with ``mapping``, append the row of its identifiers."""
    actions: list[ActionRecord] = []
    offsets: list[int | None] = []
    try:
        with warnings.catch_warnings():
            # Lenient reading: pydicom's warnings about the input are not failures here;
            # anything that stops decoding raises and quarantines the file.
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
            if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
                return None, "DICOMDIR: rebuild it from the output instead", actions
            reason = truncation_reason(ds)
            if reason is None and engine.policy.mode == "deidentify":
                # A referral (coerce) goes to another care provider whole: no pixel risk.
                reason = _pixel_safety(ds, engine, actions if keep_actions else None)
            if reason is not None:
                return None, reason, actions
            original = original_identifiers(ds) if mapping is not None else None
            engine.deidentify(
                ds,
                log=actions.append if keep_actions else None,
                on_offset=offsets.append if mapping is not None else None,
            )
    except InvalidDicomError as exc:
        return None, f"not a DICOM Part 10 file: {exc}", actions
    except InvalidInput as exc:
        return None, str(exc), actions
    except Exception as exc:  # truncated or undecodable input: quarantine, keep going
        return None, f"corrupt: {type(exc).__name__}: {exc}", actions
    if "SOPInstanceUID" not in ds:
        return None, "no SOPInstanceUID: not a composite instance", actions
    if mapping is not None and original is not None:
        mapping.append(MappingRow.of(original, ds, offsets[0] if offsets else None))
    return ds, None, actions


def _pixel_safety(
    ds: pydicom.Dataset, engine: Deidentifier, log: list[ActionRecord] | None
) -> str | None:
    """Clean the pixels if a rule covers ``ds``; else why it must go to quarantine, if it must.

    The rule is matched before de-identification (the device model is removed by the Basic
    profile). A rule that cannot be applied (undecodable pixels) quarantines the object.
    """
    rule = matching_rule(ds, engine.policy.pixel_rules)
    if rule is None:
        return quarantine_reason(ds, engine.policy.quarantine)
    try:
        blanked = clean_pixels(ds, rule)
    except InvalidInput as exc:
        return f"pixel rule {rule.name}: {exc}"
    if log is not None:
        log.append(
            ActionRecord(
                "(7FE0,0010)", "PixelData", f"{blanked} region(s) blanked by rule {rule.name}"
            )
        )
    return None


def deidentify_paths(
    paths: Iterable[Path],
    *,
    out_dir: Path,
    quarantine_dir: Path,
    policy: Policy,
    key: ProjectKey,
    what_if: bool = False,
    on_file: Callable[[FileOutcome], None] | None = None,
    jobs: int = 1,
    database_url: str | None = None,
    on_start: Callable[[int], None] | None = None,
    mapping_csv: Path | None = None,
    mapping_encoding: MappingEncoding = "utf-8",
) -> RunSummary:
    """De-identify every file under ``paths`` into ``out_dir``.

    Parameters
    ----------
    paths : iterable of Path
        Files, folders (searched recursively) and zip archives (members read in place).
    out_dir, quarantine_dir : Path
        Output and quarantine folders; both are checked for writability before the first
        file is read. Keep the quarantine outside the output: it holds identifiable files.
    policy : Policy
    key : ProjectKey
    what_if : bool
        Only report what would be done (every action, per file); write nothing.
    on_file : callable, optional
        Called with each :class:`FileOutcome` (progress, ``--what-if`` listing), in input
        order.
    jobs : int
        Worker processes (1: this process). The output does not depend on it.
    database_url : str, optional
        The index database, for a policy with ``registry: database`` (migrated here).
    on_start : callable, optional
        Called once with the number of input files, before the first is read (progress).
    mapping_csv : Path, optional
        Write the correspondence table (original → pseudonymous identifiers, date offset)
        here, 0600, atomically, after the run; refused inside ``out_dir`` or
        ``quarantine_dir`` (see :mod:`raddx.deid.mapping`). Not written with ``what_if``.
    mapping_encoding : str
        ``utf-8``, ``utf-8-sig`` (BOM, for Excel) or ``cp932``.

    Returns
    -------
    RunSummary

    Raises
    ------
    InvalidInput
        An output folder is not writable, ``jobs`` < 1, or the policy's registry needs a
        database and none was given (nothing has been read or written then).
    """
    if jobs < 1:
        raise InvalidInput(f"jobs must be at least 1, not {jobs}")
    if policy.registry == "database" and not database_url:
        raise InvalidInput(f"policy {policy.name} keeps pseudonyms in the database: no URL given")
    files = list(iter_files(paths))
    if mapping_csv is not None:
        check_mapping_path(mapping_csv, out_dir=out_dir, quarantine_dir=quarantine_dir)
    if not what_if:
        check_output_dir(out_dir, must_be_empty=key.ephemeral)
        check_output_dir(quarantine_dir)
    if policy.registry == "database" and database_url and not what_if:
        db = make_engine(database_url)
        try:
            upgrade(db)
        finally:
            db.dispose()
    try:
        engine = _engine(policy, key, database_url)
    except ValueError as exc:  # e.g. an unreadable coerce ID map
        raise InvalidInput(str(exc)) from None
    quarantine = _Quarantine(quarantine_dir)
    if on_start is not None:
        on_start(len(files))
    summary = RunSummary()
    started = dt.datetime.now(dt.UTC)
    entries = []
    want_mapping = mapping_csv is not None and not what_if
    rows: list[MappingRow] = []
    with contextlib.ExitStack() as stack:
        stack.callback(engine.close)
        results: Iterator[tuple[FileOutcome, str | None]]
        if jobs == 1 or len(files) < 2:
            task = functools.partial(
                _handle, engine=engine, out_dir=out_dir, what_if=what_if, mapping=want_mapping
            )
            results = map(task, files)
        else:
            # Every worker builds the same engine from the same policy and key, so UIDs,
            # pseudonyms and date offsets agree whichever process handles a file (they are
            # keyed functions of the input, not of the order). Quarantine copies and the
            # manifest stay in this process: one writer each.
            context = _worker_context()
            pool = stack.enter_context(
                ProcessPoolExecutor(
                    jobs,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(policy, key, database_url),
                )
            )
            task = functools.partial(
                _handle_in_worker, out_dir=out_dir, what_if=what_if, mapping=want_mapping
            )
            chunk = max(1, min(32, len(files) // (jobs * 4)))
            results = pool.map(task, files, chunksize=chunk)
        for outcome, digest in results:
            if outcome.reason is not None:
                if not what_if:
                    quarantine.put(outcome.source, outcome.reason)
                summary.quarantined += 1
            else:
                summary.written += 1
                if digest is not None and outcome.output is not None:
                    relative = outcome.output.relative_to(out_dir).as_posix()
                    entries.append({"output": relative, "input_sha256": digest})
                if outcome.mapping is not None:
                    rows.append(outcome.mapping)
            summary.outcomes.append(outcome)
            if on_file is not None:
                on_file(outcome)
    if not what_if:
        summary.manifest = _write_manifest(out_dir, engine, key, summary, started, entries)
        _audit_export(summary, out_dir)
    if want_mapping and mapping_csv is not None:
        write_mapping_csv(mapping_csv, rows, encoding=mapping_encoding)
        summary.mapping = mapping_csv
    return summary


def _audit_export(summary: RunSummary, out_dir: Path) -> None:
    """One Export event (PS3.15 A.5.3.4) per run: the de-identified studies written (by
    their new Study Instance UIDs, ``Anonymized`` true) to ``out_dir`` as destination media,
    the operator (OS account) as source; outcome 4 when some files were quarantined."""
    import getpass
    import socket

    from raddx.security import audit_events
    from raddx.security.audit import (
        ActiveParticipant,
        EventOutcomeIndicatorValues,
        MediaTypeValues,
        StudyRef,
        record,
    )

    studies: dict[str, int] = {}
    for outcome in summary.outcomes:
        if outcome.output is not None:
            study = outcome.output.relative_to(out_dir).parts[0]
            studies[study] = studies.get(study, 0) + 1
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = "unknown"
    record(
        audit_events.export(
            user=ActiveParticipant(
                user_id=operator, user_is_requestor=True, host=socket.gethostname()
            ),
            media=MediaTypeValues.URI,
            destination=out_dir.resolve().as_uri(),
            patient=None,
            studies=[StudyRef(uid, anonymized=True) for uid in studies],
            outcome=EventOutcomeIndicatorValues.MINOR_FAILURE
            if summary.quarantined
            else EventOutcomeIndicatorValues.SUCCESS,
        )
    )


def _worker_context() -> multiprocessing.context.BaseContext:
    """Plain fork when this process runs one thread (the CLI): workers start warm and, in
    our measurements on the bench corpus, ran about 1.5× faster than fork-server workers.
    A fork server otherwise (a server process with threads), where plain fork is unsafe."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["raddx.deid.run"])
    return context


#: The engine of a pool worker process (set by :func:`_init_worker`).
_WORKER_ENGINE: Deidentifier | None = None


def _init_worker(policy: Policy, key: ProjectKey, database_url: str | None) -> None:
    global _WORKER_ENGINE  # per-process state of a pool worker
    _WORKER_ENGINE = _engine(policy, key, database_url)


def _seal_key() -> SealKey | None:
    try:
        return read_seal_key()
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _engine(policy: Policy, key: ProjectKey, database_url: str | None) -> Deidentifier:
    """The engine of one process, with its own database connection if the registry is one."""
    if policy.registry != "database" or not database_url:
        return Deidentifier(policy, key)
    registry = DatabaseRegistry.from_url(
        database_url,
        key=key,
        min_days=policy.date_shift.min_days,
        max_days=policy.date_shift.max_days,
        actor=f"raddx deid run (policy {policy.name})",
        seal_key=_seal_key(),
    )
    return Deidentifier(policy, key, registry=registry)


def _handle_in_worker(
    source: Source, *, out_dir: Path, what_if: bool, mapping: bool = False
) -> tuple[FileOutcome, str | None]:
    if _WORKER_ENGINE is None:  # pragma: no cover -- the initializer always runs first
        raise RuntimeError("worker started without its engine")
    return _handle(source, engine=_WORKER_ENGINE, out_dir=out_dir, what_if=what_if, mapping=mapping)


def _handle(
    source: Source, *, engine: Deidentifier, out_dir: Path, what_if: bool, mapping: bool = False
) -> tuple[FileOutcome, str | None]:
    """Read, de-identify and write one file; the outcome and the input's SHA-256 if written.

    Never raises for a bad input: whatever goes wrong, including encoding the result,
    becomes the quarantine reason.
    """
    data = _read(source)
    rows: list[MappingRow] | None = [] if mapping else None
    ds, reason, actions = _process(source, data, engine, keep_actions=what_if, mapping=rows)
    if ds is None:
        return FileOutcome(source, reason=reason or "unknown", actions=tuple(actions)), None
    relative = Path(
        _uid_text(ds, 0x0020000D, "StudyInstanceUID"),
        _uid_text(ds, 0x0020000E, "SeriesInstanceUID"),
        f"{_uid_text(ds, 0x00080018, 'SOPInstanceUID')}.dcm",
    )
    if what_if:
        return FileOutcome(source, output=out_dir / relative, actions=tuple(actions)), None
    try:
        encoded = encode_part10(ds)
    except Exception as exc:  # a value pydicom cannot encode: never a half-written output
        why = f"cannot encode the result: {type(exc).__name__}: {exc}"
        return FileOutcome(source, reason=why, actions=tuple(actions)), None
    _write_atomically(encoded, out_dir / relative)
    outcome = FileOutcome(
        source, output=out_dir / relative, actions=tuple(actions), mapping=rows[0] if rows else None
    )
    return outcome, hashlib.sha256(data).hexdigest()


def _uid_text(ds: pydicom.Dataset, tag: int, keyword: str) -> str:
    """``str(ds.<keyword>)`` without decoding the element (it stays raw for the writer);
    an absent one fails as the attribute access does."""
    value = uid_value(ds, tag)
    return str(getattr(ds, keyword)) if value is None else value


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
        "safe_private": (
            {"edition": engine.safe_private.edition, "source": engine.safe_private.source}
            if engine.safe_private is not None
            else None
        ),
        "policy": engine.policy.name,
        "config_hash": engine.policy.config_hash(),
        "key_id": key.key_id,
        "mode": engine.policy.mode,
        "codes": (
            [engine.profile_code(), *[o.value for o in engine.policy.options]]
            if engine.policy.mode == "deidentify"
            else []
        ),
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "written": summary.written,
        "quarantined": summary.quarantined,
        "files": sorted(entries, key=lambda e: e["output"]),
    }
    target = out_dir / MANIFEST_NAME
    with atomic_file(target, "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    return target
