"""Date shifting keeps the time, the UTC offset and the range shape."""

from __future__ import annotations

import pytest

from raddx.deid.dates import DateShifter, patient_offset_days
from raddx.deid.keys import ProjectKey


@pytest.mark.parametrize(
    ("value", "da", "dt"),
    [
        ("20200111", "20200101", "20200101"),
        ("20200111-20200131", "20200101-20200121", "20200101-20200121"),
        ("-20200111", "-20200101", "-20200101"),  # open range
        ("20200111-", "20200101-", "20200101-"),
        ("20200301", "20200220", "20200220"),  # crosses 29 February 2020
        ("2020", None, None),  # year only: not guessed at, removed by the engine
        ("20201341", None, None),  # not a date
        ("20200111101010.5+0900", None, "20200101101010.5+0900"),
        ("20200111101010-0500", None, "20200101101010-0500"),  # "-" of the offset, no range
        ("20200111101010+0900-20200112101010+0900", None,
         "20200101101010+0900-20200102101010+0900"),
    ],
)  # fmt: skip
def test_shift_by_ten_days(value: str, da: str | None, dt: str | None) -> None:
    shifter = DateShifter(10)
    assert shifter.shift_da(value) == da
    assert shifter.shift_dt(value) == dt


def test_offset_is_keyed_and_in_range() -> None:
    key = ProjectKey(b"k" * 16)
    offsets = {patient_offset_days(key, f"P{i}", min_days=30, max_days=60) for i in range(200)}
    assert offsets <= set(range(30, 61))
    assert len(offsets) > 20
    assert patient_offset_days(key, "P1", min_days=30, max_days=60) == patient_offset_days(
        ProjectKey(b"k" * 16), "P1", min_days=30, max_days=60
    )
