"""Retain Safe Private Option (PS3.15 E.3.10): the private attributes known not to identify.

A private attribute is only ever kept when its block's Private Creator (PS3.5 7.8.1) names
the creator the allow-list entry was written for: the same element number under another
creator (or with no creator at all) is someone else's data and is removed. The allow-list is
data: Table E.3.10-1 vendored in ``data/safe_private.json`` (see
``_generate_safe_private.py`` for its source), extended by the policy's ``safe_private``
entries, each with its own action.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from raddx.deid.profile import Action

__all__ = ["SafePrivateEntry", "SafePrivateList", "load_safe_private"]


@dataclass(frozen=True, slots=True)
class SafePrivateEntry:
    """One safe private attribute: ``(group, creator, element byte)`` and what to do with it.

    ``element`` is the low byte of the element number (``xxEE`` in PS3.15 Table E.3.10-1);
    ``action`` is K for the table's rows (kept; UIDs are still remapped and dates still
    shifted by the engine, as for any kept attribute).
    """

    group: int
    creator: str
    element: int
    vr: str
    action: Action = Action.K
    meaning: str = ""

    def __post_init__(self) -> None:
        if not (self.group & 1) or not 0x0009 <= self.group <= 0xFFFF:
            raise ValueError(f"group {self.group:04X} is not a private group (odd, ≥ 0009)")
        if not 0 <= self.element <= 0xFF:
            raise ValueError(f"element byte {self.element:#x} is not in 00–FF")
        if not self.creator.strip():
            raise ValueError("a safe private entry needs its Private Creator")


class SafePrivateList:
    """Entries looked up by ``(group, private creator, element byte)``."""

    def __init__(
        self, entries: Iterable[SafePrivateEntry], *, source: str = "", edition: str = ""
    ) -> None:
        self.source = source
        self.edition = edition
        self._entries: Mapping[tuple[int, str, int], SafePrivateEntry] = {
            (e.group, e.creator.strip(), e.element): e for e in entries
        }

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, group: int, creator: str, element: int) -> SafePrivateEntry | None:
        """The entry for private element ``(group, xxEE)`` in a block reserved by ``creator``.

        The creator must match exactly (after removing the value padding): PS3.5 7.8.1
        identifies a block by its creator string, not by its number.
        """
        return self._entries.get((group, creator.strip(" \0"), element & 0xFF))

    def extended(self, entries: Iterable[SafePrivateEntry]) -> SafePrivateList:
        """This list with ``entries`` added; an entry for the same key replaces ours."""
        return SafePrivateList(
            [*self._entries.values(), *entries], source=self.source, edition=self.edition
        )


@cache
def load_safe_private() -> SafePrivateList:
    """The vendored Table E.3.10-1 (loaded once)."""
    text = resources.files("raddx.deid").joinpath("data/safe_private.json").read_text("utf-8")
    doc = json.loads(text)
    entries = [
        SafePrivateEntry(
            group=int(row["group"], 16),
            creator=row["creator"],
            element=int(row["element"], 16),
            vr=_single_vr(row["vr"]),
            meaning=row["meaning"],
        )
        for row in doc["entries"]
    ]
    return SafePrivateList(entries, source=doc["source"], edition=doc["edition"])


def _single_vr(vr: str) -> str:
    """The VR to read an implicit-VR value with: the table's VR, or UN where the table gives
    none or alternatives (``OW/OB``) — such a value is copied as bytes, never reinterpreted."""
    return vr if len(vr) == 2 else "UN"
