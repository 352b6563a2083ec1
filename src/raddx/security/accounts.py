"""User accounts: creation, password login with lockout, TOTP 2FA with recovery codes.

Login never raises for a wrong credential: it returns a :class:`LoginResult`, because the
failure itself changes state (failed-login counter, lockout) that the caller must commit
(the caller owns the unit of work, STYLE rule 8). Doors map the outcome to their answer and
say the same thing for an unknown user, a wrong password and a disabled account, so that
the answer does not tell which user names exist.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raddx.db.models import SecurityPasswordHistory, SecurityRecoveryCode, SecurityUser
from raddx.errors import Conflict, InvalidInput, NotFound
from raddx.security import totp
from raddx.security._clock import Clock, as_utc, utc_now
from raddx.security.passwords import (
    PasswordRules,
    check_password,
    hash_password,
    verify_password,
)
from raddx.security.policy import Policy

__all__ = [
    "AccountRules",
    "LoginOutcome",
    "LoginResult",
    "UserInfo",
    "begin_totp",
    "check_display_name",
    "confirm_totp",
    "count_users",
    "create_user",
    "display_name_of",
    "list_users",
    "login",
    "set_disabled",
    "set_display_name",
    "set_password",
    "set_role",
    "unlock",
]

_NAME_MAX = 64
RECOVERY_CODES = 10
#: Verified when the user does not exist, so that an unknown name takes as long as a wrong
#: password (no user enumeration by timing).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class AccountRules:
    """The site's account policy (settings ``password_*``, ``login_*``, ``mfa_required_roles``)."""

    password: PasswordRules = field(default_factory=PasswordRules)
    max_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    mfa_roles: frozenset[str] = frozenset({"admin"})


class LoginOutcome(enum.Enum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # unknown user, wrong password or disabled account
    LOCKED = "locked"
    MFA_REQUIRED = "mfa_required"  # right password; the account has 2FA, no code given
    MFA_INVALID = "mfa_invalid"  # wrong, expired or replayed code


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: LoginOutcome
    user_id: int | None = None
    name: str = ""
    role: str = ""
    #: True when the role requires 2FA and the user has not enrolled yet: the login may only
    #: be used to enrol (the web door grants such a principal nothing but ``auth.self``).
    mfa_enrolment_required: bool = False
    #: True when a recovery code was used (one fewer left; the audit trail says so).
    recovery_code_used: bool = False


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    role: str
    disabled: bool
    locked_until: dt.datetime | None
    totp_enrolled: bool
    created_at: dt.datetime
    display_name: str | None = None


#: PS3.5 Table 6.2-1 PN: at most 64 characters per component group, 5 components a group.
_PN_GROUP_MAX = 64
_PN_COMPONENTS = 5


def check_display_name(value: str | None) -> str | None:
    """A display name as stored: a DICOM PN value, ``alphabetic=ideographic=phonetic`` groups
    of ``family^given^middle^prefix^suffix`` (``Tanaka^Taro=田中^太郎=たなか^たろう``), NFC,
    trailing empty components and groups dropped; empty or ``None`` means none (the login
    name is shown).

    Raises
    ------
    InvalidInput
        More than three groups or five components, a group over 64 characters, a backslash
        (PN's value separator) or a control character.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        return None
    if "\\" in text or not text.isprintable():
        raise InvalidInput(
            "display name: no backslash or control character (a DICOM PN value such as "
            "Tanaka^Taro=田中^太郎=たなか^たろう)"
        )
    groups = text.split("=")
    if len(groups) > 3:
        raise InvalidInput(
            "display name: at most three groups, alphabetic=ideographic=phonetic "
            f"(got {len(groups)})"
        )
    cleaned = []
    for group, what in zip(groups, ("alphabetic", "ideographic", "phonetic"), strict=False):
        group = group.rstrip("^ ")
        if len(group.split("^")) > _PN_COMPONENTS:
            raise InvalidInput(
                f"display name: the {what} group has more than {_PN_COMPONENTS} components "
                "(family^given^middle^prefix^suffix)"
            )
        if len(group) > _PN_GROUP_MAX:
            raise InvalidInput(f"display name: the {what} group is over {_PN_GROUP_MAX} characters")
        cleaned.append(group)
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    if not cleaned:
        return None
    return "=".join(cleaned)


def _user(session: Session, name: str) -> SecurityUser:
    row = session.scalar(select(SecurityUser).where(SecurityUser.name == name))
    if row is None:
        raise NotFound(f"no user named {name!r}")
    return row


def count_users(*, session: Session) -> int:
    """How many accounts exist (0 means first-run bootstrap is open)."""
    return int(session.scalar(select(func.count()).select_from(SecurityUser)) or 0)


def create_user(
    *,
    session: Session,
    name: str,
    role: str,
    password: str,
    policy: Policy,
    rules: AccountRules,
    clock: Clock = utc_now,
    display_name: str | None = None,
) -> None:
    """Create an account (``display_name``: see :func:`check_display_name`).

    Raises
    ------
    InvalidInput
        A bad name (empty, over 64 characters, ``:`` which HTTP Basic cannot carry, or
        non-printable), an unknown role, a bad display name, or a password the policy
        refuses.
    Conflict
        The name is taken.
    """
    if not name or len(name) > _NAME_MAX or ":" in name or not name.isprintable():
        raise InvalidInput(f"user name must be 1-{_NAME_MAX} printable characters without ':'")
    if role not in policy.roles:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(policy.roles)}")
    display_name = check_display_name(display_name)
    check_password(password, rules=rules.password, user_name=name)
    if session.scalar(select(SecurityUser.id).where(SecurityUser.name == name)):
        raise Conflict(f"a user named {name!r} exists")
    now = clock()
    session.add(
        SecurityUser(
            name=name,
            role=role,
            password_hash=hash_password(password),
            disabled=False,
            failed_logins=0,
            locked_until=None,
            totp_secret=None,
            totp_confirmed=False,
            totp_last_step=None,
            created_at=now,
            password_changed_at=now,
            display_name=display_name,
        )
    )
    session.flush()


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()


def _use_recovery_code(session: Session, user: SecurityUser, code: str, now: dt.datetime) -> bool:
    wanted = _hash_code(code)
    for row in session.scalars(
        select(SecurityRecoveryCode).where(
            SecurityRecoveryCode.user_fk == user.id, SecurityRecoveryCode.used_at.is_(None)
        )
    ):
        if hmac.compare_digest(row.code_hash, wanted):
            row.used_at = now
            return True
    return False


def _failed(user: SecurityUser, rules: AccountRules, now: dt.datetime) -> LoginOutcome:
    user.failed_logins += 1
    if user.failed_logins >= rules.max_failures:
        user.locked_until = now + rules.lockout
        user.failed_logins = 0
        return LoginOutcome.LOCKED
    return LoginOutcome.BAD_CREDENTIALS


def login(
    *,
    session: Session,
    name: str,
    password: str,
    otp: str | None = None,
    rules: AccountRules,
    clock: Clock = utc_now,
) -> LoginResult:
    """Check a password (and a TOTP or recovery code when the account has 2FA).

    A wrong password or code counts towards the lockout (``rules.max_failures`` in a row
    locks the account for ``rules.lockout``; a locked account is refused even with the right
    password until then). A TOTP code is accepted once: a code of a time step at or before
    the last accepted one is refused (RFC 6238 5.2). The caller commits in every case.
    """
    now = clock()
    user = session.scalar(select(SecurityUser).where(SecurityUser.name == name))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        return LoginResult(LoginOutcome.LOCKED, name=user.name)
    if not verify_password(user.password_hash, password):
        return LoginResult(_failed(user, rules, now), name=user.name)
    if user.disabled:
        return LoginResult(LoginOutcome.BAD_CREDENTIALS, name=user.name)
    recovery = False
    if user.totp_confirmed and user.totp_secret:
        if not otp:
            return LoginResult(LoginOutcome.MFA_REQUIRED, name=user.name)
        step = totp.matching_step(user.totp_secret, otp, now)
        if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
            user.totp_last_step = step
        elif step is None and _use_recovery_code(session, user, otp, now):
            recovery = True
        else:
            outcome = _failed(user, rules, now)
            if outcome is LoginOutcome.BAD_CREDENTIALS:
                outcome = LoginOutcome.MFA_INVALID
            return LoginResult(outcome, name=user.name)
    user.failed_logins = 0
    user.locked_until = None
    return LoginResult(
        LoginOutcome.OK,
        user_id=user.id,
        name=user.name,
        role=user.role,
        mfa_enrolment_required=user.role in rules.mfa_roles and not user.totp_confirmed,
        recovery_code_used=recovery,
    )


def set_password(
    *,
    session: Session,
    name: str,
    password: str,
    rules: AccountRules,
    clock: Clock = utc_now,
) -> None:
    """Change a user's password; the current one and the ``rules.password.history`` before
    it are refused.

    Raises
    ------
    NotFound
        No such user.
    InvalidInput
        The policy refuses the password.
    """
    user = _user(session, name)
    history = list(
        session.scalars(
            select(SecurityPasswordHistory)
            .where(SecurityPasswordHistory.user_fk == user.id)
            .order_by(SecurityPasswordHistory.id.desc())
        )
    )
    keep = max(rules.password.history, 0)
    previous = [user.password_hash, *(h.password_hash for h in history[:keep])]
    check_password(password, rules=rules.password, user_name=name, previous_hashes=previous)
    now = clock()
    # The current hash joins the history, which keeps the last ``keep`` of them.
    if keep:
        session.add(
            SecurityPasswordHistory(
                user_fk=user.id, password_hash=user.password_hash, created_at=now
            )
        )
    for old in history[max(keep - 1, 0) :]:
        session.delete(old)
    user.password_hash = hash_password(password)
    user.password_changed_at = now


def set_disabled(*, session: Session, name: str, disabled: bool) -> None:
    """Disable (or enable again) an account; a disabled user cannot log in."""
    _user(session, name).disabled = disabled


def set_role(*, session: Session, name: str, role: str, policy: Policy) -> str:
    """Give an account another role; returns the previous one. The new role applies from the
    account's next request (sessions resolve the role afresh each time).

    Raises
    ------
    NotFound
        No such user.
    InvalidInput
        ``role`` is not a role of ``policy``.
    """
    if role not in policy.roles:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(policy.roles)}")
    user = _user(session, name)
    previous = user.role
    user.role = role
    return previous


def set_display_name(*, session: Session, name: str, display_name: str | None) -> str | None:
    """Give an account a display name (``None`` or empty: none, the login name is shown);
    returns the previous one. Reports signed before keep the name they were signed with.

    Raises
    ------
    NotFound
        No such user.
    InvalidInput
        Not a PN value (:func:`check_display_name`).
    """
    value = check_display_name(display_name)
    user = _user(session, name)
    previous = user.display_name
    user.display_name = value
    return previous


def display_name_of(*, session: Session, name: str) -> str | None:
    """The display name of account ``name``; ``None`` when it has none or is no account."""
    return session.scalar(select(SecurityUser.display_name).where(SecurityUser.name == name))


def unlock(*, session: Session, name: str) -> None:
    """End a lockout now (operator action) and reset the failure count."""
    user = _user(session, name)
    user.locked_until = None
    user.failed_logins = 0


def list_users(*, session: Session) -> list[UserInfo]:
    """Every account, by name."""
    return [
        UserInfo(
            name=u.name,
            role=u.role,
            disabled=u.disabled,
            locked_until=as_utc(u.locked_until) if u.locked_until else None,
            totp_enrolled=u.totp_confirmed,
            created_at=as_utc(u.created_at),
            display_name=u.display_name,
        )
        for u in session.scalars(select(SecurityUser).order_by(SecurityUser.name))
    ]


def begin_totp(*, session: Session, name: str) -> str:
    """Start 2FA enrolment: a new secret (returned for the QR code), not yet in force.

    Raises
    ------
    Conflict
        2FA is already enrolled (an operator resets it with :func:`reset_totp`).
    """
    user = _user(session, name)
    if user.totp_confirmed:
        raise Conflict("2FA is already enrolled for this user")
    user.totp_secret = totp.new_secret()
    return user.totp_secret


def confirm_totp(*, session: Session, name: str, code: str, clock: Clock = utc_now) -> list[str]:
    """Finish enrolment with a code from the app; return the one-time recovery codes (shown
    once, stored as SHA-256).

    Raises
    ------
    InvalidInput
        No enrolment was started, or the code does not match.
    """
    user = _user(session, name)
    if user.totp_confirmed or not user.totp_secret:
        raise InvalidInput("no 2FA enrolment in progress")
    now = clock()
    step = totp.matching_step(user.totp_secret, code, now)
    if step is None:
        raise InvalidInput("the code does not match; check the phone's clock and try again")
    user.totp_confirmed = True
    user.totp_last_step = step
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    for code_text in codes:
        session.add(
            SecurityRecoveryCode(user_fk=user.id, code_hash=_hash_code(code_text), used_at=None)
        )
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def reset_totp(*, session: Session, name: str) -> None:
    """Remove a user's 2FA (lost phone and no recovery code left; operator action)."""
    user = _user(session, name)
    user.totp_secret = None
    user.totp_confirmed = False
    user.totp_last_step = None
    for row in session.scalars(
        select(SecurityRecoveryCode).where(SecurityRecoveryCode.user_fk == user.id)
    ):
        session.delete(row)


def check_current_password(*, session: Session, name: str, password: str) -> bool:
    """True if ``password`` is ``name``'s current one (re-asked before a change)."""
    user = session.scalar(select(SecurityUser).where(SecurityUser.name == name))
    return user is not None and verify_password(user.password_hash, password)
