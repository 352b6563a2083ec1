"""Clean Descriptors: names in every group and script, IDs, dates in many spellings."""

from __future__ import annotations

import pytest

from raddx.deid.clean import Scrubber, date_spellings, name_tokens

SCRUBBER = Scrubber(
    name_tokens("Yamada^Tarou=山田^太郎=やまだ^たろう")
    | date_spellings("19700105")
    | date_spellings("20190501")
    | {"0012345", "Ito"}
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CT for YAMADA TAROU", "CT for *"),
        ("Tarou Yamada's scan", "*'s scan"),
        ("山田太郎様", "*様"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "*"),  # half-width katakana of the phonetic group
        ("ヤマダさん", "*さん"),  # katakana spelling of a hiragana group
        ("born 1970/1/5", "born *"),
        ("born 05.01.1970", "born *"),
        ("生年月日 １９７０年０１月０５日", "生年月日 *"),  # full-width digits
        ("昭和45年1月5日生", "*生"),
        ("S45.1.5", "*"),
        ("令和元年5月1日", "*"),  # first year of an era
        ("ID ００１２３４５", "ID *"),
        ("Yamada0012345", "**"),  # name glued to the ID
        ("Itoh and Ito", "Itoh and *"),  # whole words only
        ("ID 00123456", "ID 00123456"),  # a longer number is another number
        ("chest PA", "chest PA"),  # untouched text stays byte-identical
    ],
)
def test_clean(text: str, expected: str) -> None:
    assert SCRUBBER.clean(text) == expected


def test_no_tokens_is_identity() -> None:
    assert Scrubber(()).clean("Yamada") == "Yamada"
    assert Scrubber(()).find("Yamada") == []


@pytest.mark.parametrize(("value", "count"), [("20240105", 30), ("not a date", 0)])
def test_date_spellings(value: str, count: int) -> None:
    spellings = date_spellings(value)
    assert len(spellings) >= count
    if count:
        assert {"2024-01-05", "2024年1月5日", "令和6年1月5日", "R6.1.5", "05.01.2024"} <= spellings
