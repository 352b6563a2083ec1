"""Data protection (issue 9): ``raddx fixity`` finds changed and missing blobs; ``raddx backup``
→ wipe → ``raddx restore`` gives back identical index rows and blob bytes; a tampered backup
is detected and refused; old generations are pruned. Run as a user runs them: the CLI in a
child process, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, select, text

from dicom_factory import write_files
from raddx.config import Settings
from raddx.db.models import Instance, Patient

PATIENT_NAME = "Yamada^Tarou"


def _cli(
    settings: Settings, *args: str, key: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RADDX_DATA_DIR": str(settings.data_dir),
        "RADDX_DATABASE_URL": settings.resolved_database_url,
        "RADDX_BACKUP_GENERATIONS": str(settings.backup_generations),
    }
    if key is not None:
        env["RADDX_BACKUP_SIGNING_KEY_FILE"] = str(key)
    return subprocess.run(
        [sys.executable, "-m", "raddx.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _snapshot(settings: Settings) -> tuple[list[tuple[object, ...]], dict[str, str]]:
    """What a user would compare: the index rows and the blob bytes' digests."""
    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    Instance.sop_instance_uid, Instance.sha256, Instance.size, Instance.blob_key
                ).order_by(Instance.sop_instance_uid)
            ).all()
            names = conn.execute(select(Patient.patient_name).order_by(Patient.id)).all()
    finally:
        engine.dispose()
    root = settings.resolved_storage_path
    blobs = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }
    return [tuple(r) for r in rows] + [tuple(n) for n in names], blobs


@pytest.fixture
def stored(settings: Settings, tmp_path: Path) -> Settings:
    files = write_files(tmp_path / "in", 5, patient_name=PATIENT_NAME)
    result = _cli(settings, "import", str(tmp_path / "in"))
    assert result.returncode == 0, result.stderr
    assert len(files) == 5
    return settings


def _wipe(settings: Settings) -> None:
    shutil.rmtree(settings.data_dir)
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
    else:
        engine = create_engine(settings.resolved_database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def test_fixity_clean_then_tampered_and_missing(stored: Settings) -> None:
    ok = _cli(stored, "fixity")
    assert ok.returncode == 0, ok.stderr
    assert "checked 5 objects" in ok.stdout and "0 problem(s)" in ok.stdout
    blobs = sorted(p for p in stored.resolved_storage_path.rglob("*") if p.is_file())
    data = bytearray(blobs[0].read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the pixel data
    blobs[0].write_bytes(bytes(data))
    blobs[1].unlink()
    bad = _cli(stored, "fixity")
    assert bad.returncode == 1
    assert bad.stdout.count("MISMATCH ") == 1 and bad.stdout.count("MISSING ") == 1
    assert "2 problem(s)" in bad.stdout
    # Each problem is a Security Alert in the audit trail.
    engine = create_engine(stored.resolved_database_url)
    try:
        with engine.connect() as conn:
            messages = [
                str(row[0])
                for row in conn.execute(text("SELECT * FROM audit_record")).all()
                for row in [[" ".join(map(str, row))]]
            ]
    finally:
        engine.dispose()
    alerts = [m for m in messages if "110113" in m and "fixity" in m]
    assert len(alerts) == 2


def test_backup_wipe_restore_round_trip(stored: Settings, tmp_path: Path) -> None:
    before = _snapshot(stored)
    made = _cli(stored, "backup", "create", str(tmp_path / "backups"))
    assert made.returncode == 0, made.stderr
    generation = Path(made.stdout.strip())
    assert _cli(stored, "backup", "verify", str(generation)).returncode == 0
    _wipe(stored)
    restored = _cli(stored, "restore", str(generation))
    assert restored.returncode == 0, restored.stderr
    assert _snapshot(stored) == before
    assert _cli(stored, "fixity").returncode == 0
    # A second restore over existing data needs --force.
    again = _cli(stored, "restore", str(generation))
    assert again.returncode == 1 and "--force" in again.stderr


def test_tampered_backup_detected_and_refused(stored: Settings, tmp_path: Path) -> None:
    generation = Path(_cli(stored, "backup", "create", str(tmp_path / "b")).stdout.strip())
    blob = next(p for p in (generation / "blobs").rglob("*") if p.is_file())
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    (generation / "blobs" / "extra").write_bytes(b"planted")
    verify = _cli(stored, "backup", "verify", str(generation))
    assert verify.returncode == 1
    assert "changed: blobs/" in verify.stdout and "not in manifest: blobs/extra" in verify.stdout
    _wipe(stored)
    refused = _cli(stored, "restore", str(generation))
    assert refused.returncode == 1 and "does not verify" in refused.stderr
    assert not stored.resolved_storage_path.exists()


def _rehash(generation: Path) -> None:
    """What someone who changes a backup and knows the format does: rewrite the manifest's
    digest of every file to match."""
    manifest_path = generation / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for rel, entry in manifest["files"].items():
        data = (generation / rel).read_bytes()
        entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))


def test_signed_backup_catches_a_rewritten_manifest(stored: Settings, tmp_path: Path) -> None:
    key = tmp_path / "backup.key"
    key.write_bytes(os.urandom(32).hex().encode())
    created = _cli(stored, "backup", "create", str(tmp_path / "b"), key=key)
    assert created.returncode == 0, created.stderr
    generation = Path(created.stdout.strip())
    assert (generation / "manifest.json.hmac").is_file()
    assert _cli(stored, "backup", "verify", str(generation), key=key).returncode == 0

    blob = next(p for p in (generation / "blobs").rglob("*") if p.is_file())
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    _rehash(generation)
    unsigned_check = _cli(stored, "backup", "verify", str(generation))
    assert unsigned_check.returncode == 0  # digests alone: consistent again
    signed_check = _cli(stored, "backup", "verify", str(generation), key=key)
    assert signed_check.returncode == 1
    assert "signature does not match" in signed_check.stdout
    _wipe(stored)
    refused = _cli(stored, "restore", str(generation), key=key)
    assert refused.returncode == 1 and "signature does not match" in refused.stderr
    assert not stored.resolved_storage_path.exists()


def test_key_configured_but_backup_unsigned_or_key_too_short(
    stored: Settings, tmp_path: Path
) -> None:
    generation = Path(_cli(stored, "backup", "create", str(tmp_path / "b")).stdout.strip())
    key = tmp_path / "backup.key"
    key.write_bytes(b"k" * 40)
    check = _cli(stored, "backup", "verify", str(generation), key=key)
    assert check.returncode == 1 and "manifest not signed" in check.stdout
    short = tmp_path / "short.key"
    short.write_bytes(b"too short")
    refused = _cli(stored, "backup", "create", str(tmp_path / "c"), key=short)
    assert refused.returncode == 1 and "fewer than 32 bytes" in refused.stderr
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_generations_pruned(stored: Settings, tmp_path: Path) -> None:
    stored = stored.model_copy(update={"backup_generations": 2})
    for _ in range(3):
        assert _cli(stored, "backup", "create", str(tmp_path / "g")).returncode == 0
    listed = _cli(stored, "backup", "list", str(tmp_path / "g")).stdout.split()
    assert len(listed) == 2
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [Path(p).name for p in listed]
