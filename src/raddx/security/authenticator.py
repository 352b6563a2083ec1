"""Who is calling: credentials from a request's headers → a :class:`Principal`.

Accepted (issue 9 §1):

* ``Authorization: Bearer <API token>``;
* ``Authorization: Basic`` with a user name and password (Argon2id), or with any user name
  and an API token as the password (clients that only speak Basic, or credentials in a URL's
  userinfo);
* a session cookie for browsers (``/api/auth/login``).

A successful Basic or Bearer check is remembered in memory for ``cache_seconds``, keyed by an
HMAC (with a per-process random key) of the header, so a machine client does not pay an
Argon2 verification (~50 ms) or a database lookup per request, and the cache never holds the
credential itself. Failures are never cached (they must count towards the lockout).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from raddx.errors import Unauthenticated
from raddx.security import accounts, sessions, tokens
from raddx.security._clock import Clock, utc_now
from raddx.security.accounts import AccountRules, LoginOutcome
from raddx.security.oidc import OidcValidator
from raddx.security.passwords import PasswordRules
from raddx.security.policy import Policy
from raddx.security.principal import Principal
from raddx.security.sessions import SessionRules

__all__ = ["PENDING_MFA_ROLE", "AuthRules", "Authenticator", "rules_from_settings"]

#: The role of a session whose user must still enrol 2FA: it holds no permission, so only
#: routes every authenticated principal may use (``auth.self``) answer.
PENDING_MFA_ROLE = "2fa-enrolment-pending"
#: Longest Authorization header read; longer is refused unparsed.
MAX_AUTHORIZATION_LENGTH = 4096
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class AuthRules:
    accounts: AccountRules = field(default_factory=AccountRules)
    sessions: SessionRules = field(default_factory=SessionRules)
    cache_seconds: float = 30.0
    break_glass_role: str = "radiologist"


class Authenticator:
    """Resolves credentials to principals for one process (thread-safe)."""

    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        policy: Policy,
        rules: AuthRules,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        oidc: OidcValidator | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.policy = policy
        self.rules = rules
        self.clock = clock
        self._monotonic = monotonic
        self.oidc = oidc
        self._key = os.urandom(32)
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    # -- cache -------------------------------------------------------------------------
    def _cache_key(self, authorization: str) -> bytes:
        return hmac.new(self._key, authorization.encode("utf-8"), hashlib.sha256).digest()

    def cached(self, authorization: str | None, host: str | None) -> Principal | None:
        """The principal a recent identical header resolved to, if still fresh; no I/O."""
        if not authorization or self.rules.cache_seconds <= 0:
            return None
        entry = self._cache.get(self._cache_key(authorization))
        if entry is None or entry[1] < self._monotonic():
            return None
        principal = entry[0]
        return principal if principal.host == host else dataclasses.replace(principal, host=host)

    def _remember(self, authorization: str, principal: Principal) -> None:
        if self.rules.cache_seconds <= 0:
            return
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            expiry = self._monotonic() + self.rules.cache_seconds
            self._cache[self._cache_key(authorization)] = (principal, expiry)

    def forget_all(self) -> None:
        """Drop every cached success (after a revocation, password change or disable)."""
        with self._lock:
            self._cache.clear()

    # -- resolution --------------------------------------------------------------------
    def authenticate(
        self, *, authorization: str | None, session_cookie: str | None, host: str | None
    ) -> Principal:
        """The principal behind the request's credentials.

        Raises
        ------
        Unauthenticated
            No credentials, a malformed or oversized header, or credentials that do not
            resolve (the detail says which, without telling whether a user name exists).
        """
        if authorization:
            found = self.cached(authorization, host)
            if found is not None:
                return found
            principal = self._from_header(authorization, host)
            if not self._is_jwt(authorization):
                # A JWT carries its own expiry and verifies in microseconds: not cached.
                self._remember(authorization, principal)
            return principal
        if session_cookie:
            return self._from_session(session_cookie, host)
        raise Unauthenticated("authentication required (Bearer token, Basic, or a session)")

    def _from_header(self, authorization: str, host: str | None) -> Principal:
        if len(authorization) > MAX_AUTHORIZATION_LENGTH:
            raise Unauthenticated("Authorization header too long")
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer" and value and self._is_jwt(authorization):
            assert self.oidc is not None
            return self.oidc.principal(value, host)
        if scheme == "bearer" and value:
            principal = self._token(value, host)
            if principal is None:
                raise Unauthenticated("invalid, expired or revoked token")
            return principal
        if scheme == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("malformed Basic credentials") from None
            name, sep, password = decoded.partition(":")
            if not sep:
                raise Unauthenticated("malformed Basic credentials")
            if password.startswith(tokens.TOKEN_PREFIX):
                principal = self._token(password, host)
                if principal is not None:
                    return principal
            return self._password(name, password, host)
        raise Unauthenticated("unsupported Authorization scheme (use Bearer or Basic)")

    def _is_jwt(self, authorization: str) -> bool:
        """A Bearer value of three dot-separated parts, when OIDC is configured (our own API
        tokens contain no dot)."""
        value = authorization.strip()
        return (
            self.oidc is not None
            and value[:7].lower() == "bearer "
            and value.count(".") == 2
            and not value[7:].strip().startswith(tokens.TOKEN_PREFIX)
        )

    def _token(self, text: str, host: str | None) -> Principal | None:
        with self.session_factory() as s:
            return tokens.lookup_token(session=s, text=text, host=host, clock=self.clock)

    def _password(self, name: str, password: str, host: str | None) -> Principal:
        with self.session_factory() as s, s.begin():
            result = accounts.login(
                session=s, name=name, password=password, rules=self.rules.accounts, clock=self.clock
            )
        if result.outcome is LoginOutcome.OK and not result.mfa_enrolment_required:
            return Principal(name=result.name, role=result.role, kind="user", host=host)
        if result.outcome is LoginOutcome.LOCKED:
            raise Unauthenticated("account locked after repeated failures; try again later")
        if result.outcome is LoginOutcome.MFA_REQUIRED or result.mfa_enrolment_required:
            raise Unauthenticated(
                "this account needs 2FA: log in at /api/auth/login, or use an API token"
            )
        raise Unauthenticated("invalid user name or password")

    def _from_session(self, cookie: str, host: str | None) -> Principal:
        with self.session_factory() as s, s.begin():
            live = sessions.resolve_session(
                session=s, text=cookie, rules=self.rules.sessions, clock=self.clock
            )
        if live is None:
            raise Unauthenticated("session expired or logged out; log in again")
        return self.session_principal(live, host)

    def session_principal(self, live: sessions.ActiveSession, host: str | None) -> Principal:
        """The principal of a live session: its user's role, the break-glass role while an
        elevation runs, or no permission at all while 2FA enrolment is pending."""
        if live.role in self.rules.accounts.mfa_roles and not live.totp_enrolled:
            return Principal(name=live.user_name, role=PENDING_MFA_ROLE, kind="user", host=host)
        if live.break_glass_until is not None:
            role = self._elevated(live.role)
            return Principal(live.user_name, role, "user", host=host, break_glass=True)
        return Principal(name=live.user_name, role=live.role, kind="user", host=host)

    def _elevated(self, role: str) -> str:
        """Break-glass acts with the configured role, unless the user's own holds more."""
        mine = self.policy.permissions_of(role)
        glass = self.policy.permissions_of(self.rules.break_glass_role)
        return role if glass <= mine else self.rules.break_glass_role


def rules_from_settings(settings: Any) -> AuthRules:
    """The rules of ``settings`` (a :class:`raddx.config.Settings`)."""
    return AuthRules(
        accounts=AccountRules(
            password=PasswordRules(
                min_length=settings.password_min_length, history=settings.password_history
            ),
            max_failures=settings.login_max_failures,
            lockout=dt.timedelta(seconds=settings.login_lockout_seconds),
            mfa_roles=frozenset(settings.mfa_required_roles),
        ),
        sessions=SessionRules(
            idle_timeout=dt.timedelta(seconds=settings.session_idle_timeout_seconds),
            lifetime=dt.timedelta(seconds=settings.session_lifetime_seconds),
            break_glass_max=dt.timedelta(seconds=settings.break_glass_seconds),
        ),
        cache_seconds=settings.auth_cache_seconds,
        break_glass_role=settings.break_glass_role,
    )
