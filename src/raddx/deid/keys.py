"""The keyed HMAC behind every replacement: UIDs, patient pseudonyms, date offsets.

One secret per project makes the whole output a deterministic function of (input, policy,
key): two runs agree, references stay intact, and nobody without the key can go back
(an unsalted hash of a short hospital Patient ID could be reversed by enumeration, research
notes §1.3). An ephemeral key is random, lives only in this process and makes the output
unlinkable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KEY_ENV", "ProjectKey", "read_key"]

#: Environment variable holding the project key (as text) when no key file is given.
KEY_ENV = "RADDX_DEID_KEY"
_MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class ProjectKey:
    """A secret for HMAC-SHA-256 (RFC 2104) and whether it is kept (project) or not."""

    secret: bytes = field(repr=False)
    ephemeral: bool = False

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_KEY_BYTES:
            raise ValueError(f"a project key needs at least {_MIN_KEY_BYTES} bytes")

    @classmethod
    def random(cls) -> ProjectKey:
        """A throw-away key for unlinkable output."""
        return cls(secrets.token_bytes(32), ephemeral=True)

    def digest(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA-256 of ``value`` in the domain ``purpose`` (UIDs and names never collide)."""
        message = purpose.encode("ascii") + b"\0" + value.encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    @property
    def key_id(self) -> str:
        """A fingerprint naming the key in the manifest (not the key, not reversible)."""
        if self.ephemeral:
            return "ephemeral"
        return self.digest("key-id", "raddx").hex()[:16]


def read_key(key_file: Path | None) -> ProjectKey:
    """The project key from ``key_file`` or ``$RADDX_DEID_KEY``.

    Raises
    ------
    ValueError
        No key given, the file is unreadable, or the key is shorter than 16 bytes.
    """
    if key_file is not None:
        try:
            secret = key_file.read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"cannot read key file {key_file}: {exc.strerror}") from None
    elif os.environ.get(KEY_ENV):
        secret = os.environ[KEY_ENV].encode("utf-8")
    else:
        raise ValueError(f"this policy needs a project key: --key-file FILE or ${KEY_ENV}")
    return ProjectKey(secret)
