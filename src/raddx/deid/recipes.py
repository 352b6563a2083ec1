"""Import the common subset of other tools' de-identification recipes as a raddx policy.

Two formats are read (research notes §6 item 12, SHOULD):

- a pydicom/deid recipe (``deid.dicom``: ``FORMAT dicom``, ``%header`` with ``ADD``, ``BLANK``,
  ``KEEP``, ``REPLACE``, ``REMOVE``, ``JITTER``);
- an RSNA CTP DicomAnonymizer script (``<script>`` with ``<e en="T" t="ggggeeee">action</e>``
  elements, ``<p>`` parameters and ``<r>`` rules).

The result is a raddx policy (the Basic profile plus per-attribute overrides) and a report of
every line that could not be mapped, with the reason: a recipe is a statement of intent that
raddx's engine meets differently in places (it adds the required attributes itself, shifts
dates per patient rather than by one constant, replaces values with VR-valid dummies rather
than arbitrary text), and a user must see where. Nothing unmapped is silently dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from raddx.deid.policy import Policy

__all__ = ["RecipeImport", "import_ctp_script", "import_deid_recipe"]

_MODIFIED_DATES = "retain_longitudinal_modified_dates"


@dataclass
class RecipeImport:
    """A policy document (validated) and what could not be carried over."""

    policy: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """Lines for the user: what was approximated, then what was not mapped."""
        return [f"note: {n}" for n in self.notes] + [f"NOT MAPPED: {u}" for u in self.unmapped]


def _base(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "options": [], "overrides": {},
            "key": "ephemeral"}  # fmt: skip


def _attribute(field_name: str) -> str | None:
    """A recipe's field as a policy key (keyword, or ``ggggeeee`` for a tag), or None."""
    if tag_for_keyword(field_name) is not None:
        return field_name
    digits = field_name.strip("()").replace(",", "")
    if re.fullmatch(r"[0-9A-Fa-f]{8}", digits):
        keyword = keyword_for_tag(int(digits, 16))
        return keyword or digits.upper()
    return None


def _finish(result: RecipeImport) -> RecipeImport:
    Policy.model_validate(result.policy)  # what we write must load
    return result


def import_deid_recipe(text: str, *, name: str = "imported-deid") -> RecipeImport:
    """Map a pydicom/deid recipe's ``%header`` actions onto a raddx policy.

    Raises
    ------
    ValueError
        The text is not a deid recipe (no ``FORMAT dicom`` line).
    """
    lines = text.splitlines()
    if not any(line.strip().upper().startswith("FORMAT DICOM") for line in lines):
        raise ValueError("not a deid recipe: no 'FORMAT dicom' line")
    result = RecipeImport(_base(name, "imported from a pydicom/deid recipe"))
    overrides: dict[str, str] = result.policy["overrides"]
    section = ""
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.upper().startswith("FORMAT"):
            continue
        if line.startswith("%"):
            section = line[1:].split()[0].lower()
            continue
        where = f"line {number}: {line}"
        if section != "header":
            result.unmapped.append(f"{where} (section %{section}: pixel filters and labels are "
                                   "not recipes raddx reads; use pixel_rules)")  # fmt: skip
            continue
        words = line.split(maxsplit=2)
        verb, target = words[0].upper(), words[1] if len(words) > 1 else ""
        value = words[2] if len(words) > 2 else ""
        if verb == "REMOVE" and target.upper() == "ALL":
            result.notes.append(f"{where}: the Basic profile already removes every listed "
                                "attribute and all private ones")  # fmt: skip
            continue
        key = _attribute(target)
        if key is None:
            why = "not a keyword or a tag; expressions such as contains: are not read"
            result.unmapped.append(f"{where} (field {target!r}: {why})")
            continue
        if verb == "KEEP":
            overrides[key] = "K"
        elif verb == "BLANK":
            overrides[key] = "Z"
        elif verb == "REMOVE":
            overrides[key] = "X"
        elif verb == "REPLACE":
            overrides[key] = "D"
            result.notes.append(f"{where}: replaced by raddx's VR-valid dummy, not {value!r}")
        elif verb == "JITTER":
            overrides[key] = "C"
            _jitter(result, value, where)
        elif verb == "ADD":
            result.unmapped.append(f"{where} (raddx adds only the attributes PS3.15 requires; "
                                   "PatientIdentityRemoved and DeidentificationMethod are "
                                   "always written)")  # fmt: skip
        else:
            result.unmapped.append(f"{where} (unknown action {verb})")
    return _finish(result)


def _jitter(result: RecipeImport, value: str, where: str) -> None:
    if _MODIFIED_DATES not in result.policy["options"]:
        result.policy["options"].append(_MODIFIED_DATES)
    try:
        days = abs(int(value.strip().split()[0]))
    except (ValueError, IndexError):
        result.notes.append(f"{where}: shift not a number; raddx's default range is used")
        return
    if days:
        result.policy["date_shift"] = {"min_days": days, "max_days": days}
    result.notes.append(f"{where}: dates move back by {days} days for every patient "
                        "(Modified Dates option)")  # fmt: skip


_CTP_ACTIONS = {"@remove()": "X", "@empty()": "Z", "@keep()": "K", "@blank()": "Z"}


def import_ctp_script(text: str, *, name: str = "imported-ctp") -> RecipeImport:
    """Map a CTP DicomAnonymizer script's element actions onto a raddx policy.

    Raises
    ------
    ValueError
        Not a CTP script (no ``<script>`` root).
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not a CTP script: {exc}") from None
    if root.tag != "script":
        raise ValueError("not a CTP script: the root element is not <script>")
    result = RecipeImport(_base(name, "imported from a CTP DicomAnonymizer script"))
    overrides: dict[str, str] = result.policy["overrides"]
    for element in root:
        enabled = element.get("en", "T") == "T"
        target, action = element.get("t", ""), (element.text or "").strip()
        where = f"<{element.tag} t={target!r}>{action}"
        if element.tag == "p":
            continue  # parameters (@UIDROOT, @DATEINC…) are read with the actions using them
        if element.tag == "r":
            if enabled and target == "privategroups":
                result.notes.append(f"{where}: raddx removes private attributes by default")
            elif enabled:
                result.unmapped.append(f"{where} (rule {target!r} has no raddx equivalent)")
            continue
        if element.tag == "k":
            if enabled:
                result.unmapped.append(f"{where} (group-wide keep: list the attributes)")
            continue
        if element.tag != "e" or not enabled:
            continue
        key = _attribute(target)
        if key is None:
            result.unmapped.append(f"{where} (tag {target!r} not understood)")
            continue
        simple = _CTP_ACTIONS.get(action.replace(" ", ""))
        if simple is not None:
            overrides[key] = simple
        elif action.startswith("@hashuid("):
            overrides[key] = "U"
        elif action.startswith("@incrementdate("):
            overrides[key] = "C"
            param = root.find("p[@t='DATEINC']")
            _jitter(result, (param.text or "") if param is not None else "", where)
        elif action.startswith("@hash(") and key in ("PatientID", "PatientName"):
            overrides[key] = "P"
            result.notes.append(f"{where}: raddx's keyed pseudonym instead of CTP's hash")
        elif not action:
            result.unmapped.append(f"{where} (an empty action keeps the value in CTP; "
                                   "raddx applies Table E.1-1 instead)")  # fmt: skip
        else:
            overrides[key] = "D"
            result.notes.append(f"{where}: a function raddx does not run; a VR-valid dummy")
    return _finish(result)
