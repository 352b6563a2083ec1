"""JJ1017-32 structure and validation (raddx.ris.jj1017)."""

from __future__ import annotations

import pytest

from raddx.errors import InvalidInput
from raddx.ris.jj1017 import Jj1017Code

# Chest CT plain (6 / 00 00 00 / 200 chest / 0 / 2 supine / 00 / 00) + 16S all zero.
CHEST_CT = "6000000200020000" + "0000000000000000"


def test_halves_are_16m_and_16s() -> None:
    code = Jj1017Code("1100000230R10200" + "2800000000000000")
    assert code.procedure == "1100000230R10200"
    assert code.conditions == "2800000000000000"
    assert code.modality == "1"
    assert str(code) == "1100000230R102002800000000000000"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (CHEST_CT[:16], "has 16 characters; JJ1017-32 has 32"),  # a bare 16M is not a 32
        (CHEST_CT + "0", "has 33 characters"),
        ("Z" + CHEST_CT[1:], "unknown modality code 'Z'"),
        ("I" + CHEST_CT[1:], "other than I and O"),  # I and O are never used
        (CHEST_CT[:10] + "X" + CHEST_CT[11:], "unknown laterality code 'X'"),
        (CHEST_CT.lower().replace("0", "a"), "upper-case"),
    ],
)
def test_invalid_codes_say_why(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        Jj1017Code(value)


def test_facility_modality_range_is_accepted() -> None:
    assert Jj1017Code("P" + CHEST_CT[1:]).modality == "P"
