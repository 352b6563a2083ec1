"""Credentials → principal with an injectable clock: API tokens (revoked, expired), Basic
(password, token as password, cache), browser sessions (idle timeout, absolute lifetime,
logout), break-glass (time-boxed, reason required, flagged)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from raddx.errors import InvalidInput, Unauthenticated
from raddx.security import Authenticator, AuthRules, accounts, load_policy, sessions, tokens
from raddx.security.accounts import AccountRules
from raddx.security.sessions import SessionRules
from raddx.services import Services

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 9, 0, 5, tzinfo=dt.UTC)
        self.mono = 1000.0

    def __call__(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, **delta: float) -> None:
        step = dt.timedelta(**delta)
        self.now += step
        self.mono += step.total_seconds()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(services: Services, clock: Clock) -> Authenticator:
    policy = load_policy(None)
    with services.session_factory.begin() as s:
        accounts.create_user(
            session=s,
            name="yamada",
            role="viewer",
            password=PASSWORD,
            policy=policy,
            rules=AccountRules(),
        )
    rules = AuthRules(
        sessions=SessionRules(
            idle_timeout=dt.timedelta(minutes=15),
            lifetime=dt.timedelta(hours=8),
            break_glass_max=dt.timedelta(hours=1),
        ),
        cache_seconds=30,
    )
    return Authenticator(
        session_factory=services.session_factory,
        policy=policy,
        rules=rules,
        clock=clock,
        monotonic=clock.monotonic,
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _resolve(auth: Authenticator, header: str | None = None, cookie: str | None = None) -> object:
    return auth.authenticate(authorization=header, session_cookie=cookie, host="10.0.0.9")


def _token(services: Services, role: str = "technologist", **kw: object) -> str:
    with services.session_factory.begin() as s:
        return tokens.create_token(
            session=s, name="modality-1", role=role, policy=load_policy(None), **kw
        )


def test_bearer_and_basic_token(services: Services, auth: Authenticator) -> None:
    text = _token(services)
    for header in (f"Bearer {text}", _basic("anything", text)):
        principal = _resolve(auth, header)
        assert (principal.name, principal.role, principal.kind) == (  # type: ignore[attr-defined]
            "modality-1",
            "technologist",
            "token",
        )


def test_token_is_stored_hashed(services: Services) -> None:
    text = _token(services)
    with services.engine.connect() as conn:
        dump = "".join(str(r) for r in conn.exec_driver_sql("SELECT * FROM security_api_token"))
    assert text not in dump and tokens.hash_token(text) in dump


def test_revoked_and_expired_tokens(services: Services, auth: Authenticator, clock: Clock) -> None:
    text = _token(services, expires_at=clock.now + dt.timedelta(hours=1))
    _resolve(auth, f"Bearer {text}")
    with services.session_factory.begin() as s:
        tokens.revoke_token(session=s, name="modality-1")
    # Cached success: still accepted until the cache entry ages out or is dropped …
    _resolve(auth, f"Bearer {text}")
    auth.forget_all()
    with pytest.raises(Unauthenticated, match="revoked"):
        _resolve(auth, f"Bearer {text}")
    with services.session_factory.begin() as s:
        expiring = tokens.create_token(
            session=s,
            name="short",
            role="viewer",
            policy=load_policy(None),
            expires_at=clock.now + dt.timedelta(minutes=5),
        )
    _resolve(auth, f"Bearer {expiring}")
    clock.advance(minutes=6)  # past expiry, and past the 30 s cache
    with pytest.raises(Unauthenticated):
        _resolve(auth, f"Bearer {expiring}")


def test_basic_password_success_is_cached_failures_are_not(
    services: Services, auth: Authenticator, clock: Clock
) -> None:
    header = _basic("yamada", PASSWORD)
    assert auth.cached(header, "h") is None
    assert _resolve(auth, header).role == "viewer"  # type: ignore[attr-defined]
    assert auth.cached(header, "h") is not None
    clock.advance(seconds=31)
    assert auth.cached(header, "h") is None
    with pytest.raises(Unauthenticated):
        _resolve(auth, _basic("yamada", "wrong password!"))
    assert auth.cached(_basic("yamada", "wrong password!"), "h") is None


def test_basic_brute_force_locks_the_account(services: Services, auth: Authenticator) -> None:
    for _ in range(AccountRules().max_failures - 1):
        with pytest.raises(Unauthenticated, match="invalid"):
            _resolve(auth, _basic("yamada", "wrong password!"))
    with pytest.raises(Unauthenticated, match="locked"):
        _resolve(auth, _basic("yamada", "wrong password!"))
    with pytest.raises(Unauthenticated, match="locked"):
        _resolve(auth, _basic("yamada", PASSWORD))


def _session(services: Services, clock: Clock) -> str:
    with services.session_factory.begin() as s:
        return sessions.start_session(session=s, user_name="yamada", host="h", clock=clock)


def test_session_idle_timeout(services: Services, auth: Authenticator, clock: Clock) -> None:
    cookie = _session(services, clock)
    for _ in range(3):  # each request restarts the idle timer
        clock.advance(minutes=14)
        assert _resolve(auth, cookie=cookie).name == "yamada"  # type: ignore[attr-defined]
    clock.advance(minutes=15, seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        _resolve(auth, cookie=cookie)
    clock.advance(seconds=1)  # ended for good, not revived
    with pytest.raises(Unauthenticated):
        _resolve(auth, cookie=cookie)


def test_session_absolute_lifetime(services: Services, auth: Authenticator, clock: Clock) -> None:
    cookie = _session(services, clock)
    for _ in range(47):  # busy all day, never idle: 7 h 50 min
        clock.advance(minutes=10)
        _resolve(auth, cookie=cookie)
    clock.advance(minutes=10, seconds=1)  # 8 h after login
    with pytest.raises(Unauthenticated):
        _resolve(auth, cookie=cookie)


def test_logout_ends_the_session(services: Services, auth: Authenticator, clock: Clock) -> None:
    cookie = _session(services, clock)
    with services.session_factory.begin() as s:
        assert sessions.end_session(session=s, text=cookie, clock=clock)
    with pytest.raises(Unauthenticated):
        _resolve(auth, cookie=cookie)


def test_break_glass_is_time_boxed_and_flagged(
    services: Services, auth: Authenticator, clock: Clock
) -> None:
    cookie = _session(services, clock)
    assert not _resolve(auth, cookie=cookie).break_glass  # type: ignore[attr-defined]
    with services.session_factory.begin() as s, pytest.raises(InvalidInput, match="reason"):
        sessions.start_break_glass(
            session=s,
            text=cookie,
            reason="urgent",
            minutes=30,
            rules=auth.rules.sessions,
            clock=clock,
        )
    with services.session_factory.begin() as s:
        until = sessions.start_break_glass(
            session=s,
            text=cookie,
            reason="ER trauma patient, referring physician unreachable",
            minutes=600,  # capped at break_glass_max (1 h)
            rules=auth.rules.sessions,
            clock=clock,
        )
    assert until == clock.now + dt.timedelta(hours=1)
    elevated = _resolve(auth, cookie=cookie)
    assert elevated.break_glass and elevated.role == "radiologist"  # type: ignore[attr-defined]
    assert auth.policy.allows(elevated.role, "report.write")  # type: ignore[attr-defined]
    for _ in range(5):
        clock.advance(minutes=12)
        _resolve(auth, cookie=cookie)  # keep the session alive
    back = _resolve(auth, cookie=cookie)
    assert not back.break_glass and back.role == "viewer"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Bearer ",
        "Basic ####",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Negotiate abc",
        "Bearer " + "x" * 5000,
    ],
    ids=["empty-basic", "empty-bearer", "bad-base64", "no-colon", "other-scheme", "oversized"],
)
def test_malformed_headers(auth: Authenticator, header: str) -> None:
    with pytest.raises(Unauthenticated):
        _resolve(auth, header)


def test_no_credentials(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="required"):
        _resolve(auth)
