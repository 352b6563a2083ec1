"""Browser sessions: a random cookie value, stored as its SHA-256, with an idle timeout and
an absolute lifetime (MDS2 ALOF-1/2; MHLW guideline 6.0 Q&A: no session left logged in), and
break-glass elevation inside a session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from raddx.db.models import SecuritySession, SecurityUser
from raddx.errors import InvalidInput
from raddx.security._clock import Clock, as_utc, utc_now

__all__ = [
    "ActiveSession",
    "SessionRules",
    "end_session",
    "resolve_session",
    "start_break_glass",
    "start_session",
]


@dataclass(frozen=True, slots=True)
class SessionRules:
    idle_timeout: dt.timedelta = dt.timedelta(minutes=15)
    lifetime: dt.timedelta = dt.timedelta(hours=8)
    break_glass_max: dt.timedelta = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A live session, as the door needs it."""

    user_name: str
    role: str
    totp_enrolled: bool
    break_glass_until: dt.datetime | None
    break_glass_reason: str | None


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def start_session(
    *, session: Session, user_name: str, host: str | None, clock: Clock = utc_now
) -> str:
    """Open a session for ``user_name``; return the cookie value (not stored anywhere)."""
    user = session.scalar(select(SecurityUser).where(SecurityUser.name == user_name))
    if user is None:
        raise InvalidInput(f"no user named {user_name!r}")
    text = secrets.token_urlsafe(32)
    now = clock()
    session.add(
        SecuritySession(
            token_hash=_hash(text),
            user_fk=user.id,
            host=(host or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
            ended_at=None,
            break_glass_until=None,
            break_glass_reason=None,
        )
    )
    session.flush()
    return text


def _live(
    session: Session, text: str, rules: SessionRules, now: dt.datetime
) -> tuple[SecuritySession, SecurityUser] | None:
    row = session.scalar(select(SecuritySession).where(SecuritySession.token_hash == _hash(text)))
    if row is None or row.ended_at is not None:
        return None
    user = session.get(SecurityUser, row.user_fk)
    idle = now - as_utc(row.last_seen_at) > rules.idle_timeout
    old = now - as_utc(row.created_at) > rules.lifetime
    if user is None or user.disabled or idle or old:
        row.ended_at = now
        return None
    return row, user


def resolve_session(
    *, session: Session, text: str, rules: SessionRules, clock: Clock = utc_now
) -> ActiveSession | None:
    """The live session behind a cookie value, touched (idle timer restarted); None if it is
    unknown, logged out, idle too long, past its lifetime, or its user is disabled (such a
    session is ended now)."""
    now = clock()
    found = _live(session, text, rules, now)
    if found is None:
        return None
    row, user = found
    row.last_seen_at = now
    until = as_utc(row.break_glass_until) if row.break_glass_until else None
    if until is not None and until <= now:
        until = None
    return ActiveSession(
        user_name=user.name,
        role=user.role,
        totp_enrolled=user.totp_confirmed,
        break_glass_until=until,
        break_glass_reason=row.break_glass_reason if until else None,
    )


def end_session(*, session: Session, text: str, clock: Clock = utc_now) -> bool:
    """Log out: end the session; False if it was not live."""
    row = session.scalar(select(SecuritySession).where(SecuritySession.token_hash == _hash(text)))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = clock()
    return True


def start_break_glass(
    *,
    session: Session,
    text: str,
    reason: str,
    minutes: int,
    rules: SessionRules,
    clock: Clock = utc_now,
) -> dt.datetime:
    """Elevate a live session for an emergency (MHLW 6.0 シス14 ③; MDS2 EMRG-1): for
    ``minutes`` (capped at ``rules.break_glass_max``), for a reason that must be given.
    Return when it ends.

    Raises
    ------
    InvalidInput
        No reason (under 10 characters), minutes below 1, or the session is not live.
    """
    if len(reason.strip()) < 10:
        raise InvalidInput("break-glass needs a reason of at least 10 characters")
    if minutes < 1:
        raise InvalidInput("minutes must be at least 1")
    now = clock()
    found = _live(session, text, rules, now)
    if found is None:
        raise InvalidInput("the session is not live")
    row, _ = found
    until = now + min(dt.timedelta(minutes=minutes), rules.break_glass_max)
    row.break_glass_until = until
    row.break_glass_reason = reason.strip()
    return until
