"""Backup and restore: index + blobs + configuration, with a manifest of SHA-256 digests.

A backup is one *generation* directory ``raddx-backup-<UTC time>`` under the destination:

* ``index.sqlite`` (SQLite online backup API: consistent while raddx runs) or
  ``index.pgdump`` (``pg_dump --format=custom``; PostgreSQL needs pg_dump/pg_restore);
* ``blobs/`` — a copy of the blob store as stored (encrypted blobs stay encrypted);
* ``config/raddx.toml`` when the configuration file exists;
* ``manifest.json`` — the SHA-256 and size of every file above;
* ``manifest.json.hmac`` — with ``backup_signing_key_file`` set: HMAC-SHA256 of the manifest
  under the site's key. The digests alone catch a damaged file, not someone who changes a
  file and rewrites the manifest to match; the key, kept off the backup media, does.

``verify`` re-hashes every file against the manifest and reports missing, changed and
unlisted files (MDS2 DTBK-6: integrity check of a backup); ``restore`` refuses a backup that
does not verify. The newest ``backup_generations`` generations are kept (MHLW checklist R6:
世代管理). The index is copied first and the blobs after it, so every indexed object's blob is
in the backup (a blob without an index row is re-indexed by the startup sweep).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from raddx import __version__
from raddx.config import Settings

__all__ = [
    "BackupError",
    "create_backup",
    "list_generations",
    "restore_backup",
    "signing_key",
    "verify_backup",
]

_PREFIX = "raddx-backup-"
_MANIFEST = "manifest.json"
_SIGNATURE = "manifest.json.hmac"
_FORMAT = 1
_MIN_KEY_BYTES = 32


class BackupError(Exception):
    """A backup or restore cannot be done (missing tool, unusable target, failed verify)."""


@dataclass(frozen=True, slots=True)
class _Database:
    kind: str  # "sqlite" or "postgresql"
    path: Path | None
    url: str


def _database(settings: Settings) -> _Database:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database:
            raise BackupError("an in-memory SQLite index cannot be backed up")
        return _Database("sqlite", Path(url.database), str(url))
    if url.get_backend_name() == "postgresql":
        # libpq tools take a plain postgresql:// URL, not SQLAlchemy's driver suffix.
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return _Database("postgresql", None, plain)
    raise BackupError(f"cannot back up a {url.get_backend_name()} index")


def _config_file() -> Path:
    return Path(os.environ.get("RADDX_CONFIG", "raddx.toml"))


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools")
    return found


def _copy_blobs(source: Path, target: Path) -> None:
    """Copy the blob store's complete blobs (not unfinished ``*.tmp`` writes)."""
    for root, _dirs, files in os.walk(source):
        rel = Path(root).relative_to(source)
        for name in files:
            if name.endswith(".tmp") or name.startswith("."):
                continue
            (target / rel).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(root) / name, target / rel / name)


def signing_key(settings: Settings) -> bytes | None:
    """The backup signing key, or ``None`` when manifests are not signed.

    Raises
    ------
    BackupError
        The key file is unreadable or shorter than 32 bytes.
    """
    path = settings.backup_signing_key_file
    if path is None:
        return None
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise BackupError(f"cannot read backup_signing_key_file {path}: {exc.strerror}") from None
    if len(key) < _MIN_KEY_BYTES:
        raise BackupError(f"backup_signing_key_file {path} holds fewer than {_MIN_KEY_BYTES} bytes")
    return key


def _signature(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def list_generations(destination: Path) -> list[Path]:
    """The complete backup generations in ``destination``, oldest first."""
    if not destination.is_dir():
        return []
    return sorted(
        p for p in destination.iterdir() if p.name.startswith(_PREFIX) and (p / _MANIFEST).exists()
    )


def create_backup(settings: Settings, destination: Path, *, now: dt.datetime | None = None) -> Path:
    """Write a new generation under ``destination``, prune old ones; return its path.

    Raises
    ------
    BackupError
        PostgreSQL without ``pg_dump``; an unsupported index.
    """
    db = _database(settings)
    key = signing_key(settings)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    final = destination / f"{_PREFIX}{stamp}"
    work = destination / f".{_PREFIX}{stamp}.partial"
    work.mkdir(parents=True)
    try:
        if db.kind == "sqlite":
            assert db.path is not None
            with (
                sqlite3.connect(db.path) as source,
                sqlite3.connect(work / "index.sqlite") as target,
            ):
                source.backup(target)
            source.close()
            target.close()
        else:
            subprocess.run(
                [_tool("pg_dump"), "--format=custom", "--file", str(work / "index.pgdump"), db.url],
                check=True,
                capture_output=True,
            )
        _copy_blobs(settings.resolved_storage_path, work / "blobs")
        config = _config_file()
        if config.is_file():
            (work / "config").mkdir()
            shutil.copyfile(config, work / "config" / "raddx.toml")
        files = {
            path.relative_to(work).as_posix(): {
                "sha256": _sha256(path),
                "size": path.stat().st_size,
            }
            for path in sorted(work.rglob("*"))
            if path.is_file()
        }
        manifest = {
            "format": _FORMAT,
            "raddx_version": __version__,
            "created": stamp,
            "database": db.kind,
            "files": files,
        }
        manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        _write_synced(work / _MANIFEST, manifest_bytes)
        if key is not None:
            _write_synced(work / _SIGNATURE, _signature(key, manifest_bytes).encode("ascii"))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    for old in list_generations(destination)[: -settings.backup_generations]:
        shutil.rmtree(old)
    return final


def verify_backup(generation: Path, key: bytes | None = None) -> list[str]:
    """Every problem with a backup generation (empty: it is intact). With ``key``, the
    manifest must carry a matching signature (an unsigned backup is a problem then too)."""
    manifest_path = generation / _MANIFEST
    try:
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
        files: dict[str, dict[str, object]] = manifest["files"]
    except (OSError, ValueError, KeyError) as exc:
        return [f"manifest unreadable: {exc}"]
    problems = []
    if key is not None:
        try:
            stored = (generation / _SIGNATURE).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            problems.append("manifest not signed (a signing key is configured)")
        else:
            if not hmac.compare_digest(stored, _signature(key, manifest_bytes)):
                problems.append(
                    "manifest signature does not match (the manifest was changed, or it was "
                    "signed with another key)"
                )
    for rel, entry in files.items():
        path = generation / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            problems.append(f"changed: {rel}")
    for path in sorted(generation.rglob("*")):
        rel = path.relative_to(generation).as_posix()
        if path.is_file() and rel not in (_MANIFEST, _SIGNATURE) and rel not in files:
            problems.append(f"not in manifest: {rel}")
    return problems


def restore_backup(settings: Settings, generation: Path, *, force: bool = False) -> None:
    """Restore index and blobs from a verified generation (raddx must be stopped).

    Raises
    ------
    BackupError
        The backup does not verify; the target already holds data and ``force`` is not set;
        the backup's database kind differs from the configured one; pg_restore is missing.
    """
    problems = verify_backup(generation, signing_key(settings))
    if problems:
        raise BackupError("backup does not verify: " + "; ".join(problems[:10]))
    manifest = json.loads((generation / _MANIFEST).read_text())
    db = _database(settings)
    if manifest["database"] != db.kind:
        raise BackupError(f"backup holds a {manifest['database']} index, configured is {db.kind}")
    blobs = settings.resolved_storage_path
    has_data = (blobs.is_dir() and any(blobs.iterdir())) or (
        db.path is not None and db.path.exists()
    )
    if has_data and not force:
        raise BackupError("the target already holds an index or blobs; use --force to replace")
    if blobs.exists():
        shutil.rmtree(blobs)
    blobs.mkdir(parents=True)
    _copy_blobs(generation / "blobs", blobs)
    if db.kind == "sqlite":
        assert db.path is not None
        db.path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{db.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(generation / "index.sqlite", db.path)
    else:
        subprocess.run(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--dbname",
                db.url,
                str(generation / "index.pgdump"),
            ],
            check=True,
            capture_output=True,
        )
