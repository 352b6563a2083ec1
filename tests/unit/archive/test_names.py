from __future__ import annotations

import pytest

from raddx.archive.names import normalize_group, split_person_name


@pytest.mark.parametrize(
    ("value", "groups"),
    [
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", ("Yamada^Tarou", "山田^太郎", "やまだ^たろう")),
        ("Doe^John", ("Doe^John", None, None)),
        ("=山田^太郎", (None, "山田^太郎", None)),  # ideographic only (PS3.5 H.3.2 style)
        ("Yamada^Tarou==やまだ^たろう", ("Yamada^Tarou", None, "やまだ^たろう")),
        ("ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", ("ﾔﾏﾀﾞ^ﾀﾛｳ", "山田^太郎", "やまだ^たろう")),
    ],
)
def test_split_keeps_all_three_groups(value: str, groups: tuple[str | None, ...]) -> None:
    name = split_person_name(value)
    assert name is not None
    assert (name.alphabetic, name.ideographic, name.phonetic) == groups
    assert name.full == value


@pytest.mark.parametrize("value", [None, "", "   "])
def test_split_empty(value: str | None) -> None:
    assert split_person_name(value) is None


@pytest.mark.parametrize(
    ("group", "normalized"),
    [
        ("Yamada^Tarou", "YAMADA^TAROU"),
        ("Yamada^Tarou^^^", "YAMADA^TAROU"),  # trailing empty components carry no meaning
        ("Ｙａｍａｄａ^Ｔａｒｏｕ", "YAMADA^TAROU"),  # full-width Latin typed on a JP keyboard
        ("ﾔﾏﾀﾞ^ﾀﾛｳ", "ヤマダ^タロウ"),  # half-width katakana (ISO 2022 IR 13) → standard
        ("山田^太郎", "山田^太郎"),
        (" Doe ^ John ", "DOE^JOHN"),
        ("^", None),
        (None, None),
    ],
)
def test_normalize_group(group: str | None, normalized: str | None) -> None:
    assert normalize_group(group) == normalized
