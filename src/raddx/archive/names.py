"""Person names: the three component groups and the normalised form used for matching.

PS3.5 6.2.1.2: a PN value has up to three component groups separated by ``=`` — alphabetic,
ideographic and phonetic — e.g. ``Yamada^Tarou=山田^太郎=やまだ^たろう``. Japanese sites fill all
three; matching must work against any of them (issue 4), so the index keeps each group verbatim
and a normalised copy. This module is the one place that decides what "normalised" means.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import jaconv

__all__ = [
    "PersonNameGroups",
    "fuzzy_group",
    "normalize_group",
    "observer_name",
    "split_person_name",
]


@dataclass(frozen=True, slots=True)
class PersonNameGroups:
    """A person name split into its component groups (``None`` when a group is absent)."""

    full: str
    alphabetic: str | None
    ideographic: str | None
    phonetic: str | None

    @property
    def normalized(self) -> tuple[str | None, str | None, str | None]:
        """The normalised alphabetic, ideographic and phonetic groups."""
        return (
            normalize_group(self.alphabetic),
            normalize_group(self.ideographic),
            normalize_group(self.phonetic),
        )


def split_person_name(value: str | None) -> PersonNameGroups | None:
    """Split a decoded PN value into its groups; ``None`` or empty gives ``None``.

    Only the first value of a multi-valued PN is used (PatientName is VM 1; a stray ``\\`` is
    treated as part of the name rather than dropping data).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    groups = text.split("=")
    padded = [*groups, "", ""][:3]
    alpha, ideo, phon = (g.strip() or None for g in padded)
    return PersonNameGroups(full=text, alphabetic=alpha, ideographic=ideo, phonetic=phon)


def normalize_group(group: str | None) -> str | None:
    """Normalise one component group for matching.

    * Unicode NFKC, so full-width Latin letters and digits (common in Japanese input) and
      half-width katakana compare equal to their standard forms.
    * Upper case, because PN matching is case-insensitive by default (issue 4; PS3.4
      C.2.2.2.1 allows it).
    * Whitespace around components removed and trailing empty components dropped: PS3.5
      6.2.1.1 makes ``Yamada^Tarou^^`` and ``Yamada^Tarou`` the same name.
    """
    if group is None:
        return None
    text = unicodedata.normalize("NFKC", group).upper()
    components = [c.strip() for c in text.split("^")]
    while components and not components[-1]:
        components.pop()
    result = "^".join(components)
    return result or None


# Old and variant kanji that are written interchangeably in Japanese surnames and given names
# (registry forms versus everyday forms): 髙橋/高橋, 山﨑/山崎, 渡邊/渡邉/渡辺, 齋藤/斎藤, …
# Our own selection of the commonest cases; NFKC already folds the CJK compatibility forms.
_KANJI_VARIANTS = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "嵜": "崎",
        "邊": "辺",
        "邉": "辺",
        "齋": "斎",
        "齊": "斉",
        "濵": "浜",
        "濱": "浜",
        "澤": "沢",
        "櫻": "桜",
        "廣": "広",
        "國": "国",
        "藏": "蔵",
        "德": "徳",
        "惠": "恵",
        "眞": "真",
        "瀨": "瀬",
        "龍": "竜",
        "冨": "富",
        "嶋": "島",
        "嶌": "島",
        "槇": "槙",
        "桒": "桑",
        "𠮷": "吉",
    }
)
#: Separators a name may or may not be written with: spaces, hyphens, apostrophes
#: (``Shin'ichi``), dots, the katakana middle dot and the long vowel mark (``サトー``).
_SEPARATORS = re.compile(r"[\s\-'’.,・･ー‐－]")
#: Kunrei-shiki and Nihon-shiki spellings to Hepburn (``Satou`` of a passport, ``Tuda`` of a
#: registry, ``Tsuda`` of a card all name the same person).
_ROMANISATION = (
    (re.compile(r"SY"), "SH"),
    (re.compile(r"TY"), "CH"),
    (re.compile(r"[ZJ]Y"), "J"),
    (re.compile(r"SI"), "SHI"),
    (re.compile(r"TI"), "CHI"),
    (re.compile(r"TU"), "TSU"),
    (re.compile(r"(?<![SC])HU"), "FU"),
    (re.compile(r"ZI"), "JI"),
    (re.compile(r"DI"), "JI"),  # Nihon-shiki ぢ
    (re.compile(r"DU"), "ZU"),  # Nihon-shiki づ
    (re.compile(r"M(?=[BPM])"), "N"),  # Homma/Honma, Sampei/Sanpei
    (re.compile(r"WO"), "O"),  # を is read o: かをる is Kaoru
)
#: Long vowels and geminates, written or not: Satō, Satou, Satoh, Sato; Hattori, Hatori.
_LENGTH = (
    (re.compile(r"OH(?![AEIOUY]|$)|OH$"), "O"),
    (re.compile(r"OU"), "O"),
    (re.compile(r"([AEIOU])\1+"), r"\1"),
    (re.compile(r"([B-DF-HJ-NP-TV-Z])\1+"), r"\1"),
)


@functools.lru_cache(maxsize=4096)
def fuzzy_group(group: str | None) -> str | None:
    """The fuzzy key of one component group, for fuzzy semantic matching of person names
    (PS3.4 C.2.2.2.1.1; docs/conformance.md lists what it equates).

    Two spellings of one name get the same key: width and case (NFKC, upper case), kanji
    variants (髙/高), katakana and hiragana and their romanisation (ヤマダ, やまだ and YAMADA,
    through jaconv's Hepburn), long vowel marks and long vowels however written (サトー,
    さとう, Satō, Satou, Satoh → SATO), geminates (Hattori/Hatori), Kunrei against Hepburn
    (Tuda/Tsuda), diacritics (Müller/Muller) and separators (Shin'ichi/Shinichi). Wildcards
    ``*`` and ``?`` pass through unchanged, so a query value gets its key the same way.
    Component structure (``^``) is kept; trailing empty components are dropped.
    """
    if group is None:
        return None
    text = unicodedata.normalize("NFKC", group).translate(_KANJI_VARIANTS)
    text = jaconv.kana2alphabet(jaconv.kata2hira(text))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", text).upper()
    components = []
    for component in text.split("^"):
        component = _SEPARATORS.sub("", component)
        for pattern, replacement in (*_ROMANISATION, *_LENGTH):
            component = pattern.sub(replacement, component)
        components.append(component)
    while components and not components[-1]:
        components.pop()
    return "^".join(components) or None


def observer_name(name: str) -> str:
    """A person (an SR's observer, a report's author or verifier) as a PN value: a name with
    components or groups (a display name such as ``Tanaka^Taro=田中^太郎=たなか^たろう``) as
    it is; a one-component name (a login name such as ``dr-tanaka``) is a family name, which
    the trailing ``^`` says (PS3.5 6.2.1.1), as highdicom asks of a single-component name."""
    return name if "^" in name or "=" in name else f"{name}^"
