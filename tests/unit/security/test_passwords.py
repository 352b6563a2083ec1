"""Password hashing (Argon2id) and the password policy (length, name, reuse)."""

from __future__ import annotations

import pytest

from raddx.errors import InvalidInput
from raddx.security.passwords import (
    PasswordRules,
    check_password,
    hash_password,
    verify_password,
)

RULES = PasswordRules(min_length=13, history=3)


def test_hash_is_argon2id_and_salted() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first.startswith("$argon2id$") and first != second
    assert "correct horse" not in first
    assert verify_password(first, "correct horse battery")
    assert not verify_password(first, "correct horse batterY")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-12chr!", "at least 13"),  # 12 characters: one short of MHLW シQ-54's 13
        ("x" * 1025, "at most 1024"),  # refused before hashing (CPU)
        ("Yamada-Taro-1", "user name"),  # equal to the name, ignoring case
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_password(password, rules=RULES, user_name="yamada-taro-1")


def test_policy_refuses_a_previous_password() -> None:
    old = hash_password("an old passphrase")
    with pytest.raises(InvalidInput, match="used before"):
        check_password("an old passphrase", rules=RULES, user_name="u", previous_hashes=[old])
    check_password("a new passphrase!", rules=RULES, user_name="u", previous_hashes=[old])


def test_garbage_hash_does_not_verify() -> None:
    assert not verify_password("not-a-hash", "whatever password")
