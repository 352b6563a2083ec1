"""Clean Descriptors (PS3.15 E.3.5): remove the header's PHI tokens from free text.

Tokens are the values the profile removes or replaces elsewhere in the same object: every
component group of every person name (alphabetic, 漢字, かな), IDs, addresses, dates. A date
is searched in the spellings people type: ``20240105``, ``2024-01-05``, ``2024/1/5``,
``05.01.2024``, ``2024年1月5日`` and 和暦 (``令和6年1月5日``, ``R6.1.5``). Text is compared after
Unicode NFKC normalisation, so full-width digits (``２０２４``) and half-width kana (``ﾔﾏﾀﾞ``) do not
hide a token, and hiragana and katakana spellings of a name match each other.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable

__all__ = ["REDACTED", "Scrubber", "bounded_bytes", "date_spellings", "name_tokens", "normalize"]

#: What replaces a token in cleaned text.
REDACTED = "*"

# 和暦: first day of each era (Meiji is counted from 1868-01-25 as is customary for dates
# before the 1873 calendar change; earlier dates do not occur in medical records).
_ERAS: tuple[tuple[dt.date, str, str], ...] = (
    (dt.date(2019, 5, 1), "令和", "R"),
    (dt.date(1989, 1, 8), "平成", "H"),
    (dt.date(1926, 12, 25), "昭和", "S"),
    (dt.date(1912, 7, 30), "大正", "T"),
    (dt.date(1868, 1, 25), "明治", "M"),
)
_HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3097))
_KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7))
_TO_KATAKANA = str.maketrans(_HIRAGANA, _KATAKANA)
_TO_HIRAGANA = str.maketrans(_KATAKANA, _HIRAGANA)
_MIN_ASCII_TOKEN = 2
_DIGIT = re.compile(r"\d")
#: Cleaned texts remembered per scrubber, and the longest remembered: a bound on memory
#: (64 scrubbers are kept) that still covers descriptions and short comments.
_MEMO_SIZE = 256
_MEMO_TEXT = 512


def normalize(text: str) -> str:
    """NFKC: full-width ASCII → ASCII, half-width kana → full-width kana (UAX #15)."""
    return unicodedata.normalize("NFKC", text)


def _japanese_era(day: dt.date) -> tuple[str, str, int] | None:
    for start, name, letter in _ERAS:
        if day >= start:
            return name, letter, day.year - start.year + 1
    return None


@functools.lru_cache(maxsize=4096)
def date_spellings(value: str) -> frozenset[str]:
    """The ways a DA value (``YYYYMMDD``) is commonly written in free text.

    Memoised: the same few dates recur in every object of a study.
    """
    try:
        day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return frozenset()
    y, m, d = day.year, day.month, day.day
    spellings = {f"{y:04d}{m:02d}{d:02d}"}
    for sep in "-/.":
        spellings |= {f"{y:04d}{sep}{m:02d}{sep}{d:02d}", f"{y}{sep}{m}{sep}{d}"}
        spellings |= {f"{d:02d}{sep}{m:02d}{sep}{y:04d}", f"{m:02d}{sep}{d:02d}{sep}{y:04d}"}
        spellings |= {f"{d}{sep}{m}{sep}{y}", f"{m}{sep}{d}{sep}{y}"}
    spellings |= {f"{y}年{m}月{d}日", f"{y}年{m:02d}月{d:02d}日"}
    era = _japanese_era(day)
    if era is not None:
        name, letter, year = era
        years = {str(year), f"{year:02d}"} | ({"元"} if year == 1 else set())
        for ey in years:
            spellings |= {f"{name}{ey}年{m}月{d}日", f"{name}{ey}年{m:02d}月{d:02d}日"}
            for sep in "./-":
                spellings |= {
                    f"{letter}{ey}{sep}{m}{sep}{d}",
                    f"{letter}{ey}{sep}{m:02d}{sep}{d:02d}",
                }
    return frozenset(spellings)


@functools.lru_cache(maxsize=4096)
def name_tokens(person_name: str) -> frozenset[str]:
    """Tokens of a PN value: each component of each group, and each group without ``^``.

    ``Yamada^Tarou=山田^太郎=やまだ^たろう`` gives Yamada, Tarou, "Yamada Tarou", 山田, 太郎,
    山田太郎, やまだ, たろう, やまだたろう (and their katakana, added by :class:`Scrubber`).
    """
    tokens: set[str] = set()
    for group in person_name.split("="):
        components = [c.strip() for c in group.split("^") if c.strip()]
        tokens.update(components)
        if len(components) > 1:
            tokens.add(" ".join(components))
            tokens.add("".join(components))
            tokens.add(" ".join(reversed(components)))
    return frozenset(tokens)


def _variants(token: str) -> set[str]:
    base = normalize(token).strip()
    return {base, base.translate(_TO_KATAKANA), base.translate(_TO_HIRAGANA)} - {""}


def _boundaries(token: str) -> tuple[str, str]:
    """Word boundaries by character class: a name glued to an ID (``Tanaka0123``) still
    matches both, but ``123`` does not match inside ``1234`` nor ``Ito`` inside ``Itoh``.
    Tokens in kanji or kana need none: Japanese puts no spaces between words."""
    prefix = suffix = ""
    first, last = token[0], token[-1]
    if first.isascii() and first.isalpha():
        prefix = r"(?<![A-Za-z])"
    elif first.isascii() and first.isdigit():
        prefix = r"(?<![0-9])"
    if last.isascii() and last.isalpha():
        suffix = r"(?![A-Za-z])"
    elif last.isascii() and last.isdigit():
        suffix = r"(?![0-9])"
    return prefix, suffix


def _bounded(token: str) -> str:
    prefix, suffix = _boundaries(token)
    return prefix + re.escape(token) + suffix


class Scrubber:
    """Remove a fixed set of tokens from text (case-insensitive, NFKC-normalised).

    ASCII tokens match whole words only (see :func:`_bounded`);
    tokens with kanji or kana match anywhere, since Japanese has no spaces between words.

    A patient's tokens run to a few hundred (every date in ~60 spellings), and one regular
    expression over all of them takes tens of milliseconds to compile. Most texts contain
    none, so each text is first searched for the tokens as plain substrings, and only the
    ones present go into a (memoised) pattern that applies the word boundaries.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        variants: set[str] = set()
        for token in tokens:
            variants |= _variants(token)
        variants = {v for v in variants if not (v.isascii() and len(v) < _MIN_ASCII_TOKEN)}
        self.tokens = frozenset(variants)
        folded = [(token.casefold(), token) for token in variants]
        # Most tokens are date spellings, and most texts have no digit at all.
        self._with_digits = tuple(t for t in folded if _DIGIT.search(t[0]))
        self._without_digits = tuple(t for t in folded if not _DIGIT.search(t[0]))
        #: Cleaned texts: the objects of one patient share a scrubber (``engine._scrubber``),
        #: and a series repeats its descriptions in every instance.
        self._cleaned: dict[str, str] = {}

    def _pattern(self, normalized: str) -> re.Pattern[str] | None:
        folded = normalized.casefold()
        candidates = self._without_digits
        if _DIGIT.search(folded):
            candidates = candidates + self._with_digits
        present = frozenset(token for key, token in candidates if key in folded)
        return _compile(present) if present else None

    def find(self, text: str) -> list[str]:
        """The tokens that occur in ``text``."""
        normalized = normalize(text)
        pattern = self._pattern(normalized)
        if pattern is None:
            return []
        return [m.group(0) for m in pattern.finditer(normalized)]

    def clean(self, text: str) -> str:
        """``text`` with every token replaced by :data:`REDACTED`; unchanged if none occurs."""
        cleaned = self._cleaned.get(text)
        if cleaned is not None:
            return cleaned
        normalized = normalize(text)
        pattern = self._pattern(normalized)
        cleaned = text
        if pattern is not None:
            result, count = pattern.subn(REDACTED, normalized)
            cleaned = result if count else text
        if len(self._cleaned) < _MEMO_SIZE and len(text) <= _MEMO_TEXT:
            self._cleaned[text] = cleaned
        return cleaned


@functools.lru_cache(maxsize=1024)
def _compile(tokens: frozenset[str]) -> re.Pattern[str]:
    """Longest token first, so that "Yamada Tarou" is removed whole before "Yamada"."""
    patterns = [_bounded(token) for token in sorted(tokens, key=lambda t: (-len(t), t))]
    return re.compile("|".join(patterns), re.IGNORECASE)


def bounded_bytes(token: str, form: bytes) -> bytes:
    """A byte pattern for ``form`` (an encoding of ``token``) with ``token``'s boundaries."""
    prefix, suffix = _boundaries(token)
    return prefix.encode("ascii") + re.escape(form) + suffix.encode("ascii")
