from __future__ import annotations

import pytest

from raddx.archive.datetimes import date_time_utc, offset_minutes, study_instant_utc


@pytest.mark.parametrize(
    ("offset", "minutes"),
    [
        ("+0900", 540),
        ("-0530", -330),
        ("+0000", 0),
        ("+1400", 840),
        ("+1500", None),  # beyond PS3.5's +1400
        ("0900", None),  # the sign may not be omitted (PS3.3 C.12.1.1.8)
        ("+09:00", None),
        ("", None),
        (None, None),
    ],
)
def test_offset_minutes(offset: str | None, minutes: int | None) -> None:
    assert offset_minutes(offset) == minutes


@pytest.mark.parametrize(
    ("value", "default", "utc"),
    [
        ("20240101090000+0900", None, "20240101000000"),
        ("20240101090000", "+0900", "20240101000000"),  # the object's offset
        ("20240101090000-0100", "+0900", "20240101100000"),  # the value's own offset wins
        ("20240101010000.123456+0900", None, "20231231160000.123456"),  # crosses a year
        ("202401010900+0900", None, "202401010000"),  # precision kept (minutes)
        ("2024010109+0900", None, "2024010100"),
        ("20240101+0900", None, "20240101"),  # no time of day: not shifted
        ("2024", "+0900", "2024"),
        ("20240101090000", None, "20240101090000"),  # unknown offset: taken as UTC
        ("20240101090000+0000", None, "20240101090000"),
        ("not a date", None, None),
        ("20241301090000+0900", None, None),  # month 13
        ("", None, None),
        (None, None, None),
    ],
)
def test_date_time_utc(value: str | None, default: str | None, utc: str | None) -> None:
    assert date_time_utc(value, default) == utc


@pytest.mark.parametrize(
    ("date", "time", "offset", "utc"),
    [
        ("20240101", "090000", "+0900", "20240101000000"),
        ("20240101", None, "+0900", "20231231150000"),  # midnight local
        ("20240101", "1010", None, "20240101101000"),
        ("20240101", "101010.5", "-0500", "20240101151010.5"),
        (None, "101010", "+0900", None),
    ],
)
def test_study_instant_utc(
    date: str | None, time: str | None, offset: str | None, utc: str | None
) -> None:
    assert study_instant_utc(date, time, offset) == utc
