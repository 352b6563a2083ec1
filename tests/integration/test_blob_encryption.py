"""Encryption at rest (issue 9): blobs on disk hold neither ``DICM`` nor the patient's name,
C-GET (DCMTK getscu) returns the bytes that were stored, a tampered blob fails (fixity), and
a key rotation re-seals everything so the old key can go."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from dicom_factory import make_dataset, to_part10
from helpers import run_tool, start_dimse_server
from raddx.archive.part10 import read_file_meta
from raddx.config import Settings, load_settings
from raddx.security.fixity import check_fixity
from raddx.services import Services
from raddx.storage.encrypted import EncryptedFileBlobStore, keyring_from_settings

pytestmark = pytest.mark.dcmtk

Tool = Callable[[str], str]
NAME = "Encrypted^Patient"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "blob.keys"
    path.write_text(f"k1 {secrets.token_hex(32)}\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def settings(tmp_path: Path, database_url: str, key_file: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data", database_url=database_url, blob_encryption_key_file=key_file
    )


@pytest.fixture
def stored(services: Services, dcmtk: Tool, tmp_path: Path) -> Iterator[tuple[bytes, int]]:
    """One object stored over DIMSE; yields its Part 10 bytes and the server's port."""
    ds = make_dataset(patient_name=NAME, pixel_bytes=4096)
    data = to_part10(ds)
    path = tmp_path / "in.dcm"
    path.write_bytes(data)
    server = start_dimse_server(services)
    try:
        result = run_tool([dcmtk("storescu"), "127.0.0.1", str(server.address[1]), str(path)])
        assert result.returncode == 0, result.stderr
        yield data, server.address[1]
    finally:
        server.stop()


def _blob_files(services: Services) -> list[Path]:
    return [p for p in services.settings.resolved_storage_path.rglob("*") if p.is_file()]


def _dataset(data: bytes) -> bytes:
    return data[read_file_meta(data).dataset_offset :]


def test_ciphertext_on_disk_plaintext_through_dimse(
    stored: tuple[bytes, int], services: Services, dcmtk: Tool, tmp_path: Path
) -> None:
    data, port = stored
    assert isinstance(services.blobs, EncryptedFileBlobStore)
    (blob,) = _blob_files(services)
    raw = blob.read_bytes()
    assert b"DICM" not in raw and NAME.encode() not in raw and b"Encrypted" not in raw
    out = tmp_path / "out"
    out.mkdir()
    ds = pydicom.dcmread(io.BytesIO(data))
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={ds.StudyInstanceUID}"]
    result = run_tool([dcmtk("getscu"), "-S", *keys, "-od", str(out), "127.0.0.1", str(port)])
    assert result.returncode == 0, result.stderr
    (received,) = list(out.iterdir())
    assert _dataset(received.read_bytes()) == _dataset(data)
    assert check_fixity(session_factory=services.session_factory, blobs=services.blobs).ok


def test_tampered_ciphertext_fails_fixity(stored: tuple[bytes, int], services: Services) -> None:
    (blob,) = _blob_files(services)
    raw = bytearray(blob.read_bytes())
    raw[-20] ^= 0x01
    blob.write_bytes(bytes(raw))
    report = check_fixity(session_factory=services.session_factory, blobs=services.blobs)
    assert [p.problem.value for p in report.problems] == ["mismatch"]


def test_rotation_retires_the_old_key(
    stored: tuple[bytes, int], services: Services, key_file: Path
) -> None:
    data, _ = stored
    key_file.write_text(key_file.read_text() + f"k2 {secrets.token_hex(32)}\n")
    settings = services.settings.model_copy()
    keyring = keyring_from_settings(settings)
    assert keyring is not None and keyring.current == "k2"
    store = EncryptedFileBlobStore(settings.resolved_storage_path, keyring=keyring)
    assert store.rotate() == 1
    assert store.rotate() == 0
    key_file.write_text(key_file.read_text().splitlines()[1] + "\n")  # k1 removed
    only_new = keyring_from_settings(settings)
    assert only_new is not None and set(only_new.keys) == {"k2"}
    fresh = EncryptedFileBlobStore(settings.resolved_storage_path, keyring=only_new)
    (blob,) = _blob_files(services)
    key = blob.relative_to(settings.resolved_storage_path).as_posix()
    assert fresh.sealed_with(key) == "k2"
    assert _dataset(fresh.get(key)) == _dataset(data)
