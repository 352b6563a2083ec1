"""RFC 6238 TOTP: the Appendix B test vectors, agreement with pyotp (an independent
implementation), the ±1 step window, and the time step a code matched (replay protection)."""

from __future__ import annotations

import base64
import datetime as dt

import pyotp
import pytest

from raddx.security import totp

#: RFC 6238 Appendix B, SHA-1 rows: the seed is the ASCII "12345678901234567890"; the RFC
#: lists 8-digit values, whose last 6 digits are the 6-digit code.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_rfc6238_appendix_b(unix: int, expected: str) -> None:
    when = dt.datetime.fromtimestamp(unix, dt.UTC)
    assert totp.totp(RFC_SECRET, when) == expected[-6:]


def test_agrees_with_pyotp() -> None:
    secret = totp.new_secret()
    peer = pyotp.TOTP(secret)
    for unix in (0, 1_700_000_000, 1_764_000_015, 2_000_000_029):
        when = dt.datetime.fromtimestamp(unix, dt.UTC)
        assert totp.totp(secret, when) == peer.at(unix)


def test_window_is_one_step_either_side() -> None:
    secret = totp.new_secret()
    now = dt.datetime(2026, 11, 26, 9, 0, 10, tzinfo=dt.UTC)
    step = totp.step_of(now)
    for offset, ok in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        code = totp.totp(secret, now + dt.timedelta(seconds=offset))
        found = totp.matching_step(secret, code, now)
        assert (found == step + offset // 30) if ok else found is None, offset


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_match_nothing(code: str) -> None:
    assert totp.matching_step(totp.new_secret(), code, dt.datetime.now(dt.UTC)) is None


def test_provisioning_uri_is_read_by_pyotp() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="山田")
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.issuer == "raddx"
