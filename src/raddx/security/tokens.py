"""API tokens for machine clients (DICOMweb viewers, scripts, other systems).

A token is 32 random bytes in URL-safe base64 with a ``rdx_`` prefix (so a leaked one is easy
to recognise in logs and secret scanners). Only its SHA-256 is stored: a stolen database does
not give usable tokens, and because the token is random and long a fast hash is enough (no
password-style stretching is needed). The text is shown once, when it is created.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import SecurityApiToken
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.security._clock import Clock, as_utc, utc_now
from raddx.security.policy import Policy
from raddx.security.principal import Principal

__all__ = [
    "TOKEN_PREFIX",
    "TokenInfo",
    "create_token",
    "hash_token",
    "list_tokens",
    "lookup_token",
    "revoke_token",
]

TOKEN_PREFIX = "rdx_"
_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown about a token (never its text)."""

    name: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked: bool


def hash_token(text: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_token(
    *,
    session: Session,
    name: str,
    role: str,
    policy: Policy,
    expires_at: dt.datetime | None = None,
    clock: Clock = utc_now,
) -> str:
    """Create a token named ``name`` with ``role``; return its text (the only time it exists
    outside the caller).

    Raises
    ------
    InvalidInput
        ``name`` empty or longer than 64 characters, or ``role`` not in the policy.
    Conflict
        A token of that name exists (revoked ones included: names stay unique in the audit
        trail).
    """
    if not name or len(name) > _NAME_MAX or not name.isprintable():
        raise InvalidInput(f"token name must be 1-{_NAME_MAX} printable characters")
    if role not in policy.roles:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(policy.roles)}")
    if session.scalar(select(SecurityApiToken.id).where(SecurityApiToken.name == name)):
        raise Conflict(f"a token named {name!r} exists")
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        SecurityApiToken(
            name=name,
            role=role,
            token_hash=hash_token(text),
            created_at=clock(),
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    session.flush()
    return text


def lookup_token(
    *, session: Session, text: str, host: str | None = None, clock: Clock = utc_now
) -> Principal | None:
    """The principal of a valid token, or None (unknown, revoked or expired)."""
    row = session.scalar(
        select(SecurityApiToken).where(SecurityApiToken.token_hash == hash_token(text))
    )
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and as_utc(row.expires_at) <= clock():
        return None
    return Principal(name=row.name, role=row.role, kind="token", host=host)


def revoke_token(*, session: Session, name: str, clock: Clock = utc_now) -> None:
    """Revoke the token ``name`` (kept for the audit trail, never valid again).

    Raises
    ------
    NotFound
        No token has that name.
    """
    row = session.scalar(select(SecurityApiToken).where(SecurityApiToken.name == name))
    if row is None:
        raise NotFound(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = clock()


def list_tokens(*, session: Session) -> list[TokenInfo]:
    """Every token, by name."""
    rows = session.scalars(select(SecurityApiToken).order_by(SecurityApiToken.name))
    return [
        TokenInfo(
            name=r.name,
            role=r.role,
            created_at=as_utc(r.created_at),
            expires_at=as_utc(r.expires_at) if r.expires_at else None,
            revoked=r.revoked_at is not None,
        )
        for r in rows
    ]
