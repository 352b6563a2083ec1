"""Passwords: Argon2id hashes (RFC 9106) and the site's password policy.

Policy (MHLW guideline 6.0 Q&A シQ-54 option a, and 7.0 as reported in
``shared/reference/security-mds.md`` §1.6): a minimum length (13 by default; no forced
composition rules or periodic change, which 7.0 dropped), and no reuse of the last N passwords.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from raddx.errors import InvalidInput

__all__ = ["PasswordRules", "check_password", "hash_password", "verify_password"]

#: argon2-cffi's defaults are RFC 9106's second recommended option (t=3, 64 MiB, p=4):
#: ~50 ms per verification here, which is why the web door caches successful Basic logins.
_HASHER = PasswordHasher(type=Type.ID)
#: Longer input is refused before hashing: no one types it, and it would only cost CPU.
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PasswordRules:
    """The site's password policy (settings ``password_min_length``, ``password_history``)."""

    min_length: int = 13
    history: int = 5


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` in PHC string form (``$argon2id$v=19$...``)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True if ``password`` matches ``stored_hash`` (constant-time inside argon2)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password(
    password: str, *, rules: PasswordRules, user_name: str, previous_hashes: Iterable[str] = ()
) -> None:
    """Check a new password against the policy.

    Raises
    ------
    InvalidInput
        Shorter than ``rules.min_length``, longer than 1024 characters, equal to the user
        name, or equal to one of ``previous_hashes`` (the current and last N passwords).
    """
    if len(password) < rules.min_length:
        raise InvalidInput(f"password must be at least {rules.min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if password.casefold() == user_name.casefold():
        raise InvalidInput("password must not be the user name")
    if any(verify_password(h, password) for h in previous_hashes):
        raise InvalidInput(f"password was used before (the last {rules.history} are refused)")
