"""Accounts with an injectable clock: lockout after N failures and timed unlock, TOTP 2FA
with replay protection and one-time recovery codes, password reuse ban, disabled users."""

from __future__ import annotations

import datetime as dt

import pytest

from raddx.errors import Conflict, InvalidInput
from raddx.security import accounts, load_policy, totp
from raddx.security.accounts import AccountRules, LoginOutcome
from raddx.security.passwords import PasswordRules
from raddx.services import Services

PASSWORD = "correct horse battery"
RULES = AccountRules(
    password=PasswordRules(min_length=13, history=2),
    max_failures=3,
    lockout=dt.timedelta(minutes=15),
    mfa_roles=frozenset({"admin"}),
)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 9, 0, 5, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _add(services: Services, name: str = "yamada", role: str = "radiologist") -> None:
    with services.session_factory.begin() as s:
        accounts.create_user(
            session=s,
            name=name,
            role=role,
            password=PASSWORD,
            policy=load_policy(None),
            rules=RULES,
        )


def _login(
    services: Services,
    clock: Clock,
    password: str = PASSWORD,
    otp: str | None = None,
    name: str = "yamada",
) -> accounts.LoginResult:
    with services.session_factory.begin() as s:
        return accounts.login(
            session=s, name=name, password=password, otp=otp, rules=RULES, clock=clock
        )


def test_login_ok_and_unknown_user_answers_like_a_wrong_password(
    services: Services, clock: Clock
) -> None:
    _add(services)
    assert _login(services, clock).outcome is LoginOutcome.OK
    assert _login(services, clock, name="nobody").outcome is LoginOutcome.BAD_CREDENTIALS
    assert _login(services, clock, "wrong password!").outcome is LoginOutcome.BAD_CREDENTIALS


def test_lockout_after_n_failures_then_timed_unlock(services: Services, clock: Clock) -> None:
    _add(services)
    outcomes = [_login(services, clock, "wrong password!").outcome for _ in range(3)]
    assert outcomes == [LoginOutcome.BAD_CREDENTIALS] * 2 + [LoginOutcome.LOCKED]
    # Locked: even the right password is refused until the lockout ends.
    assert _login(services, clock).outcome is LoginOutcome.LOCKED
    clock.advance(minutes=14, seconds=59)
    assert _login(services, clock).outcome is LoginOutcome.LOCKED
    clock.advance(seconds=2)
    assert _login(services, clock).outcome is LoginOutcome.OK


def test_operator_unlock(services: Services, clock: Clock) -> None:
    _add(services)
    for _ in range(3):
        _login(services, clock, "wrong password!")
    with services.session_factory.begin() as s:
        accounts.unlock(session=s, name="yamada")
    assert _login(services, clock).outcome is LoginOutcome.OK


def test_disabled_user_cannot_log_in(services: Services, clock: Clock) -> None:
    _add(services)
    with services.session_factory.begin() as s:
        accounts.set_disabled(session=s, name="yamada", disabled=True)
    assert _login(services, clock).outcome is LoginOutcome.BAD_CREDENTIALS


def _enrol(services: Services, clock: Clock, name: str = "yamada") -> tuple[str, list[str]]:
    with services.session_factory.begin() as s:
        secret = accounts.begin_totp(session=s, name=name)
    with services.session_factory.begin() as s:
        codes = accounts.confirm_totp(
            session=s, name=name, code=totp.totp(secret, clock()), clock=clock
        )
    return secret, codes


def test_totp_required_and_replay_refused(services: Services, clock: Clock) -> None:
    _add(services)
    secret, _ = _enrol(services, clock)
    assert _login(services, clock).outcome is LoginOutcome.MFA_REQUIRED
    # The enrolment code's step was used: the same code is refused (RFC 6238 5.2).
    assert _login(services, clock, otp=totp.totp(secret, clock())).outcome is (
        LoginOutcome.MFA_INVALID
    )
    clock.advance(seconds=30)
    code = totp.totp(secret, clock())
    assert _login(services, clock, otp=code).outcome is LoginOutcome.OK
    assert _login(services, clock, otp=code).outcome is LoginOutcome.MFA_INVALID  # replay
    assert _login(services, clock, otp="000000").outcome in (
        LoginOutcome.MFA_INVALID,
        LoginOutcome.LOCKED,
    )


def test_recovery_codes_work_once(services: Services, clock: Clock) -> None:
    _add(services)
    _, codes = _enrol(services, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    result = _login(services, clock, otp=codes[0])
    assert result.outcome is LoginOutcome.OK and result.recovery_code_used
    assert _login(services, clock, otp=codes[0]).outcome is LoginOutcome.MFA_INVALID


def test_admin_without_2fa_must_enrol(services: Services, clock: Clock) -> None:
    _add(services, "root", "admin")
    assert _login(services, clock, name="root").mfa_enrolment_required
    _enrol(services, clock, "root")
    with services.session_factory.begin() as s, pytest.raises(Conflict):
        accounts.begin_totp(session=s, name="root")


def test_wrong_enrolment_code_is_refused(services: Services, clock: Clock) -> None:
    _add(services)
    with services.session_factory.begin() as s:
        accounts.begin_totp(session=s, name="yamada")
    with services.session_factory.begin() as s, pytest.raises(InvalidInput):
        accounts.confirm_totp(session=s, name="yamada", code="123456", clock=clock)


def test_password_history(services: Services, clock: Clock) -> None:
    _add(services)
    changes = ["second passphrase", "third passphrase!", "fourth passphrase"]
    for new in changes:
        with services.session_factory.begin() as s:
            accounts.set_password(session=s, name="yamada", password=new, rules=RULES, clock=clock)
    # The current one and the two before it (history=2) are refused; the first is free again.
    for reused in changes:
        with services.session_factory.begin() as s, pytest.raises(InvalidInput, match="before"):
            accounts.set_password(
                session=s, name="yamada", password=reused, rules=RULES, clock=clock
            )
    with services.session_factory.begin() as s:
        accounts.set_password(session=s, name="yamada", password=PASSWORD, rules=RULES, clock=clock)
    assert _login(services, clock).outcome is LoginOutcome.OK


def test_duplicate_and_bad_names(services: Services) -> None:
    _add(services)
    with pytest.raises(Conflict):
        _add(services)
    for bad in ("", "a:b", "x" * 65):
        with pytest.raises(InvalidInput):
            _add(services, bad)
    with pytest.raises(InvalidInput, match="unknown role"):
        _add(services, "other", "superuser")
