"""Per-modality allow-list vocabularies for Clean Descriptors (research notes §6 item 8).

Clean Descriptors removes the header's PHI tokens from free text; it cannot know the name of a
colleague or a ward typed into a SeriesDescription. A policy may therefore name, per
Modality, a vocabulary of words a description may keep (``descriptor_vocabularies``: Modality
or ``"*"`` → a shipped list in ``vocabularies/*.txt`` or a file of one's own): after the
scrubber, every word of the listed description attributes that is not in the modality's list,
``common.txt`` or a short number (at most three digits, optionally with a unit such as ``5mm``)
is replaced by ``*``. The lists are data, one word per line, so a site extends them without
code.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

__all__ = ["SHIPPED_VOCABULARIES", "filter_description", "load_vocabulary"]

SHIPPED_VOCABULARIES = ("common", "ct", "mr", "xr")
#: A word: letters, digits and the few joiners descriptions use inside words (``w/o``, ``T2*``).
_WORD = re.compile(r"[^\s,;:()\[\]{}=+_|\\]+")
#: A short number, optionally with a unit: ``5``, ``2.5mm``, ``120kV`` (not a date or an ID).
_NUMBER = re.compile(r"^\d{1,3}(\.\d{1,2})?[a-z]{0,3}$")


def _read(text: str) -> frozenset[str]:
    words = (line.split("#", 1)[0].strip().casefold() for line in text.splitlines())
    return frozenset(w for w in words if w)


@functools.cache
def load_vocabulary(name_or_path: str) -> frozenset[str]:
    """A shipped vocabulary by name (``ct``) or a file (one word per line), with ``common``.

    Raises
    ------
    ValueError
        Neither a shipped name nor a readable file.
    """
    common = _read(resources.files("raddx.deid").joinpath("vocabularies/common.txt").read_text())
    if name_or_path in SHIPPED_VOCABULARIES:
        text = resources.files("raddx.deid").joinpath(f"vocabularies/{name_or_path}.txt")
        return common | _read(text.read_text("utf-8"))
    try:
        return common | _read(Path(name_or_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        shipped = ", ".join(SHIPPED_VOCABULARIES)
        raise ValueError(
            f"vocabulary {name_or_path!r}: not shipped ({shipped}) nor a readable file: {exc}"
        ) from None


def filter_description(text: str, vocabulary: frozenset[str]) -> str:
    """``text`` with every word outside ``vocabulary`` (and not a short number) as ``*``."""

    def keep(match: re.Match[str]) -> str:
        word = match.group(0)
        folded = word.casefold()
        if folded in vocabulary or _NUMBER.match(folded) or not any(c.isalnum() for c in word):
            return word
        return "*"

    return _WORD.sub(keep, text)
