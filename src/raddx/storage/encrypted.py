"""Encryption at rest: the filesystem blob store with every blob sealed by AES-256-GCM.

On disk a sealed blob is ``RDXENC1\\0 | key-id length (1 byte) | key id | 96-bit nonce |
ciphertext | 128-bit tag``; the header and the blob key are authenticated data, so a blob
edited, truncated or moved under another key fails to open (:class:`BlobIntegrityError`).
The key id in each blob selects the key that opens it, so keys can be rotated: new blobs use
the newest key, ``raddx storage rotate-key`` re-seals the others, after which old keys can be
removed. Blobs written before encryption was turned on (no header) are read as they are.

Keys come from ``blob_encryption_key_file`` (one ``<key id> <64 hex digits>`` per line, the
last line is current; keep it ``chmod 600``) or the environment variable
``RADDX_BLOB_ENCRYPTION_KEY`` (``<key id>:<64 hex digits>``). Reads are whole-blob (the
store is unchanged, and as fast as before, when encryption is off).
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from raddx.config import Settings
from raddx.storage.atomic import atomic_file
from raddx.storage.filesystem import FileBlobStore
from raddx.types import BlobKey

__all__ = ["BlobIntegrityError", "EncryptedFileBlobStore", "Keyring", "keyring_from_settings"]

MAGIC = b"RDXENC1\0"
_NONCE = 12
ENV_KEY = "RADDX_BLOB_ENCRYPTION_KEY"


class BlobIntegrityError(Exception):
    """A sealed blob does not open: edited, truncated, moved, or its key is unknown."""


@dataclass(frozen=True)
class Keyring:
    """The AES-256 keys by id, and the id new blobs are sealed with."""

    keys: dict[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current key id has no key")
        for key_id, key in self.keys.items():
            if len(key) != 32 or not 0 < len(key_id.encode()) < 256 or " " in key_id:
                raise ValueError(f"key {key_id!r}: need an id without spaces and 32 bytes")


def _parse(lines: Iterable[tuple[str, str]]) -> Keyring:
    keys: dict[str, bytes] = {}
    current = ""
    for key_id, hex_key in lines:
        try:
            keys[key_id] = bytes.fromhex(hex_key)
        except ValueError:
            raise ValueError(f"key {key_id!r} is not hexadecimal") from None
        current = key_id
    if not keys:
        raise ValueError("no encryption key given")
    return Keyring(keys, current)


def keyring_from_settings(settings: Settings) -> Keyring | None:
    """The keys from ``blob_encryption_key_file`` or the environment; ``None``: encryption off.

    Raises
    ------
    ValueError
        A malformed key file or variable.
    """
    path = settings.blob_encryption_key_file
    if path is not None:
        pairs = [
            tuple(line.split(None, 1))
            for line in Path(path).read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"{path}: each line is '<key id> <64 hex digits>'")
        return _parse((p[0], p[1].strip()) for p in pairs)
    value = os.environ.get(ENV_KEY)
    if value:
        key_id, sep, hex_key = value.partition(":")
        if not sep:
            raise ValueError(f"{ENV_KEY} is '<key id>:<64 hex digits>'")
        return _parse([(key_id, hex_key)])
    return None


class EncryptedFileBlobStore(FileBlobStore):
    """:class:`FileBlobStore` whose blobs are sealed with AES-256-GCM (see the module)."""

    def __init__(self, root: Path | str, *, keyring: Keyring, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.keyring = keyring

    def _seal(self, key: BlobKey, plain: bytes) -> bytes:
        key_id = self.keyring.current
        encoded_id = key_id.encode()
        nonce = secrets.token_bytes(_NONCE)
        header = MAGIC + bytes((len(encoded_id),)) + encoded_id + nonce
        sealed = AESGCM(self.keyring.keys[key_id]).encrypt(nonce, plain, header + key.encode())
        return header + sealed

    def _unseal(self, key: BlobKey, raw: bytes) -> bytes:
        if not raw.startswith(MAGIC):
            return raw  # stored before encryption was turned on
        start = len(MAGIC) + 1
        end = start + raw[len(MAGIC)]
        key_id = raw[start:end].decode("ascii", "replace")
        secret = self.keyring.keys.get(key_id)
        if secret is None:
            raise BlobIntegrityError(f"blob {key}: sealed with unknown key {key_id!r}")
        header = raw[: end + _NONCE]
        try:
            return AESGCM(secret).decrypt(
                raw[end : end + _NONCE], raw[len(header) :], header + key.encode()
            )
        except InvalidTag:
            raise BlobIntegrityError(f"blob {key}: authentication failed (altered)") from None

    def sealed_with(self, key: BlobKey) -> str | None:
        """The key id a blob is sealed with (``None``: stored in the clear)."""
        raw = super().get(key)
        if not raw.startswith(MAGIC):
            return None
        return raw[len(MAGIC) + 1 : len(MAGIC) + 1 + raw[len(MAGIC)]].decode("ascii", "replace")

    def put(self, key: BlobKey, data: bytes | memoryview | Iterable[bytes | memoryview]) -> int:
        chunks = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
        plain = b"".join(bytes(chunk) for chunk in chunks)
        super().put(key, self._seal(key, plain))
        return len(plain)

    def get(self, key: BlobKey) -> bytes:
        return self._unseal(key, super().get(key))

    def open(self, key: BlobKey) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def iter_chunks(self, key: BlobKey, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        data = self.get(key)
        for offset in range(0, len(data), chunk_size):
            yield data[offset : offset + chunk_size]

    def rotate(self) -> int:
        """Re-seal every blob not sealed with the current key (clear ones too); return how
        many. Each is written to a temporary name and renamed over the old one."""
        rotated = 0
        for info in list(self.list_blobs()):
            if self.sealed_with(info.key) == self.keyring.current:
                continue
            sealed = self._seal(info.key, self.get(info.key))
            with atomic_file(self._path(info.key)) as fh:
                fh.write(sealed)
            rotated += 1
        return rotated
