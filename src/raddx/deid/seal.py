"""Encryption at rest of the pseudonym registry (research notes §6 item 5: "stored encrypted").

The registry (``deid_pseudonym``) finds a patient by a keyed HMAC of the identity, so equality
search works without the identity in the table. With a registry key configured, everything
else that identifies — the original identity (IssuerOfPatientID, PatientID, and the name and
birth date when there is no ID), the pseudonym and the date offset — is sealed with
AES-256-GCM (NIST SP 800-38D, via ``cryptography``) under a key kept apart from the database,
bound to its row by the associated data (project and patient HMAC), so a sealed value copied
into another row does not open. The pseudonym column then holds an HMAC of the pseudonym,
which keeps pseudonyms unique and lets the data controller find a row by a pseudonym
(:meth:`raddx.deid.registry.DatabaseRegistry.reveal`).

The key is read from ``$RADDX_DEID_REGISTRY_KEY_FILE`` (a file) or ``$RADDX_DEID_REGISTRY_KEY``
(text), at least 16 bytes; the AES key is derived from it with HKDF-SHA-256 (RFC 5869).
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SEAL_KEY_ENV", "SEAL_KEY_FILE_ENV", "SealKey", "read_seal_key"]

SEAL_KEY_ENV = "RADDX_DEID_REGISTRY_KEY"
SEAL_KEY_FILE_ENV = "RADDX_DEID_REGISTRY_KEY_FILE"
_MIN_BYTES = 16
_NONCE_BYTES = 12
_VERSION = b"\x01"


@dataclass(frozen=True)
class SealKey:
    """An AES-256-GCM key for registry rows (derived from a secret of ≥ 16 bytes)."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_BYTES:
            raise ValueError(f"a registry key needs at least {_MIN_BYTES} bytes")

    @property
    def _aead(self) -> AESGCM:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"raddx registry seal")
        return AESGCM(hkdf.derive(self.secret))

    def seal(self, plaintext: bytes, *, aad: bytes) -> str:
        """``base64(version | nonce | ciphertext+tag)`` of ``plaintext`` bound to ``aad``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = self._aead.encrypt(nonce, plaintext, aad)
        return base64.b64encode(_VERSION + nonce + body).decode("ascii")

    def open(self, token: str, *, aad: bytes) -> bytes:
        """The plaintext of :meth:`seal`'s ``token``.

        Raises
        ------
        ValueError
            Wrong key, another row's value, or a damaged token.
        """
        try:
            raw = base64.b64decode(token, validate=True)
            if raw[:1] != _VERSION:
                raise ValueError("unknown seal version")
            nonce, body = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
            return self._aead.decrypt(nonce, body, aad)
        except (InvalidTag, ValueError) as exc:
            raise ValueError("a sealed registry value does not open: wrong registry key?") from (
                exc
            )


def read_seal_key() -> SealKey | None:
    """The registry key from ``$RADDX_DEID_REGISTRY_KEY_FILE`` or ``$RADDX_DEID_REGISTRY_KEY``,
    or ``None`` when neither is set (the registry then stores pseudonyms in clear, as before).

    Raises
    ------
    ValueError
        The file is unreadable or the key is shorter than 16 bytes.
    """
    path = os.environ.get(SEAL_KEY_FILE_ENV)
    if path:
        try:
            return SealKey(Path(path).read_bytes().strip())
        except OSError as exc:
            raise ValueError(f"cannot read registry key file {path}: {exc.strerror}") from None
    text = os.environ.get(SEAL_KEY_ENV)
    return SealKey(text.encode("utf-8")) if text else None
