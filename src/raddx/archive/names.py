"""Person names: the three component groups and the normalised form used for matching.

PS3.5 6.2.1.2: a PN value has up to three component groups separated by ``=`` — alphabetic,
ideographic and phonetic — e.g. ``Yamada^Tarou=山田^太郎=やまだ^たろう``. Japanese sites fill all
three; matching must work against any of them (issue 4), so the index keeps each group verbatim
and a normalised copy. This module is the one place that decides what "normalised" means.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["PersonNameGroups", "normalize_group", "split_person_name"]


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
