"""The runner of de-identification jobs: archived studies → a download package or a new
de-identified study set stored back into the archive.

The de-identification is :func:`raddx.deid.run.deidentify_paths`, exactly what ``raddx deid
run`` does (same policies, manifest, quarantine rules); this module only fetches the stored
objects, counts, and delivers. Work happens in ``<data_dir>/deid-work/`` (the originals are
PHI: never the system temp folder) and is removed afterwards; a package is written as
``<data_dir>/deid-packages/<token>.zip`` under a temporary name and renamed, so a download
never sees half a package. The quarantine (identifiable originals) is not part of the
package: quarantined objects are counted as ``warning`` with their reasons in the job's
``reason`` when nothing was written.

Nothing is left behind for ever: :func:`recover_work` (a :class:`JobService` recover hook)
deletes the working copies and half-written packages a crashed process left, and
:func:`expire_packages` deletes packages older than ``deid_package_retention_hours`` (at start
and before each job).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from raddx.archive.retrieve import RetrieveService
from raddx.config import RemoteAE
from raddx.deid.keys import ProjectKey, read_key
from raddx.deid.policy import load_policy
from raddx.deid.run import FileOutcome, deidentify_paths
from raddx.errors import InvalidInput, RaddxError
from raddx.jobs.service import JobKindValues, Progress, Runner
from raddx.jobs.transfer import instances_to_send
from raddx.services import Services
from raddx.storage.atomic import atomic_file

__all__ = [
    "DeidOutputValues",
    "expire_packages",
    "package_path",
    "recover_hooks",
    "recover_work",
    "runners",
]

log = logging.getLogger(__name__)


class DeidOutputValues(StrEnum):
    """Where a de-identification job's result goes."""

    #: A zip of ``<Study>/<Series>/<SOP>.dcm`` and ``manifest.json``, to download.
    PACKAGE = "package"
    #: A new study set stored into this archive through ingest.
    ARCHIVE = "archive"


def package_path(services: Services, token: str) -> Path:
    """Where the package of the job with ``token`` is (or will be)."""
    return services.settings.data_dir / "deid-packages" / f"{token}.zip"


def recover_work(services: Services) -> int:
    """Delete what an ended process left: every working folder under ``deid-work`` (copies of
    identifiable originals, and quarantines) and every half-written ``.part`` package. Call
    only at start, before any job runs (as :meth:`JobService.recover` does); returns how many
    entries were removed."""
    removed = 0
    work = services.settings.data_dir / "deid-work"
    if work.is_dir():
        for entry in work.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
    packages = services.settings.data_dir / "deid-packages"
    if packages.is_dir():
        for part in packages.glob(".*.part"):
            part.unlink()
            removed += 1
    if removed:
        log.warning("deid working copies left by the last shutdown removed count=%d", removed)
    return removed


def expire_packages(services: Services, *, now: float | None = None) -> int:
    """Delete the download packages written more than ``deid_package_retention_hours`` ago
    (0: never); returns how many. A job whose package expired answers 404 "gone"."""
    hours = services.settings.deid_package_retention_hours
    packages = services.settings.data_dir / "deid-packages"
    if not hours or not packages.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - hours * 3600
    expired = 0
    for package in packages.glob("*.zip"):
        try:
            if package.stat().st_mtime < cutoff:
                package.unlink()
                expired += 1
        except FileNotFoundError:  # another process expired it first
            continue
    if expired:
        log.info("deid packages expired count=%d retention_hours=%s", expired, hours)
    return expired


def _zip(folder: Path, target: Path) -> None:
    with (
        atomic_file(target, mkdir=True) as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf,
    ):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())


def _deidentify(services: Services) -> Runner:
    retrieve = RetrieveService(services.session_factory, services.blobs)

    def run(request: Mapping[str, Any], remote: RemoteAE | None, progress: Progress) -> str | None:
        del remote  # not a transfer
        expire_packages(services)
        policy = load_policy(str(request["policy"]))
        try:
            key = ProjectKey.random() if policy.key == "ephemeral" else read_key(None)
        except ValueError as exc:
            return str(exc)
        refs = instances_to_send(retrieve, studies=list(request["studies"]), series=[])
        progress.set_total(len(refs))
        if not refs:
            return "nothing to de-identify: no stored study matches"
        work_root = services.settings.data_dir / "deid-work"
        work_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work_root) as work:
            inbox, out, quarantine = Path(work, "in"), Path(work, "out"), Path(work, "q")
            inbox.mkdir()
            unreadable = 0
            for number, item in enumerate(retrieve.read(refs)):
                if item.part10 is None:
                    unreadable += 1
                    progress.add(failed=1)
                    continue
                (inbox / f"{number:06d}.dcm").write_bytes(item.part10)

            def on_file(outcome: FileOutcome) -> None:
                progress.add(
                    completed=0 if outcome.reason else 1, warning=1 if outcome.reason else 0
                )

            try:
                summary = deidentify_paths(
                    [inbox], out_dir=out, quarantine_dir=quarantine, policy=policy, key=key,
                    on_file=on_file, database_url=services.settings.resolved_database_url,
                )  # fmt: skip
            except InvalidInput as exc:
                return str(exc)
            if unreadable:
                return f"{unreadable} stored object(s) could not be read"
            if not summary.written:
                reasons = sorted({o.reason for o in summary.outcomes if o.reason})
                return "nothing written: every object was quarantined (" + "; ".join(reasons) + ")"
            if request["output"] == DeidOutputValues.ARCHIVE:
                refused: list[str] = []
                for path in sorted(out.rglob("*.dcm")):
                    try:
                        services.ingest.store(path.read_bytes(), source="deid")
                    except RaddxError as exc:  # refused by validation, disk full: count it
                        progress.add(completed=-1, failed=1)
                        refused.append(str(exc))
                if refused:
                    return f"{len(refused)} object(s) not stored; first: {refused[0]}"
            else:
                _zip(out, package_path(services, str(request["package"])))
        return None

    return run


def runners(services: Services) -> dict[JobKindValues, Runner]:
    """The de-identification runner, on ``services``."""
    return {JobKindValues.DEIDENTIFY: _deidentify(services)}


def recover_hooks(services: Services) -> list[Callable[[], object]]:
    """The de-identification clean-ups for :class:`JobService` ``recover_hooks``."""
    return [lambda: recover_work(services), lambda: expire_packages(services)]
